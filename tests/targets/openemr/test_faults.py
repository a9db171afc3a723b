"""Faults on a real MariaDB server, the openemr target (issue 11, item 7; the native
target's are in tests/cli/test_hardening_faults.py): a row lock held by another
session until InnoDB's lock wait timeout, and the apply's server connection killed
mid-apply. Each: one located line on stderr, exit 1, nothing half-applied, and the
next apply converges. (Lock contention on the apply lock and a killed client process:
test_target.py.)"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from reconciler.cli import main

from .practice import LEAVE, build
from .test_target import _snapshot

PAUSED_CLI = Path(__file__).resolve().parents[2] / "paused_cli.py"


def _args(p: Any, plan_file: Path, as_of: str, tmp_path: Path, url: str) -> list[str]:
    return [
        "--target",
        "openemr",
        "apply",
        str(plan_file),
        "--db",
        url,
        "-c",
        str(p.cfg),
        "--at",
        as_of,
        "--allow-time-travel",
        "--auto-approve",
        "--actor",
        "alee",
        "--export-dir",
        str(tmp_path / "exports"),
    ]


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert "Traceback" not in stderr and "unexpected" not in stderr
    return lines[0]


def _saved(p: Any, tmp_path: Path) -> tuple[Any, Path]:
    plan = p.plan(LEAVE % "")
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.dumps())
    return plan, plan_file


def _converges(p: Any, plan: Any, plan_file: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, _args(p, plan_file, plan.as_of, tmp_path, p.url))
    assert res.exit_code == 0, res.output
    assert p.plan(LEAVE % "").actions == ()


def test_row_lock_held_until_the_lock_wait_timeout(oedb, tmp_path):
    """Another session holds a row the apply updates (bsmith's users row); InnoDB gives
    up after innodb_lock_wait_timeout (1 s, set for the apply's sessions in the URL)."""
    p = build(*oedb, tmp_path)
    plan, plan_file = _saved(p, tmp_path)
    before = _snapshot(p)
    blocker_engine = create_engine(p.url, poolclass=NullPool)
    blocker = blocker_engine.connect()
    try:
        blocker.execute(text("UPDATE users SET active = active WHERE username = 'bsmith'"))  # X lock until rollback
        timed = p.url + "&init_command=" + quote("SET SESSION innodb_lock_wait_timeout = 1")
        t0 = time.monotonic()
        res = CliRunner().invoke(main, _args(p, plan_file, plan.as_of, tmp_path, timed))
        assert res.exit_code == 1, res.output
        assert "Lock wait timeout" in one_error_line(res.stderr)
        assert time.monotonic() - t0 < 30
    finally:
        blocker.rollback()
        blocker.close()
        blocker_engine.dispose()
    assert _snapshot(p) == before
    _converges(p, plan, plan_file, tmp_path)


def test_server_connection_killed_mid_apply(oedb, tmp_path, mariadb_server):
    """``KILL CONNECTION`` of the apply's connection (found as the holder of the apply
    lock) while it pauses after its second writer group: the server rolls back."""
    p = build(*oedb, tmp_path)
    plan, plan_file = _saved(p, tmp_path)
    before = _snapshot(p)
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(PAUSED_CLI),
            "2",
            str(marker),
            "3",
            "--",
            *_args(p, plan_file, plan.as_of, tmp_path, p.url),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        db = p.url.split("/")[3].split("?")[0]
        with mariadb_server.root_connection() as root, root.cursor() as cur:
            cur.execute("SELECT IS_USED_LOCK(%s)", (f"reconciler-apply:{db}",))
            (holder,) = cur.fetchone()
            assert holder is not None, "the paused apply holds the apply lock"
            cur.execute(f"KILL CONNECTION {int(holder)}")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 1, (out, err)
    one_error_line(err)
    assert "Apply complete" not in out
    assert _snapshot(p) == before
    _converges(p, plan, plan_file, tmp_path)
