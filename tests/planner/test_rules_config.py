"""SPEC §3.3 and §3.6 as checked on the config itself (``config_problems``, run by every plan
and by ``validate``): each problem with its location key, message and code (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from planner_builders import AT, world, world_desired
from reconciler.desired import DesiredState
from reconciler.errors import Location
from reconciler.invariants import config_problems
from reconciler.scope import classify

STAFF = ["alee", "mkhan", "bsmith", "jdoe", "cdavis", "tnguyen", "zed"]
CLIENTS = ["C-1", "C-3", "C-9"]


def with_locations(d: DesiredState) -> DesiredState:
    """Each entity and field key located at a 'file' named after it: a problem's file says which key located it."""
    keys = [f"staff:{s}" for s in STAFF] + [f"client:{c}" for c in CLIENTS] + ["practice.default_policy"]
    keys += [f"staff:{s}.{f}" for s in STAFF for f in ("successor", "offboarding")]
    keys += [f"policy:{p}.clients_with_balance" for p in ("custom", "standard")]
    return d.model_copy(update={"locations": {k: Location(file=k, line=1) for k in keys}})


def problems(d: DesiredState, *, with_db: bool = True, db: bool = True) -> list[tuple[str | None, str | None, str, str]]:
    a = world()
    roster = classify(d, a.practice if db else None, a.staff if db else {}, AT)
    return [(p.location.file, p.location.entity, p.message, p.code) for p in config_problems(with_locations(d), roster, with_db=with_db)]


CASES: list[tuple[str, DesiredState, list[tuple[str | None, str | None, str, str]]]] = [
    ("unknown default policy", world_desired(default_policy="nope"),
     [("practice.default_policy", "practice", "unknown default policy 'nope'", "policy")]),
    ("unknown offboarding policy", world_desired({"jdoe": {"offboarding": "nope"}}),
     [("staff:jdoe.offboarding", "staff jdoe", "staff jdoe: unknown offboarding policy 'nope'", "policy")]),
    ("successor not declared", world_desired({"jdoe": {"successor": "ghost"}}),
     [("staff:jdoe.successor", "staff jdoe", "staff jdoe: successor ghost is not declared", "reference")]),
    ("cycle reported once, at its smallest id", world_desired({"jdoe": {"successor": "cdavis"}, "cdavis": {"successor": "jdoe"}}),
     [("staff:cdavis.successor", "staff cdavis", "successor cycle: cdavis -> jdoe -> cdavis", "successor")]),
    ("cycle of leavers is not also a chain error",
     world_desired({"jdoe": {"active": False, "successor": "cdavis", "offboarding": "handover"},
                    "cdavis": {"active": False, "successor": "jdoe", "offboarding": "handover"}}),
     [("staff:cdavis.successor", "staff cdavis", "successor cycle: cdavis -> jdoe -> cdavis", "successor")]),
    ("leaver with a handover policy and no successor", world_desired({"jdoe": {"active": False, "offboarding": "handover"}}),
     [("staff:jdoe", "staff jdoe", "staff jdoe is leaving and policy handover hands over to a successor, but none is declared", "successor")]),
    ("inactive in the database: reported when its leftovers are planned", world_desired({"tnguyen": {"active": False, "offboarding": "handover"}}), []),
    ("staying professional needs no successor", world_desired({"jdoe": {"offboarding": "handover"}}), []),
    ("leaver with a cancel policy needs no successor", world_desired({"jdoe": {"active": False}}), []),
    ("successor chain ending inactive", world_desired({"jdoe": {"active": False, "offboarding": "handover", "successor": "tnguyen"}}),
     [("staff:jdoe.successor", "staff jdoe", "staff jdoe: successor chain jdoe -> tnguyen ends at tnguyen, who is not active on 2026-11-24", "successor")]),
    ("successor leaving before a scheduled leaver",
     world_desired({"jdoe": {"deactivate_on": dt.date(2026, 12, 20), "offboarding": "handover", "successor": "cdavis"},
                    "cdavis": {"deactivate_on": dt.date(2026, 12, 10)}}),
     [("staff:jdoe.successor", "staff jdoe", "staff jdoe: successor chain jdoe -> cdavis ends at cdavis, who is not active on 2026-12-20", "successor")]),
    ("balance to an unknown professional",
     world_desired({"jdoe": {"active": False, "offboarding": "custom"}}, policies=[{"name": "custom", "clients_with_balance": "ghost"}]),
     [("policy:custom.clients_with_balance", "policy custom", "policy custom: clients_with_balance names unknown staff ghost", "reference")]),
    ("balance to a professional only in the database", world_desired({"jdoe": {"active": False, "offboarding": "custom"}}, omit=["cdavis"],
                                                                     policies=[{"name": "custom", "clients_with_balance": "cdavis"}]), []),
    ("owner leaving", world_desired({"alee": {"active": False}}),
     [("staff:alee", "staff alee", "staff alee is the practice's owner and cannot be deactivated while the practice names them", "protected")]),
    ("clinical director named only in the database leaving", world_desired({"mkhan": {"deactivate_on": dt.date(2026, 12, 20)}}, clinical_director=None),
     [("staff:mkhan", "staff mkhan", "staff mkhan is the practice's clinical director (in the database) and cannot be deactivated while the practice names them", "protected")]),
    ("duplicate of itself", world_desired(clients=[{"id": "C-1", "duplicate_of": "C-1"}]),
     [("client:C-1", "client C-1", "client C-1 cannot be a duplicate of itself", "invalid")]),
    ("duplicate with a primary", world_desired(clients=[{"id": "C-1", "duplicate_of": "C-3", "primary": "jdoe"}]),
     [("client:C-1", "client C-1", "client C-1: duplicate_of marks the client inactive; it cannot also set primary or status", "conflict")]),
    ("duplicate with status active", world_desired(clients=[{"id": "C-1", "duplicate_of": "C-3", "status": "active"}]),
     [("client:C-1", "client C-1", "client C-1: duplicate_of marks the client inactive; it cannot also set primary or status active", "conflict")]),
    ("duplicate with status deleted", world_desired(clients=[{"id": "C-1", "duplicate_of": "C-3", "status": "deleted"}]),
     [("client:C-1", "client C-1", "client C-1: duplicate_of marks the client inactive; it cannot also set primary or status deleted", "conflict")]),
    ("duplicate with status inactive is fine", world_desired(clients=[{"id": "C-1", "duplicate_of": "C-3", "status": "inactive"}]), []),
    ("deleted with a primary", world_desired(clients=[{"id": "C-1", "status": "deleted", "primary": "jdoe"}]),
     [("client:C-1", "client C-1", "client C-1: an deleted client has no primary", "conflict")]),
    ("primary unknown", world_desired(clients=[{"id": "C-1", "primary": "ghost"}]),
     [("client:C-1", "client C-1", "client C-1: primary ghost is not a known professional", "reference")]),
    ("primary leaving", world_desired({"jdoe": {"active": False}}, clients=[{"id": "C-1", "primary": "jdoe"}]),
     [("client:C-1", "client C-1", "client C-1: primary jdoe is not active on 2026-11-24", "inactive")]),
    ("primary leaving later is fine", world_desired({"jdoe": {"deactivate_on": dt.date(2026, 12, 20)}}, clients=[{"id": "C-1", "primary": "jdoe"}]), []),
    ("primary only in the database", world_desired(omit=["cdavis"], clients=[{"id": "C-1", "primary": "cdavis"}]), []),
]


@pytest.mark.parametrize("d,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_config_problems(d: DesiredState, expected: list[Any]) -> None:
    assert problems(d) == expected


def test_without_the_database_only_declared_staff_are_known() -> None:
    d = world_desired(omit=["cdavis"], clients=[{"id": "C-1", "primary": "cdavis"}])
    assert problems(d, with_db=False, db=False) == []  # cannot tell: not reported
    d = world_desired({"jdoe": {"active": False, "offboarding": "custom"}}, omit=["cdavis"],
                      policies=[{"name": "custom", "clients_with_balance": "cdavis"}])
    assert problems(d, with_db=False, db=False) == [
        ("policy:custom.clients_with_balance", "policy custom", "policy custom: clients_with_balance names unknown staff cdavis", "reference")]
    assert problems(d, with_db=False) == problems(d, with_db=False, db=False)


def test_a_database_owner_not_declared_is_only_protected_with_the_database() -> None:
    d = world_desired(omit=["alee"], owner=None, unmanaged_staff="deactivate")
    assert problems(d, with_db=False) == []
    assert problems(d) == [("staff:alee", "staff alee",
                            "staff alee is the practice's owner (in the database) and cannot be deactivated while the practice names them", "protected")]
