"""SPEC §3.6 invariants, §3.8 blast-radius guard, and ``validate``'s check: located problems
with their stable codes, pinned exactly (pure)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from planner_builders import AT, client, practice, staff, world, world_desired

from reconciler.errors import Location, PlanRefused, Problem, ValidationFailed
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None, **kw: Any) -> Plan:
    return plan(d, a if a is not None else world(), AT, **kw)


IDS = ["alee", "mkhan", "bsmith", "jdoe", "cdavis", "tnguyen", "C-1", "C-2", "C-3", "C-4", "C-U", "C-X", "C-IN", "C-T"]
FIELDS = ["successor", "offboarding", "max_caseload", "status", "primary", "duplicate_of"]


def with_locations(d: DesiredState) -> DesiredState:
    """Every entity and field key located at a 'file' named after the key: a problem's
    file then says which key it was located with."""
    keys = [f"{kind}:{i}" for kind in ("staff", "client") for i in IDS] + [
        "practice.client_plan_limit",
        "practice.default_policy",
    ]
    keys += [f"{k}.{f}" for k in keys[: 2 * len(IDS)] for f in FIELDS]
    return dataclasses.replace(d, **{"locations": {k: Location(file=k, line=1) for k in keys}})


def located(d: DesiredState, a: ActualState | None = None) -> list[tuple[str | None, str | None, str, str]]:
    """(where, entity, message, code) per problem, in the order reported; ``where`` is the located key."""
    with pytest.raises(ValidationFailed) as exc:
        P(with_locations(d), a, allow_mass_change=True)
    return [(p.location.file, p.location.entity, p.message, p.code) for p in exc.value.problems]


# ---------------------------------------------------------------- blast radius
KEEP = {"name": "keep", "other_clients": "transfer", "clients_with_balance": "clinical_director"}


def _staff_leaving(*ids: str, **practice_kw: Any) -> DesiredState:
    return world_desired(
        {sid: {"active": False, "offboarding": "keep", "successor": "jdoe"} for sid in ids},
        policies=[KEEP],
        **practice_kw,
    )


def _refusal(d: DesiredState, a: ActualState | None = None) -> PlanRefused:
    with pytest.raises(PlanRefused) as exc:
        P(d, a)
    return exc.value


def test_guard_refuses_deactivating_more_than_the_share_of_active_staff() -> None:
    err = _refusal(_staff_leaving("bsmith", "cdavis", max_change_percent=30))
    msg = "the plan would deactivate 2 of 5 active staff (40 %), more than 30 %; refused (check the config, or pass --allow-mass-change)"
    assert str(err) == "practice: max_change_percent: " + msg
    assert err.problems == (Problem(Location(entity="practice", field="max_change_percent"), msg, "blast_radius"),)


def test_guard_bound_is_inclusive_and_one_more_is_refused() -> None:
    assert P(_staff_leaving("bsmith", max_change_percent=20)).actions  # 1 of 5 = 20 %: allowed
    assert "1 of 5 active staff (20 %), more than 19.5 %" in str(
        _refusal(_staff_leaving("bsmith", max_change_percent=19.5))
    )


def test_guard_counts_clients_that_were_active_and_shows_the_share_rounded() -> None:
    # 1 of 3 active clients inactivated: 33.3 %.
    a = world(extra_clients=[client("C-IN", None, status="inactive")])
    d = world_desired(
        clients=[{"id": "C-3", "status": "inactive"}, {"id": "C-IN", "status": "deleted"}], max_change_percent=20
    )
    err = _refusal(d, a)
    assert str(err) == (
        "practice: max_change_percent: the plan would inactivate or delete 1 of 4 active clients (25 %), more than 20 %; "
        "refused (check the config, or pass --allow-mass-change)"
    )
    share = _refusal(
        world_desired(clients=[{"id": "C-3", "status": "inactive"}], max_change_percent=10),
        world(extra_clients=[client("C-5", "jdoe"), client("C-6", "jdoe")]),
    )
    assert "1 of 6 active clients (16.7 %), more than 10 %" in str(share)


def test_guard_with_both_staff_and_clients_over_the_bound() -> None:
    err = _refusal(world_desired({"bsmith": {"active": False}, "cdavis": {"active": False}}))
    assert str(err).splitlines()[0] == "plan refused by the blast-radius guard"
    assert [p.message.split(" (")[0] for p in err.problems] == [
        "the plan would deactivate 2 of 5 active staff",
        "the plan would inactivate or delete 1 of 4 active clients",
    ]


def test_guard_is_lifted_by_allow_mass_change_and_ignores_an_empty_practice() -> None:
    assert P(_staff_leaving("bsmith", "cdavis", max_change_percent=30), allow_mass_change=True).actions
    from planner_builders import actual

    empty = actual([staff("alee", role="owner"), staff("mkhan", role="clinical_director")])
    assert P(world_desired(omit=["bsmith", "jdoe", "cdavis", "tnguyen"]), empty).actions == ()


# ---------------------------------------------------------------- invariants after the plan, located
def test_unassigned_unknown_and_inactive_primaries_are_located_errors() -> None:
    a = world(extra_clients=[client("C-U", None), client("C-X", "ghost"), client("C-T", "tnguyen", status="inactive")])
    assert located(world_desired(), a) == [
        (
            "client:C-U",
            "client C-U",
            "client C-U would be active without a primary professional (unassigned clients drop out of reports): "
            "add a clients: entry with primary or status",
            "unassigned",
        ),
        ("client:C-X", "client C-X", "client C-X is assigned to ghost, who is not a known professional", "reference"),
    ]


def test_caseload_and_plan_limit_are_located_errors() -> None:
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"}, "jdoe": {"max_caseload": 2}}
    )
    assert located(d) == [
        (
            "staff:jdoe.max_caseload",
            "staff jdoe",
            "staff jdoe would have 3 active clients, above max_caseload 2",
            "caseload",
        )
    ]
    a = world(extra_clients=[client("C-IN", None, status="inactive")], practice_row=practice(client_plan_limit=4))
    d = world_desired(clients=[{"id": "C-IN", "status": "active", "primary": "jdoe"}])
    assert located(d, a) == [
        (
            "practice.client_plan_limit",
            "practice",
            "the plan would leave 5 active clients, above the client plan limit 4",
            "plan_limit",
        )
    ]


def test_caseload_counts_only_professionals_who_gain_clients() -> None:
    # mkhan is above the limit already but gains nobody: no error; jdoe at the limit after gaining: fine.
    a = world(replace={"mkhan": staff("mkhan", role="clinical_director", access="entire_practice", max_caseload=0)})
    d = world_desired(
        {"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"}, "jdoe": {"max_caseload": 3}}
    )
    assert P(d, a, allow_mass_change=True).actions


def test_database_max_caseload_applies_when_none_is_declared() -> None:
    a = world(replace={"jdoe": staff("jdoe", max_caseload=2)})
    d = world_desired({"bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"}})
    assert located(d, a) == [
        (
            "staff:jdoe.max_caseload",
            "staff jdoe",
            "staff jdoe would have 3 active clients, above max_caseload 2",
            "caseload",
        )
    ]


def test_plan_limit_is_not_checked_when_the_plan_adds_no_client() -> None:
    a = world(practice_row=practice(client_plan_limit=2))  # already 4 active: not this plan's doing
    assert P(world_desired(), a).actions == ()


# ---------------------------------------------------------------- balance targets and successors: located
def test_planned_successor_errors_are_located_at_the_successor_field() -> None:
    a = world(extra_clients=[client("C-T", "tnguyen")])
    assert located(world_desired({"tnguyen": {"active": False, "offboarding": "handover"}}), a)[0] == (
        "staff:tnguyen.successor",
        None,
        "staff tnguyen: tnguyen has no successor",
        "successor",
    )


def test_declared_active_client_of_a_leaver_is_located_at_its_status() -> None:
    d = world_desired({"bsmith": {"active": False}}, clients=[{"id": "C-1", "status": "active"}])
    assert located(d)[0] == (
        "client:C-1.status",
        "client C-1",
        "client C-1 is declared active, but its primary bsmith is leaving and policy "
        "standard would inactivate it: declare a primary",
        "unassigned",
    )


# ---------------------------------------------------------------- validate's check
CLIENT_ERRORS = [
    (
        "not in the database",
        {"id": "C-X", "status": "inactive"},
        ("client:C-X", "client C-X", "client C-X is not in the database", "reference"),
    ),
    (
        "deleted in the database",
        {"id": "C-T", "status": "active"},
        ("client:C-T.status", "client C-T", "client C-T is deleted in the database and cannot be changed", "deleted"),
    ),
    (
        "duplicate of a missing client",
        {"id": "C-3", "duplicate_of": "C-X"},
        ("client:C-3.duplicate_of", "client C-3", "client C-3: duplicate_of C-X is not in the database", "reference"),
    ),
    (
        "duplicate of a deleted client",
        {"id": "C-3", "duplicate_of": "C-T"},
        (
            "client:C-3.duplicate_of",
            "client C-3",
            "client C-3: duplicate_of C-T is deleted in the database; point to the record that stays",
            "duplicate_of",
        ),
    ),
    (
        "reactivation without a primary",
        {"id": "C-IN", "status": "active"},
        (
            "client:C-IN.status",
            "client C-IN",
            "client C-IN: reactivation needs an active primary (add primary:)",
            "unassigned",
        ),
    ),
]


@pytest.mark.parametrize("entry,problem", [c[1:] for c in CLIENT_ERRORS], ids=[c[0] for c in CLIENT_ERRORS])
def test_client_entry_errors_are_located_with_their_codes(
    entry: dict[str, Any], problem: tuple[str, str, str, str]
) -> None:
    from planner_builders import t

    a = world(
        extra_clients=[
            client("C-T", None, status="deleted", deleted_at=t("2026-11-20T00:00:00Z")),
            client("C-IN", None, status="inactive"),
        ]
    )
    assert located(world_desired(clients=[entry]), a) == [problem]


def test_guard_message_for_one_problem_is_that_problem() -> None:
    err = _refusal(_staff_leaving("bsmith", "cdavis", max_change_percent=30))
    assert err.args[0] == err.problems[0].message


def test_guard_refuses_losing_the_only_active_client() -> None:
    from planner_builders import actual

    a = actual(world().staff.values(), [client("C-1", "jdoe")])
    err = _refusal(world_desired(clients=[{"id": "C-1", "status": "inactive"}]), a)
    assert err.args[0].startswith("the plan would inactivate or delete 1 of 1 active clients (100 %)")


def test_guard_counts_a_duplicate_that_was_already_inactive_as_no_loss() -> None:
    a = world(extra_clients=[client("C-D", None, status="inactive")])
    p = P(world_desired(clients=[{"id": "C-D", "duplicate_of": "C-3"}], max_change_percent=1), a)
    assert dict(p.actions[0].changes) == {"duplicate_of": (None, "C-3")}


def _partly_located(d: DesiredState, *keys: str) -> DesiredState:
    return dataclasses.replace(d, **{"locations": {k: Location(file=f"{k}.yaml", line=3) for k in keys}})


def test_creating_a_professional_without_name_or_role_is_located_at_the_entry() -> None:
    d = world_desired(extra_staff=[{"id": "newbie", "role": "clinician"}])
    assert located(d) == [
        (None, "staff newbie", "staff newbie is not in the database; creating it needs name", "create")
    ]


def test_a_professional_whose_id_has_a_dot_is_named_whole() -> None:
    # Ids may contain dots; the location falls back to the whole id, not the part before the dot.
    d = world_desired(extra_staff=[{"id": "b.new", "role": "clinician"}])
    with pytest.raises(ValidationFailed) as exc:
        P(_partly_located(d), None, allow_mass_change=True)
    assert [(str(p.location), p.message) for p in exc.value.problems] == [
        ("staff b.new", "staff b.new is not in the database; creating it needs name")
    ]
    with pytest.raises(ValidationFailed) as exc:
        P(_partly_located(d, "staff:b.new"), None, allow_mass_change=True)
    assert [str(p.location) for p in exc.value.problems] == ["staff:b.new.yaml:3"]


# ---------------------------------------------------------------- max_caseload: only net gains are held to it
def _caseload_world(*extra: Any, caseloads: dict[str, int] | None = None) -> ActualState:
    a = world(extra_clients=list(extra))
    return dataclasses.replace(a, caseloads=caseloads) if caseloads is not None else a


_J2 = client("C-J2", "jdoe")
_J3 = client("C-J3", "jdoe")
_KEPT = client("C-I", "jdoe", status="inactive")  # inactive, the row still names jdoe
CASELOAD_CASES: list[tuple[str, int, ActualState, list[dict[str, Any]], list[str]]] = [
    (
        "gaining one at the limit",
        2,
        _caseload_world(_J2),
        [{"id": "C-1", "primary": "jdoe"}],
        ["3 active clients, above max_caseload 2"],
    ),
    (
        "a caseload not read counts as none",
        1,
        _caseload_world(caseloads={}),
        [{"id": "C-1", "primary": "jdoe"}],
        [],
    ),
    (
        "losing one, then gaining one, at the limit",
        2,
        _caseload_world(_J2),
        [{"id": "C-3", "primary": "cdavis"}, {"id": "C-4", "primary": "jdoe"}],
        [],
    ),
    (
        "gaining two, then losing one, at the limit",
        2,
        _caseload_world(_J2),
        [{"id": "C-1", "primary": "jdoe"}, {"id": "C-2", "primary": "jdoe"}, {"id": "C-J2", "primary": "cdavis"}],
        ["3 active clients, above max_caseload 2"],
    ),
    (
        "already above the limit, no net gain",
        2,
        _caseload_world(_J2, _J3),
        [{"id": "C-3", "primary": "cdavis"}, {"id": "C-4", "primary": "jdoe"}],
        [],
    ),
    ("an inactive client naming the professional is no gain", 2, _caseload_world(_J2, _KEPT), [], []),
    (
        "reactivating a client to the primary it kept is a gain",
        2,
        _caseload_world(_J2, _KEPT),
        [{"id": "C-I", "status": "active"}],
        ["3 active clients, above max_caseload 2"],
    ),
]


@pytest.mark.parametrize(
    "limit,a,entries,expected", [c[1:] for c in CASELOAD_CASES], ids=[c[0] for c in CASELOAD_CASES]
)
def test_max_caseload_holds_professionals_who_gain_clients(
    limit: int, a: ActualState, entries: list[dict[str, Any]], expected: list[str]
) -> None:
    d = world_desired({"jdoe": {"max_caseload": limit}}, clients=entries)
    if not expected:
        P(d, a, allow_mass_change=True)
        return
    with pytest.raises(ValidationFailed) as exc:
        P(d, a, allow_mass_change=True)
    assert [p.message for p in exc.value.problems] == [f"staff jdoe would have {m}" for m in expected]
