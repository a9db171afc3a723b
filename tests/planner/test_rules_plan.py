"""The plan as a whole (SPEC §5): seats and the mid-cycle credit, practice-setting warnings,
purge, the kept-bookings warning's listing, the summary and the plan value (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, appt, client, one, practice, series, steps, t, world, world_desired

from reconciler.model.actions import Action, ActionType, Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState, PolicySpec, StaffSpec
from reconciler.planner import plan
from reconciler.planner.policies import balance_target_kind, needs_successor, policy_name


def P(d: DesiredState, a: ActualState | None = None) -> Plan:
    return plan(d, a if a is not None else world(), AT, allow_mass_change=True)


# ---------------------------------------------------------------- seats
@pytest.mark.parametrize(
    "row_kw,practice_kw,credit",
    [
        ({"seat_price_cents": 3000}, {}, 700),  # database price and cycle day 1
        (
            {"seat_price_cents": 3000, "billing_cycle_day": 20},
            {},
            2600,
        ),  # database cycle day: Nov 20 - Dec 20, 26 of 30 left
        (
            {"seat_price_cents": 3000, "billing_cycle_day": 20},
            {"billing_cycle_day": 1},
            700,
        ),  # the config's day wins when set
        ({}, {"seat_price_cents": 6000}, 1400),  # the config's price
        ({"seat_price_cents": 1}, {"seat_price_cents": 3000, "billing_cycle_day": 20}, 2600),
    ],
    ids=["db price", "db cycle day", "config cycle day", "config price", "config price and day"],
)
def test_released_seat_credit(row_kw: dict[str, Any], practice_kw: dict[str, Any], credit: int) -> None:
    p = P(world_desired({"bsmith": {"active": False}}, **practice_kw), world(practice_row=practice(**row_kw)))
    assert p.extra["seat_credits"] == [
        {"staff": "bsmith", "action": one(p, "staff.deactivate", "bsmith").id, "credit_cents": credit}
    ]
    assert p.seats == {"before": 5, "after": 4}


def test_no_price_no_credit_and_seats_count_creations_and_reactivations() -> None:
    d = world_desired(
        {"bsmith": {"active": False}, "tnguyen": {"active": True}},
        extra_staff=[
            {"id": "new1", "name": "N", "role": "clinician"},
            {"id": "new2", "name": "O", "role": "clinician", "active": False},
        ],
    )
    p = P(d)
    assert "seat_credits" not in p.extra and p.extra["timezone"] == "America/New_York"
    assert p.seats == {"before": 5, "after": 6}


# ---------------------------------------------------------------- practice settings
def test_practice_settings_differing_from_the_database_are_planned_as_one_update() -> None:
    # SPEC §8.1: no longer a warning but one practice.update, first; unset config fields keep the database's.
    a = world(practice_row=practice(owner="mkhan", clinical_director="alee", timezone="Europe/Paris"))
    p = P(world_desired(), a)
    assert [(x.type.value, x.target, dict(x.changes)) for x in p.actions] == [
        (
            "practice.update",
            "practice",
            {
                "owner": ("mkhan", "alee"),
                "clinical_director": ("alee", "mkhan"),
                "timezone": ("Europe/Paris", "America/New_York"),
            },
        )
    ]
    assert p.warnings == ()
    unset = P(world_desired(owner=None, clinical_director=None, timezone=None), a)
    assert (unset.actions, unset.warnings) == ((), ())


# ---------------------------------------------------------------- purge
def test_a_client_with_duplicates_pointing_to_it_is_kept_with_a_warning() -> None:
    a = world(
        extra_clients=[
            client("C-DEL", None, status="deleted", deleted_at=t("2026-10-01T00:00:00Z")),
            client("C-DUP", None, status="inactive", duplicate_of="C-DEL"),
        ]
    )
    p = P(world_desired(), a)
    assert steps(p) == []
    assert p.warnings == ("client C-DEL is due for purge but other clients are marked duplicates of it: kept",)


def test_a_deleted_duplicate_and_its_deleted_original_are_purged_together() -> None:
    a = world(
        extra_clients=[
            client("C-DEL", None, status="deleted", deleted_at=t("2026-10-01T00:00:00Z")),
            client("C-DUP", None, status="deleted", deleted_at=t("2026-10-02T00:00:00Z"), duplicate_of="C-DEL"),
        ]
    )
    p = P(world_desired(), a)
    assert steps(p) == [("client.purge", "C-DEL"), ("client.purge", "C-DUP")]
    purge = p.actions[0]
    assert (purge.staff, purge.depends_on, purge.drift) == (None, (), False)
    assert (
        purge.reason
        == "client deleted at 2026-10-01T00:00:00Z, more than 30 days ago: purged (the audit trail keeps ids only)"
    )


def test_a_client_deleted_in_this_plan_is_not_purged_and_one_without_a_date_never_is() -> None:
    a = world(extra_clients=[client("C-NODATE", None, status="deleted")])
    assert steps(P(world_desired(clients=[{"id": "C-3", "status": "deleted"}]), a)) == [
        ("export.write", "C-3"),
        ("client.delete", "C-3"),
    ]


# ---------------------------------------------------------------- kept bookings listing
def test_kept_bookings_are_listed_in_natural_order_up_to_twelve() -> None:
    appts = [appt(f"A-{n}", "C-3", "jdoe", f"2026-12-{n:02d}T16:00:00Z") for n in range(2, 16)]  # A-2 .. A-15, by date
    p = P(world_desired(clients=[{"id": "C-3", "status": "inactive"}]), world(extra_appts=appts))
    listed = ", ".join(["A-J"] + [f"A-{n}" for n in range(2, 13)])
    assert (
        f"client C-3 becomes inactive but keeps 15 scheduled sessions and 1 active series ({listed}, and 3 more; S-2): "
        "cancel them or give them an explicit decision"
    ) in p.warnings


def test_kept_bookings_at_the_same_time_sort_by_natural_id() -> None:
    same = [appt(i, "C-3", "jdoe", "2026-12-05T16:00:00Z") for i in ("A-10", "A-9", "B", "A-x")]
    p = P(
        world_desired(clients=[{"id": "C-3", "status": "inactive"}]),
        world(extra_appts=same, extra_series=[series("S-10", "C-3", "jdoe"), series("S-9", "C-3", "cdavis")]),
    )
    assert (
        "client C-3 becomes inactive but keeps 5 scheduled sessions and 3 active series (A-J, A-9, A-10, A-x, B; S-2, S-9, S-10): "
        "cancel them or give them an explicit decision"
    ) in p.warnings


def test_a_single_series_is_named_in_the_singular_and_no_sessions_are_omitted() -> None:
    a = world(extra_clients=[client("C-9", "cdavis")], extra_series=[series("S-9", "C-9", "cdavis")])
    p = P(world_desired(clients=[{"id": "C-9", "status": "inactive"}]), a)
    assert p.warnings == (
        "client C-9 becomes inactive but keeps 1 active series (S-9): cancel them or give them an explicit decision",
    )


def test_an_entry_that_closes_an_already_closed_client_still_names_its_bookings() -> None:
    a = world(
        extra_clients=[client("C-9", None, status="inactive")],
        extra_appts=[appt("A-9", "C-9", "jdoe", "2026-12-05T16:00:00Z")],
    )
    p = P(world_desired(clients=[{"id": "C-9", "status": "inactive"}]), a)
    assert p.warnings == (
        "client C-9 is inactive but keeps 1 scheduled session (A-9): cancel them or give them an explicit decision",
    )


# ---------------------------------------------------------------- policies
@pytest.mark.parametrize(
    "fields,needs",
    [
        ({}, False),
        ({"future_sessions": "transfer"}, True),
        ({"other_clients": "transfer"}, True),
        ({"clients_with_balance": "successor"}, True),
        ({"clients_with_balance": "owner", "export": "fhir"}, False),
    ],
)
def test_a_policy_needs_a_successor_when_it_hands_something_over(fields: dict[str, Any], needs: bool) -> None:
    assert needs_successor(PolicySpec(name="p", **fields)) is needs


@pytest.mark.parametrize(
    "value,kind",
    [("owner", "owner"), ("clinical_director", "clinical_director"), ("successor", "successor"), ("jdoe", "staff")],
)
def test_balance_target_kind(value: str, kind: str) -> None:
    assert balance_target_kind(PolicySpec(name="p", clients_with_balance=value)) == kind


def test_policy_name_is_the_staff_key_else_the_practice_default() -> None:
    d = world_desired(default_policy="handover")
    assert policy_name(d, StaffSpec(id="x", offboarding="keep")) == "keep"
    assert policy_name(d, StaffSpec(id="x")) == "handover"
    assert policy_name(d, None) == "handover"


# ---------------------------------------------------------------- the plan value
def test_summary_follows_the_vocabulary_order_and_is_empty_for_no_actions() -> None:
    acts = tuple(
        Action(i, ty, f"t{i}", None, {}, "")
        for i, ty in enumerate(
            [
                ActionType.STAFF_DEACTIVATE,
                ActionType.APPOINTMENT_CANCEL,
                ActionType.STAFF_DEACTIVATE,
                ActionType.STAFF_CREATE,
            ],
            1,
        )
    )
    p = Plan(as_of="x", db_fingerprint="f", config_digest="c", actions=acts)
    assert list(p.summary.items()) == [("staff.create", 1), ("staff.deactivate", 2), ("appointment.cancel", 1)]
    assert not p.is_empty and Plan(as_of="x", db_fingerprint="f", config_digest="c", actions=()).is_empty
    assert p.to_json()["summary"] == p.summary


def test_plan_id_ignores_generated_at_and_changes_with_the_content() -> None:
    a = Plan(as_of="x", db_fingerprint="f", config_digest="c", actions=(), generated_at="1")
    b = Plan(as_of="x", db_fingerprint="f", config_digest="c", actions=(), generated_at="2")
    c = Plan(as_of="y", db_fingerprint="f", config_digest="c", actions=())
    assert a.plan_id == b.plan_id != c.plan_id
    assert a.plan_id.startswith("plan-") and len(a.plan_id) == 17
    import json

    assert json.loads(a.dumps())["plan_id"] == a.plan_id


def test_plan_json_keeps_scope_and_extra_only_when_present() -> None:
    bare = Plan(as_of="x", db_fingerprint="f", config_digest="c", actions=()).to_json(include_generated_at=False)
    assert list(bare) == [
        "format_version",
        "as_of",
        "db_fingerprint",
        "config_digest",
        "actions",
        "summary",
        "warnings",
        "seats",
    ]
    assert bare["seats"] == {"before": 0, "after": 0}


def test_a_plan_of_another_format_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported plan format_version 2"):
        Plan.from_json({"format_version": 2})


def test_action_json_reads_with_defaults() -> None:
    a = Action.from_json({"id": "3", "type": "series.end", "target": "S-1"})
    assert a == Action(3, ActionType.SERIES_END, "S-1", None, {}, "", (), False, {})
    assert [t.entity for t in (ActionType.EXPORT_WRITE, ActionType.CLIENT_PURGE, ActionType.SERIES_END)] == [
        "export",
        "client",
        "series",
    ]


def test_a_series_cut_at_a_future_date_still_counts_as_kept_until_then() -> None:
    # cdavis leaves on 12-31 (standard): S-9 only stops at the date, so C-3 keeps it for now.
    d = world_desired(
        {"cdavis": {"deactivate_on": dt.date(2026, 12, 31)}}, clients=[{"id": "C-3", "status": "inactive"}]
    )
    p = P(d, world(extra_series=[series("S-9", "C-3", "cdavis")]))
    assert dict(one(p, "series.end", "S-9").changes) == {"until": (None, "2026-12-31T05:00:00Z")}
    assert (
        "client C-3 becomes inactive but keeps 1 scheduled session and 2 active series (A-J; S-2, S-9): "
        "cancel them or give them an explicit decision"
    ) in p.warnings


# ---------------------------------------------------------------- order and errors
def test_scheduled_leavers_are_planned_by_date_then_id() -> None:
    d = world_desired(
        {
            "cdavis": {"deactivate_on": dt.date(2026, 12, 2)},
            "bsmith": {"deactivate_on": dt.date(2026, 12, 20)},
            "jdoe": {"deactivate_on": dt.date(2026, 12, 2)},
        }
    )
    p = P(d)
    assert [a.target for a in p.actions if a.type.value == "staff.schedule_deactivation"] == [
        "cdavis",
        "jdoe",
        "bsmith",
    ]


def test_sessions_are_handled_by_start_then_id() -> None:
    a = world(
        extra_appts=[
            appt("A-Z", "C-1", "bsmith", "2026-11-25T15:00:00Z"),
            appt("A-B", "C-1", "bsmith", "2026-12-05T15:00:00Z"),
            appt("A-A", "C-1", "bsmith", "2026-12-05T15:00:00Z"),
        ]
    )
    p = P(world_desired({"bsmith": {"active": False}}), a)
    assert [a.target for a in p.actions if a.type.value == "appointment.cancel"] == ["A-Z", "A-1", "A-3", "A-A", "A-B"]


def test_a_plan_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match=r"^plan\(\): `at` must be timezone-aware$"):
        plan(world_desired(), world(), dt.datetime(2026, 11, 24, 15, 0))


def test_several_problems_are_raised_together() -> None:
    from reconciler.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        P(world_desired(), world(extra_clients=[client("C-U1", None), client("C-U2", None)]))
    assert str(exc.value).splitlines()[0] == "the plan is invalid (2 problems)"
    with pytest.raises(ValidationFailed) as one_problem:
        P(world_desired(), world(extra_clients=[client("C-U1", None)]))
    assert one_problem.value.args[0].startswith("client C-U1 would be active without a primary professional")


def test_kept_booking_ids_sort_by_their_last_number_and_plain_ids_first() -> None:
    same = [appt(i, "C-3", "jdoe", "2026-12-05T16:00:00Z") for i in ("A-X-10", "A-X-9", "A-0", "A")]
    p = P(world_desired(clients=[{"id": "C-3", "status": "inactive"}]), world(extra_appts=same))
    assert (
        "client C-3 becomes inactive but keeps 5 scheduled sessions and 1 active series (A-J, A, A-0, A-X-9, A-X-10; S-2): "
        "cancel them or give them an explicit decision"
    ) in p.warnings


def test_an_entry_located_without_a_line_cites_its_file() -> None:
    from reconciler.errors import Location

    d = world_desired(clients=[{"id": "C-3", "primary": "cdavis"}])
    d = dataclasses.replace(d, **{"locations": {"client:C-3": Location(file="clients.yaml")}})
    assert (
        one(P(d), "client.reassign", "C-3").reason
        == "explicit clients: entry (clients.yaml): client reassigned to cdavis"
    )


def test_a_roster_classified_for_another_time_is_not_used() -> None:
    from reconciler.planner.scope import classify

    d = world_desired({"bsmith": {"deactivate_on": dt.date(2026, 12, 2)}})
    a = world()
    later = t("2026-12-03T15:00:00Z")
    stale = classify(d, a.practice, a.staff, AT)  # bsmith still scheduled then
    fresh = plan(d, a, later, allow_mass_change=True)
    assert plan(d, a, later, allow_mass_change=True, roster=stale).dumps() == fresh.dumps()
    assert ("staff.deactivate", "bsmith") in steps(fresh)


@pytest.mark.parametrize(
    "d,expected",
    [
        (
            world_desired({"mkhan": {"active": False}}, clinical_director=None),
            "mkhan is the practice clinical director (in the database); name another clinical director before deactivating mkhan",
        ),
        (
            world_desired({"alee": {"active": False}}, owner=None),
            "alee is the practice owner (in the database); name another owner before deactivating alee",
        ),
    ],
    ids=["clinical director", "owner"],
)
def test_a_practice_role_named_only_in_the_database_protects_its_holder(d: DesiredState, expected: str) -> None:
    from reconciler.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        plan(d, world(), AT, allow_mass_change=True)
    assert [(p.code, p.message) for p in exc.value.problems] == [("practice_role", expected)]


def test_the_plan_validates_the_config_for_its_own_date() -> None:
    # cdavis left on 11-01 by date: the config check (dated) and the invariant both say so.
    from reconciler.errors import ValidationFailed

    d = world_desired({"cdavis": {"deactivate_on": dt.date(2026, 11, 1)}}, clients=[{"id": "C-3", "primary": "cdavis"}])
    with pytest.raises(ValidationFailed) as exc:
        plan(d, world(), AT, allow_mass_change=True)
    assert [p.message for p in exc.value.problems] == [
        "primary cdavis is inactive since 2026-11-01 (staff:cdavis.deactivate_on)",
        "client C-3 is assigned to cdavis, who is inactive on 2026-11-24",
    ]


_CD = "mkhan is the practice clinical director{}; name another clinical director before deactivating mkhan"


@pytest.mark.parametrize(
    "d,where,message",
    [
        (
            world_desired({"mkhan": {"active": False}}, clinical_director=None),
            "staff.yaml:21: staff[1].active",
            _CD.format(" (in the database)"),
        ),
        (
            world_desired({"mkhan": {"deactivate_on": dt.date(2026, 11, 1)}}, clinical_director=None),
            "staff.yaml:22: staff[1].deactivate_on",
            _CD.format(" (in the database)"),
        ),
        (
            world_desired(omit=["mkhan"], clinical_director=None, unmanaged_staff="deactivate"),
            "staff mkhan",
            _CD.format(" (in the database)"),
        ),
        (world_desired(omit=["mkhan"], unmanaged_staff="deactivate"), "staff mkhan", _CD.format("")),
    ],
    ids=[
        "named in the database, declared inactive",
        "named in the database, leaving by date",
        "named in the database, unmanaged and deactivated",
        "named in the config, not declared, deactivated as unmanaged",
    ],
)
def test_taking_a_practice_role_away_is_reported_where_the_config_does_it(
    d: DesiredState, where: str, message: str
) -> None:
    from planner_builders import located

    from reconciler.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        plan(located(d), world(), AT, allow_mass_change=True)
    assert [(p.code, str(p.location), p.message) for p in exc.value.problems] == [("practice_role", where, message)]


@pytest.mark.parametrize("unmanaged, refused", [("deactivate", True), ("ignore", False)])
def test_a_client_primary_the_plan_deactivates_as_unmanaged_is_refused(unmanaged: str, refused: bool) -> None:
    """A client's declared primary who is not declared while unmanaged staff are deactivated
    would be inactive by the next plan: the plan would not converge, so it is a located
    error (hypothesis found it); while unmanaged staff are ignored the reference is fine."""
    from planner_builders import located

    from reconciler.errors import ValidationFailed

    d = world_desired(omit=["cdavis"], clients=[{"id": "C-3", "primary": "cdavis"}], unmanaged_staff=unmanaged)
    if not refused:
        assert ("client.reassign", "C-3") in steps(plan(located(d), world(), AT, allow_mass_change=True))
        return
    with pytest.raises(ValidationFailed) as exc:
        plan(located(d), world(), AT, allow_mass_change=True)
    messages = [p.message for p in exc.value.problems]
    assert messages[0] == "primary cdavis is not declared, and practice.unmanaged_staff deactivates cdavis", messages
