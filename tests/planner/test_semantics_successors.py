"""SPEC §3.3 successor chains, deactivation dates and drift, planned without a database
(split from test_semantics_review.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, appt, client, one, staff, steps, world, world_desired

from reconciler.errors import ValidationFailed
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None, **kw: Any) -> Plan:
    return plan(d, a if a is not None else world(), AT, allow_mass_change=kw.pop("allow_mass_change", True), **kw)


def failure(d: DesiredState, a: ActualState | None = None) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as exc:
        P(d, a)
    return exc.value


CHAIN: dict[str, dict[str, Any]] = {
    "bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"},
    "jdoe": {"deactivate_on": "2026-12-10", "successor": "cdavis", "offboarding": "handover"},
}
CHAIN_APPTS = [
    appt("A-B1", "C-1", "bsmith", "2026-12-05T15:00:00Z"),
    appt("A-B2", "C-1", "bsmith", "2026-12-22T15:00:00Z"),
]


@pytest.mark.parametrize(
    "session,receiver",
    [("A-B1", "jdoe"), ("A-B2", "cdavis")],
    ids=[
        "session before the successor leaves goes to the successor",
        "session after the successor leaves goes to the final active successor",
    ],
)
def test_successor_chain_resolves_per_session_date(session: str, receiver: str) -> None:
    p = P(world_desired(CHAIN), world(extra_appts=CHAIN_APPTS))
    assert one(p, "appointment.transfer", session).changes["staff"] == ("bsmith", receiver)


CHAIN_CLIENTS = [
    ("client without balance goes to the final active successor (other_clients: transfer)", client("C-1", "bsmith")),
    (
        "client with balance goes to the final active successor (clients_with_balance: successor)",
        client("C-1", "bsmith", balance_cents=100),
    ),
]


@pytest.mark.parametrize("row", [c[1] for c in CHAIN_CLIENTS], ids=[c[0] for c in CHAIN_CLIENTS])
def test_successor_chain_hands_clients_to_the_successor_who_stays(row: Any) -> None:
    """A -> B -> C, B leaving later: the client (open-ended, like its series) goes to C,
    not to B for a few days and then on again."""
    policy = {
        "name": "handover",
        "future_sessions": "transfer",
        "clients_with_balance": "successor",
        "other_clients": "transfer",
        "export": "none",
    }
    p = P(world_desired(CHAIN, policies=[policy]), world(extra_clients=[row]))  # replaces the default C-1
    assert one(p, "client.reassign", "C-1").changes["primary"] == ("bsmith", "cdavis")


def test_withdrawn_deactivation_date_warns_that_nothing_is_restored() -> None:
    a = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 10))})
    p = P(world_desired(), a)
    assert steps(p) == [("staff.schedule_deactivation", "bsmith")]
    assert any("2026-12-10 withdrawn" in w and "not restored" in w for w in p.warnings)


def test_deactivation_date_moved_later_warns_that_nothing_is_restored() -> None:
    a = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 10))})
    p = P(world_desired({"bsmith": {"deactivate_on": "2026-12-20"}}), a)
    assert one(p, "staff.schedule_deactivation", "bsmith").changes["deactivate_on"] == ("2026-12-10", "2026-12-20")
    assert any("moved from 2026-12-10 to 2026-12-20" in w for w in p.warnings)


def test_successor_leaving_earlier_without_successor_is_an_error() -> None:
    err = failure(
        world_desired(
            {
                "bsmith": {"deactivate_on": "2026-12-20", "successor": "jdoe", "offboarding": "handover"},
                "jdoe": {"deactivate_on": "2026-12-10"},
            }
        )
    )
    assert "bsmith -> jdoe" in str(err) and "not active on 2026-12-20" in str(err)


DRIFT_HANDOVER = [
    (
        "session booked with an inactive professional under handover moves to the successor",
        dict(extra_appts=[appt("A-T", "C-3", "tnguyen", "2026-12-01T15:00:00Z")]),
        ("appointment.transfer", "A-T"),
    ),
    (
        "client reassigned in the database to an inactive professional under handover goes to the successor",
        dict(extra_clients=[client("C-T", "tnguyen")]),
        ("client.reassign", "C-T"),
    ),
]


@pytest.mark.parametrize("extra,expected", [c[1:] for c in DRIFT_HANDOVER], ids=[c[0] for c in DRIFT_HANDOVER])
def test_drift_follows_the_policy_of_the_inactive_professional(
    extra: dict[str, Any], expected: tuple[str, str]
) -> None:
    d = world_desired({"tnguyen": {"offboarding": "handover", "successor": "jdoe"}})
    p = P(d, world(**extra))
    assert steps(p) == [expected]
    a = p.actions[0]
    assert a.drift and (a.changes.get("staff") or a.changes.get("primary")) == ("tnguyen", "jdoe")
