"""SPEC §3.4-3.5 explicit client entries, duplicates and purges, planned without a database
(split from test_semantics_review.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from planner_builders import AT, appt, client, one, steps, t, world, world_desired

from reconciler.errors import ValidationFailed
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


EXPLICIT = [
    (
        "status inactive wins over other_clients",
        {"id": "C-1", "status": "inactive"},
        ("client.inactivate", "C-1"),
        None,
    ),
    (
        "primary wins over clients_with_balance",
        {"id": "C-2", "primary": "cdavis"},
        ("client.reassign", "C-2"),
        ("bsmith", "cdavis"),
    ),
    (
        "status inactive wins over clients_with_balance",
        {"id": "C-2", "status": "inactive"},
        ("client.inactivate", "C-2"),
        None,
    ),
    (
        "status active without primary keeps the balance rule",
        {"id": "C-2", "status": "active"},
        ("client.reassign", "C-2"),
        ("bsmith", "mkhan"),
    ),
]


@pytest.mark.parametrize("entry,expected,primary", [c[1:] for c in EXPLICIT], ids=[c[0] for c in EXPLICIT])
def test_explicit_client_entry_wins_during_offboarding(
    entry: dict[str, Any], expected: tuple[str, str], primary: tuple[str, str] | None
) -> None:
    p = P(world_desired({"bsmith": {"active": False}}, clients=[entry]))
    a = one(p, *expected)
    assert a.staff == "bsmith" and ("explicit clients: entry" in a.reason) == (entry.get("status") != "active")
    if primary is not None:
        assert a.changes["primary"] == primary
    assert p.actions[-1].type.value == "staff.deactivate" and a.id in p.actions[-1].depends_on


def test_client_declared_active_whose_leaver_would_inactivate_it_is_an_error() -> None:
    err = failure(world_desired({"bsmith": {"active": False}}, clients=[{"id": "C-1", "status": "active"}]))
    assert "client C-1 is declared active" in str(err) and "declare a primary" in str(err)


def test_professional_long_gone_under_handover_needs_no_successor_when_nothing_is_left() -> None:
    d = world_desired({"tnguyen": {"offboarding": "handover"}})
    assert steps(P(d)) == []
    from reconciler.planner.validator import check_desired

    known = {s: True for s in ("alee", "mkhan", "bsmith", "jdoe", "cdavis")} | {"tnguyen": False}
    assert check_desired(d, today=AT.date(), known_staff=known) == []
    # Config alone cannot tell a long-gone professional from one leaving now: still an error.
    assert any("tnguyen" in p.message for p in check_desired(d, today=AT.date(), known_staff={}))


def test_professional_long_gone_under_handover_with_leftovers_needs_a_successor() -> None:
    err = failure(
        world_desired({"tnguyen": {"offboarding": "handover"}}),
        world(extra_appts=[appt("A-T", "C-3", "tnguyen", "2026-12-01T15:00:00Z")]),
    )
    assert "tnguyen has no successor" in str(err)


DUPLICATE_TARGETS = [
    (
        "duplicate of a client deleted in the database is an error",
        client("C-X", None, status="deleted", deleted_at=AT),
        "is deleted",
    ),
    (
        "duplicate of a client that is itself a duplicate is an error",
        client("C-X", None, status="inactive", duplicate_of="C-4"),
        "is itself a duplicate of C-4",
    ),
]


@pytest.mark.parametrize("target,message", [c[1:] for c in DUPLICATE_TARGETS], ids=[c[0] for c in DUPLICATE_TARGETS])
def test_mark_duplicate_must_point_to_the_record_that_stays(target: Any, message: str) -> None:
    err = failure(world_desired(clients=[{"id": "C-3", "duplicate_of": "C-X"}]), world(extra_clients=[target]))
    assert message in str(err) and "client C-3" in str(err)


def test_mark_duplicate_already_applied_is_left_alone_even_if_the_original_is_deleted() -> None:
    rows = [
        client("C-X", None, status="deleted", deleted_at=AT),
        client("C-D", None, status="inactive", duplicate_of="C-X"),
    ]
    assert steps(P(world_desired(clients=[{"id": "C-D", "duplicate_of": "C-X"}]), world(extra_clients=rows))) == []


PURGE = [
    ("deleted exactly 30 days ago is kept", "2026-10-25T15:00:00Z", []),
    ("deleted 30 days and 1 second ago is purged", "2026-10-25T14:59:59Z", [("client.purge", "C-D")]),
]


@pytest.mark.parametrize("deleted_at,expected", [c[1:] for c in PURGE], ids=[c[0] for c in PURGE])
def test_purge_after_more_than_30_days(deleted_at: str, expected: list[tuple[str, str]]) -> None:
    p = P(world_desired(), world(extra_clients=[client("C-D", None, status="deleted", deleted_at=t(deleted_at))]))
    assert steps(p) == expected


def test_purge_of_an_original_and_its_duplicate_due_together_converges_in_one_plan() -> None:
    old = t("2026-09-01T00:00:00Z")
    rows = [
        client("C-O", None, status="deleted", deleted_at=old),
        client("C-D", None, status="deleted", deleted_at=old, duplicate_of="C-O"),
    ]
    assert steps(P(world_desired(), world(extra_clients=rows))) == [("client.purge", "C-D"), ("client.purge", "C-O")]


def test_purge_keeps_an_original_that_a_kept_duplicate_points_to() -> None:
    rows = [
        client("C-O", None, status="deleted", deleted_at=t("2026-09-01T00:00:00Z")),
        client("C-D", None, status="inactive", duplicate_of="C-O"),
    ]
    p = P(world_desired(), world(extra_clients=rows))
    assert steps(p) == [] and any("C-O" in w for w in p.warnings)
