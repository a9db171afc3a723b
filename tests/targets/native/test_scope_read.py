"""read_scope / read_actual / fingerprint against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Iterator

import pytest
from constants import ROOT
from dbhelpers import PRACTICE_YAML, fresh_db
from sqlalchemy import insert, update
from sqlalchemy.engine import Engine

from reconciler.app.workflow import compute_plan
from reconciler.config.loader import load_config
from reconciler.errors import DatabaseError
from reconciler.planner.scope import ReadScope, read_scope
from reconciler.targets.native import read as dbread
from reconciler.targets.native.read import read_base, read_scoped, read_sets, sa_rows
from reconciler.targets.native.schema import appointments_t, clients_t
from reconciler.targets.native.target import NativeTarget

AT = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.timezone.utc)
NOW = dt.datetime(2026, 11, 24, 18, 30, tzinfo=dt.timezone.utc)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = fresh_db(db_url, PRACTICE_YAML)
    yield eng
    eng.dispose()


def _read(engine: Engine, scenario: str = "offboarding"):  # type: ignore[no-untyped-def]
    desired = load_config(ROOT / "examples" / scenario)
    with engine.connect() as conn, conn.begin():
        practice, staff = read_base(sa_rows(conn))
        scope = read_scope(desired, practice, staff, AT)
        return read_sets(sa_rows(conn), scope, practice, staff), scope


def test_reads_only_what_the_offboarding_needs(engine: Engine) -> None:
    actual, scope = _read(engine)
    assert scope.now_staff == ("bsmith", "tnguyen")
    assert set(actual.staff) == {"alee", "mkhan", "pmorgan", "rbill", "bsmith", "jdoe", "cdavis", "egarcia", "tnguyen"}
    assert set(actual.clients) == {f"C-{n}" for n in range(1001, 1008)}  # bsmith's active clients only
    assert {a.staff for a in actual.appointments.values()} == {"bsmith"}
    assert all(a.status == "scheduled" and a.start >= AT for a in actual.appointments.values())
    assert (
        "A-13" in actual.appointments and "A-12" not in actual.appointments
    )  # 15:00Z today counts, last week's does not
    assert set(actual.series) == {"S-1", "S-2", "S-3", "S-4"}
    assert actual.caseloads == {"mkhan": 3}  # the clinical director may receive balances and has a max_caseload
    assert actual.active_client_total == 29 and actual.active_staff_total == 8
    some = actual.appointments["A-13"]
    assert some.start.tzinfo is not None and some.start.utcoffset() == dt.timedelta(0)


def test_client_entries_and_their_duplicate_targets_are_read(engine: Engine) -> None:
    actual, scope = _read(engine, "clients")
    assert {"C-1009", "C-1010", "C-1011", "C-1012", "C-1013", "C-1030"} <= set(actual.clients)
    assert actual.clients["C-1030"].status == "inactive"
    assert "C-1001" not in actual.clients


def test_no_client_name_is_ever_read(engine: Engine) -> None:
    actual, _ = _read(engine)
    text = repr(actual)
    assert "Reyes" not in text and "Tom" not in text and "first_name" not in text


def test_scope_round_trips_through_json_and_rereads_the_same_rows(engine: Engine) -> None:
    actual, scope = _read(engine, "scheduled")
    again = ReadScope.from_json(json.loads(json.dumps(scope.to_json())))
    assert again == scope
    with engine.connect() as conn, conn.begin():
        assert read_scoped(sa_rows(conn), again).fingerprint() == actual.fingerprint()


def test_large_in_lists_are_chunked(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, _ = _read(engine, "clients")
    monkeypatch.setattr(dbread, "CHUNK", 2)
    chunked, _ = _read(engine, "clients")
    assert chunked == whole


def _book(engine: Engine, appt_id: str, staff: str, client: str, start: str) -> None:
    s = dt.datetime.fromisoformat(start)
    with engine.begin() as conn:
        conn.execute(
            insert(appointments_t).values(
                id=appt_id,
                client_id=client,
                staff_id=staff,
                start_at=s,
                end_at=s + dt.timedelta(minutes=50),
                status="scheduled",
            )
        )


CHANGES = [
    (
        "new booking with the leaving professional",
        lambda e: _book(e, "A-900", "bsmith", "C-1001", "2026-12-05T15:00:00"),
        True,
    ),
    ("balance change of one of her clients", lambda e: _set_client(e, "C-1001", balance_cents=100), True),
    (
        "booking with a staying professional",
        lambda e: _book(e, "A-901", "jdoe", "C-1008", "2026-12-05T15:00:00"),
        False,
    ),
    (
        "past booking of the leaving professional",
        lambda e: _book(e, "A-902", "bsmith", "C-1001", "2026-11-01T15:00:00"),
        False,
    ),
    ("balance change of another professional's client", lambda e: _set_client(e, "C-1008", balance_cents=100), False),
]


def _set_client(engine: Engine, cid: str, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(update(clients_t).where(clients_t.c.id == cid).values(**values))


@pytest.mark.parametrize("change,stale", [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_fingerprint_covers_what_the_plan_read_and_nothing_else(engine: Engine, change, stale: bool) -> None:  # type: ignore[no-untyped-def]
    before, scope = _read(engine)
    change(engine)
    with engine.connect() as conn, conn.begin():
        after = read_scoped(sa_rows(conn), scope)
    assert (after.fingerprint() != before.fingerprint()) == stale


def test_compute_plan_reads_plans_and_stamps(engine: Engine) -> None:
    desired = load_config(ROOT / "examples" / "offboarding")
    p = compute_plan(NativeTarget(engine), desired, at_text="2026-11-24T15:00:00Z", now=NOW)
    assert p.generated_at == "2026-11-24T18:30:00Z" and p.as_of == "2026-11-24T15:00:00Z"
    assert p.summary == {
        "staff.deactivate": 1,
        "appointment.cancel": 40,
        "series.end": 4,
        "client.reassign": 2,
        "client.inactivate": 5,
    }
    assert p.scope["now_staff"] == ["bsmith", "tnguyen"]
    # no --at: now; a date means 00:00 in the practice timezone
    assert compute_plan(NativeTarget(engine), desired, at_text=None, now=NOW).as_of == "2026-11-24T18:30:00Z"
    assert compute_plan(NativeTarget(engine), desired, at_text="2026-11-25", now=NOW).as_of == "2026-11-25T05:00:00Z"


def test_compute_plan_needs_an_initialised_database_with_a_practice(db_url: str) -> None:
    desired = load_config(ROOT / "examples" / "offboarding")
    with pytest.raises(DatabaseError):
        from reconciler.targets.native.engine import make_engine

        compute_plan(NativeTarget(make_engine(db_url)), desired, at_text=None, now=NOW)
    empty = fresh_db(db_url)
    with pytest.raises(DatabaseError, match="no practice"):
        compute_plan(NativeTarget(empty), desired, at_text=None, now=NOW)


def test_plans_are_identical_on_both_backends(tmp_path: Path, pg_server) -> None:  # type: ignore[no-untyped-def]
    desired = load_config(ROOT / "examples" / "handover")
    bodies = []
    for url in (f"sqlite:///{tmp_path / 'p.db'}", pg_server.create_database()):
        p = compute_plan(NativeTarget(fresh_db(url, PRACTICE_YAML)), desired, at_text="2026-11-24T15:00:00Z", now=NOW)
        # The database identity (extra.db_id) says where a plan was made; all else is equal.
        bodies.append(p.dumps().replace(str(p.extra.get("db_id")), "<db_id>"))
    assert bodies[0] == bodies[1]
    assert json.loads(bodies[0])["summary"]["appointment.transfer"] == 34


# ------------------------------------------------------------ bookings of clients the config closes
def test_bookings_of_clients_the_config_closes_are_read(engine: Engine) -> None:
    actual, scope = _read(engine, "clients")
    assert scope.closing_clients == ("C-1009", "C-1012", "C-1013")  # inactive, duplicate_of, deleted
    booked = {a.client for a in actual.appointments.values()}
    assert booked == {"C-1009", "C-1012", "C-1013"}
    assert all(a.status == "scheduled" and a.start >= AT for a in actual.appointments.values())
    assert sum(1 for a in actual.appointments.values() if a.client == "C-1009") == 6
    assert {s.client for s in actual.series.values()} <= {"C-1009", "C-1012", "C-1013"} and "S-5" in actual.series


@pytest.mark.parametrize(
    "doc_extra, want",
    [({"closing_clients": ["C-1009"]}, ("C-1009",)), ({}, ())],
    ids=["round-trip", "plan-saved-before-the-field"],
)
def test_closing_clients_in_the_scope_json(doc_extra: dict[str, object], want: tuple[str, ...]) -> None:
    doc = {k: v for k, v in ReadScope(at=AT).to_json().items() if k != "closing_clients"} | doc_extra
    assert ReadScope.from_json(doc).closing_clients == want


def _cancel(engine: Engine, appt_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(appointments_t).where(appointments_t.c.id == appt_id).values(status="cancelled"))


CLOSING_CHANGES = [
    (
        "new booking of an inactivated client",
        lambda e: _book(e, "A-910", "cdavis", "C-1009", "2026-12-05T15:00:00"),
        True,
    ),
    ("a closing client's session cancelled", lambda e: _cancel(e, "A-76"), True),
    (
        "new booking of a client the config keeps",
        lambda e: _book(e, "A-911", "cdavis", "C-1014", "2026-12-05T15:00:00"),
        False,
    ),
]


@pytest.mark.parametrize("change,stale", [c[1:] for c in CLOSING_CHANGES], ids=[c[0] for c in CLOSING_CHANGES])
def test_fingerprint_covers_the_bookings_of_closing_clients(engine: Engine, change, stale: bool) -> None:  # type: ignore[no-untyped-def]
    before, scope = _read(engine, "clients")
    change(engine)
    with engine.connect() as conn, conn.begin():
        after = read_scoped(sa_rows(conn), scope)
    assert (after.fingerprint() != before.fingerprint()) == stale
