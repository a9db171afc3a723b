"""What a plan does to caseloads and dates, as data and as Mermaid: shared by the
Markdown (pull-request comment) and the HTML renderings. Pure: Plan -> values/str.

Why derive from the actions: the plan JSON (SPEC §5) carries no caseload counts. When a
producer adds ``plan.extra["caseloads"]`` (``{staff_id: {"before": n, "after": m}}``)
those exact counts are used; otherwise each client action is read as a move of one
client between *endpoints* (a professional, or a pseudo-endpoint: inactive, deleted,
unassigned) and a professional's caseload change is the net of its moves. A caseload
here is a professional's number of active clients; a client action whose status is
not in its changes (a reassignment) is taken to concern an active client.

Mermaid is emitted only when something changes (no empty charts), with identifiers
sanitised so that a strange staff id can never break, or inject into, the diagram.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.model.actions import Action, ActionType, Plan
from reconciler.render.text import plan_zone
from reconciler.timeutil import parse_iso_z

#: Pseudo-endpoints of a client move (never a staff id: those are slugs without parentheses).
INACTIVE = "(inactive)"
DELETED = "(deleted)"
UNASSIGNED = "(unassigned)"

_CLIENT_TYPES = frozenset(
    {
        ActionType.CLIENT_REASSIGN,
        ActionType.CLIENT_INACTIVATE,
        ActionType.CLIENT_REACTIVATE,
        ActionType.CLIENT_MARK_DUPLICATE,
        ActionType.CLIENT_DELETE,
    }
)

#: What a move's kind reads as on an edge (``2 reassigned``).
VERBS: Mapping[ActionType, str] = {
    ActionType.CLIENT_REASSIGN: "reassigned",
    ActionType.CLIENT_INACTIVATE: "inactivated",
    ActionType.CLIENT_REACTIVATE: "reactivated",
    ActionType.CLIENT_MARK_DUPLICATE: "marked duplicate",
    ActionType.CLIENT_DELETE: "deleted",
}


@dataclass(frozen=True)
class Move:
    """Clients moving from one endpoint to another by one action type."""

    source: str
    dest: str
    kind: ActionType
    clients: tuple[str, ...]


@dataclass(frozen=True)
class CaseloadChange:
    """A professional whose caseload changes; ``before``/``after`` only when the plan says."""

    staff: str
    net: int
    before: int | None = None
    after: int | None = None


@dataclass(frozen=True)
class DateMark:
    """A deactivation date: ``scheduled`` (staff.schedule_deactivation) or ``now`` (staff.deactivate)."""

    day: dt.date
    staff: str
    kind: str


def is_staff(endpoint: str) -> bool:
    """True for a professional, False for a pseudo-endpoint (inactive, deleted, unassigned)."""
    return endpoint not in (INACTIVE, DELETED, UNASSIGNED)


def _endpoints(a: Action) -> tuple[str, str] | None:
    """(source, dest) of a client action; None when it moves no one between caseloads."""
    primary = a.changes.get("primary")
    if primary is not None:
        before, after = primary
    else:  # unchanged primary: a reactivation is grouped under its (kept) primary
        before = after = a.staff if a.type is ActionType.CLIENT_REACTIVATE else None
    status = a.changes.get("status")
    status_before, status_after = status if status is not None else ("active", "active")

    def end(staff: Any, st: Any) -> str:
        if st == "deleted":
            return DELETED
        if st == "inactive":
            return INACTIVE
        return str(staff) if staff else UNASSIGNED

    source, dest = end(before, status_before), end(after, status_after)
    if source == dest or not (is_staff(source) or is_staff(dest)):
        return None
    return source, dest


def client_moves(plan: Plan) -> list[Move]:
    """Client moves grouped by (source, dest, kind), in the order they first occur in the plan."""
    groups: dict[tuple[str, str, ActionType], list[str]] = {}
    for a in plan.actions:
        if a.type not in _CLIENT_TYPES:
            continue
        ends = _endpoints(a)
        if ends is not None:
            groups.setdefault((*ends, a.type), []).append(a.target)
    return [Move(s, d, k, tuple(c)) for (s, d, k), c in groups.items()]


def _given_caseloads(plan: Plan) -> dict[str, tuple[int, int]] | None:
    """``extra["caseloads"]`` when present and well formed (else None: derive instead)."""
    raw = plan.extra.get("caseloads")
    if not isinstance(raw, Mapping):
        return None
    out: dict[str, tuple[int, int]] = {}
    for staff, v in raw.items():
        if not isinstance(v, Mapping):
            return None
        before, after = v.get("before"), v.get("after")
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (before, after)):
            return None
        out[str(staff)] = (int(before), int(after))  # type: ignore[arg-type]
    return out


def caseload_changes(plan: Plan) -> list[CaseloadChange]:
    """Professionals whose caseload changes, in order of first appearance (given counts: sorted by id)."""
    given = _given_caseloads(plan)
    if given is not None:
        return [CaseloadChange(s, a - b, b, a) for s, (b, a) in sorted(given.items()) if a != b]
    net: dict[str, int] = {}
    for m in client_moves(plan):
        n = len(m.clients)
        if is_staff(m.source):
            net[m.source] = net.get(m.source, 0) - n
        if is_staff(m.dest):
            net[m.dest] = net.get(m.dest, 0) + n
    return [CaseloadChange(s, n) for s, n in net.items() if n]


def deactivation_dates(plan: Plan) -> list[DateMark]:
    """Deactivation dates (local dates in the practice timezone), sorted by date then staff."""
    tz = plan_zone(plan)
    marks: list[DateMark] = []
    for a in plan.actions:
        if a.type is ActionType.STAFF_SCHEDULE_DEACTIVATION:
            day = a.changes.get("deactivate_on", (None, None))[1]
            if isinstance(day, str):
                try:
                    marks.append(DateMark(dt.date.fromisoformat(day), a.target, "scheduled"))
                except ValueError:
                    pass
        elif a.type is ActionType.STAFF_DEACTIVATE:
            when = a.changes.get("deactivated_at", (None, None))[1] or plan.as_of
            try:
                marks.append(DateMark(parse_iso_z(str(when)).astimezone(tz).date(), a.target, "now"))
            except ValueError:
                pass
    return sorted(marks, key=lambda m: (m.day, m.staff, m.kind))


# ----------------------------------------------------------------- Mermaid
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


def mermaid_text(text: str) -> str:
    """A label safe in any Mermaid position: only id-like characters survive (others become ``_``)."""
    return _UNSAFE.sub("_", text) or "_"


def _endpoint_label(endpoint: str) -> str:
    return endpoint.strip("()") if not is_staff(endpoint) else mermaid_text(endpoint)


def mermaid_caseload(plan: Plan) -> str | None:
    """The caseload picture: a flowchart of client moves, each professional labelled with
    its change (``bsmith 7 → 0`` when counts are known, else ``bsmith −7``); None when no
    caseload changes. A flowchart because Mermaid's bar chart can neither draw negative
    bars nor group two series, and moves are what a reviewer checks."""
    changes = {c.staff: c for c in caseload_changes(plan)}
    moves = client_moves(plan)
    if not changes:
        return None
    ids: dict[str, str] = {}

    def node(endpoint: str) -> str:
        if endpoint not in ids:
            ids[endpoint] = f"n{len(ids)}"
        return ids[endpoint]

    lines = ["---", "title: Caseload changes (active clients per professional)", "---", "flowchart LR"]
    edges: list[str] = []
    for m in moves:
        n = len(m.clients)
        edges.append(f'    {node(m.source)} -->|"{n} {VERBS[m.kind]}"| {node(m.dest)}')
    for staff in changes:
        node(staff)
    for endpoint, nid in ids.items():
        if is_staff(endpoint):
            c = changes.get(endpoint)
            if c is None:
                label = f"{mermaid_text(endpoint)} ±0"
            elif c.before is not None and c.after is not None:
                label = f"{mermaid_text(endpoint)} {c.before} → {c.after}"
            else:
                label = f"{mermaid_text(endpoint)} {'+' if c.net > 0 else '−'}{abs(c.net)}"
            lines.append(f'    {nid}["{label}"]')
        else:
            lines.append(f'    {nid}(["{_endpoint_label(endpoint)}"])')
    lines += edges
    return "\n".join(lines)


def mermaid_caseload_bars(plan: Plan) -> str | None:
    """Before/after bars (``xychart-beta``) when the plan carries the counts; None otherwise.

    Mermaid draws a chart's bar series on top of each other, so before and after are
    separate categories (``bsmith before``, ``bsmith after``) of one series."""
    changes = [c for c in caseload_changes(plan) if c.before is not None and c.after is not None]
    if not changes:
        return None
    labels: list[str] = []
    values: list[int] = []
    for c in changes:
        labels += [f'"{mermaid_text(c.staff)} before"', f'"{mermaid_text(c.staff)} after"']
        values += [c.before or 0, c.after or 0]
    top = max(values + [1])
    return "\n".join(
        [
            "xychart-beta",
            '    title "Caseload before and after (active clients)"',
            f"    x-axis [{', '.join(labels)}]",
            f'    y-axis "Active clients" 0 --> {top}',
            f"    bar [{', '.join(map(str, values))}]",
        ]
    )


def mermaid_timeline(plan: Plan) -> str | None:
    """A ``timeline`` of deactivation dates (today's and scheduled ones); None when there are none."""
    marks = deactivation_dates(plan)
    if not marks:
        return None
    lines = ["timeline", "    title Deactivation dates"]
    by_day: dict[dt.date, list[str]] = {}
    for m in marks:
        what = "deactivated by this plan" if m.kind == "now" else "leaves (scheduled)"
        by_day.setdefault(m.day, []).append(f"{mermaid_text(m.staff)} {what}")
    for day, events in by_day.items():
        lines.append(f"    {day.isoformat()} : " + " : ".join(events))
    return "\n".join(lines)


def mermaid_blocks(plan: Plan) -> list[str]:
    """Every Mermaid diagram of the plan, in display order (empty when nothing changes)."""
    return [b for b in (mermaid_caseload_bars(plan), mermaid_caseload(plan), mermaid_timeline(plan)) if b]
