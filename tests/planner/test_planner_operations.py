"""SPEC §8.1 practice.update, §8.2 client future sessions, §8.3 series.split (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, TZ, appt, one, practice, series, steps, t, world, world_desired

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
    assert "practice.client_future_sessions: cancel" in one(p, "appointment.cancel", "A-1").reason
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
    import dataclasses

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
