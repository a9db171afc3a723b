"""The audit trail (SPEC §1 audit event, §4 `audit`): one event per action, newest
last, filtered by plan, text and JSON, ids only; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from test_executor_support import practice_db

from reconciler.app.audit import format_audit, read_audit, write_audit
from reconciler.cli import main
from reconciler.model.actions import Action, ActionType, Plan
from reconciler.targets.native.target import NativeSession, NativeTarget

T1 = dt.datetime(2026, 11, 24, 17, 0, tzinfo=dt.timezone.utc)
T2 = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.timezone.utc)


def plan_of(*actions: Action) -> Plan:
    return Plan(as_of="2026-11-24T17:00:00Z", db_fingerprint="sha256:x", config_digest="sha256:y", actions=actions)


CANCEL = Action(
    1,
    ActionType.APPOINTMENT_CANCEL,
    "A-5",
    "bsmith",
    {"status": ("scheduled", "cancelled"), "cancel_reason": (None, "Provider left")},
    "bsmith offboarding",
)
REASSIGN = Action(2, ActionType.CLIENT_REASSIGN, "C-1002", "bsmith", {"primary": ("bsmith", "mkhan")}, "balance")
PLAN_A = plan_of(CANCEL, REASSIGN)
PLAN_B = plan_of(
    Action(
        1,
        ActionType.STAFF_DEACTIVATE,
        "bsmith",
        "bsmith",
        {"active": (True, False), "deactivated_at": (None, "2026-11-24T17:00:00Z")},
        "left",
    )
)


@pytest.fixture
def engine(db_url: str) -> Engine:
    eng = practice_db(db_url)
    with eng.begin() as conn:
        write_audit(NativeSession(conn), PLAN_A, actor="alee", at=T1)
        write_audit(NativeSession(conn), PLAN_B, actor="pmorgan", at=T2)
    return eng


def test_one_event_per_action_newest_last(engine: Engine) -> None:
    events = read_audit(NativeTarget(engine))
    assert [(e["plan_id"], e["action_id"], e["type"], e["target"], e["actor"], e["at"]) for e in events] == [
        (PLAN_A.plan_id, 1, "appointment.cancel", "A-5", "alee", "2026-11-24T17:00:00Z"),
        (PLAN_A.plan_id, 2, "client.reassign", "C-1002", "alee", "2026-11-24T17:00:00Z"),
        (PLAN_B.plan_id, 1, "staff.deactivate", "bsmith", "pmorgan", "2026-11-25T09:30:00Z"),
    ]
    assert events[0]["before"] == {"cancel_reason": None, "status": "scheduled"}
    assert events[0]["after"] == {"cancel_reason": "Provider left", "status": "cancelled"}
    assert (events[0]["staff"], events[0]["reason"]) == ("bsmith", "bsmith offboarding")


def test_filter_by_plan(engine: Engine) -> None:
    assert [e["target"] for e in read_audit(NativeTarget(engine), plan_id=PLAN_B.plan_id)] == ["bsmith"]
    assert read_audit(NativeTarget(engine), plan_id="plan-unknown") == []


def test_text_format_is_one_line_per_event_with_the_change(engine: Engine) -> None:
    lines = format_audit(read_audit(NativeTarget(engine)), "text").splitlines()
    assert len(lines) == 3
    assert lines[1] == (
        f"2026-11-24T17:00:00Z  alee  {PLAN_A.plan_id} #2  client.reassign C-1002 (bsmith)  "
        "primary: bsmith -> mkhan  [balance]"
    )


def test_json_format_round_trips_the_events(engine: Engine) -> None:
    events = read_audit(NativeTarget(engine))
    assert json.loads(format_audit(events, "json")) == events


def test_empty_trail() -> None:
    assert format_audit([], "text") == "No audit events.\n"
    assert json.loads(format_audit([], "json")) == []


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_audit_command(engine: Engine, db_url: str, fmt: str) -> None:
    res = CliRunner().invoke(main, ["audit", "--db", db_url, "--plan", PLAN_A.plan_id, "--format", fmt])
    assert res.exit_code == 0, res.output
    assert res.output == format_audit(read_audit(NativeTarget(engine), plan_id=PLAN_A.plan_id), fmt)
