"""The read scope (SPEC §4 saved plans: the rows a plan depends on) travels inside the
plan; ``apply`` reads it back. Pinned on values (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, staff, world, world_desired

from reconciler.planner import plan
from reconciler.planner.scope import (
    PURGE_AFTER,
    ReadScope,
    classify,
    closing_clients,
    possible_receivers,
    read_scope,
)

T2 = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.timezone.utc)


def test_read_scope_is_the_plans_scope() -> None:
    d = world_desired(
        {
            "bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"},
            "jdoe": {"max_caseload": 9},
            "cdavis": {"deactivate_on": dt.date(2026, 12, 2)},
        },
        clients=[{"id": "C-4", "duplicate_of": "C-3"}, {"id": "C-3", "primary": "cdavis"}],
    )
    a = world()
    scope = read_scope(d, a.practice, a.staff, AT)
    assert scope == ReadScope(
        at=AT,
        now_staff=("bsmith", "tnguyen"),
        scheduled_staff=(("cdavis", T2),),
        client_ids=("C-3", "C-4"),
        caseload_staff=("jdoe", "mkhan"),
        purge_before=AT - PURGE_AFTER,
        closing_clients=("C-4",),
    )
    assert plan(d, a, AT, allow_mass_change=True).scope == scope.to_json()
    assert scope.to_json() == {
        "version": 1,
        "at": "2026-11-24T15:00:00Z",
        "now_staff": ["bsmith", "tnguyen"],
        "scheduled_staff": [["cdavis", "2026-12-02T05:00:00Z"]],
        "client_ids": ["C-3", "C-4"],
        "caseload_staff": ["jdoe", "mkhan"],
        "purge_before": "2026-10-25T15:00:00Z",
        "closing_clients": ["C-4"],
    }


def test_caseload_scope_covers_every_possible_receiver_with_a_limit() -> None:
    a = world(replace={"cdavis": staff("cdavis", max_caseload=5), "alee": staff("alee", role="owner", max_caseload=5)})
    d = world_desired(
        {
            "bsmith": {"active": False, "offboarding": "custom", "successor": "jdoe"},
            "jdoe": {"active": False, "successor": "cdavis", "max_caseload": 3},
        },
        policies=[{"name": "custom", "clients_with_balance": "alee"}],
        clinical_director="mkhan",
    )
    scope = read_scope(d, a.practice, a.staff, AT)
    assert scope.caseload_staff == ("alee", "cdavis", "jdoe", "mkhan")
    none = read_scope(world_desired(owner=None, clinical_director=None), None, {}, AT)
    assert none.caseload_staff == () and none.now_staff == () and none.client_ids == ()


def test_possible_receivers_are_the_successor_chains_named_targets_primaries_and_practice_roles() -> None:
    # bsmith leaves now (chain jdoe -> cdavis, balances to tnguyen -> alee), C-3's entry names mkhan;
    # the owner and clinical director may receive balances. Chains end where nobody is named.
    d = world_desired(
        {
            "bsmith": {"active": False, "offboarding": "custom", "successor": "jdoe"},
            "jdoe": {"deactivate_on": dt.date(2026, 12, 20), "successor": "cdavis"},
            "tnguyen": {"active": False, "successor": "alee"},
        },
        policies=[{"name": "custom", "clients_with_balance": "tnguyen"}],
        clients=[{"id": "C-3", "primary": "mkhan"}],
        owner="alee",
        clinical_director=None,
    )
    a = world()
    roster = classify(d, a.practice, a.staff, AT)
    assert possible_receivers(d, roster) == {"jdoe", "cdavis", "tnguyen", "alee", "mkhan"}


def test_a_client_entry_names_its_primary_as_a_receiver() -> None:
    a = world(replace={"cdavis": staff("cdavis", max_caseload=5)})
    scope = read_scope(world_desired(clients=[{"id": "C-3", "primary": "cdavis"}]), a.practice, a.staff, AT)
    assert scope.caseload_staff == ("cdavis", "mkhan")


@pytest.mark.parametrize(
    "entries,closing",
    [
        (
            [
                {"id": "C-1", "status": "inactive"},
                {"id": "C-0", "status": "deleted"},
                {"id": "C-2", "duplicate_of": "C-3"},
                {"id": "C-3", "status": "active"},
                {"id": "C-4", "primary": "jdoe"},
            ],
            ("C-0", "C-1", "C-2"),
        ),
        ([], ()),
    ],
)
def test_closing_clients_are_the_entries_that_inactivate_delete_or_mark_duplicate(
    entries: list[dict[str, Any]], closing: tuple[str, ...]
) -> None:
    assert closing_clients(world_desired(clients=entries)) == closing


def test_scope_round_trips_through_json() -> None:
    scope = ReadScope(
        at=AT,
        now_staff=("a", "b"),
        scheduled_staff=(("c", T2),),
        client_ids=("C-1",),
        caseload_staff=("d",),
        purge_before=AT - PURGE_AFTER,
        closing_clients=("C-1",),
    )
    assert ReadScope.from_json(scope.to_json()) == scope
    bare = ReadScope(at=AT)
    assert bare.to_json()["purge_before"] is None
    assert ReadScope.from_json(bare.to_json()) == bare


def test_scope_saved_before_closing_clients_existed_reads_as_none() -> None:
    doc = ReadScope(at=AT, closing_clients=("C-1",)).to_json()
    del doc["closing_clients"]
    assert ReadScope.from_json(doc).closing_clients == ()


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"version": 2, "at": "2026-11-24T15:00:00Z"}, "unsupported scope version 2"),
        ({"at": "2026-11-24T15:00:00Z"}, "unsupported scope version None"),
        ({"version": 1}, "damaged read scope: 'at'"),
        ({"version": 1, "at": "2026-11-24T15:00:00Z", "scheduled_staff": [1]}, "damaged read scope"),
    ],
    ids=["newer version", "no version", "no time", "damaged pair"],
)
def test_a_damaged_scope_is_a_value_error(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        ReadScope.from_json(doc)
    assert str(exc.value).startswith(message)


def test_roster_classifies_every_known_professional() -> None:
    a = world(replace={"cdavis": staff("cdavis", active=False)})
    d = world_desired(
        {
            "bsmith": {"deactivate_on": dt.date(2026, 11, 20)},
            "jdoe": {"deactivate_on": dt.date(2026, 12, 2)},
            "cdavis": {"active": True},
            "tnguyen": {"active": False},
        },
        extra_staff=[{"id": "newbie", "name": "N", "role": "clinician"}],
        omit=["alee"],
        unmanaged_staff="deactivate",
    )
    r = classify(d, a.practice, a.staff, AT)
    assert (r.offboard, r.drift, dict(r.scheduled), r.reactivate, r.create, r.unmanaged) == (
        ("alee", "bsmith"),
        ("tnguyen",),
        {"jdoe": dt.date(2026, 12, 2)},
        ("cdavis",),
        ("newbie",),
        ("alee",),
    )
    assert r.leaves == {
        "alee": dt.date(2026, 11, 24),
        "bsmith": dt.date(2026, 11, 20),
        "cdavis": None,
        "jdoe": dt.date(2026, 12, 2),
        "mkhan": None,
        "newbie": None,
        "tnguyen": dt.date(2026, 11, 24),
    }
    assert r.protected == (("clinical director", "mkhan"), ("owner", "alee"))
    assert (r.tz, r.today, r.owner, r.clinical_director) == ("America/New_York", dt.date(2026, 11, 24), "alee", "mkhan")
    assert r.active_today("newbie") and not r.active_today("bsmith") and not r.active_today("ghost")


def test_timezone_comes_from_the_config_then_the_database_then_utc() -> None:
    a = world()
    assert classify(world_desired(timezone="Asia/Tokyo"), a.practice, a.staff, AT).tz == "Asia/Tokyo"
    assert classify(world_desired(timezone=None), a.practice, a.staff, AT).tz == "America/New_York"
    assert classify(world_desired(timezone=None), None, {}, AT).tz == "UTC"


def test_a_scope_holding_only_its_time_reads_with_empty_sets() -> None:
    assert ReadScope.from_json({"version": 1, "at": "2026-11-24T15:00:00Z"}) == ReadScope(at=AT)


def test_read_scope_takes_the_timezone_from_the_database_when_the_config_has_none() -> None:
    from planner_builders import practice

    scope = read_scope(
        world_desired({"jdoe": {"deactivate_on": dt.date(2026, 12, 2)}}, timezone=None),
        practice(timezone="Asia/Tokyo"),
        world().staff,
        AT,
    )
    assert scope.scheduled_staff == (("jdoe", dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.timezone.utc)),)
