"""SPEC §3.1 offboarding and §3.2 scheduled deactivation, rule by rule (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, appt, by_target, one, series, staff, steps, t, world, world_desired

from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None, at: dt.datetime = AT) -> Plan:
    return plan(d, a if a is not None else world(), at, allow_mass_change=True)


LEAVE = {"bsmith": {"active": False}}


def test_standard_offboarding_is_the_four_steps_in_order() -> None:
    p = P(world_desired(LEAVE))
    assert steps(p) == [
        ("appointment.cancel", "A-1"),
        ("appointment.cancel", "A-3"),
        ("series.end", "S-1"),
        ("client.inactivate", "C-1"),
        ("client.reassign", "C-2"),
        ("staff.deactivate", "bsmith"),
    ]
    assert [a.id for a in p.actions] == [1, 2, 3, 4, 5, 6]
    cancel = one(p, "appointment.cancel", "A-1")
    assert cancel.reason == "bsmith offboarding (policy standard): future session cancelled"
    assert dict(cancel.changes) == {
        "status": ("scheduled", "cancelled"),
        "cancel_reason": (None, "Provider is no longer with the practice"),
    }
    assert all(a.staff == "bsmith" and not a.drift for a in p.actions)
    deact = one(p, "staff.deactivate", "bsmith")
    assert deact.depends_on == (1, 2, 3, 4, 5)
    assert dict(deact.changes) == {"active": (True, False), "deactivated_at": (None, "2026-11-24T15:00:00Z")}


def test_past_cancelled_and_other_professionals_sessions_are_never_touched() -> None:
    p = P(world_desired(LEAVE))
    touched = {a.target for a in p.actions}
    assert {"A-0", "A-P", "A-2", "A-J", "S-2"}.isdisjoint(touched)


def test_session_starting_exactly_now_is_future() -> None:
    a = world(
        extra_appts=[
            appt("A-NOW", "C-1", "bsmith", "2026-11-24T15:00:00Z"),
            appt("A-JUST", "C-1", "bsmith", "2026-11-24T14:59:59Z"),
        ]
    )
    p = P(world_desired(LEAVE), a)
    assert by_target(p, "A-NOW") and not by_target(p, "A-JUST")


def test_deactivate_on_today_or_earlier_offboards_now() -> None:
    p = P(world_desired({"bsmith": {"deactivate_on": dt.date(2026, 11, 24)}}))
    assert ("staff.deactivate", "bsmith") in steps(p)
    assert not [a for a in p.actions if a.type.value == "staff.schedule_deactivation"]


def test_client_actions_depend_on_their_sessions_and_sessions_on_the_export() -> None:
    p = P(world_desired({"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"}}))
    assert steps(p)[0] == ("export.write", "bsmith")
    export = p.actions[0]
    assert export.changes["file"] == (None, "bsmith-20261124T150000Z.fhir.json")
    for a in p.actions:
        if a.type.value in ("appointment.transfer", "series.transfer"):
            assert a.depends_on == (export.id,)
    c1 = one(p, "client.reassign", "C-1")
    assert set(c1.depends_on) == {one(p, "appointment.transfer", "A-1").id, one(p, "series.transfer", "S-1").id}
    c2 = one(p, "client.reassign", "C-2")
    assert c2.depends_on == (one(p, "appointment.transfer", "A-3").id,)
    assert one(p, "staff.deactivate", "bsmith").depends_on == tuple(range(1, len(p.actions)))


POLICY_CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]], dict[str, Any]]] = [
    (
        "future_sessions=cancel",
        {"future_sessions": "cancel"},
        [("appointment.cancel", "A-1"), ("series.end", "S-1")],
        {},
    ),
    (
        "future_sessions=transfer",
        {"future_sessions": "transfer"},
        [("appointment.transfer", "A-1"), ("series.transfer", "S-1")],
        {"A-1": {"staff": ("bsmith", "jdoe")}, "S-1": {"staff": ("bsmith", "jdoe")}},
    ),
    (
        "balance->owner",
        {"clients_with_balance": "owner"},
        [("client.reassign", "C-2")],
        {"C-2": {"primary": ("bsmith", "alee")}},
    ),
    (
        "balance->clinical_director",
        {"clients_with_balance": "clinical_director"},
        [("client.reassign", "C-2")],
        {"C-2": {"primary": ("bsmith", "mkhan")}},
    ),
    (
        "balance->successor",
        {"clients_with_balance": "successor"},
        [("client.reassign", "C-2")],
        {"C-2": {"primary": ("bsmith", "jdoe")}},
    ),
    (
        "balance->staff id",
        {"clients_with_balance": "cdavis"},
        [("client.reassign", "C-2")],
        {"C-2": {"primary": ("bsmith", "cdavis")}},
    ),
    (
        "other_clients=inactivate",
        {"other_clients": "inactivate"},
        [("client.inactivate", "C-1")],
        {"C-1": {"status": ("active", "inactive"), "primary": ("bsmith", None)}},
    ),
    (
        "other_clients=transfer",
        {"other_clients": "transfer"},
        [("client.reassign", "C-1")],
        {"C-1": {"primary": ("bsmith", "jdoe")}},
    ),
    (
        "export=csv",
        {"export": "csv"},
        [("export.write", "bsmith")],
        {"bsmith": {"format": (None, "csv"), "file": (None, "bsmith-20261124T150000Z.csv")}},
    ),
    ("export=none", {"export": "none"}, [], {}),
    (
        "cancel_reason",
        {"cancel_reason": "Moving away"},
        [("appointment.cancel", "A-1")],
        {"A-1": {"cancel_reason": (None, "Moving away")}},
    ),
]


@pytest.mark.parametrize(
    "fields,expected_steps,expected_changes", [c[1:] for c in POLICY_CASES], ids=[c[0] for c in POLICY_CASES]
)
def test_each_policy_field(
    fields: dict[str, Any], expected_steps: list[tuple[str, str]], expected_changes: dict[str, Any]
) -> None:
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "custom", "successor": "jdoe"}},
        policies=[{"name": "custom", **fields}],
    )
    p = P(d)
    for step in expected_steps:
        assert step in steps(p)
    if fields.get("export") == "none":
        assert not [a for a in p.actions if a.type.value == "export.write"]
    for target, changes in expected_changes.items():
        acts = [a for a in by_target(p, target) if a.type.value != "staff.deactivate"]
        assert dict(acts[0].changes) | changes == dict(acts[0].changes)
    assert all("policy custom" in a.reason for a in p.actions)


EXPLICIT_CASES = [
    (
        "explicit primary wins over inactivate",
        {"id": "C-1", "primary": "cdavis"},
        "C-1",
        ("client.reassign", {"primary": ("bsmith", "cdavis")}),
    ),
    (
        "explicit inactive wins over balance rule",
        {"id": "C-2", "status": "inactive"},
        "C-2",
        ("client.inactivate", {"status": ("active", "inactive"), "primary": ("bsmith", None)}),
    ),
    (
        "explicit duplicate wins",
        {"id": "C-1", "duplicate_of": "C-3"},
        "C-1",
        ("client.mark_duplicate", {"duplicate_of": (None, "C-3")}),
    ),
    (
        "entry without decision falls back to policy",
        {"id": "C-2"},
        "C-2",
        ("client.reassign", {"primary": ("bsmith", "mkhan")}),
    ),
    (
        "explicit active keeps policy reassignment",
        {"id": "C-2", "status": "active"},
        "C-2",
        ("client.reassign", {"primary": ("bsmith", "mkhan")}),
    ),
]


@pytest.mark.parametrize("entry,target,expected", [c[1:] for c in EXPLICIT_CASES], ids=[c[0] for c in EXPLICIT_CASES])
def test_explicit_client_entry_wins_over_policy(
    entry: dict[str, Any], target: str, expected: tuple[str, dict[str, Any]]
) -> None:
    p = P(world_desired(LEAVE, clients=[entry]))
    acts = [a for a in by_target(p, target)]
    assert len(acts) == 1
    assert acts[0].type.value == expected[0]
    assert dict(acts[0].changes) | expected[1] == dict(acts[0].changes)
    assert acts[0].staff == "bsmith"
    assert acts[0].id < one(p, "staff.deactivate", "bsmith").id


def test_explicit_active_client_whose_policy_would_inactivate_is_an_error() -> None:
    from reconciler.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        P(world_desired(LEAVE, clients=[{"id": "C-1", "status": "active"}]))
    assert "client C-1" in str(exc.value)


# ---------------------------------------------------------------- scheduled deactivation
SCHED = {"bsmith": {"deactivate_on": dt.date(2026, 12, 2)}}
# 2026-12-02 00:00 America/New_York = 05:00Z


def test_scheduled_deactivation_records_the_date_and_handles_bookings_from_the_instant() -> None:
    a = world(
        extra_appts=[
            appt("A-EDGE", "C-1", "bsmith", "2026-12-02T05:00:00Z"),
            appt("A-BEFORE", "C-1", "bsmith", "2026-12-02T04:59:00Z"),
        ]
    )
    p = P(world_desired(SCHED), a)
    assert steps(p) == [
        ("staff.schedule_deactivation", "bsmith"),
        ("appointment.cancel", "A-EDGE"),
        ("appointment.cancel", "A-3"),
        ("series.end", "S-1"),
    ]
    assert dict(p.actions[0].changes) == {"deactivate_on": (None, "2026-12-02")}
    # Ahead of the date the series only stops at the instant: the sessions before it still happen.
    assert dict(one(p, "series.end", "S-1").changes) == {"until": (None, "2026-12-02T05:00:00Z")}
    assert one(p, "appointment.cancel", "A-3").reason.startswith("bsmith leaves on 2026-12-02 (policy standard)")
    assert not any(x.type.value == "staff.deactivate" or x.type.value.startswith("client.") for x in p.actions)


def test_a_series_ended_ahead_of_the_date_is_left_alone_then_made_inactive_on_the_date() -> None:
    import dataclasses

    ended = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 2))})
    s1 = dataclasses.replace(ended.series["S-1"], until=dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.timezone.utc))
    ended = dataclasses.replace(ended, series={**ended.series, "S-1": s1})
    assert ("series.end", "S-1") not in steps(P(world_desired(SCHED), ended))
    on_the_date = plan(
        world_desired(SCHED), ended, dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone.utc), allow_mass_change=True
    )
    assert dict(one(on_the_date, "series.end", "S-1").changes) == {"active": (True, False)}


def test_scheduled_deactivation_is_recorded_once() -> None:
    a = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 2))})
    p = P(world_desired(SCHED), a)
    assert ("staff.schedule_deactivation", "bsmith") not in steps(p)
    assert all(x.drift for x in p.actions)  # bookings after the date was recorded contradict it


def test_changed_date_is_recorded_again_and_withdrawn_date_cleared() -> None:
    a = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 20))})
    changed = P(world_desired(SCHED), a)
    assert dict(one(changed, "staff.schedule_deactivation", "bsmith").changes) == {
        "deactivate_on": ("2026-12-20", "2026-12-02")
    }
    withdrawn = P(world_desired(), a)
    assert steps(withdrawn) == [("staff.schedule_deactivation", "bsmith")]
    assert dict(withdrawn.actions[0].changes) == {"deactivate_on": ("2026-12-20", None)}


def test_scheduled_transfer_moves_bookings_and_series_to_the_successor() -> None:
    d = world_desired(
        {"bsmith": {"deactivate_on": dt.date(2026, 12, 2), "successor": "jdoe", "offboarding": "handover"}}
    )
    p = P(d)
    # SPEC §8.3: the series is split on the date (not moved weeks early)
    assert ("appointment.transfer", "A-3") in steps(p) and ("series.split", "S-1") in steps(p)
    assert ("series.transfer", "S-1") not in steps(p)
    assert ("appointment.transfer", "A-1") not in steps(p)  # before the date: stays
    assert not [a for a in p.actions if a.type.value == "export.write"]  # the export happens on the date


def test_series_ending_before_the_date_is_left_alone() -> None:
    a = world(extra_series=[series("S-OLD", "C-1", "bsmith", until=t("2026-11-30T00:00:00Z"))])
    p = P(world_desired(SCHED), a)
    assert not by_target(p, "S-OLD")
