"""The light read path (``targets.native.lite``): ``plan`` on a plain SQLite file reads
through the standard library's sqlite3, with the same rows, the same plan and the same
messages as the SQLAlchemy engine, and without importing SQLAlchemy."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest
from constants import ROOT
from dbhelpers import PRACTICE_YAML, engine_error, fresh_db, light_error, plan_in_a_fresh_process
from sqlalchemy import update

from reconciler.app.workflow import compute_plan
from reconciler.config.loader import load_config
from reconciler.planner.scope import read_scope
from reconciler.targets.native import lite
from reconciler.targets.native.schema import metadata, staff_t
from reconciler.targets.native.target import LiteSession, NativeTarget, error_line
from reconciler.targets.native.write import WRITERS

AT = "2026-11-24T15:00:00Z"
NOW = dt.datetime(2026, 11, 24, 18, 30, tzinfo=dt.timezone.utc)
SCENARIOS = ["offboarding", "clients", "scheduled", "handover", "ownership"]


@pytest.mark.parametrize(
    "url, path",
    [
        ("sqlite:///practice.db", "practice.db"),
        ("sqlite:////var/lib/reconciler/practice.db", "/var/lib/reconciler/practice.db"),
        ("sqlite:///practice.db?mode=ro", None),
        ("sqlite:///my%20practice.db", None),
        ("sqlite:///:memory:", None),
        ("sqlite://", None),
        ("sqlite:///file:practice.db", None),
        ("sqlite+pysqlite:///practice.db", None),
        ("postgresql+psycopg://u@localhost/practice", None),
    ],
)
def test_only_a_plain_file_url_takes_the_light_path(url: str, path: str | None) -> None:
    assert lite.plain_file(url) == path


def test_the_light_schema_check_knows_every_table() -> None:
    assert lite.TABLES == frozenset(metadata.tables)


def test_native_capabilities_are_its_writers() -> None:
    assert NativeTarget.capabilities == frozenset(WRITERS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_light_path_plans_exactly_what_the_engine_plans(tmp_path: Path, scenario: str) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = fresh_db(url, PRACTICE_YAML)
    with engine.begin() as conn:  # a JSON settings value and a leave date: text in SQLite
        conn.execute(
            update(staff_t)
            .where(staff_t.c.id == "jdoe")
            .values(settings={"reminders": False}, deactivate_on=dt.date(2027, 1, 4))
        )
    desired = load_config(ROOT / "examples" / scenario)
    light = NativeTarget.open(url)
    assert "engine" not in light.__dict__ and light.backend == "sqlite"
    by_engine = compute_plan(NativeTarget(engine), desired, at_text=AT, now=NOW, allow_mass_change=True)
    by_light = compute_plan(light, desired, at_text=AT, now=NOW, allow_mass_change=True)
    assert "engine" not in light.__dict__  # planning needed no SQLAlchemy
    assert by_light.dumps() == by_engine.dumps()
    assert by_light.extra.get("db_id")  # read from reconciler_meta without SQLAlchemy
    with light.reading(consistent=True) as light_session, NativeTarget(engine).reading() as engine_session:
        practice, staff = light_session.read_base()
        assert (practice, staff) == engine_session.read_base()
        assert staff["jdoe"].settings == {"reminders": False}
        scope = read_scope(desired, practice, staff, dt.datetime.fromisoformat(AT.replace("Z", "+00:00")))
        assert light_session.read_scoped(scope) == engine_session.read_scoped(scope)
    light.dispose()
    engine.dispose()


def test_a_light_session_lends_its_transaction_to_sqlalchemy_reads(tmp_path: Path) -> None:
    """Reads the planner does not make (an export, the deletion actor) run on a
    SQLAlchemy connection over the same sqlite3 connection: the same snapshot."""
    path = tmp_path / "p.db"
    fresh_db(f"sqlite:///{path}", PRACTICE_YAML).dispose()
    target = NativeTarget.open(f"sqlite:///{path}")
    with target.reading(consistent=True) as session:
        assert isinstance(session, LiteSession)
        before = session.staff_access("jdoe")
        assert before is not None and before.active
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("UPDATE staff SET active = 0 WHERE id = 'jdoe'")
        other.close()
        assert session.staff_access("jdoe") == before  # still the session's snapshot
        assert session.export_data("bsmith", client=False).clients
        assert not session.audit_has_plan("plan-none")
    with target.reading() as session:
        after = session.staff_access("jdoe")
        assert after is not None and not after.active
    assert "engine" not in target.__dict__
    target.dispose()


def test_the_engine_is_made_when_a_command_needs_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    fresh_db(url, PRACTICE_YAML).dispose()
    target = NativeTarget.open(url)
    assert target.read_status() is not None  # status reads through SQLAlchemy
    assert "engine" in target.__dict__ and target.backend == "sqlite"
    target.dispose()


def test_the_light_path_says_what_the_engine_says(tmp_path: Path) -> None:
    """Each way a file can be unusable, in the engine's exact words."""
    missing = tmp_path / "missing.db"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, it is text" * 100)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    old = tmp_path / "old.db"
    fresh_db(f"sqlite:///{old}").dispose()
    raw = sqlite3.connect(old, isolation_level=None)
    raw.execute("UPDATE alembic_version SET version_num = '0003'")
    raw.close()
    expected = {
        missing: "is not initialised: run `reconciler db init` (the file",
        tmp_path: "is a directory, not a SQLite file",
        garbage: "file is not a database",
        empty: "not initialised: run `reconciler db init` (missing tables: ",
        old: "schema is at revision 0003, this version needs",
    }
    for path, words in expected.items():
        url = f"sqlite:///{path}"
        light = light_error(url)
        assert light == engine_error(url)
        assert words in light
    assert not missing.exists()


def test_a_read_session_sees_one_snapshot_consistent_or_not(tmp_path: Path) -> None:
    """Like the engine's connections (BEGIN on first use), a light read session reads
    one state of the database, whoever writes meanwhile; the next session sees the change."""
    path = tmp_path / "p.db"
    fresh_db(f"sqlite:///{path}", PRACTICE_YAML).dispose()
    target = NativeTarget.open(f"sqlite:///{path}")
    for consistent in (False, True):
        with target.reading(consistent=consistent) as session:
            _, staff = session.read_base()
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("UPDATE staff SET max_caseload = coalesce(max_caseload, 0) + 1 WHERE id = 'jdoe'")
            other.close()
            assert session.read_base()[1]["jdoe"] == staff["jdoe"]
        with target.reading() as session:
            assert session.read_base()[1]["jdoe"] != staff["jdoe"]
    target.dispose()


def test_read_sessions_of_one_target_are_independent(tmp_path: Path) -> None:
    """Each session has its own connection: nested sessions, and a target used again
    after dispose(), work as with the engine."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    fresh_db(url, PRACTICE_YAML).dispose()
    target = NativeTarget.open(url)
    with target.reading(consistent=True) as outer:
        first = outer.read_base()
        with target.reading() as inner:
            assert inner.read_base() == first
        assert outer.read_base() == first  # the inner session's end did not end the outer one
    target.dispose()
    with target.reading(consistent=True) as again:
        assert again.read_base() == first
    target.dispose()


def test_times_compare_as_the_engine_stores_them(tmp_path: Path) -> None:
    """A session at exactly ``at`` is still ahead (>=), to the microsecond; a deletion
    exactly at the purge limit is not yet due (<): the bound text has SQLAlchemy's
    stored form, so SQLite's text comparison agrees with the datetimes'."""
    from reconciler.planner.scope import ReadScope
    from reconciler.targets.native.schema import appointments_t, clients_t

    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = fresh_db(url, PRACTICE_YAML)
    at = dt.datetime(2026, 12, 7, 15, 0, 0, 250_000, tzinfo=dt.timezone.utc)
    naive = at.replace(tzinfo=None)
    with engine.begin() as conn:
        cid = conn.execute(clients_t.select().limit(1)).first().id  # type: ignore[union-attr]
        for aid, start in (("T-before", naive - dt.timedelta(microseconds=1)), ("T-at", naive)):
            conn.execute(
                appointments_t.insert().values(
                    id=aid,
                    client_id=cid,
                    staff_id="bsmith",
                    start_at=start,
                    end_at=start + dt.timedelta(minutes=50),
                    status="scheduled",
                    telehealth=False,
                )
            )
        for who, when in (("C-1020", naive), ("C-1021", naive - dt.timedelta(microseconds=1))):
            conn.execute(
                clients_t.update()
                .where(clients_t.c.id == who)
                .values(status="deleted", primary_id=None, deleted_at=when)
            )
    scope = ReadScope(at=at, now_staff=("bsmith",), purge_before=at)
    target = NativeTarget.open(url)
    for tgt in (target, NativeTarget(engine)):
        with tgt.reading(consistent=True) as session:
            practice, staff = session.read_base()
            actual = session.read_sets(scope, practice, staff)
        assert "T-at" in actual.appointments and "T-before" not in actual.appointments
        assert "C-1021" in actual.clients and "C-1020" not in actual.clients
    target.dispose()
    engine.dispose()


def test_a_read_only_file_is_read_without_writing_next_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir()
    url = f"sqlite:///{ro_dir / 'p.db'}"
    fresh_db(url, PRACTICE_YAML).dispose()
    for leftover in ro_dir.glob("p.db-*"):
        leftover.unlink()
    os.chmod(ro_dir, 0o555)
    try:
        if os.access(ro_dir, os.W_OK):  # root: make the read-only check see a read-only file
            monkeypatch.setattr(lite, "read_only_file", lambda database: True)
        target = NativeTarget.open(url)
        target.require_schema()
        desired = load_config(ROOT / "examples" / "offboarding")
        assert compute_plan(target, desired, at_text=AT, now=NOW).actions
        target.dispose()
        assert sorted(p.name for p in ro_dir.iterdir()) == ["p.db"]
    finally:
        os.chmod(ro_dir, 0o755)


def test_a_sqlite_error_is_one_line_without_sqlalchemy() -> None:
    assert error_line(sqlite3.OperationalError("database is locked\nSQL: SELECT name")) == "database is locked"
    assert error_line(ValueError("not a database error")) is None


def test_plan_on_a_sqlite_file_never_imports_sqlalchemy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    fresh_db(url, PRACTICE_YAML).dispose()
    out, loaded = plan_in_a_fresh_process(url, AT)
    assert "staff.deactivate" in out  # the plan was made and printed
    assert loaded == []
