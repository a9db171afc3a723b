"""Audit queries (SPEC §8.5) on SQLite and PostgreSQL: --staff --client --actor --type
--since --until filter in the database, --format csv for the compliance officer (ids
only), and the indexes of migration 0005 keep a year of events fast."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from test_executor_support import invoke, names_in, practice_db

from reconciler.app.audit import write_audit
from reconciler.model.actions import Action, ActionType, Plan
from reconciler.security.chain import Linker
from reconciler.targets.native.schema import audit_t
from reconciler.targets.native.target import NativeSession

T1 = dt.datetime(2026, 11, 24, 17, 0, tzinfo=dt.timezone.utc)
T2 = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.timezone.utc)
T3 = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.timezone.utc)


def plan_of(*actions: Action) -> Plan:
    return Plan(as_of="2026-11-24T17:00:00Z", db_fingerprint="sha256:x", config_digest="sha256:y", actions=actions)


CANCEL = Action(
    1,
    ActionType.APPOINTMENT_CANCEL,
    "A-5",
    "bsmith",
    {"status": ("scheduled", "cancelled"), "cancel_reason": (None, "=HYPERLINK(x)")},
    "bsmith offboarding",
    context={"client": "C-1001", "start": "2026-12-01T15:00:00Z", "end": "2026-12-01T15:50:00Z", "telehealth": False},
)
REASSIGN = Action(2, ActionType.CLIENT_REASSIGN, "C-1002", "bsmith", {"primary": ("bsmith", "mkhan")}, "balance")
DEACTIVATE = Action(1, ActionType.STAFF_DEACTIVATE, "bsmith", "bsmith", {"active": (True, False)}, "left")
MOVE = Action(1, ActionType.CLIENT_REASSIGN, "C-1008", "jdoe", {"primary": ("jdoe", "cdavis")}, "moved")
PLANS = (plan_of(CANCEL, REASSIGN), plan_of(DEACTIVATE), plan_of(MOVE))


@pytest.fixture
def engine(db_url: str) -> Engine:
    eng = practice_db(db_url)
    with eng.begin() as conn:
        write_audit(NativeSession(conn), PLANS[0], actor="alee", at=T1)
        write_audit(NativeSession(conn), PLANS[1], actor="pmorgan", at=T2)
        write_audit(NativeSession(conn), PLANS[2], actor="pmorgan", at=T3)
    return eng


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _targets(engine: Engine, *args: str) -> list[str]:
    import json

    r = invoke(_url(engine), "audit", "--format", "json", *args)
    assert r.exit_code == 0, r.output
    return [e["target"] for e in json.loads(r.output)]


@pytest.mark.parametrize(
    "args, want",
    [
        ((), ["A-5", "C-1002", "bsmith", "C-1008"]),
        (("--staff", "bsmith"), ["A-5", "C-1002", "bsmith"]),
        (("--client", "C-1001"), ["A-5"]),  # the session's client, from the action's context
        (("--client", "C-1002"), ["C-1002"]),
        (("--actor", "pmorgan"), ["bsmith", "C-1008"]),
        (("--type", "client.reassign"), ["C-1002", "C-1008"]),
        (("--since", "2026-11-25"), ["bsmith", "C-1008"]),
        (("--until", "2026-11-25"), ["A-5", "C-1002", "bsmith"]),  # a date includes that day
        (("--until", "2026-11-25T00:00:00"), ["A-5", "C-1002"]),
        (("--since", "2026-11-24T12:00:00", "--until", "2026-12-01"), ["A-5", "C-1002", "bsmith"]),
        (("--actor", "pmorgan", "--type", "client.reassign"), ["C-1008"]),
        (("--staff", "nobody"), []),
    ],
)
def test_audit_filters(engine: Engine, args: tuple[str, ...], want: list[str]) -> None:
    assert _targets(engine, *args) == want


def test_audit_rejects_bad_times_and_types(engine: Engine) -> None:
    r = invoke(_url(engine), "audit", "--since", "yesterday")
    assert r.exit_code == 1 and "--since" in r.output
    r = invoke(_url(engine), "audit", "--type", "client.explode")
    assert r.exit_code == 1


def test_audit_csv_one_row_per_changed_field_ids_only(engine: Engine) -> None:
    r = invoke(_url(engine), "audit", "--format", "csv", "--staff", "bsmith")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert list(rows[0]) == [
        "at", "actor", "plan_id", "action_id", "type", "target", "staff", "client", "field", "before", "after", "reason"
    ]  # fmt: skip
    assert [(x["target"], x["field"]) for x in rows] == [
        ("A-5", "cancel_reason"),
        ("A-5", "status"),
        ("C-1002", "primary"),
        ("bsmith", "active"),
    ]
    assert rows[0]["client"] == "C-1001" and rows[0]["actor"] == "alee"
    assert rows[0]["after"] == "'=HYPERLINK(x)"  # no formula reaches a spreadsheet
    assert rows[3]["before"] == "true" and rows[3]["after"] == "false"
    assert not names_in(r.output)


def test_a_year_of_events_filters_fast_with_indexes(db_url: str) -> None:
    """~60,000 events (a busy year); each filter answers well under a second, by index."""
    eng = practice_db(db_url)
    try:
        start = dt.datetime(2026, 1, 1)
        rows = [
            {
                "at": start + dt.timedelta(minutes=9 * i),
                "actor": f"actor{i % 7}",
                "plan_id": f"plan-{i // 20:012d}",
                "action_id": i % 20,
                "action_type": ("appointment.cancel", "client.reassign", "series.end")[i % 3],
                "target": f"T-{i}",
                "staff_id": f"s{i % 40}",
                "client_id": f"C-{i % 3000}",
                "before": {"x": 1},
                "after": {"x": 2},
                "reason": "r",
            }
            for i in range(60_000)
        ]
        linker = Linker()
        for row in rows:  # a chained trail, as the apply writes it (client_id is not hashed)
            row["prev_hash"], row["hash"] = linker.link(
                time=row["at"],
                actor=row["actor"],
                signer=None,
                plan_id=row["plan_id"],
                action_type=row["action_type"],
                target=row["target"],
                before=row["before"],
                after=row["after"],
            )
        with eng.begin() as conn:
            for k in range(0, len(rows), 5000):
                conn.execute(insert(audit_t), rows[k : k + 5000])
            if eng.dialect.name == "postgresql":
                conn.execute(text("ANALYZE audit_events"))
        for args in (
            ("--client", "C-42"),
            ("--staff", "s7", "--since", "2026-06-01", "--until", "2026-06-30"),
            ("--actor", "actor3", "--since", "2026-12-01"),
        ):
            t0 = time.perf_counter()
            r = invoke(eng.url.render_as_string(hide_password=False), "audit", "--format", "csv", *args)
            elapsed = time.perf_counter() - t0
            assert r.exit_code == 0, r.output
            assert elapsed < 3.0, f"{args}: {elapsed:.2f}s"  # < 1 s unloaded; slack for a busy CI host
        with eng.connect() as conn:
            if eng.dialect.name == "sqlite":
                explain = " ".join(
                    str(r[-1])
                    for r in conn.execute(
                        text("EXPLAIN QUERY PLAN SELECT * FROM audit_events WHERE client_id = 'C-42'")
                    )
                )
            else:
                explain = " ".join(
                    str(r[0]) for r in conn.execute(text("EXPLAIN SELECT * FROM audit_events WHERE client_id = 'C-42'"))
                )
        assert "ix_audit_events_client_id_at" in explain, explain
        r = invoke(eng.url.render_as_string(hide_password=False), "audit", "verify")
        assert r.exit_code == 0 and "60000 events" in r.output, r.output
    finally:
        eng.dispose()
