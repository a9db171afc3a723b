"""SPEC §8.1 practice.update, §8.2 client future sessions, §8.3 series.split (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, TZ, appt, client, one, practice, series, steps, t, world, world_desired

from reconciler.errors import ValidationFailed
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None, at: dt.datetime = AT) -> Plan:
    return plan(d, a if a is not None else world(), at, allow_mass_change=True)


# ------------------------------------------------------------------ §8.1 practice.update
def test_practice_settings_that_differ_are_one_update_before_every_staff_action() -> None:
    d = world_desired({"bsmith": {"active": False}}, owner="mkhan", clinical_director="alee", client_plan_limit=900)
    p = P(d)
    first = p.actions[0]
    assert (first.type.value, first.target, first.staff) == ("practice.update", "practice", None)
    assert dict(first.changes) == {
        "owner": ("alee", "mkhan"),
        "clinical_director": ("mkhan", "alee"),
        "client_plan_limit": (None, 900),
    }
    assert [a.type.value for a in p.actions].count("practice.update") == 1
    assert (
        first.reason
        == "practice: declared client_plan_limit, clinical_director, owner differ from the database: updated"
    )


def test_matching_practice_settings_plan_nothing() -> None:
    assert P(world_desired()).is_empty


def test_timezone_change_is_planned() -> None:
    p = P(world_desired(timezone="America/Chicago"))
    assert steps(p) == [("practice.update", "practice")]
    assert dict(p.actions[0].changes) == {"timezone": (TZ, "America/Chicago")}


def test_owner_hands_over_and_leaves_in_one_plan() -> None:
    """alee hands the practice to mkhan and leaves: one plan, the update first."""
    d = world_desired({"alee": {"active": False}}, owner="mkhan")
    p = P(d)
    assert steps(p)[0] == ("practice.update", "practice")
    assert ("staff.deactivate", "alee") in steps(p)
    assert p.actions[0].changes["owner"] == ("alee", "mkhan")


def test_old_owner_still_named_in_the_config_cannot_leave() -> None:
    with pytest.raises(ValidationFailed, match="alee is the practice owner"):
        P(world_desired({"alee": {"active": False}}))


def test_owner_in_the_database_protected_when_config_names_no_owner() -> None:
    with pytest.raises(ValidationFailed, match="alee is the practice owner"):
        P(world_desired({"alee": {"active": False}}, owner=None))


def test_new_owner_must_be_known() -> None:
    with pytest.raises(ValidationFailed, match="owner"):
        P(world_desired({"alee": {"active": False}}, owner="nobody"))


# ------------------------------------------------------------------ §8.2 client future sessions
def _closing(decision: dict[str, Any], **practice_kw: Any) -> Plan:
    return P(world_desired(clients=[{"id": "C-1", "status": "inactive", **decision}], **practice_kw))


def test_cancel_cancels_the_clients_future_sessions_and_series_before_the_client_action() -> None:
    p = _closing({"future_sessions": "cancel"})
    assert steps(p) == [("appointment.cancel", "A-1"), ("series.end", "S-1"), ("client.inactivate", "C-1")]
    cancel = p.actions[0]
    assert cancel.changes["status"] == ("scheduled", "cancelled")
    assert "future_sessions: cancel" in cancel.reason
    inactivate = p.actions[-1]
    assert set(inactivate.depends_on) == {1, 2}
    assert not [w for w in p.warnings if "keeps" in w]


def test_keep_keeps_sessions_and_silences_the_warning() -> None:
    p = _closing({"future_sessions": "keep"})
    assert steps(p) == [("client.inactivate", "C-1")]
    assert not [w for w in p.warnings if "keeps" in w]


def test_no_decision_keeps_sessions_and_warns() -> None:
    p = _closing({})
    assert steps(p) == [("client.inactivate", "C-1")]
    assert [w for w in p.warnings if "C-1" in w and "keeps" in w]


def test_practice_default_cancel_applies_and_entry_wins() -> None:
    p = _closing({}, client_future_sessions="cancel")
    assert one(p, "appointment.cancel", "A-1").reason == (
        "explicit clients: entry: client's future session cancelled (practice.client_future_sessions: cancel)"
    )
    p = _closing({"future_sessions": "keep"}, client_future_sessions="cancel")
    assert steps(p) == [("client.inactivate", "C-1")]


def test_cancel_on_mark_duplicate_and_delete() -> None:
    p = P(world_desired(clients=[{"id": "C-2", "duplicate_of": "C-3", "future_sessions": "cancel"}]))
    assert steps(p) == [("appointment.cancel", "A-3"), ("client.mark_duplicate", "C-2")]
    p = P(world_desired(clients=[{"id": "C-2", "status": "deleted", "future_sessions": "cancel"}]))
    assert steps(p)[0] == ("appointment.cancel", "A-3")
    assert ("client.delete", "C-2") in steps(p)


def test_cancel_does_nothing_for_a_client_already_inactive() -> None:
    a = world(extra_clients=[])
    d = world_desired(clients=[{"id": "C-1", "status": "inactive", "future_sessions": "cancel"}])
    p1 = P(d, a)
    assert ("appointment.cancel", "A-1") in steps(p1)


# ------------------------------------------------------------------ §8.3 series.split
LEAVES = dt.date(2026, 12, 15)  # a Tuesday; S-1 repeats on Mondays at 09:00 local


def _handover_later(**kw: Any) -> Plan:
    d = world_desired({"bsmith": {"deactivate_on": LEAVES, "successor": "jdoe", "offboarding": "handover"}})
    return P(d, **kw)


def test_scheduled_handover_splits_the_series_on_the_date() -> None:
    p = _handover_later()
    split = one(p, "series.split", "S-1")
    cutoff = "2026-12-15T05:00:00Z"  # 00:00 America/New_York
    assert split.changes["until"] == (None, cutoff)
    assert split.changes["successor_series"] == (None, "S-1-20261215")
    assert split.changes["successor_staff"] == (None, "jdoe")
    # the first Monday at or after the 15th, 09:00 local (14:00 UTC)
    assert split.changes["successor_start"] == (None, "2026-12-21T14:00:00Z")
    assert ("series.transfer", "S-1") not in steps(p)
    # sessions before the date stay with the leaver
    assert not [s for s in steps(p) if s[1] in ("A-1", "A-3")]


def test_split_series_converges_and_is_ended_on_the_date() -> None:
    a = world(
        replace={"bsmith": dataclasses.replace(world().staff["bsmith"], deactivate_on=LEAVES)},
        extra_series=[],
    )
    s1 = dataclasses.replace(a.series["S-1"], until=t("2026-12-15T05:00:00Z"))
    new = dataclasses.replace(a.series["S-1"], id="S-1-20261215", staff="jdoe", start=t("2026-12-21T14:00:00Z"))
    a = dataclasses.replace(a, series={**a.series, "S-1": s1, new.id: new})
    d = world_desired({"bsmith": {"deactivate_on": LEAVES, "successor": "jdoe", "offboarding": "handover"}})
    assert P(d, a).is_empty
    on_the_date = P(d, a, at=t("2026-12-15T15:00:00Z"))
    assert ("series.end", "S-1") in steps(on_the_date)
    assert ("series.transfer", "S-1") not in steps(on_the_date)
    assert not [s for s in steps(on_the_date) if s[1] == new.id]


def test_split_sessions_after_the_date_go_to_the_successor() -> None:
    extra = appt("A-9", "C-1", "bsmith", "2026-12-21T14:00:00Z", series="S-1")
    d = world_desired({"bsmith": {"deactivate_on": LEAVES, "successor": "jdoe", "offboarding": "handover"}})
    p = P(d, world(extra_appts=[extra]))
    assert one(p, "appointment.transfer", "A-9").changes["staff"] == ("bsmith", "jdoe")


def test_series_ending_before_the_date_is_not_split() -> None:
    d = world_desired({"bsmith": {"deactivate_on": LEAVES, "successor": "jdoe", "offboarding": "handover"}})
    a = world(extra_series=[series("S-3", "C-2", "bsmith", until=t("2026-12-08T00:00:00Z"))])
    p = P(d, a)
    assert not [s for s in steps(p) if s[1] == "S-3"]


def test_cancel_policy_still_ends_the_series_before_the_date() -> None:
    d = world_desired({"bsmith": {"deactivate_on": LEAVES}})
    p = P(d)
    assert one(p, "series.end", "S-1").changes["until"] == (None, "2026-12-15T05:00:00Z")


def test_practice_row_missing_plans_no_update() -> None:
    a = world(practice_row=practice(owner="alee"))
    assert P(world_desired(), a).is_empty


# ------------------------------------------------------------------ §8.2 the cancel rule, each part pinned
LEAVE_NOW = {"bsmith": {"active": False}}
CANCEL = {"id": "C-1", "status": "inactive", "future_sessions": "cancel"}


def _cancel_json(p: Plan) -> list[dict[str, Any]]:
    """The actions the client's cancel rule planned, as plan JSON."""
    return [a.to_json() for a in p.actions if "client's" in a.reason]


def test_cancel_takes_the_clients_scheduled_sessions_from_now_on_in_time_order() -> None:
    """From ``at`` itself (inclusive), by start then id, whoever the session is booked with;
    past, cancelled and completed sessions stay."""
    a = world(
        extra_appts=[
            appt("A-4", "C-1", "jdoe", "2026-12-01T15:00:00Z"),  # ties A-1's start: after it by id
            appt("A-5", "C-1", "cdavis", "2026-11-24T15:00:00Z"),  # starts exactly at the plan time
            appt("A-6", "C-1", "cdavis", "2026-11-24T14:59:00Z"),  # one minute before: stays
        ],
        extra_series=[],
    )
    p = P(world_desired(clients=[CANCEL]), a)
    assert steps(p) == [
        ("appointment.cancel", "A-5"),
        ("appointment.cancel", "A-1"),
        ("appointment.cancel", "A-4"),
        ("series.end", "S-1"),
        ("client.inactivate", "C-1"),
    ]
    assert _cancel_json(p)[0] == {
        "id": 1,
        "type": "appointment.cancel",
        "target": "A-5",
        "staff": "bsmith",  # grouped under the client's primary, like the client action
        "changes": {"status": ["scheduled", "cancelled"], "cancel_reason": [None, "Client is no longer in care"]},
        "reason": "explicit clients: entry: client's future session cancelled (future_sessions: cancel)",
        "depends_on": [],
        "drift": False,
        "context": {
            "client": "C-1",
            "start": "2026-11-24T15:00:00Z",
            "end": "2026-11-24T15:50:00Z",
            "telehealth": False,
        },
    }


def test_cancel_ends_every_active_series_of_the_client_by_id() -> None:
    """``until`` becomes now unless the series already ends by now; an inactive series is left."""
    rows = [
        series("S-9", "C-1", "cdavis", until=t("2027-01-04T00:00:00Z")),  # ends later: until moves to now
        series("S-8", "C-1", "jdoe", until=AT),  # ends exactly now: only made inactive
        series("S-7", "C-1", "jdoe", active=False),
    ]
    a = world(extra_series=[])
    a = dataclasses.replace(a, series={r.id: r for r in [*rows, *a.series.values()]})  # not in id order
    p = P(world_desired(clients=[CANCEL]), a)
    ends = [x for x in _cancel_json(p) if x["type"] == "series.end"]
    assert [(x["target"], x["staff"], x["changes"]) for x in ends] == [
        ("S-1", "bsmith", {"active": [True, False], "until": [None, "2026-11-24T15:00:00Z"]}),
        ("S-8", "bsmith", {"active": [True, False]}),
        ("S-9", "bsmith", {"active": [True, False], "until": ["2027-01-04T00:00:00Z", "2026-11-24T15:00:00Z"]}),
    ]
    s9 = ends[-1]
    assert s9["reason"] == "explicit clients: entry: client's series ended (future_sessions: cancel)"
    assert (s9["depends_on"], s9["drift"]) == ([], False)
    assert s9["context"] == {"client": "C-1", "rrule": "FREQ=WEEKLY;BYDAY=MO", "first_start": "2026-11-02T14:00:00Z"}
    assert one(p, "client.inactivate", "C-1").depends_on == tuple(x["id"] for x in _cancel_json(p))


def test_a_series_moved_earlier_in_the_plan_is_ended_after_that_move() -> None:
    """cdavis leaves with a handover: C-1's series with cdavis goes to jdoe first; the client's
    cancel then ends it, depending on the transfer."""
    a = world(extra_series=[series("S-9", "C-1", "cdavis")])
    d = world_desired({"cdavis": {"active": False, "successor": "jdoe", "offboarding": "handover"}}, clients=[CANCEL])
    p = P(d, a)
    transfer = one(p, "series.transfer", "S-9")
    end = one(p, "series.end", "S-9")
    assert transfer.id in end.depends_on and end.id > transfer.id


def test_a_session_the_leavers_policy_cancelled_is_not_cancelled_again_by_the_clients_rule() -> None:
    d = world_desired(LEAVE_NOW, clients=[CANCEL])
    p = P(d)
    assert [s for s in steps(p) if s[1] in ("A-1", "S-1")] == [("appointment.cancel", "A-1"), ("series.end", "S-1")]
    assert "bsmith offboarding" in one(p, "appointment.cancel", "A-1").reason


def test_cancel_for_a_client_of_an_inactive_professional_is_drift() -> None:
    a = world(
        extra_clients=[client("C-T", "tnguyen")],
        extra_appts=[appt("A-T", "C-T", "jdoe", "2026-12-01T18:00:00Z")],
    )
    p = P(world_desired(clients=[{"id": "C-T", "status": "inactive", "future_sessions": "cancel"}]), a)
    cancel = one(p, "appointment.cancel", "A-T")
    assert (cancel.staff, cancel.drift) == ("tnguyen", True)
    assert cancel.reason.startswith("drift: tnguyen is inactive (policy standard): explicit clients: entry")
    assert one(p, "client.inactivate", "C-T").depends_on == (cancel.id,)


@pytest.mark.parametrize(
    "entry",
    [
        {"id": "C-1", "future_sessions": "cancel"},
        {"id": "C-1", "status": "active", "future_sessions": "cancel"},
        {"id": "C-1", "primary": "jdoe", "future_sessions": "cancel"},
    ],
    ids=["no status", "status active", "new primary"],
)
def test_cancel_leaves_the_bookings_of_a_client_who_stays(entry: dict[str, Any]) -> None:
    p = P(world_desired(clients=[entry]))
    assert not [s for s in steps(p) if s[0] in ("appointment.cancel", "series.end")]


@pytest.mark.parametrize(
    "row,cancels",
    [
        (client("C-1", "bsmith"), True),  # active, not linked
        (client("C-1", None, status="inactive"), True),  # inactive, not linked: marked now
        (client("C-1", "bsmith", duplicate_of="C-3"), True),  # linked but still active
        (client("C-1", None, status="inactive", duplicate_of="C-3"), False),  # already so
    ],
    ids=["active", "inactive unlinked", "linked active", "already linked inactive"],
)
def test_cancel_with_duplicate_of_applies_while_the_mark_is_still_to_be_made(row: Any, cancels: bool) -> None:
    a = world()
    a = dataclasses.replace(a, clients={**a.clients, "C-1": row})
    p = P(world_desired(clients=[{"id": "C-1", "duplicate_of": "C-3", "future_sessions": "cancel"}]), a)
    assert (("appointment.cancel", "A-1") in steps(p)) is cancels
    assert (("series.end", "S-1") in steps(p)) is cancels


# ------------------------------------------------------------------ §8.3 the split, each part pinned
def _split_plan(*rows: Any) -> Plan:
    """bsmith hands over to jdoe on LEAVES; ``rows`` are bsmith's series (S-1 left out)."""
    d = world_desired({"bsmith": {"deactivate_on": LEAVES, "successor": "jdoe", "offboarding": "handover"}})
    a = world(extra_series=[])
    a = dataclasses.replace(a, series={"S-2": a.series["S-2"], **{r.id: r for r in rows}})
    return P(d, a)


@pytest.mark.parametrize(
    "length,hashed",
    [(55, False), (56, True), (80, True)],
    ids=["64 characters kept", "65 characters hashed", "long id hashed"],
)
def test_the_successor_series_id_is_the_old_id_and_the_date_within_64_characters(length: int, hashed: bool) -> None:
    from reconciler.planner.offboarding import split_id

    old = "S" * (length - 2) + "-1"
    cutoff = t("2026-12-15T05:00:00Z")
    new = split_id(old, cutoff)
    if not hashed:
        assert new == f"{old}-20261215" and len(new) == 64
        return
    assert len(new) == 64 and new.startswith(old[:40] + "-") and new[41:].isalnum()
    assert new != split_id(old, t("2026-12-16T05:00:00Z")) and new == split_id(old, cutoff)


def test_the_successor_series_keeps_the_local_time_across_a_dst_change() -> None:
    """Started on a Monday 09:00 EDT (13:00Z); after the clocks go back, 09:00 EST is 14:00Z."""
    p = _split_plan(series("S-1", "C-1", "bsmith", start="2026-10-05T13:00:00Z"))
    assert one(p, "series.split", "S-1").changes["successor_start"] == (None, "2026-12-21T14:00:00Z")


def test_an_occurrence_exactly_at_the_start_of_the_date_is_the_successors_first() -> None:
    """A weekly rule at 00:00 local on Tuesdays; LEAVES is a Tuesday: its first session is on the date."""
    rrule = "FREQ=WEEKLY;BYDAY=TU"
    s = dataclasses.replace(series("S-1", "C-1", "bsmith", start="2026-11-03T05:00:00Z"), rrule=rrule)
    p = _split_plan(s)
    assert one(p, "series.split", "S-1").changes["successor_start"] == (None, "2026-12-15T05:00:00Z")


def test_a_series_ending_later_is_split_from_its_recorded_until() -> None:
    p = _split_plan(series("S-1", "C-1", "bsmith", until=t("2027-02-01T14:00:00Z")))
    split = one(p, "series.split", "S-1")
    assert split.changes["until"] == ("2027-02-01T14:00:00Z", "2026-12-15T05:00:00Z")
    assert (split.staff, split.drift, split.reason) == (
        "bsmith",
        False,
        "bsmith leaves on 2026-12-15 (policy handover): series split on the date, continued by jdoe",
    )


@pytest.mark.parametrize(
    "rrule,until,warned",
    [
        ("FREQ=WEEKLY;BYDAY=MO", "2026-12-21T14:00:00Z", False),  # its only later session is at its until
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=3", None, False),  # its sessions are all before the date
        ("every monday", None, True),  # unreadable
    ],
    ids=["until at the next session", "count used up", "unreadable rule"],
)
def test_a_series_with_no_session_from_the_date_on_ends_before_it_instead_of_splitting(
    rrule: str, until: str | None, warned: bool
) -> None:
    s = dataclasses.replace(series("S-1", "C-1", "bsmith", until=t(until) if until else None), rrule=rrule)
    p = _split_plan(s)
    end = one(p, "series.end", "S-1")
    assert ("series.split", "S-1") not in steps(p)
    assert dict(end.changes) == {"until": (until, "2026-12-15T05:00:00Z")}  # still active until the date
    assert end.reason == "bsmith leaves on 2026-12-15 (policy handover): series ends before the date"
    assert (end.staff, end.to_json()["drift"]) == ("bsmith", False)
    assert [w for w in p.warnings if "S-1" in w] == (
        ["series S-1: rule 'every monday' could not be read; the series is ended before the date"] if warned else []
    )
