"""SPEC §2 staff entries, §3.3 successors, §3.4 reactivation, unmanaged staff (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, client, one, steps, world, world_desired

from reconciler.errors import ValidationFailed
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None) -> Plan:
    return plan(d, a if a is not None else world(), AT, allow_mass_change=True)


def refused(d: DesiredState, a: ActualState | None = None) -> str:
    with pytest.raises(ValidationFailed) as exc:
        P(d, a)
    return str(exc.value)


HANDOVER = {"active": False, "offboarding": "handover"}


def test_successor_chain_resolves_to_the_final_active_successor() -> None:
    d = world_desired(
        {
            "bsmith": {**HANDOVER, "successor": "jdoe"},
            "jdoe": {"active": False, "successor": "cdavis", "offboarding": "handover"},
        }
    )
    p = P(d)
    assert dict(one(p, "client.reassign", "C-1").changes) == {"primary": ("bsmith", "cdavis")}
    assert dict(one(p, "appointment.transfer", "A-1").changes) == {"staff": ("bsmith", "cdavis")}


def test_session_goes_to_whoever_is_active_on_its_date() -> None:
    # jdoe takes over but leaves on 2026-12-02: bsmith's session on 12-01 goes to jdoe, the one on 12-03 to cdavis.
    d = world_desired(
        {
            "bsmith": {**HANDOVER, "successor": "jdoe"},
            "jdoe": {"deactivate_on": dt.date(2026, 12, 2), "successor": "cdavis", "offboarding": "handover"},
        }
    )
    p = P(d)
    assert dict(one(p, "appointment.transfer", "A-1").changes) == {"staff": ("bsmith", "jdoe")}
    assert dict(one(p, "appointment.transfer", "A-3").changes) == {"staff": ("bsmith", "cdavis")}
    assert dict(one(p, "series.transfer", "S-1").changes) == {"staff": ("bsmith", "cdavis")}  # open-ended: to who stays


SUCCESSOR_ERRORS = [
    ("missing successor for a transfer policy", {"bsmith": HANDOVER}, "names no successor"),
    (
        "undeclared successor",
        {"bsmith": {**HANDOVER, "successor": "zed"}},
        "successor 'zed' is not a declared staff member",
    ),
    (
        "inactive successor without its own",
        {"bsmith": {**HANDOVER, "successor": "tnguyen"}},
        "ends at tnguyen, who is not active on 2026-11-24",
    ),
    (
        "successor leaving earlier",
        {
            "bsmith": {"deactivate_on": dt.date(2026, 12, 10), "offboarding": "handover", "successor": "jdoe"},
            "jdoe": {"deactivate_on": dt.date(2026, 12, 5)},
        },
        "ends at jdoe, who is not active on 2026-12-10",
    ),
    (
        "cycle",
        {
            "bsmith": {**HANDOVER, "successor": "jdoe"},
            "jdoe": {"active": False, "successor": "bsmith", "offboarding": "handover"},
        },
        "successor cycle: bsmith -> jdoe -> bsmith",
    ),
]


@pytest.mark.parametrize("overrides,message", [c[1:] for c in SUCCESSOR_ERRORS], ids=[c[0] for c in SUCCESSOR_ERRORS])
def test_successor_problems_are_validation_errors(overrides: dict[str, Any], message: str) -> None:
    assert message in refused(world_desired(overrides))


@pytest.mark.parametrize(
    "who,override",
    [
        ("alee", {"active": False}),
        ("mkhan", {"active": False}),
        ("alee", {"deactivate_on": dt.date(2027, 1, 1)}),
    ],
    ids=["owner-inactive", "clinical-director-inactive", "owner-scheduled"],
)
def test_owner_and_clinical_director_cannot_be_deactivated(who: str, override: dict[str, Any]) -> None:
    assert f"{who} is the practice " in refused(world_desired({who: override}))


def test_reactivation_adds_the_seat_but_brings_no_client_back() -> None:
    a = world(extra_clients=[client("C-9", None, status="inactive")])
    p = P(world_desired({"tnguyen": {"active": True}}), a)
    assert steps(p) == [("staff.reactivate", "tnguyen")]
    assert dict(p.actions[0].changes) == {"active": (False, True), "deactivated_at": ("2026-01-05T17:00:00Z", None)}
    assert p.seats == {"before": 5, "after": 6}


def test_staff_in_config_but_not_in_database_is_created_with_default_access() -> None:
    p = P(world_desired(extra_staff=[{"id": "newbie", "name": "New Bie", "role": "clinician", "max_caseload": 30}]))
    assert steps(p) == [("staff.create", "newbie")]
    assert dict(p.actions[0].changes) == {
        "name": (None, "New Bie"),
        "role": (None, "clinician"),
        "access": (None, "assigned_clients"),
        "active": (None, True),
        "max_caseload": (None, 30),
    }
    assert p.seats == {"before": 5, "after": 6}


def test_creating_staff_needs_name_and_role() -> None:
    assert "creating it needs name and role" in refused(world_desired(extra_staff=[{"id": "newbie"}]))


def test_staff_update_lists_only_differing_declared_fields() -> None:
    p = P(world_desired({"jdoe": {"name": "Jon Doe", "billing_role": "rendering", "role": "clinician"}}))
    assert steps(p) == [("staff.update", "jdoe")]
    assert dict(p.actions[0].changes) == {"name": ("Jdoe", "Jon Doe"), "billing_role": (None, "rendering")}


@pytest.mark.parametrize(
    "mode,expected_steps,warned",
    [
        ("ignore", [], False),
        ("report", [], True),
        (
            "deactivate",
            [
                ("appointment.cancel", "A-J"),
                ("series.end", "S-2"),
                ("client.inactivate", "C-3"),
                ("staff.deactivate", "jdoe"),
            ],
            False,
        ),
    ],
    ids=["ignore", "report", "deactivate-with-default-policy"],
)
def test_unmanaged_staff(mode: str, expected_steps: list[tuple[str, str]], warned: bool) -> None:
    p = P(world_desired(omit=["jdoe"], unmanaged_staff=mode))
    assert steps(p) == expected_steps
    assert bool([w for w in p.warnings if "jdoe" in w]) == warned


def test_unmanaged_inactive_staff_are_not_reported() -> None:
    p = P(world_desired(omit=["tnguyen"], unmanaged_staff="report"))
    assert p.warnings == ()
