"""SPEC §3.5 client entries and purge (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from planner_builders import AT, client, one, steps, t, world, world_desired

from reconciler.errors import ValidationFailed
from reconciler.model.actions import Plan
from reconciler.model.actual import ActualState
from reconciler.model.desired import DesiredState
from reconciler.planner import plan


def P(d: DesiredState, a: ActualState | None = None) -> Plan:
    return plan(d, a if a is not None else world(), AT, allow_mass_change=True)


EXTRA = [
    client("C-IN", None, status="inactive"),
    client("C-DEL", None, status="deleted", deleted_at=t("2026-10-20T12:00:00Z")),  # 35 days before AT
    client("C-DELNEW", None, status="deleted", deleted_at=t("2026-11-01T12:00:00Z")),  # 23 days
]

CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]], dict[str, Any]]] = [
    (
        "status inactive",
        {"id": "C-3", "status": "inactive"},
        [("client.inactivate", "C-3")],
        {"status": ("active", "inactive"), "primary": ("jdoe", None)},
    ),
    (
        "status active reactivates with primary",
        {"id": "C-IN", "status": "active", "primary": "jdoe"},
        [("client.reactivate", "C-IN")],
        {"status": ("inactive", "active"), "primary": (None, "jdoe")},
    ),
    (
        "primary reassigns",
        {"id": "C-3", "primary": "cdavis"},
        [("client.reassign", "C-3")],
        {"primary": ("jdoe", "cdavis")},
    ),
    (
        "duplicate_of marks duplicate",
        {"id": "C-3", "duplicate_of": "C-4"},
        [("client.mark_duplicate", "C-3")],
        {"status": ("active", "inactive"), "duplicate_of": (None, "C-4"), "primary": ("jdoe", None)},
    ),
    (
        "status deleted exports then deletes",
        {"id": "C-3", "status": "deleted"},
        [("export.write", "C-3"), ("client.delete", "C-3")],
        {"status": ("active", "deleted"), "deleted_at": (None, "2026-11-24T15:00:00Z"), "primary": ("jdoe", None)},
    ),
    ("already matching: nothing", {"id": "C-3", "primary": "jdoe", "status": "active"}, [], {}),
    ("already inactive: nothing", {"id": "C-IN", "status": "inactive"}, [], {}),
    ("recently deleted: nothing yet", {"id": "C-DELNEW", "status": "deleted"}, [], {}),
    ("purged since: nothing", {"id": "C-GONE", "status": "deleted"}, [], {}),
]


@pytest.mark.parametrize("entry,expected_steps,changes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_client_entries(entry: dict[str, Any], expected_steps: list[tuple[str, str]], changes: dict[str, Any]) -> None:
    p = P(world_desired(clients=[entry]), world(extra_clients=EXTRA))
    assert [s for s in steps(p) if s[1] != "C-DEL"] == expected_steps
    if changes:
        assert dict(p.actions[len(expected_steps) - 1].changes) == changes


def test_deletion_depends_on_its_export_and_warns_that_confirmation_is_needed() -> None:
    p = P(world_desired(clients=[{"id": "C-3", "status": "deleted"}]))
    export, delete = p.actions
    assert delete.depends_on == (export.id,)
    assert export.changes["file"] == (None, "client-C-3-20261124T150000Z.fhir.json")
    assert any("--confirm-delete C-3" in w for w in p.warnings)


def test_clients_deleted_more_than_30_days_ago_are_purged() -> None:
    p = P(world_desired(), world(extra_clients=EXTRA))
    assert steps(p) == [("client.purge", "C-DEL")]
    assert dict(p.actions[0].changes) == {"deleted_at": ("2026-10-20T12:00:00Z", None), "exists": (True, False)}


def test_purge_boundary_is_strictly_more_than_30_days() -> None:
    exactly = client("C-30", None, status="deleted", deleted_at=AT - dt.timedelta(days=30))
    p = P(world_desired(), world(extra_clients=[exactly]))
    assert steps(p) == []


ERRORS = [
    ("reactivation needs a primary", {"id": "C-IN", "status": "active"}, "reactivation needs an active primary"),
    (
        "reactivation to an inactive professional",
        {"id": "C-IN", "status": "active", "primary": "tnguyen"},
        "primary tnguyen is inactive",
    ),
    (
        "reassign to an unknown professional",
        {"id": "C-3", "primary": "nobody"},
        "primary 'nobody' is not a declared staff member",
    ),
    ("client not in the database", {"id": "C-404", "status": "inactive"}, "client C-404 is not in the database"),
    ("deleted client cannot come back", {"id": "C-DELNEW", "status": "active"}, "is deleted in the database"),
    ("duplicate of itself", {"id": "C-3", "duplicate_of": "C-3"}, "cannot be a duplicate of itself"),
    (
        "duplicate of a missing client",
        {"id": "C-3", "duplicate_of": "C-404"},
        "duplicate_of C-404 is not in the database",
    ),
    (
        "inactive with a primary",
        {"id": "C-3", "status": "inactive", "primary": "jdoe"},
        "is to be made inactive but names a primary (jdoe)",
    ),
]


@pytest.mark.parametrize("entry,message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_client_entry_errors(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        P(world_desired(clients=[entry]), world(extra_clients=EXTRA))
    assert message in str(exc.value)
    assert f"client {entry['id']}" in str(exc.value)


def test_primary_on_an_inactive_client_without_status_active_only_warns() -> None:
    p = P(world_desired(clients=[{"id": "C-IN", "primary": "jdoe"}]), world(extra_clients=EXTRA))
    assert [s for s in steps(p) if s[1] != "C-DEL"] == []
    assert any("C-IN is inactive" in w for w in p.warnings)


def test_explicit_actions_are_grouped_under_the_current_primary() -> None:
    p = P(
        world_desired(
            clients=[{"id": "C-3", "primary": "cdavis"}, {"id": "C-IN", "status": "active", "primary": "jdoe"}]
        ),
        world(extra_clients=EXTRA),
    )
    assert one(p, "client.reassign", "C-3").staff == "jdoe"
    assert one(p, "client.reactivate", "C-IN").staff == "jdoe"
