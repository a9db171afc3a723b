"""The audit trail: one append-only event per applied action.

An event records who applied (actor), which plan and action, the action's type,
target id and professional, the ``before``/``after`` field values from the action's
``changes`` and its reason. Clients appear by id only: ``changes`` never hold names,
so neither do events, their text or their JSON.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import TYPE_CHECKING, Any, Sequence

from reconciler.model.actions import Action, Plan
from reconciler.model.records import AuditFilter
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
            "client_id": _client_of(a),
            "before": {k: v[0] for k, v in sorted(a.changes.items())},
            "after": {k: v[1] for k, v in sorted(a.changes.items())},
            "reason": a.reason,
        }
        for a in plan.actions
    ]


def _client_of(a: Action) -> str | None:
    """The client an event concerns: a client action's target, or the client of the
    session or series (from the action's context); None otherwise."""
    if a.type.entity == "client":
        return a.target
    client = a.context.get("client") if a.context else None
    return str(client) if client else None


def write_audit(session: "WriteSession", plan: Plan, *, actor: str, at: dt.datetime, plan_id: str | None = None) -> int:
    """Append one event per action to the target's audit sink, in the apply transaction."""
    return session.audit(audit_rows(plan, actor=actor, at=at, plan_id=plan_id))


def read_audit(
    target: "Target", plan_id: str | None = None, *, where: AuditFilter | None = None
) -> list[dict[str, Any]]:
    """Audit events, oldest first (newest last), optionally of one plan only and
    filtered (SPEC §8.5) in the database.

    Raises :class:`DatabaseError` when the database is not initialised."""
    return target.read_audit(plan_id, where=where)


#: The CSV columns (ids only: a compliance officer's spreadsheet never holds a name).
CSV_COLUMNS = (
    "at",
    "actor",
    "plan_id",
    "action_id",
    "type",
    "target",
    "staff",
    "client",
    "field",
    "before",
    "after",
    "reason",
)


def _csv(events: Sequence[dict[str, Any]]) -> str:
    """One row per changed field of every event (a spreadsheet filters and pivots on it);
    an event that changed no field is one row with empty field columns."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for e in events:
        fields = sorted(set(e["before"]) | set(e["after"])) or [None]
        for f in fields:
            w.writerow(
                [
                    e["at"],
                    e["actor"],
                    e["plan_id"],
                    e["action_id"],
                    e["type"],
                    e["target"],
                    e["staff"] or "",
                    e.get("client") or "",
                    f or "",
                    "" if f is None else _cell(e["before"].get(f)),
                    "" if f is None else _cell(e["after"].get(f)),
                    e["reason"],
                ]
            )
    return buf.getvalue()


def _cell(v: Any) -> str:
    text = "" if v is None else _value(v)
    # A cell starting with = + - @ is a formula to a spreadsheet: quote it (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _NUMBER.match(text) else text


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


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
    """``text`` (one line per event), ``json`` (a list) or ``csv``; newest last."""
    if fmt == "csv":
        return _csv(events)
    if fmt == "json":
        return json.dumps(list(events), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if not events:
        return "No audit events.\n"
    return "".join(_event_line(e) + "\n" for e in events)
