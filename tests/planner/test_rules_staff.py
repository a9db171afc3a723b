"""SPEC §2 staff entries, §3.2 the recorded date, §3.4 reactivation: each rule pinned (pure).

Every declared professional is planned, whatever else the plan does for others; each
staff action is grouped under the professional it changes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, one, staff, steps, world, world_desired

from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None) -> Plan:
    return plan(d, a if a is not None else world(), AT, allow_mass_change=True)


def test_every_declared_professional_is_planned_after_one_is_created() -> None:
    # "aaron" sorts before everyone: creating him must not end the walk over the others.
    a = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 20))})
    d = world_desired(
        {"jdoe": {"name": "Jon Doe"}, "tnguyen": {"active": True}},
        extra_staff=[{"id": "aaron", "name": "Aaron A", "role": "clinician"}],
    )
    p = P(d, a)
    assert steps(p) == [
        ("staff.create", "aaron"),
        ("staff.schedule_deactivation", "bsmith"),
        ("staff.update", "jdoe"),
        ("staff.reactivate", "tnguyen"),
    ]


CREATE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "future date: active, date recorded",
        {"deactivate_on": dt.date(2026, 12, 20)},
        {"active": (None, True), "deactivate_on": (None, "2026-12-20")},
        "newbie is declared but not in the database: created, seat added",
    ),
    (
        "date today: created inactive, no date",
        {"deactivate_on": dt.date(2026, 11, 24)},
        {"active": (None, False)},
        "newbie is declared but not in the database: created",
    ),
    (
        "declared inactive",
        {"active": False},
        {"active": (None, False)},
        "newbie is declared but not in the database: created",
    ),
    (
        "billing role and settings",
        {"billing_role": "rendering", "settings": {"messaging_enabled": True}},
        {"active": (None, True), "billing_role": (None, "rendering"), "settings": (None, {"messaging_enabled": True})},
        "newbie is declared but not in the database: created, seat added",
    ),
    (
        "admin gets scheduling access",
        {"role": "admin"},
        {"role": (None, "admin"), "access": (None, "scheduling_only")},
        "newbie is declared but not in the database: created, seat added",
    ),
    (
        "practice manager gets entire practice",
        {"role": "practice_manager"},
        {"access": (None, "entire_practice")},
        "newbie is declared but not in the database: created, seat added",
    ),
    (
        "declared access wins",
        {"role": "owner", "access": "scheduling_only"},
        {"access": (None, "scheduling_only")},
        "newbie is declared but not in the database: created, seat added",
    ),
]


@pytest.mark.parametrize("fields,changes,reason", [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES])
def test_staff_create_records_every_declared_field(
    fields: dict[str, Any], changes: dict[str, Any], reason: str
) -> None:
    p = P(world_desired(extra_staff=[{"id": "newbie", "name": "New Bie", "role": "clinician", **fields}]))
    create = one(p, "staff.create", "newbie")
    assert dict(create.changes) | changes == dict(create.changes)
    if "deactivate_on" not in changes:
        assert "deactivate_on" not in create.changes
    assert create.staff == "newbie"
    assert create.reason == reason
    assert steps(p) == [("staff.create", "newbie")]
    seats_after = 6 if create.changes["active"][1] else 5
    assert p.seats == {"before": 5, "after": seats_after}


def test_created_professional_leaving_later_is_not_scheduled_twice() -> None:
    p = P(
        world_desired(
            extra_staff=[{"id": "newbie", "name": "N", "role": "clinician", "deactivate_on": dt.date(2026, 12, 20)}]
        )
    )
    assert steps(p) == [("staff.create", "newbie")]


def test_declared_settings_are_planned_for_a_row_without_settings() -> None:
    a = world(replace={"jdoe": staff("jdoe", settings=None)})
    p = P(world_desired({"jdoe": {"settings": {"messaging_enabled": True}}}), a)
    update = one(p, "staff.update", "jdoe")
    assert dict(update.changes) == {"settings": (None, {"messaging_enabled": True})}


def test_matching_settings_plan_nothing_and_different_ones_are_updated() -> None:
    a = world(replace={"jdoe": staff("jdoe", settings={"messaging_enabled": True})})
    assert P(world_desired({"jdoe": {"settings": {"messaging_enabled": True}}}), a).actions == ()
    p = P(world_desired({"jdoe": {"settings": {"messaging_enabled": False}}}), a)
    assert dict(one(p, "staff.update", "jdoe").changes) == {
        "settings": ({"messaging_enabled": True}, {"messaging_enabled": False})
    }


UPDATE_CASES: list[tuple[str, dict[str, Any], Any, dict[str, Any], str]] = [
    (
        "name",
        {"name": "Jon Doe"},
        staff("jdoe"),
        {"name": ("Jdoe", "Jon Doe")},
        "jdoe: declared name differ from the database: updated",
    ),
    (
        "role and access",
        {"role": "practice_manager", "access": "entire_practice"},
        staff("jdoe"),
        {"role": ("clinician", "practice_manager"), "access": ("assigned_clients", "entire_practice")},
        "jdoe: declared access, role differ from the database: updated",
    ),
    (
        "max caseload",
        {"max_caseload": 12},
        staff("jdoe", max_caseload=10),
        {"max_caseload": (10, 12)},
        "jdoe: declared max_caseload differ from the database: updated",
    ),
]


@pytest.mark.parametrize("fields,row,changes,reason", [c[1:] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES])
def test_staff_update_is_grouped_under_the_professional(
    fields: dict[str, Any], row: Any, changes: dict[str, Any], reason: str
) -> None:
    p = P(world_desired({"jdoe": fields}), world(replace={"jdoe": row}))
    assert steps(p) == [("staff.update", "jdoe")]
    update = p.actions[0]
    assert (dict(update.changes), update.staff, update.reason, update.drift) == (changes, "jdoe", reason, False)


def test_reactivation_clears_a_recorded_date_unless_one_is_declared() -> None:
    row = staff("tnguyen", active=False, deactivate_on=dt.date(2026, 1, 5))
    p = P(world_desired({"tnguyen": {"active": True}}), world(replace={"tnguyen": row}))
    react = one(p, "staff.reactivate", "tnguyen")
    assert dict(react.changes) == {
        "active": (False, True),
        "deactivated_at": (None, None),
        "deactivate_on": ("2026-01-05", None),
    }
    assert react.staff == "tnguyen"
    assert (
        react.reason == "tnguyen is declared active: reactivated, seat added (clients do not come back by themselves)"
    )
    later = P(
        world_desired({"tnguyen": {"active": True, "deactivate_on": dt.date(2027, 3, 1)}}),
        world(replace={"tnguyen": row}),
    )
    assert "deactivate_on" not in one(later, "staff.reactivate", "tnguyen").changes


def test_withdrawn_date_is_cleared_under_the_professional_with_a_warning() -> None:
    a = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 20))})
    p = P(world_desired(), a)
    withdraw = one(p, "staff.schedule_deactivation", "bsmith")
    assert (withdraw.staff, withdraw.drift) == ("bsmith", False)
    assert withdraw.reason == "bsmith: no deactivation date declared: recorded date withdrawn"
    assert p.warnings == (
        "staff bsmith: deactivation date 2026-12-20 withdrawn; sessions and series already cancelled, "
        "ended or transferred for it are not restored",
    )


def test_no_date_recorded_and_none_declared_plans_nothing() -> None:
    assert P(world_desired()).actions == ()


def test_recording_a_date_is_grouped_under_the_professional() -> None:
    p = P(world_desired({"jdoe": {"deactivate_on": dt.date(2026, 12, 20)}}))
    sched = one(p, "staff.schedule_deactivation", "jdoe")
    assert (sched.staff, sched.drift, dict(sched.changes)) == ("jdoe", False, {"deactivate_on": (None, "2026-12-20")})
    assert sched.reason == "jdoe leaves on 2026-12-20 (policy standard): deactivation date recorded"


def test_moving_the_date_later_warns_that_handled_bookings_stay_handled() -> None:
    a = world(replace={"jdoe": staff("jdoe", deactivate_on=dt.date(2026, 12, 10))})
    p = P(world_desired({"jdoe": {"deactivate_on": dt.date(2026, 12, 20)}}), a)
    assert dict(one(p, "staff.schedule_deactivation", "jdoe").changes) == {
        "deactivate_on": ("2026-12-10", "2026-12-20")
    }
    assert p.warnings == (
        "staff jdoe: deactivation date moved from 2026-12-10 to 2026-12-20; sessions and series already "
        "cancelled, ended or transferred for 2026-12-10 are not restored",
    )
    earlier = P(world_desired({"jdoe": {"deactivate_on": dt.date(2026, 12, 5)}}), a)
    assert earlier.warnings == ()


def test_unmanaged_active_staff_are_reported_by_id() -> None:
    p = P(world_desired(omit=["jdoe"], unmanaged_staff="report"))
    assert p.warnings == ("staff jdoe is active in the database but not declared in the config (unmanaged)",)


def test_a_recorded_date_is_left_alone_for_a_professional_who_left_or_is_leaving_now() -> None:
    left = world(replace={"tnguyen": staff("tnguyen", active=False, deactivate_on=dt.date(2026, 1, 5))})
    assert P(world_desired(), left).actions == ()
    on_the_date = world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 2))})
    p = plan(
        world_desired({"bsmith": {"deactivate_on": dt.date(2026, 12, 2)}}),
        on_the_date,
        dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.timezone.utc),
        allow_mass_change=True,
    )
    assert "staff.schedule_deactivation" not in [s[0] for s in steps(p)]
    deact = one(p, "staff.deactivate", "bsmith")
    assert dict(deact.changes) == {"active": (True, False), "deactivated_at": (None, "2026-12-03T15:00:00Z")}


def test_staff_changes_are_plain_json_values() -> None:
    # A row may hold its settings as a read-only mapping; the plan holds JSON values (SPEC §5),
    # and enum fields as their strings.
    from types import MappingProxyType

    a = world(replace={"jdoe": staff("jdoe", settings=MappingProxyType({"messaging_enabled": True}))})
    d = world_desired(
        {"jdoe": {"settings": {"messaging_enabled": False}, "role": "biller", "access": "scheduling_only"}}
    )
    p = P(d, a)
    update = one(p, "staff.update", "jdoe")
    assert dict(update.changes) == {
        "access": ("assigned_clients", "scheduling_only"),
        "role": ("clinician", "biller"),
        "settings": ({"messaging_enabled": True}, {"messaging_enabled": False}),
    }
    assert [type(v) for pair in update.changes.values() for v in pair] == [str, str, str, str, dict, dict]
    assert '"settings": [{"messaging_enabled": true}, {"messaging_enabled": false}]' in p.dumps()


def test_a_professional_inactive_in_the_database_who_is_to_work_again_and_hand_over_needs_a_successor() -> None:
    # tnguyen is inactive in the database; the config brings them back until a later date
    # under a policy that hands work over. That is not drift (it is not leaving now), so the
    # missing successor is an error now, not something the planner meets later.
    from reconciler.errors import ValidationFailed

    d = world_desired({"tnguyen": {"active": True, "deactivate_on": dt.date(2026, 12, 31), "offboarding": "handover"}})
    with pytest.raises(ValidationFailed) as exc:
        plan(d, world(), AT, allow_mass_change=True)
    assert [(p.code, p.location.entity, p.message) for p in exc.value.problems] == [
        (
            "missing_successor",
            "staff tnguyen",
            "tnguyen leaves with policy 'handover', which hands work to a successor, but names no successor",
        )
    ]
