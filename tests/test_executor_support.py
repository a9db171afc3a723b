"""Shared helpers for the apply tests (no tests here): plans from the example
configs, a full read of the database, the snapshot's client names, and running the
real `reconciler` command in a subprocess."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from dbhelpers import PRACTICE_YAML, ROOT
from sqlalchemy import select
from sqlalchemy.engine import Engine

from reconciler.model.actions import Plan
from reconciler.targets.native.schema import metadata
from reconciler.targets.native.target import NativeTarget

EXAMPLES = ROOT / "examples"
AT = "2026-11-24T12:00:00-05:00"  # noon in the practice's timezone, "today"
NOW = dt.datetime(2026, 11, 24, 17, 0, tzinfo=dt.timezone.utc)
SNAP: dict[str, Any] = yaml.safe_load(PRACTICE_YAML.read_text())
CLIENT_NAMES = sorted({c[k] for c in SNAP["clients"] for k in ("first_name", "last_name")})


_TEMPLATES: dict[str, str] = {}


def practice_db(db_url: str) -> Engine:
    """``fresh_db(db_url, examples/practice.yaml)``, made fast: the practice is loaded
    once per backend into a template, then copied (a file copy on SQLite,
    ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL)."""
    import atexit
    import shutil
    import tempfile

    from dbhelpers import fresh_db
    from sqlalchemy.engine import make_url

    from reconciler.targets.native.engine import make_engine

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        if "sqlite" not in _TEMPLATES or not Path(_TEMPLATES["sqlite"]).exists():  # (a /tmp cleaner may remove it)
            tmp = tempfile.mkdtemp(prefix="reconciler-template-")
            atexit.register(shutil.rmtree, tmp, True)
            path = str(Path(tmp) / "practice.db")
            fresh_db(f"sqlite:///{path}", PRACTICE_YAML).dispose()  # disposing checkpoints the WAL
            _TEMPLATES["sqlite"] = path
        shutil.copyfile(_TEMPLATES["sqlite"], str(url.database))
        return make_engine(db_url)
    import psycopg

    host = str(url.query["host"])
    if host not in _TEMPLATES:
        name = "tmpl_practice"
        with psycopg.connect(host=host, user=url.username, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        fresh_db(url.set(database=name).render_as_string(hide_password=False), PRACTICE_YAML).dispose()
        _TEMPLATES[host] = name
    with psycopg.connect(host=host, user=url.username, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{url.database}"')
        conn.execute(f'CREATE DATABASE "{url.database}" TEMPLATE "{_TEMPLATES[host]}"')
    return make_engine(db_url)


def plan_for(engine: Engine, config_dir: Path, at: str = AT) -> Plan:
    """The plan `reconciler plan -c config_dir --at at` would make."""
    from reconciler.app.workflow import compute_plan
    from reconciler.config.loader import load_config

    return compute_plan(NativeTarget(engine), load_config(config_dir), at_text=at, now=NOW)


def full_state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order (a full read of the database)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def names_in(text: str) -> list[str]:
    """Client first/last names (PHI) that occur in ``text`` as words."""
    import re

    return [n for n in CLIENT_NAMES if re.search(rf"\b{re.escape(n)}\b", text)]


def cli_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env.update({"RECONCILER_DB": db_url, "RECONCILER_ACTOR": "alee", **extra})
    return env


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler.cli", *args]


def paused_cli_cmd(after: int | str, marker: Path, seconds: float, *args: str) -> list[str]:
    """The CLI that pauses inside the apply transaction after writer group ``after``
    (tests/paused_cli.py injects the executor's ``after_group`` seam)."""
    return [
        sys.executable,
        str(Path(__file__).with_name("paused_cli.py")),
        str(after),
        str(marker),
        str(seconds),
        "--",
        *args,
    ]


def invoke(db_url: str, *args: str, actor: str = "alee") -> Any:
    """Run `reconciler ARGS` in this process (click's runner: stdin is not a terminal)."""
    from click.testing import CliRunner

    from reconciler.cli import main

    env = {
        "RECONCILER_DB": db_url,
        "RECONCILER_ACTOR": actor,
        **{k: None for k in os.environ if k.startswith("RECONCILER_TEST_")},
    }
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


def save_plan_file(engine: Engine, config_dir: Path, out: Path, at: str = AT) -> Path:
    """`reconciler plan -c config_dir --at at --out out`, in this process."""
    from reconciler.app.workflow import save_plan

    save_plan(plan_for(engine, config_dir, at), out)
    return out


def run_cli(db_url: str, *args: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `reconciler ARGS` to completion (stdin closed: not a terminal)."""
    return subprocess.run(
        cli_cmd(*args),
        cwd=cwd,
        env=cli_env(db_url, **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def approved_clients_config(tmp_path: Path) -> tuple[Path, Path]:
    """examples/clients (which deletes C-1013) with a signing key for the owner alee, and
    an approval of that deletion signed with it (SPEC §7.2): ``(config dir, approval)``."""
    import shutil

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from reconciler.security.approval import make_approval

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    cfg = tmp_path / "clients-approved"
    shutil.copytree(EXAMPLES / "clients", cfg)
    f = cfg / "practice.yaml"
    f.write_text(
        f.read_text().replace(
            "{id: alee, name: Ana Lee, role: owner, access: entire_practice}",
            f'{{id: alee, name: Ana Lee, role: owner, access: entire_practice, signing_keys: ["{public} alee"]}}',
        )
    )
    now = dt.datetime.now(dt.timezone.utc)
    approval = tmp_path / "approval-C-1013"
    approval.write_text(
        make_approval(
            "sunrise-counseling",
            ["C-1013"],
            "alee",
            now + dt.timedelta(hours=1),
            private,
        ),
        encoding="utf-8",
    )
    return cfg, approval
