"""The ``terraform plan``-like text rendering of a plan. Pure: Plan -> str.

Layout::

    Reconciler plan plan-3f2a9c0d1e4b
      as of 2026-11-24T15:00:00Z · database sha256:1a2b3c4d5e6f · config sha256:0f9e8d7c6b5a

    bsmith (14 actions)
          # bsmith offboarding (policy standard): future session cancelled — cancel reason: "Provider left"
      -  1 appointment.cancel  A-5     C-1001 Mon 2026-12-07 10:00 EST  status: scheduled → cancelled
      -  9 series.end          S-1     C-1001 weekly Mon 10:00 EST since 2026-11-02  active: true → false, ...
      ...

    Seats: 9 → 8
    Plan: 12 sessions to cancel, 1 staff member to deactivate.

Actions are grouped per professional (``Action.staff``; ``None`` goes to the
*practice* group), groups are ordered by their first action, and within a group the
plan's execution order is kept. A reason is printed once above each run of actions
that share it. Very long runs of one action type are folded (the summary line stays
exact; the JSON plan always holds everything).

A session or series action shows whose it is and when, from ``Action.context``:
the client id and the start in the practice's local time (``Plan.extra["timezone"]``,
UTC for plans without one). A cancellation's reason text, the same for every
session of a run, is shown once in the run's header instead of on every line.

The vocabulary tables here (:data:`GLYPHS`, :data:`PHRASES`) are shared with the
Markdown rendering; a test fails when an :class:`ActionType` lacks an entry.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from reconciler.model.actions import Action, ActionType, Plan
from reconciler.timeutil import parse_iso_z, zone

#: One symbol per action type: ``+`` adds, ``~`` changes or moves, ``-`` removes/ends.
GLYPHS: Mapping[ActionType, str] = {
    ActionType.PRACTICE_UPDATE: "~",
    ActionType.STAFF_CREATE: "+",
    ActionType.STAFF_UPDATE: "~",
    ActionType.STAFF_SCHEDULE_DEACTIVATION: "~",
    ActionType.STAFF_DEACTIVATE: "-",
    ActionType.STAFF_REACTIVATE: "+",
    ActionType.APPOINTMENT_CANCEL: "-",
    ActionType.APPOINTMENT_TRANSFER: "~",
    ActionType.APPOINTMENT_RESTORE: "+",
    ActionType.SERIES_END: "-",
    ActionType.SERIES_TRANSFER: "~",
    ActionType.SERIES_SPLIT: "~",
    ActionType.SERIES_RESTORE: "+",
    ActionType.CLIENT_REASSIGN: "~",
    ActionType.CLIENT_INACTIVATE: "-",
    ActionType.CLIENT_REACTIVATE: "+",
    ActionType.CLIENT_MARK_DUPLICATE: "-",
    ActionType.CLIENT_DELETE: "-",
    ActionType.CLIENT_PURGE: "-",
    ActionType.EXPORT_WRITE: "+",
}

#: Marks an action that undoes a change made outside the tool (SPEC §3.9).
DRIFT_GLYPH = "!"


@dataclass(frozen=True)
class Phrase:
    """How the summary counts an action type: ``12 sessions to cancel``."""

    singular: str
    plural: str
    verb: str

    def count(self, n: int) -> str:
        return f"{n} {self.singular if n == 1 else self.plural} to {self.verb}"


_STAFF = ("staff member", "staff members")
_SESSION = ("session", "sessions")
_SERIES = ("series", "series")
_CLIENT = ("client", "clients")

#: The summary wording per action type (text summary line and Markdown table).
PHRASES: Mapping[ActionType, Phrase] = {
    ActionType.PRACTICE_UPDATE: Phrase("practice record", "practice records", "update"),
    ActionType.STAFF_CREATE: Phrase(*_STAFF, "create"),
    ActionType.STAFF_UPDATE: Phrase(*_STAFF, "update"),
    ActionType.STAFF_SCHEDULE_DEACTIVATION: Phrase(*_STAFF, "schedule for deactivation"),
    ActionType.STAFF_DEACTIVATE: Phrase(*_STAFF, "deactivate"),
    ActionType.STAFF_REACTIVATE: Phrase(*_STAFF, "reactivate"),
    ActionType.APPOINTMENT_CANCEL: Phrase(*_SESSION, "cancel"),
    ActionType.APPOINTMENT_TRANSFER: Phrase(*_SESSION, "transfer"),
    ActionType.APPOINTMENT_RESTORE: Phrase(*_SESSION, "restore"),
    ActionType.SERIES_END: Phrase(*_SERIES, "end"),
    ActionType.SERIES_TRANSFER: Phrase(*_SERIES, "transfer"),
    ActionType.SERIES_SPLIT: Phrase(*_SERIES, "split"),
    ActionType.SERIES_RESTORE: Phrase(*_SERIES, "restore"),
    ActionType.CLIENT_REASSIGN: Phrase(*_CLIENT, "reassign"),
    ActionType.CLIENT_INACTIVATE: Phrase(*_CLIENT, "inactivate"),
    ActionType.CLIENT_REACTIVATE: Phrase(*_CLIENT, "reactivate"),
    ActionType.CLIENT_MARK_DUPLICATE: Phrase(*_CLIENT, "mark as duplicate"),
    ActionType.CLIENT_DELETE: Phrase(*_CLIENT, "delete"),
    ActionType.CLIENT_PURGE: Phrase(*_CLIENT, "purge"),
    ActionType.EXPORT_WRITE: Phrase("export", "exports", "write"),
}

NO_CHANGES = "No changes. The practice matches the configuration."
PRACTICE_GROUP = "practice"

#: Fold a group's run of one action type when it holds more than FOLD_OVER actions,
#: showing the first FOLD_KEEP: a usual offboarding (a few weeks of bookings) is shown
#: in full, thousands of cancelled sessions stay readable.
FOLD_OVER = 50
FOLD_KEEP = 20

# Fields that say the most come first; the rest follow alphabetically.
_FIELD_ORDER = (
    "exists",
    "status",
    "active",
    "staff",
    "primary",
    "duplicate_of",
    "deactivate_on",
    "deactivated_at",
    "deleted_at",
    "until",
    "portal_access",
    "cancel_reason",
    "format",
    "file",
)
_BARE = re.compile(r"^[A-Za-z0-9_.:@+/-]+$")
_MAX_VALUE = 48

_ANSI = {"+": "\x1b[32m", "~": "\x1b[33m", "-": "\x1b[31m", "!": "\x1b[35m", "bold": "\x1b[1m", "dim": "\x1b[2m"}
_RESET = "\x1b[0m"


# ----------------------------------------------------------------- shared helpers
def ordered_fields(changes: Mapping[str, Any]) -> list[str]:
    """Change keys in display order (independent of the mapping's own order, so a
    plan reloaded from JSON renders byte-identically)."""
    known = [f for f in _FIELD_ORDER if f in changes]
    return known + sorted(k for k in changes if k not in _FIELD_ORDER)


def format_value(value: Any, *, limit: int | None = None) -> str:
    """A JSON value, compactly: ``(none)``, ``true``, ``bsmith``, ``"two words"``."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if _BARE.match(value) else json.dumps(value, ensure_ascii=False)
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def format_changes(changes: Mapping[str, Any], *, limit: int | None = None) -> str:
    """``status: scheduled → cancelled, primary: bsmith → (none)``."""
    parts = []
    for key in ordered_fields(changes):
        before, after = changes[key]
        parts.append(f"{key}: {format_value(before, limit=limit)} → {format_value(after, limit=limit)}")
    return ", ".join(parts)


# ----------------------------------------------------------------- sessions
_DAYS = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat", "SU": "Sun"}
_FREQ = {"DAILY": ("daily", "days"), "WEEKLY": ("weekly", "weeks"), "MONTHLY": ("monthly", "months")}


def plan_zone(plan: Plan) -> dt.tzinfo:
    """The zone sessions are shown in: the plan's practice timezone, else UTC."""
    name = plan.extra.get("timezone")
    if isinstance(name, str) and name:
        try:
            return zone(name)
        except ValueError:
            pass
    return dt.timezone.utc


def _local(iso: Any, tz: dt.tzinfo) -> dt.datetime | None:
    if not isinstance(iso, str):
        return None
    try:
        return parse_iso_z(iso).astimezone(tz)
    except ValueError:
        return None


def describe_rrule(rrule: str, first: dt.datetime | None) -> str:
    """``weekly Mon``, ``every 2 weeks Mon/Thu``, ``daily``; the RRULE itself when it
    says more than frequency, interval and weekdays (no guessing)."""
    parts = dict(p.split("=", 1) for p in rrule.split(";") if "=" in p)
    if set(parts) - {"FREQ", "INTERVAL", "BYDAY", "WKST"} or parts.get("FREQ") not in _FREQ:
        return rrule
    every, unit = _FREQ[parts["FREQ"]]
    interval = parts.get("INTERVAL", "1")
    if not interval.isdigit():
        return rrule
    days = [d for d in parts.get("BYDAY", "").split(",") if d]
    if any(d not in _DAYS for d in days):
        return rrule
    if not days and parts["FREQ"] == "WEEKLY" and first is not None:
        days = [list(_DAYS)[first.weekday()]]
    text = every if int(interval) <= 1 else f"every {int(interval)} {unit}"
    return text + (" " + "/".join(_DAYS[d] for d in days) if days else "")


def session_label(a: Action, tz: dt.tzinfo) -> str | None:
    """Whose session or series and when, in local time; None for other actions.

    ``C-1001 Mon 2026-12-07 10:00 EST`` (``(telehealth)`` appended for a video session),
    ``C-1001 weekly Mon 10:00 EST since 2026-11-02`` for a series.
    """
    ctx = a.context
    if not ctx or a.type.entity not in ("appointment", "series"):
        return None
    client = str(ctx.get("client") or "?")
    if a.type.entity == "appointment":
        start = _local(ctx.get("start"), tz)
        when = start.strftime("%a %Y-%m-%d %H:%M %Z") if start is not None else "(time unknown)"
        return f"{client} {when}" + (" (telehealth)" if ctx.get("telehealth") is True else "")
    first = _local(ctx.get("first_start"), tz)
    rule = describe_rrule(str(ctx.get("rrule") or ""), first)
    if first is None:
        return f"{client} {rule}".rstrip()
    return f"{client} {rule} {first.strftime('%H:%M %Z')} since {first.strftime('%Y-%m-%d')}"


def _moved_cancel_reason(a: Action) -> Any:
    """The new cancel reason of a cancellation whose old one was empty (shown once per run)."""
    if a.type is ActionType.APPOINTMENT_CANCEL:
        before, after = a.changes.get("cancel_reason", (None, None))
        if before is None and after is not None:
            return after
    return None


def header(a: Action) -> str:
    """The comment line above a run of actions: the reason (and a cancellation's reason text)."""
    moved = _moved_cancel_reason(a)
    if moved is None:
        return a.reason
    return f"{a.reason} — cancel reason: {format_value(moved)}" if a.reason else f"cancel reason: {format_value(moved)}"


def line_changes(a: Action, *, limit: int | None = None) -> str:
    """The changes shown on an action's own line (see :func:`header` for what moves up)."""
    changes = a.changes
    if _moved_cancel_reason(a) is not None:
        changes = {k: v for k, v in changes.items() if k != "cancel_reason"}
    if a.type is ActionType.SERIES_SPLIT and {"successor_series", "successor_staff", "successor_start"} <= set(changes):
        # One readable clause for the new series instead of three [null, value] pairs.
        new = f"continued as {changes['successor_series'][1]} ({changes['successor_staff'][1]}) from {changes['successor_start'][1]}"
        rest = {k: v for k, v in changes.items() if not k.startswith("successor_")}
        return f"{format_changes(rest, limit=limit)}, {new}" if rest else new
    return format_changes(changes, limit=limit)


def group_actions(plan: Plan) -> list[tuple[str, list[Action]]]:
    """Actions per professional, groups in order of their first action, execution
    order inside (the plan's order)."""
    groups: dict[str, list[Action]] = {}
    for action in plan.actions:  # dict keeps first-seen order: deterministic
        groups.setdefault(action.staff or PRACTICE_GROUP, []).append(action)
    return list(groups.items())


@dataclass(frozen=True)
class Fold:
    """Stands in for ``hidden`` folded actions of ``type`` in a rendering."""

    type: ActionType
    hidden: int


def fold(actions: Sequence[Action], *, over: int = FOLD_OVER, keep: int = FOLD_KEEP) -> list[Action | Fold]:
    """Keep the first ``keep`` actions of each type that occurs more than ``over``
    times; a single :class:`Fold` marks where the rest were."""
    totals: dict[ActionType, int] = {}
    for a in actions:
        totals[a.type] = totals.get(a.type, 0) + 1
    seen: dict[ActionType, int] = {}
    out: list[Action | Fold] = []
    for a in actions:
        n = seen[a.type] = seen.get(a.type, 0) + 1
        if totals[a.type] <= over or n <= keep:
            out.append(a)
        elif n == keep + 1:
            out.append(Fold(a.type, totals[a.type] - keep))
    return out


def summary_counts(plan: Plan) -> list[tuple[ActionType, int]]:
    """Exact counts per action type, in the order the types first occur in the plan
    (so the summary reads in execution order: cancel, reassign, then deactivate)."""
    counts: dict[ActionType, int] = {}
    for a in plan.actions:
        counts[a.type] = counts.get(a.type, 0) + 1
    return list(counts.items())


def summary_line(plan: Plan) -> str:
    """``Plan: 12 sessions to cancel, 1 staff member to deactivate.`` (exact counts)."""
    if plan.is_empty:
        return NO_CHANGES
    parts = [PHRASES[t].count(n) for t, n in summary_counts(plan)]
    return "Plan: " + ", ".join(parts) + "."


def format_cents(cents: int) -> str:
    """``$1,234.50`` (seat prices and credits are integer cents)."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def credit_items(credits: Any) -> list[tuple[str, int]]:
    """Normalise ``extra["seat_credits"]``: a number, ``{staff: cents}``, or a list of
    ``{"staff": id, "credit_cents": n}`` records."""
    if isinstance(credits, bool):
        return []
    if isinstance(credits, (int, float)):
        return [("", int(credits))]
    if isinstance(credits, Mapping):
        if "credit_cents" in credits:
            return [(str(credits.get("staff") or ""), int(credits["credit_cents"]))]
        return [
            (str(k), int(v))
            for k, v in sorted(credits.items())
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
    if isinstance(credits, (list, tuple)):
        items: list[tuple[str, int]] = []
        for c in credits:
            items.extend(credit_items(c))
        return items
    return []


def seats_line(plan: Plan) -> str | None:
    """``Seats: 14 → 13 (mid-cycle credit $40.00: bsmith $40.00)``, or None if unknown."""
    before, after = plan.seats.get("before"), plan.seats.get("after")
    if before is None and after is None:
        return None
    line = f"Seats: {before} → {after}" if before != after else f"Seats: {before} (unchanged)"
    credits = credit_items(plan.extra.get("seat_credits"))
    if credits:
        total = sum(c for _, c in credits)
        detail = ", ".join(f"{s} {format_cents(c)}" for s, c in credits if s)
        line += f" (mid-cycle credit {format_cents(total)}" + (f": {detail})" if detail else ")")
    return line


def short_digest(digest: str, n: int = 12) -> str:
    """``sha256:1a2b3c4d5e6f`` from a full ``sha256:…`` digest."""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:n]}" if hexpart else digest[:n]


# ----------------------------------------------------------------- text
def _paint(text: str, style: str, color: bool) -> str:
    return f"{_ANSI[style]}{text}{_RESET}" if color else text


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The plan as a terminal reads it; ANSI colour only when ``color`` is true.

    Deterministic: the same plan gives the same bytes (``generated_at`` is not shown).
    """
    out: list[str] = [
        "",  # the title: the plan id is asked for last (see Plan.digest_from)
        f"  as of {plan.as_of} · database {short_digest(plan.db_fingerprint)} · config {short_digest(plan.config_digest)}",
        "",
    ]
    if plan.is_empty:
        out.append(NO_CHANGES)
        out.extend(_warning_lines(plan.warnings, color))
        out[0] = _title(plan, color)
        return "\n".join(out) + "\n"

    out.append("Actions, in execution order (+ add  ~ change  - remove  ! drift: planned back):")
    groups = [(name, fold(actions)) for name, actions in group_actions(plan)]
    shown = [a for _, items in groups for a in items if isinstance(a, Action)]
    id_w = max(len(str(a.id)) for a in shown)
    type_w = max(len(a.type.value) for a in shown)
    target_w = max(len(a.target) for a in shown)
    sizes = {name: len(actions) for name, actions in group_actions(plan)}
    tz = plan_zone(plan)

    for name, items in groups:
        n = sizes[name]
        out.append("")
        out.append(_paint(f"{name} ({n} action{'s' if n != 1 else ''})", "bold", color))
        labels = {a.id: session_label(a, tz) for a in items if isinstance(a, Action)}
        label_w = max((len(v) for v in labels.values() if v), default=0)
        last_reason: str | None = None
        for item in items:
            if isinstance(item, Fold):
                out.append(f"      … and {item.hidden} more {item.type.value}")
                last_reason = None
                continue
            head = header(item)
            if head and head != last_reason:
                out.append(_paint(f"      # {head}", "dim", color))
            last_reason = head
            out.append(_action_line(item, id_w, type_w, target_w, labels[item.id], label_w, color))

    out.extend(_warning_lines(plan.warnings, color))
    out.append("")
    seats = seats_line(plan)
    if seats:
        out.append(seats)
    out.append(_paint(summary_line(plan), "bold", color))
    out[0] = _title(plan, color)
    return "\n".join(out) + "\n"


def _title(plan: Plan, color: bool) -> str:
    return _paint(f"Reconciler plan {plan.plan_id}", "bold", color)


def _action_line(a: Action, id_w: int, type_w: int, target_w: int, label: str | None, label_w: int, color: bool) -> str:
    glyph = GLYPHS[a.type]
    mark = _paint(glyph, glyph, color) + (_paint(DRIFT_GLYPH, DRIFT_GLYPH, color) if a.drift else " ")
    changes = line_changes(a, limit=_MAX_VALUE)
    # The session column only on session lines: client lines keep the target as their subject.
    session = f"{label:<{label_w}}  " if label else ""
    line = f"  {mark} {a.id:>{id_w}} {a.type.value:<{type_w}}  {a.target:<{target_w}}  {session}{changes}".rstrip()
    if a.drift:
        line += "  " + _paint("(drift: changed outside reconciler)", DRIFT_GLYPH, color)
    return line


def _warning_lines(warnings: Iterable[str], color: bool) -> list[str]:
    items = list(warnings)
    if not items:
        return []
    return ["", _paint("Warnings:", "bold", color)] + [f"  * {w}" for w in items]
