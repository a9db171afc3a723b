"""``reconciler revert PLAN_ID`` (SPEC §8.6): a normal plan that restores the *before*
values of every row an applied plan changed and that still holds its *after* values.

The audit trail holds each action's before and after values. Rows are read by id now:
a row that still holds the after values is restored (future sessions back to
``scheduled`` with their professional, series re-opened, clients back to their primary
and status, staff reactivated, practice settings and dates put back), in the reverse
of the original order (so a professional is active again before clients return to
them); a row changed since, a session that has started since, and actions that cannot
be undone (a created professional, an export, a deletion or purge, a split series) are
listed and left alone.

The config stays the source of truth: the revert is refused while the config still asks
for the original change (revert it in git first), so the next ``plan`` after the revert
is empty. The result is an ordinary :class:`Plan` (``extra.revert_of`` names the
reverted plan): shown, saved and applied like any other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from reconciler.errors import PlanRefused, ReconcilerError
from reconciler.model.actions import Action, ActionType, Plan
from reconciler.model.actual import ActualState, Appointment, Client, Practice, Series, Staff
from reconciler.planner.context import series_context, session_context
from reconciler.planner.scope import ReadScope, Roster, classify
from reconciler.timeutil import iso_z

if TYPE_CHECKING:  # pragma: no cover
    from reconciler.model.desired import DesiredState
    from reconciler.targets.base import ReadSession, Target

T = ActionType

#: Original type -> the type that undoes it (changes reversed).
UNDO: Mapping[ActionType, ActionType] = {
    T.PRACTICE_UPDATE: T.PRACTICE_UPDATE,
    T.STAFF_UPDATE: T.STAFF_UPDATE,
    T.STAFF_SCHEDULE_DEACTIVATION: T.STAFF_SCHEDULE_DEACTIVATION,
    T.STAFF_DEACTIVATE: T.STAFF_REACTIVATE,
    T.STAFF_REACTIVATE: T.STAFF_DEACTIVATE,
    T.APPOINTMENT_CANCEL: T.APPOINTMENT_RESTORE,
    T.APPOINTMENT_TRANSFER: T.APPOINTMENT_TRANSFER,
    T.APPOINTMENT_RESTORE: T.APPOINTMENT_CANCEL,
    T.SERIES_END: T.SERIES_RESTORE,
    T.SERIES_RESTORE: T.SERIES_END,
    T.SERIES_TRANSFER: T.SERIES_TRANSFER,
    T.CLIENT_REASSIGN: T.CLIENT_REASSIGN,
    T.CLIENT_INACTIVATE: T.CLIENT_REACTIVATE,
    T.CLIENT_MARK_DUPLICATE: T.CLIENT_REACTIVATE,
    T.CLIENT_REACTIVATE: T.CLIENT_INACTIVATE,
}

_WHY_NOT = {
    T.STAFF_CREATE: "staff are never deleted",
    T.EXPORT_WRITE: "an export file is not undone",
    T.CLIENT_DELETE: "a deletion is not undone by revert",
    T.CLIENT_PURGE: "the row is gone",
    T.SERIES_SPLIT: "a split series is not merged back automatically",
}


@dataclass(frozen=True)
class Revert:
    plan: Plan
    left_alone: tuple[str, ...]


def _json(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return iso_z(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Mapping):
        return dict(v)
    return v


_PRACTICE = {"owner": "owner", "clinical_director": "clinical_director", "timezone": "timezone"}


def _current(
    e: Mapping[str, Any],
    practice: Practice | None,
    staff: Mapping[str, Staff],
    appts: Mapping[str, Appointment],
    series: Mapping[str, Series],
    clients: Mapping[str, Client],
    view: Callable[[str, Any, Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None,
) -> Mapping[str, Any] | None:
    """The row's current values of the event's fields (JSON), or None when it is gone;
    ``view(kind, row, after, values)`` (the session's ``as_planned``, optional) restates
    them in the plan's terms."""
    kind = ActionType(e["type"]).entity
    row: Any = {
        "practice": practice,
        "staff": staff.get(e["target"]),
        "appointment": appts.get(e["target"]),
        "series": series.get(e["target"]),
        "client": clients.get(e["target"]),
    }.get(kind)
    if row is None:
        return None
    out: dict[str, Any] = {}
    for f in e["after"]:
        out[f] = _json(getattr(row, f, None))
    return dict(view(kind, row, e["after"], out)) if view is not None else out


def still_asked(e: Mapping[str, Any], desired: "DesiredState", roster: Roster) -> str | None:
    """Why the config still asks for the event's change, or None."""
    t, target, leaver, after = ActionType(e["type"]), e["target"], e["staff"], e["after"]
    if t is T.PRACTICE_UPDATE:
        same = [f for f, v in after.items() if getattr(desired.practice, f, None) == v]
        return f"practice {', '.join(same)}" if same else None
    if t.entity == "staff":
        spec = desired.staff_by_id().get(target)
        if t is T.STAFF_DEACTIVATE and roster.leaves.get(target) is not None and not roster.active_today(target):
            return f"staff {target} inactive"
        if spec is None:
            return None
        if t is T.STAFF_REACTIVATE and roster.active_today(target):
            return f"staff {target} active"
        if t is T.STAFF_SCHEDULE_DEACTIVATION and "deactivate_on" in after:
            want = spec.deactivate_on.isoformat() if spec.deactivate_on else None
            return f"staff {target} deactivate_on {want}" if want == after["deactivate_on"] and want else None
        if t is T.STAFF_UPDATE:
            same = [f for f, v in after.items() if _json(getattr(spec, f, None)) == v]
            return f"staff {target} {', '.join(same)}" if same else None
        return None
    # sessions, series and clients: moved for a professional the config still has leaving
    if leaver is not None and roster.leaves.get(leaver) is not None and leaver in roster.db:
        day = roster.leaves[leaver]
        return f"staff {leaver} leaving ({'now' if day is None or day <= roster.today else 'on ' + day.isoformat()})"
    if t.entity == "client":
        entry = desired.clients_by_id().get(target)
        if entry is not None:
            for f in ("status", "primary", "duplicate_of"):
                want = getattr(entry, f)
                want = want.value if hasattr(want, "value") else want
                if want is not None and after.get(f) == want:
                    return f"client {target} {f}: {want}"
    return None


def revert_events(target: "Target", plan_id: str) -> list[dict[str, Any]]:
    """The audit events of the applied plan ``plan_id`` (append-only: they never change,
    so they may be read outside the transaction that plans the revert)."""
    events = target.read_audit(plan_id)
    if not events:
        raise ReconcilerError(f"plan {plan_id} is not in the audit trail (see `reconciler audit`)")
    return events


def build_revert(target: "Target", plan_id: str, desired: "DesiredState", *, at: dt.datetime) -> Revert:
    """The revert plan of the applied plan ``plan_id`` as of ``at``. Raises ReconcilerError
    (unknown plan), PlanRefused (the config still asks for the change) or ValidationFailed
    (the target cannot make an action the revert needs)."""
    from reconciler.app.workflow import capability_errors

    events = revert_events(target, plan_id)
    with target.reading(consistent=True) as rs:
        result = revert_in_session(rs, plan_id, events, desired, at=at)
    capability_errors(result.plan, desired, target)
    return result


def revert_in_session(
    rs: "ReadSession",
    plan_id: str,
    events: Sequence[Mapping[str, Any]],
    desired: "DesiredState",
    *,
    at: dt.datetime,
) -> Revert:
    """:func:`build_revert` inside an open session (a read, or the locked apply
    transaction where a saved revert plan is re-planned, SPEC §7.4)."""
    by_kind: dict[str, set[str]] = {}
    for e in events:
        by_kind.setdefault(ActionType(e["type"]).entity, set()).add(e["target"])
    client_ids = sorted(by_kind.get("client", set()))
    practice, staff = rs.read_base()
    appts, series, clients = rs.read_by_id(
        sorted(by_kind.get("appointment", set())), sorted(by_kind.get("series", set())), client_ids, at=at
    )
    # A target that stores a field coarser than the plan (OpenEMR: a series' end day) or not
    # at all (OpenEMR: a cancellation reason) says what the row holds in the plan's terms.
    view = getattr(rs, "as_planned", None)
    scope = ReadScope(at=at, client_ids=tuple(client_ids))
    fingerprint = rs.read_scoped(scope).fingerprint()
    # The rows read by id are outside the scope the apply re-reads; their digest rides in
    # ``extra`` so a saved revert plan re-planned later tells "stale" from "edited" (§7.4).
    rows_fingerprint = ActualState(practice=None, staff={}, clients=clients, appointments=appts, series=series)
    roster = classify(desired, practice, staff, at)
    asked = sorted({why for e in events if (why := still_asked(e, desired, roster)) is not None})
    if asked:
        raise PlanRefused(
            f"plan {plan_id} cannot be reverted: the config still asks for it ({'; '.join(asked)}); "
            "revert the config in git first (the config stays the source of truth)"
        )
    actions: list[Action] = []
    left: list[str] = []
    for e in reversed(events):
        t = ActionType(e["type"])
        label = f"{t.value} {e['target']}"
        undo = UNDO.get(t)
        if undo is None:
            left.append(f"{label}: not reverted ({_WHY_NOT.get(t, 'not revertible')})")
            continue
        now = _current(e, practice, staff, appts, series, clients, view)
        if now is None:
            left.append(f"{label}: left alone (the row no longer exists)")
            continue
        changed = sorted(f for f, v in e["after"].items() if now.get(f) != v)
        if changed:
            shown = ", ".join(f"{f} is now {now.get(f)!r}, the plan set {e['after'][f]!r}" for f in changed)
            left.append(f"{label}: left alone (changed since: {shown})")
            continue
        context: dict[str, Any] = {}
        if t.entity == "appointment":
            appt = appts[e["target"]]
            if appt.start < at:
                left.append(f"{label}: left alone (the session started {iso_z(appt.start)}, before now)")
                continue
            context = session_context(appt)
        elif t.entity == "series":
            context = series_context(series[e["target"]])
        changes = {f: (e["after"][f], e["before"].get(f)) for f in sorted(e["after"])}
        actions.append(
            Action(
                id=len(actions) + 1,
                type=undo,
                target=e["target"],
                staff=e["staff"],
                changes=changes,
                reason=f"revert of {plan_id} (action #{e['action_id']} {t.value}): before values restored",
                context=context,
            )
        )
    seats_before = sum(1 for s in staff.values() if s.active)
    delta = sum(1 for a in actions if a.type is T.STAFF_REACTIVATE) - sum(
        1 for a in actions if a.type is T.STAFF_DEACTIVATE
    )
    plan = Plan(
        as_of=iso_z(at),
        db_fingerprint=fingerprint,
        config_digest=desired.config_digest,
        actions=tuple(actions),
        warnings=tuple(left),
        seats={"before": seats_before, "after": seats_before + delta},
        scope=scope.to_json(),
        extra={
            "revert_of": plan_id,
            "rows_fingerprint": rows_fingerprint.fingerprint(),
            "timezone": practice.timezone if practice else "UTC",
            # like every plan: a saved revert plan applied to another database is named as such
            **({"db_id": db_id} if (db_id := rs.database_id()) else {}),
        },
    )
    return Revert(plan, tuple(left))
