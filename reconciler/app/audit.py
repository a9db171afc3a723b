"""The audit trail: one append-only event per applied action.

An event records who applied (actor), which plan and action, the action's type,
target id and professional, the ``before``/``after`` field values from the action's
``changes`` and its reason. Clients appear by id only: ``changes`` never hold names,
so neither do events, their text or their JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Sequence

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from reconciler.model.actions import Plan
from reconciler.timeutil import iso_z, naive_utc, to_utc


def audit_rows(plan: Plan, *, actor: str, at: dt.datetime, plan_id: str | None = None) -> list[dict[str, Any]]:
    """The ``audit_events`` rows for every action of ``plan`` (one each, plan order).
    ``plan_id`` may be passed when already known (it digests the whole plan)."""
    plan_id = plan_id or plan.plan_id
    stamp = naive_utc(at)
    return [
        {
            "at": stamp, "actor": actor, "plan_id": plan_id, "action_id": a.id, "action_type": a.type.value,
            "target": a.target, "staff_id": a.staff,
            "before": {k: v[0] for k, v in sorted(a.changes.items())},
            "after": {k: v[1] for k, v in sorted(a.changes.items())},
            "reason": a.reason,
        }
        for a in plan.actions
    ]


def write_audit(conn: Connection, plan: Plan, *, actor: str, at: dt.datetime, plan_id: str | None = None) -> int:
    """Insert one event per action (executemany) in the caller's transaction."""
    from reconciler.targets.native.schema import audit_t

    rows = audit_rows(plan, actor=actor, at=at, plan_id=plan_id)
    if rows:
        conn.execute(insert(audit_t), rows)
    return len(rows)


def read_audit(engine: Engine, plan_id: str | None = None) -> list[dict[str, Any]]:
    """Audit events, oldest first (newest last), optionally of one plan only.

    Raises :class:`DatabaseError` when the database is not initialised."""
    from reconciler.targets.native.engine import require_schema
    from reconciler.targets.native.schema import audit_t

    require_schema(engine)
    stmt = select(audit_t).order_by(audit_t.c.id)
    if plan_id is not None:
        stmt = stmt.where(audit_t.c.plan_id == plan_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        {
            "id": r.id, "at": iso_z(to_utc(r.at)), "actor": r.actor, "plan_id": r.plan_id,
            "action_id": r.action_id, "type": r.action_type, "target": r.target, "staff": r.staff_id,
            "before": r.before or {}, "after": r.after or {}, "reason": r.reason or "",
        }
        for r in rows
    ]


def _value(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False) if not isinstance(v, str) else v


def _event_line(e: dict[str, Any]) -> str:
    fields = sorted(set(e["before"]) | set(e["after"]))
    diff = "; ".join(f"{f}: {_value(e['before'].get(f))} -> {_value(e['after'].get(f))}" for f in fields)
    staff = f" ({e['staff']})" if e["staff"] else ""
    line = f"{e['at']}  {e['actor']}  {e['plan_id']} #{e['action_id']}  {e['type']} {e['target']}{staff}"
    if diff:
        line += f"  {diff}"
    if e["reason"]:
        line += f"  [{e['reason']}]"
    return line


def format_audit(events: Sequence[dict[str, Any]], fmt: str) -> str:
    """``text`` (one line per event) or ``json`` (a list); newest last."""
    if fmt == "json":
        return json.dumps(list(events), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if not events:
        return "No audit events.\n"
    return "".join(_event_line(e) + "\n" for e in events)
