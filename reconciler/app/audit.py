"""The audit trail: one append-only event per applied action.

An event records who applied (actor), which plan and action, the action's type,
target id and professional, the ``before``/``after`` field values from the action's
``changes`` and its reason. Clients appear by id only: ``changes`` never hold names,
so neither do events, their text or their JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, Sequence

from reconciler.model.actions import Plan
from reconciler.timeutil import naive_utc

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.targets.base import Target, WriteSession


def audit_rows(plan: Plan, *, actor: str, at: dt.datetime, plan_id: str | None = None) -> list[dict[str, Any]]:
    """The ``audit_events`` rows for every action of ``plan`` (one each, plan order).
    ``plan_id`` may be passed when already known (it digests the whole plan)."""
    plan_id = plan_id or plan.plan_id
    stamp = naive_utc(at)
    return [
        {
            "at": stamp,
            "actor": actor,
            "plan_id": plan_id,
            "action_id": a.id,
            "action_type": a.type.value,
            "target": a.target,
            "staff_id": a.staff,
            "before": {k: v[0] for k, v in sorted(a.changes.items())},
            "after": {k: v[1] for k, v in sorted(a.changes.items())},
            "reason": a.reason,
        }
        for a in plan.actions
    ]


def write_audit(session: "WriteSession", plan: Plan, *, actor: str, at: dt.datetime, plan_id: str | None = None) -> int:
    """Append one event per action to the target's audit sink, in the apply transaction."""
    return session.audit(audit_rows(plan, actor=actor, at=at, plan_id=plan_id))


def read_audit(target: "Target", plan_id: str | None = None) -> list[dict[str, Any]]:
    """Audit events, oldest first (newest last), optionally of one plan only.

    Raises :class:`DatabaseError` when the database is not initialised."""
    return target.read_audit(plan_id)


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
