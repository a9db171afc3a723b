"""Faults on real servers (issue 11, item 7): each ends with one located line on stderr,
exit 1, nothing half-applied (the full database state is as before), and the next
apply converges. SQLite: disk full, locked by another process. PostgreSQL: backend
terminated mid-apply, server stopped (-m immediate) mid-apply and restarted, lock
wait timeout, statement timeout."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pgserver import PgServer
from sqlalchemy.engine import make_url
from test_apply_cli import HANDOVER, TRAVEL, start_paused_apply
from test_executor_support import (
    full_state,
    plan_for,
    practice_db,
    save_plan_file,
)

from reconciler.cli import main


def apply_in_process(url: str, plan: Path, tmp_path: Path, *extra: str) -> Any:
    return CliRunner(env={"RECONCILER_ACTOR": "alee"}).invoke(
        main,
        [
            "apply",
            str(plan),
            "--db",
            url,
            "--auto-approve",
            "-c",
            str(HANDOVER),
            *TRAVEL,
            "--export-dir",
            str(tmp_path / "exports"),
            *extra,
        ],
    )


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert "Traceback" not in stderr and "unexpected" not in stderr
    return lines[0]


def converges(url: str, engine: Any, plan: Path, tmp_path: Path) -> None:
    res = apply_in_process(url, plan, tmp_path)
    assert res.exit_code == 0, res.output
    assert plan_for(engine, HANDOVER).is_empty


# ---------------------------------------------------------------- SQLite
def test_sqlite_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import event

    import reconciler.targets.native.engine as engine_mod

    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = practice_db(url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    before = full_state(engine)
    real = engine_mod._configure_sqlite

    def full_disk(eng: Any, **kw: Any) -> None:
        real(eng, **kw)

        @event.listens_for(eng, "connect")
        def _cap(dbapi_conn: Any, _record: Any) -> None:  # no page beyond the ones in use
            cur = dbapi_conn.cursor()
            pages = cur.execute("PRAGMA page_count").fetchone()[0]
            cur.execute(f"PRAGMA max_page_count = {pages}")
            cur.close()

    monkeypatch.setattr(engine_mod, "_configure_sqlite", full_disk)
    res = apply_in_process(url, plan, tmp_path)
    assert res.exit_code == 1
    assert "full" in one_error_line(res.stderr)
    assert full_state(engine) == before
    monkeypatch.setattr(engine_mod, "_configure_sqlite", real)
    converges(url, engine, plan, tmp_path)


def test_sqlite_locked_by_another_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = practice_db(url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    before = full_state(engine)
    marker = tmp_path / "locked"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sqlite3, sys, time, pathlib\n"
                f"c = sqlite3.connect({str(tmp_path / 'p.db')!r}, isolation_level=None)\n"
                "c.execute('BEGIN EXCLUSIVE')\n"
                f"pathlib.Path({str(marker)!r}).write_text('x')\n"
                "time.sleep(60)\n"
            ),
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        res = apply_in_process(url, plan, tmp_path, "--lock-timeout", "1")
        assert res.exit_code == 1, res.output
        assert "lock" in one_error_line(res.stderr).lower()
    finally:
        holder.kill()
        holder.wait()
    assert full_state(engine) == before
    converges(url, engine, plan, tmp_path)


# ---------------------------------------------------------------- PostgreSQL


def _admin(server: PgServer, sql: str) -> None:
    import psycopg

    with psycopg.connect(host=str(server.sock), user=server.user, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql)


def test_postgresql_backend_terminated_mid_apply(pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.create_database()
    engine = practice_db(url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    before = full_state(engine)
    dbname = make_url(url).database
    proc = start_paused_apply(url, plan, tmp_path, 2, 3)
    _admin(
        pg_server,
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}' "
        "AND pid <> pg_backend_pid()",
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    one_error_line(err)
    assert full_state(engine) == before
    converges(url, engine, plan, tmp_path)
    engine.dispose()


def test_postgresql_server_stopped_immediately_mid_apply_and_restarted(
    tmp_path: Path,
) -> None:
    server = PgServer().start()  # a dedicated server: the others' tests are not disturbed
    try:
        url = server.create_database()
        engine = practice_db(url)
        plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
        before = full_state(engine)
        engine.dispose()
        proc = start_paused_apply(url, plan, tmp_path, 2, 3)
        server._run(
            server.bin / "pg_ctl",
            "-D",
            str(server.data),
            "-m",
            "immediate",
            "-w",
            "stop",
        )
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, (out, err)
        one_error_line(err)
        opts = (
            f"-k {server.sock} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        server._run(
            server.bin / "pg_ctl",
            "-D",
            str(server.data),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "-l",
            str(server.root / "server.log"),
            "start",
        )
        from reconciler.targets.native.engine import make_engine

        engine = make_engine(url)
        assert full_state(engine) == before
        converges(url, engine, plan, tmp_path)
        engine.dispose()
    finally:
        server.stop()


@pytest.mark.parametrize(
    "setting, words, wait",
    [
        ("lock_timeout", "another transaction is writing to the practice tables", "1"),
        ("statement_timeout", "statement timeout", "30"),
    ],
    ids=["lock-wait-timeout", "statement-timeout"],
)
def test_postgresql_timeouts(pg_server: PgServer, tmp_path: Path, setting: str, words: str, wait: str) -> None:
    """Another session holds a row lock on staff; the apply's table lock waits until
    --lock-timeout (the apply's own lock wait bound) or the server's
    statement_timeout (set in the URL) cancels it."""
    import psycopg

    url = pg_server.create_database()
    engine = practice_db(url)
    plan = save_plan_file(engine, HANDOVER, tmp_path / "plan.json")
    before = full_state(engine)
    dbname = make_url(url).database
    blocker = psycopg.connect(host=str(pg_server.sock), user=pg_server.user, dbname=dbname)
    try:
        blocker.execute("UPDATE staff SET name = name WHERE id = 'alee'")  # holds ROW EXCLUSIVE until rollback
        timed = url + f"&options=-c%20{setting}%3D1000"
        res = apply_in_process(timed, plan, tmp_path, "--lock-timeout", wait)
        assert res.exit_code == 1, res.output
        assert words in one_error_line(res.stderr)
    finally:
        blocker.rollback()
        blocker.close()
    assert full_state(engine) == before
    converges(url, engine, plan, tmp_path)
    engine.dispose()
