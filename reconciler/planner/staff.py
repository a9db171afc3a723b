"""Staff rules: create, update, reactivate, (un)schedule, unmanaged staff (SPEC §2, §3.2, §3.4)."""

from __future__ import annotations

from typing import Any

from reconciler.model.actions import ActionType as T
from reconciler.model.desired import Access, Role, StaffSpec, UnmanagedStaff
from reconciler.planner.context import Ctx
from reconciler.timeutil import iso_z_or_none

#: Access given to a created professional whose entry has no ``access`` key.
DEFAULT_ACCESS = {
    Role.OWNER: Access.ENTIRE_PRACTICE,
    Role.CLINICAL_DIRECTOR: Access.ENTIRE_PRACTICE,
    Role.PRACTICE_MANAGER: Access.ENTIRE_PRACTICE,
    Role.CLINICIAN: Access.ASSIGNED_CLIENTS,
    Role.BILLER: Access.ASSIGNED_CLIENTS,
    Role.ADMIN: Access.SCHEDULING_ONLY,
}

UPDATABLE = ("name", "role", "access", "billing_role", "max_caseload", "settings")


def _value(spec: StaffSpec, name: str) -> Any:
    v = getattr(spec, name)
    return v.value if hasattr(v, "value") else v


def _create(ctx: Ctx, spec: StaffSpec) -> None:
    missing = [f for f in ("name", "role") if getattr(spec, f) is None]
    if missing:
        ctx.error(
            ctx.where_staff(spec.id),
            f"staff {spec.id} is not in the database; creating it needs {' and '.join(missing)}",
            "create",
        )
        return
    assert spec.role is not None
    access = spec.access or DEFAULT_ACCESS[spec.role]
    active = ctx.roster.active_today(spec.id)
    changes: dict[str, tuple[Any, Any]] = {
        "name": (None, spec.name),
        "role": (None, spec.role.value),
        "access": (None, access.value),
        "active": (None, active),
    }
    for f in ("billing_role", "max_caseload", "settings"):
        if getattr(spec, f) is not None:
            changes[f] = (None, _value(spec, f))
    if spec.deactivate_on is not None and active:
        changes["deactivate_on"] = (None, spec.deactivate_on.isoformat())
    ctx.add(
        T.STAFF_CREATE,
        spec.id,
        spec.id,
        changes,
        f"{spec.id} is declared but not in the database: created" + (", seat added" if active else ""),
    )


def plan_staff(ctx: Ctx) -> None:
    """Per declared professional, by id: create, or reactivate / update / change the
    recorded deactivation date. Leaving professionals are handled by offboarding."""
    r = ctx.roster
    for sid in sorted(r.declared):
        spec = r.declared[sid]
        row = r.db.get(sid)
        if row is None:
            _create(ctx, spec)
            continue
        diff = {
            f: (_db(row, f), _value(spec, f))
            for f in UPDATABLE
            if getattr(spec, f) is not None and _value(spec, f) != _db(row, f)
        }
        if diff:
            ctx.add(
                T.STAFF_UPDATE,
                sid,
                sid,
                diff,
                f"{sid}: declared {', '.join(sorted(diff))} differ from the database: updated",
            )
        if sid in r.reactivate:
            changes: dict[str, tuple[Any, Any]] = {
                "active": (False, True),
                "deactivated_at": (iso_z_or_none(row.deactivated_at), None),
            }
            if row.deactivate_on is not None and spec.deactivate_on is None:
                changes["deactivate_on"] = (row.deactivate_on.isoformat(), None)
            ctx.add(
                T.STAFF_REACTIVATE,
                sid,
                sid,
                changes,
                f"{sid} is declared active: reactivated, seat added (clients do not come back by themselves)",
            )
        elif row.active and sid not in r.scheduled and sid not in r.offboard and row.deactivate_on is not None:
            ctx.add(
                T.STAFF_SCHEDULE_DEACTIVATION,
                sid,
                sid,
                {"deactivate_on": (row.deactivate_on.isoformat(), None)},
                f"{sid}: no deactivation date declared: recorded date withdrawn",
            )
            # The plan that recorded the date already cancelled, ended or moved what was booked
            # on/after it; nothing brings those back by itself.
            ctx.warn(
                f"staff {sid}: deactivation date {row.deactivate_on.isoformat()} withdrawn; sessions and series "
                "already cancelled, ended or transferred for it are not restored"
            )
    if ctx.desired.practice.unmanaged_staff is UnmanagedStaff.REPORT:
        for sid in r.unmanaged:
            if r.db[sid].active:
                ctx.warn(f"staff {sid} is active in the database but not declared in the config (unmanaged)")


def _db(row: Any, name: str) -> Any:
    v = getattr(row, name)
    return dict(v) if name == "settings" and v is not None else v
