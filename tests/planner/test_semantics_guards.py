"""SPEC §3.6-3.8 practice roles and the blast-radius guard, planned without a database
(split from test_semantics_review.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from planner_builders import AT, one, staff, world, world_desired

from reconciler.errors import PlanRefused, ValidationFailed
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


PROTECTED = [
    (
        # (a config naming another owner hands the practice over first: SPEC §8.1)
        "the owner named only by the database is not deactivated as unmanaged staff",
        dict(owner=None, unmanaged_staff="deactivate"),
        ["alee"],
        "owner (in the database)",
    ),
    ("the clinical director named by the config cannot leave", {}, [], "clinical director"),
]


@pytest.mark.parametrize("practice_kw,omit,message", [c[1:] for c in PROTECTED], ids=[c[0] for c in PROTECTED])
def test_practice_roles_cannot_be_deactivated_while_the_practice_names_them(
    practice_kw: dict[str, Any], omit: list[str], message: str
) -> None:
    overrides = {} if omit else {"mkhan": {"active": False}}
    err = failure(world_desired(overrides, omit=omit, **practice_kw))
    assert message in str(err)


BLAST = [
    ("exactly 20 % of active staff is allowed", 5, {}, False),
    ("above 20 % of active staff is refused", 4, {}, True),
    ("max_change_percent lowers the bound", 5, {"max_change_percent": 10}, True),
]


@pytest.mark.parametrize("active_staff,practice_kw,refused", [c[1:] for c in BLAST], ids=[c[0] for c in BLAST])
def test_blast_radius_guard_boundary(active_staff: int, practice_kw: dict[str, Any], refused: bool) -> None:
    # world() has 5 active staff; dropping cdavis leaves 4. bsmith leaves, and her clients move
    # (handover) so that only the staff share is tested.
    rows = {"cdavis": staff("cdavis", active=False)} if active_staff == 4 else {}
    d = world_desired(
        {
            "bsmith": {"active": False, "offboarding": "handover", "successor": "jdoe"},
            "cdavis": {"active": active_staff == 5},
        },
        **practice_kw,
    )
    a = world(replace=rows)
    if refused:
        with pytest.raises(PlanRefused):
            plan(d, a, AT)
    else:
        assert one(plan(d, a, AT), "staff.deactivate", "bsmith")
