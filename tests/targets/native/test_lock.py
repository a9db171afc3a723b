"""The practice apply lock (reconciler.targets.native.lock) on SQLite and PostgreSQL: one apply
at a time, the waiter names the holder, the lock goes with the transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from dbhelpers import PRACTICE_YAML, fresh_db
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from test_executor_support import practice_db

from reconciler.errors import LockHeld
from reconciler.targets.native.engine import make_engine
from reconciler.targets.native.lock import locked_transaction, sidecar_path
from reconciler.targets.native.schema import staff_t

SHORT = 0.3  # seconds a waiter gives up after (the holder never lets go in these tests)


def second_engine(engine: Engine) -> Engine:
    """Another engine on the same database, as a second `reconciler apply` would have."""
    return make_engine(engine.url.render_as_string(hide_password=False))


def test_second_apply_gives_up_naming_the_holder(engine: Engine) -> None:
    other = second_engine(engine)
    waited: list[str] = []
    with locked_transaction(engine, actor="alee", plan_id="plan-aaaaaaaaaaaa", timeout=5):
        with pytest.raises(LockHeld) as err:
            with locked_transaction(
                other, actor="pmorgan", plan_id="plan-bbbbbbbbbbbb", timeout=SHORT, on_wait=waited.append
            ):
                pytest.fail("the second apply must not get the lock")
    msg = str(err.value)
    assert msg.startswith("another apply holds the lock: alee (plan plan-aaaaaaaaaaaa")
    assert "pmorgan" not in msg
    assert len(waited) == 1 and waited[0].startswith("alee (plan plan-aaaaaaaaaaaa")


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_lock_is_released_when_the_transaction_ends(engine: Engine, ending: str) -> None:
    class Boom(Exception):
        pass

    try:
        with locked_transaction(engine, actor="alee", plan_id="plan-1", timeout=SHORT):
            if ending == "rollback":
                raise Boom()
    except Boom:
        pass
    with locked_transaction(second_engine(engine), actor="pmorgan", plan_id="plan-2", timeout=SHORT) as conn:
        assert conn.execute(select(func.count()).select_from(staff_t)).scalar_one() == 9


def test_work_inside_commits_on_exit_and_rolls_back_on_error(engine: Engine) -> None:
    with locked_transaction(engine, actor="alee", plan_id="plan-1", timeout=SHORT) as conn:
        conn.execute(staff_t.update().where(staff_t.c.id == "jdoe").values(max_caseload=41))
    with pytest.raises(ZeroDivisionError):
        with locked_transaction(engine, actor="alee", plan_id="plan-2", timeout=SHORT) as conn:
            conn.execute(staff_t.update().where(staff_t.c.id == "jdoe").values(max_caseload=99))
            1 / 0
    with engine.connect() as conn:
        assert conn.execute(select(staff_t.c.max_caseload).where(staff_t.c.id == "jdoe")).scalar_one() == 41


def test_postgres_holder_is_labelled_in_pg_stat_activity(pg_server: Any) -> None:
    from sqlalchemy import text as sql

    engine = practice_db(pg_server.create_database())
    with locked_transaction(engine, actor="alee", plan_id="plan-x", timeout=SHORT):
        with second_engine(engine).connect() as conn:
            names = (
                conn.execute(
                    sql(
                        "SELECT application_name FROM pg_stat_activity "
                        "WHERE datname = current_database() ORDER BY application_name"
                    )
                )
                .scalars()
                .all()
            )
    assert "reconciler apply alee plan-x" in names


def test_sqlite_holder_names_itself_in_a_sidecar_file(tmp_path: Path) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'practice.db'}", PRACTICE_YAML)
    side = sidecar_path(str(engine.url.database))
    assert side == tmp_path / "practice.db.apply-lock"
    with locked_transaction(engine, actor="alee", plan_id="plan-x", timeout=SHORT):
        assert side.read_text().startswith("alee (plan plan-x, pid ")
        assert side.stat().st_mode & 0o777 == 0o600


def test_sqlite_writer_outside_reconciler_is_a_clear_lock_error(tmp_path: Path) -> None:
    engine = fresh_db(f"sqlite:///{tmp_path / 'practice.db'}", PRACTICE_YAML)
    raw = sqlite3.connect(str(engine.url.database), isolation_level=None)
    try:
        raw.execute("BEGIN IMMEDIATE")  # the practice application mid-write
        with pytest.raises(LockHeld, match="another writer holds the SQLite database lock"):
            with locked_transaction(engine, actor="alee", plan_id="plan-x", timeout=SHORT):
                pass
    finally:
        raw.execute("ROLLBACK")
        raw.close()


def test_postgres_apply_waits_for_a_practice_write_in_flight_then_gives_up(pg_server: Any) -> None:
    import psycopg

    engine = practice_db(pg_server.create_database())
    url = engine.url
    with psycopg.connect(host=str(url.query["host"]), user=url.username, dbname=url.database) as app:
        app.execute("UPDATE clients SET balance_cents = 1 WHERE id = 'C-1020'")  # open, uncommitted
        with pytest.raises(LockHeld, match="another transaction is writing to the practice tables"):
            with locked_transaction(engine, actor="alee", plan_id="plan-x", timeout=SHORT):
                pytest.fail("the apply must not run while a practice write is in flight")
        app.rollback()
    with locked_transaction(engine, actor="alee", plan_id="plan-y", timeout=SHORT) as conn:
        assert conn.execute(select(func.count()).select_from(staff_t)).scalar_one() == 9


def test_postgres_practice_writes_wait_while_an_apply_holds_the_lock(pg_server: Any) -> None:
    import psycopg

    engine = practice_db(pg_server.create_database())
    url = engine.url
    with locked_transaction(engine, actor="alee", plan_id="plan-x", timeout=SHORT):
        with psycopg.connect(host=str(url.query["host"]), user=url.username, dbname=url.database) as app:
            app.execute("SET lock_timeout = '200ms'")
            assert app.execute("SELECT count(*) FROM appointments").fetchone() == (261,)  # reads go on
            with pytest.raises(psycopg.errors.LockNotAvailable):
                app.execute(
                    "INSERT INTO appointments (id, client_id, staff_id, start_at, end_at, status, telehealth) "
                    "VALUES ('A-900', 'C-1001', 'bsmith', now(), now(), 'scheduled', false)"
                )
