"""SPEC §3.1 offboarding, §3.2 scheduled deactivation, §3.9 drift: each rule pinned (pure).

Drift (§3.9): actions that put back what was changed outside the tool — bookings and
clients still held by a professional who is already inactive, bookings made after a
date was recorded — are marked ``drift``; everything else a plan does is not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, appt, by_target, client, one, series, staff, steps, t, world, world_desired

from reconciler.errors import ValidationFailed
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None, at: dt.datetime = AT) -> Plan:
    return plan(d, a if a is not None else world(), at, allow_mass_change=True)


def problems(d: DesiredState, a: ActualState | None = None) -> list[str]:
    with pytest.raises(ValidationFailed) as exc:
        P(d, a)
    return [p.message for p in exc.value.problems]


HANDOVER = {"offboarding": "handover", "successor": "jdoe"}
# tnguyen left in January; the database still holds a future session, a series and a client of his.
LEFTOVERS = dict(
    extra_clients=[client("C-T", "tnguyen")],
    extra_appts=[appt("A-T", "C-T", "tnguyen", "2026-12-04T15:00:00Z")],
    extra_series=[series("S-T", "C-T", "tnguyen")],
)


def _summary(p: Plan) -> list[tuple[str, str, str | None, dict[str, Any], tuple[int, ...], bool]]:
    return [(a.type.value, a.target, a.staff, dict(a.changes), a.depends_on, a.drift) for a in p.actions]


def test_leftovers_of_an_inactive_professional_go_to_the_successor_as_drift() -> None:
    p = P(world_desired({"tnguyen": {"active": False, **HANDOVER}}), world(**LEFTOVERS))
    assert _summary(p) == [
        ("appointment.transfer", "A-T", "tnguyen", {"staff": ("tnguyen", "jdoe")}, (), True),
        ("series.transfer", "S-T", "tnguyen", {"staff": ("tnguyen", "jdoe")}, (), True),
        ("client.reassign", "C-T", "tnguyen", {"primary": ("tnguyen", "jdoe")}, (1, 2), True),
    ]
    label = "drift: tnguyen is inactive (policy handover)"
    assert [a.reason for a in p.actions] == [
        f"{label}: future session transferred to jdoe",
        f"{label}: series transferred to jdoe",
        f"{label}: client reassigned to successor jdoe (other_clients: transfer)",
    ]


def test_leftovers_under_the_standard_policy_are_cancelled_ended_and_inactivated_as_drift() -> None:
    p = P(world_desired(), world(**LEFTOVERS))
    assert _summary(p) == [
        (
            "appointment.cancel",
            "A-T",
            "tnguyen",
            {"status": ("scheduled", "cancelled"), "cancel_reason": (None, "Provider is no longer with the practice")},
            (),
            True,
        ),
        ("series.end", "S-T", "tnguyen", {"active": (True, False), "until": (None, "2026-11-24T15:00:00Z")}, (), True),
        (
            "client.inactivate",
            "C-T",
            "tnguyen",
            {"status": ("active", "inactive"), "primary": ("tnguyen", None)},
            (1, 2),
            True,
        ),
    ]


def test_explicit_entry_for_a_leftover_client_is_drift_too() -> None:
    p = P(world_desired(clients=[{"id": "C-T", "primary": "cdavis"}]), world(**LEFTOVERS))
    reassign = one(p, "client.reassign", "C-T")
    assert (reassign.staff, reassign.drift, dict(reassign.changes)) == (
        "tnguyen",
        True,
        {"primary": ("tnguyen", "cdavis")},
    )
    assert (
        reassign.reason
        == "drift: tnguyen is inactive (policy standard): explicit clients: entry: client reassigned to cdavis"
    )
    assert reassign.depends_on == (one(p, "appointment.cancel", "A-T").id, one(p, "series.end", "S-T").id)


def test_handover_now_is_not_drift_and_every_action_is_the_leavers() -> None:
    p = P(world_desired({"bsmith": {"active": False, **HANDOVER}}))
    assert steps(p) == [
        ("export.write", "bsmith"),
        ("appointment.transfer", "A-1"),
        ("appointment.transfer", "A-3"),
        ("series.transfer", "S-1"),
        ("client.reassign", "C-1"),
        ("client.reassign", "C-2"),
        ("staff.deactivate", "bsmith"),
    ]
    assert {(a.staff, a.drift) for a in p.actions} == {("bsmith", False)}
    assert dict(one(p, "client.reassign", "C-1").changes) == {"primary": ("bsmith", "jdoe")}
    assert (
        one(p, "client.reassign", "C-1").reason
        == "bsmith offboarding (policy handover): client reassigned to successor jdoe (other_clients: transfer)"
    )
    assert one(p, "series.transfer", "S-1").reason == "bsmith offboarding (policy handover): series transferred to jdoe"
    assert (
        one(p, "export.write", "bsmith").reason
        == "bsmith offboarding (policy handover): client records exported (fhir) before any change"
    )
    assert (
        one(p, "staff.deactivate", "bsmith").reason
        == "bsmith offboarding (policy handover): professional deactivated, seat released"
    )


def test_explicit_entries_while_offboarding_are_not_drift() -> None:
    p = P(
        world_desired(
            {"bsmith": {"active": False}},
            clients=[{"id": "C-1", "primary": "cdavis"}, {"id": "C-2", "status": "inactive"}],
        )
    )
    reassign, inactivate = one(p, "client.reassign", "C-1"), one(p, "client.inactivate", "C-2")
    assert (reassign.drift, inactivate.drift, reassign.staff, inactivate.staff) == (False, False, "bsmith", "bsmith")
    assert (
        reassign.reason == "bsmith offboarding (policy standard): explicit clients: entry: client reassigned to cdavis"
    )


def test_only_active_clients_of_the_leaver_are_handled() -> None:
    # An inactive (or deleted) client still carrying the leaver as primary is not reassigned or inactivated again.
    a = world(
        extra_clients=[
            client("C-OLD", "bsmith", status="inactive"),
            client("C-GONE", "bsmith", status="deleted", deleted_at=t("2026-11-20T00:00:00Z")),
        ]
    )
    p = P(world_desired({"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"}}), a)
    assert not by_target(p, "C-OLD") and not by_target(p, "C-GONE")
    p = P(world_desired({"bsmith": {"active": False}}), a)
    assert not by_target(p, "C-OLD") and not by_target(p, "C-GONE")


def test_past_deactivate_on_offboards_now_with_the_leaving_professionals_chain() -> None:
    d = world_desired({"bsmith": {"deactivate_on": dt.date(2026, 11, 20), **HANDOVER}})
    p = P(d)
    assert dict(one(p, "series.transfer", "S-1").changes) == {"staff": ("bsmith", "jdoe")}
    assert dict(one(p, "staff.deactivate", "bsmith").changes) == {
        "active": (True, False),
        "deactivated_at": (None, "2026-11-24T15:00:00Z"),
    }


# ---------------------------------------------------------------- scheduled deactivation
SCHED = {"bsmith": {"deactivate_on": dt.date(2026, 12, 2)}}


def test_a_series_ending_before_the_date_does_not_stop_later_series() -> None:
    # S-0 sorts before S-1 and ends before the date: it is left alone, S-1 is still ended.
    a = world(extra_series=[series("S-0", "C-2", "bsmith", until=t("2026-11-30T00:00:00Z"))])
    p = P(world_desired(SCHED), a)
    assert not by_target(p, "S-0")
    assert dict(one(p, "series.end", "S-1").changes) == {"until": (None, "2026-12-02T05:00:00Z")}


def test_a_series_ending_exactly_at_the_instant_is_left_alone_and_one_ending_after_is_cut() -> None:
    a = world(
        extra_series=[
            series("S-0", "C-2", "bsmith", until=t("2026-12-02T05:00:00Z")),
            series("S-9", "C-2", "bsmith", until=t("2026-12-09T05:00:00Z")),
        ]
    )
    p = P(world_desired(SCHED), a)
    assert not by_target(p, "S-0")
    assert dict(one(p, "series.end", "S-9").changes) == {"until": ("2026-12-09T05:00:00Z", "2026-12-02T05:00:00Z")}
    assert (
        one(p, "series.end", "S-9").reason
        == "bsmith leaves on 2026-12-02 (policy standard): series ends before the date"
    )


def test_an_inactive_series_is_never_touched() -> None:
    a = world(extra_series=[series("S-0", "C-2", "bsmith", active=False)])
    assert not by_target(P(world_desired(SCHED), a), "S-0")
    assert not by_target(P(world_desired({"bsmith": {"active": False}}), a), "S-0")


def test_offboarding_never_extends_a_series_that_already_ends_earlier() -> None:
    a = world(extra_series=[series("S-0", "C-2", "bsmith", until=t("2026-12-09T05:00:00Z"))])
    p = P(world_desired({"bsmith": {"active": False}}), a)
    assert dict(one(p, "series.end", "S-0").changes) == {
        "active": (True, False),
        "until": ("2026-12-09T05:00:00Z", "2026-11-24T15:00:00Z"),
    }
    ended = world(extra_series=[series("S-0", "C-2", "bsmith", until=t("2026-11-10T05:00:00Z"))])
    p = P(world_desired({"bsmith": {"active": False}}), ended)
    assert dict(one(p, "series.end", "S-0").changes) == {"active": (True, False)}
    assert one(p, "series.end", "S-0").reason == "bsmith offboarding (policy standard): series ended"


def test_scheduled_series_goes_to_who_takes_over_on_the_leave_date_not_today() -> None:
    # jdoe stays past the date but names cdavis, who leaves before it: nobody permanent takes the series.
    d = world_desired(
        {
            "bsmith": {"deactivate_on": dt.date(2026, 12, 10), **HANDOVER},
            "jdoe": {"deactivate_on": dt.date(2026, 12, 20), "successor": "cdavis"},
            "cdavis": {"deactivate_on": dt.date(2026, 12, 8)},
        }
    )
    assert (
        "staff bsmith: successor chain bsmith -> jdoe -> cdavis ends at cdavis, who is not active on 2026-12-10"
        in problems(d)
    )


def test_scheduled_transfer_depends_on_the_recorded_date_and_is_drift_once_recorded() -> None:
    d = world_desired({"bsmith": {"deactivate_on": dt.date(2026, 12, 2), **HANDOVER}})
    p = P(d)
    assert _summary(p) == [
        ("staff.schedule_deactivation", "bsmith", "bsmith", {"deactivate_on": (None, "2026-12-02")}, (), False),
        ("appointment.transfer", "A-3", "bsmith", {"staff": ("bsmith", "jdoe")}, (1,), False),
        # SPEC §8.3: split on the date (sessions before it stay with the leaver), not moved early
        (
            "series.split",
            "S-1",
            "bsmith",
            {
                "until": (None, "2026-12-02T05:00:00Z"),
                "successor_series": (None, "S-1-20261202"),
                "successor_staff": (None, "jdoe"),
                "successor_start": (None, "2026-12-07T14:00:00Z"),
            },
            (1,),
            False,
        ),
    ]
    assert (
        one(p, "appointment.transfer", "A-3").reason
        == "bsmith leaves on 2026-12-02 (policy handover): session on/after the date transferred to jdoe"
    )
    recorded = P(d, world(replace={"bsmith": staff("bsmith", deactivate_on=dt.date(2026, 12, 2))}))
    assert _summary(recorded) == [
        ("appointment.transfer", "A-3", "bsmith", {"staff": ("bsmith", "jdoe")}, (), True),
        (
            "series.split",
            "S-1",
            "bsmith",
            {
                "until": (None, "2026-12-02T05:00:00Z"),
                "successor_series": (None, "S-1-20261202"),
                "successor_staff": (None, "jdoe"),
                "successor_start": (None, "2026-12-07T14:00:00Z"),
            },
            (),
            True,
        ),
    ]


def test_a_series_handed_to_a_professional_leaving_later_is_ended_after_its_transfer() -> None:
    # bsmith leaves now and hands S-1 to jdoe, who leaves on 2026-12-20 (standard): in the same plan
    # S-1 is then cut at jdoe's date, after (depending on) its transfer and jdoe's recorded date.
    d = world_desired({"bsmith": {"active": False, **HANDOVER}, "jdoe": {"deactivate_on": dt.date(2026, 12, 20)}})
    p = P(d)
    transfer = one(p, "series.transfer", "S-1")
    assert dict(transfer.changes) == {"staff": ("bsmith", "jdoe")}
    ends = [a for a in p.actions if a.type.value == "series.end"]
    sched = one(p, "staff.schedule_deactivation", "jdoe")
    assert [(a.target, a.staff, dict(a.changes), a.depends_on) for a in ends] == [
        ("S-1", "jdoe", {"until": (None, "2026-12-20T05:00:00Z")}, (transfer.id, sched.id)),
        ("S-2", "jdoe", {"until": (None, "2026-12-20T05:00:00Z")}, (sched.id,)),
    ]


def test_unknown_policy_is_reported_for_each_kind_of_leaver() -> None:
    for over, a in (
        ({"bsmith": {"active": False, "offboarding": "nope"}}, world()),
        ({"bsmith": {"deactivate_on": dt.date(2026, 12, 2), "offboarding": "nope"}}, world()),
        ({"tnguyen": {"active": False, "offboarding": "nope"}}, world(**LEFTOVERS)),
    ):
        msgs = problems(world_desired(over), a)
        sid = next(iter(over))
        assert f"staff {sid}: unknown offboarding policy 'nope'" in msgs


def test_transfer_without_a_resolvable_successor_transfers_nothing() -> None:
    # An inactive leaver naming no successor: the leftovers are reported, never given to someone.
    msgs = problems(world_desired({"tnguyen": {"active": False, "offboarding": "handover"}}), world(**LEFTOVERS))
    assert msgs == [
        "staff tnguyen: tnguyen has no successor",
        "client C-T is assigned to tnguyen, who is inactive on 2026-11-24",
    ]


def test_deleting_a_leftover_client_is_drift_from_its_export_on() -> None:
    p = P(world_desired(clients=[{"id": "C-T", "status": "deleted"}]), world(**LEFTOVERS))
    export, delete = one(p, "export.write", "C-T"), one(p, "client.delete", "C-T")
    assert (export.drift, delete.drift, export.staff, delete.staff) == (True, True, "tnguyen", "tnguyen")


def test_deactivation_records_what_the_row_held_before() -> None:
    # An active row may still carry an old deactivated_at (e.g. written by hand): the change shows it.
    a = world(replace={"bsmith": staff("bsmith", deactivated_at=t("2025-03-01T12:00:00Z"))})
    deactivate = one(P(world_desired({"bsmith": {"active": False}}), a), "staff.deactivate", "bsmith")
    assert dict(deactivate.changes) == {
        "active": (True, False),
        "deactivated_at": ("2025-03-01T12:00:00Z", "2026-11-24T15:00:00Z"),
    }


@pytest.mark.parametrize(
    "over,practice_kw,expected",
    [
        (
            {"bsmith": {"active": False, "offboarding": "nope"}},
            {},
            [
                (
                    "unknown_policy",
                    "staff.yaml:34: staff[2].offboarding",
                    "unknown policy 'nope' (known: handover, standard)",
                ),
                ("policy", "staff.yaml:34: staff[2].offboarding", "staff bsmith: unknown offboarding policy 'nope'"),
            ],
        ),
        (
            {"bsmith": {"active": False}},
            {"default_policy": "gone"},
            [
                ("unknown_policy", "practice", "unknown policy 'gone' (known: handover, standard)"),
                ("policy", "staff.yaml:30: staff[2]", "staff bsmith: unknown offboarding policy 'gone'"),
                ("policy", "staff.yaml:60: staff[5]", "staff tnguyen: unknown offboarding policy 'gone'"),
            ],
        ),
    ],
    ids=["own policy unknown: at its offboarding key", "default policy unknown: at each leaver's entry"],
)
def test_an_unknown_policy_is_located_where_the_leaver_gets_it(
    over: dict[str, Any], practice_kw: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    from planner_builders import located

    with pytest.raises(ValidationFailed) as exc:
        P(located(world_desired(over, **practice_kw)))
    found = [(p.code, str(p.location), p.message) for p in exc.value.problems if p.code != "inactive"]
    assert found == expected


def test_each_session_whose_day_has_no_successor_is_reported_and_the_walk_goes_on() -> None:
    # jdoe takes over until 12-02: A-1 (12-01) moves, A-3 (12-03) and A-5 (12-05) each report their day.
    d = world_desired(
        {"bsmith": {"active": False, **HANDOVER}, "jdoe": {"deactivate_on": dt.date(2026, 12, 2)}},
    )
    a = world(extra_appts=[appt("A-5", "C-1", "bsmith", "2026-12-05T15:00:00Z")])
    assert problems(d, a) == [
        "staff bsmith: successor chain bsmith -> jdoe ends at jdoe, who is not active on 2026-12-03",
        "staff bsmith: successor chain bsmith -> jdoe ends at jdoe, who is not active on 2026-12-05",
    ]


@pytest.mark.parametrize(
    "start,until",
    [("2026-12-02T05:00:00Z", "2026-12-02T05:00:00Z"), ("2026-12-07T14:00:00Z", "2026-12-07T14:00:00Z")],
    ids=["starts at the date", "starts after the date"],
)
def test_a_series_starting_from_the_date_on_is_ended_now_at_its_own_start(start: str, until: str) -> None:
    """Nothing of it happens before the date, so it is not kept active until then (SCHED: cancel policy)."""
    p = P(world_desired(SCHED), world(extra_series=[series("S-9", "C-1", "bsmith", start=start)]))
    end = one(p, "series.end", "S-9")
    assert dict(end.changes) == {"active": (True, False), "until": (None, until)}
    assert end.reason == "bsmith leaves on 2026-12-02 (policy standard): series ended"


@pytest.mark.parametrize("until", ["2026-11-20T00:00:00Z", "2026-11-24T15:00:00Z"], ids=["before now", "at now"])
def test_a_handover_leaver_series_already_ended_by_now_is_made_inactive_not_moved(until: str) -> None:
    a = world(extra_series=[series("S-9", "C-1", "bsmith", until=t(until))])
    p = P(world_desired({"bsmith": {"active": False, **HANDOVER}}), a)
    end = one(p, "series.end", "S-9")
    assert dict(end.changes) == {"active": (True, False)}
    assert (end.staff, end.reason, end.to_json()["drift"]) == (
        "bsmith",
        "bsmith offboarding (policy handover): series ended",
        False,
    )
    assert ("series.transfer", "S-9") not in steps(p)
