"""Offboarding (SPEC §3.1), scheduled deactivation (§3.2) and drift leftovers (§3.9).

One block per professional, in the SPEC's order: export, future sessions and
series, clients, deactivation. Sessions that started before the cutoff and
sessions that are not ``scheduled`` are never touched.
"""

from __future__ import annotations

import datetime as dt

from reconciler.model.actions import ActionType as T
from reconciler.model.actual import Series
from reconciler.model.desired import ExportFormat, FutureSessions, PolicySpec
from reconciler.planner import clients as client_rules
from reconciler.planner.context import Ctx, series_context, session_context
from reconciler.planner.policies import policy_for, policy_name
from reconciler.timeutil import iso_z, local_date, start_of_day


def _policy(ctx: Ctx, sid: str) -> PolicySpec | None:
    policy = policy_for(ctx.desired, ctx.roster.spec(sid))
    if policy is None:
        name = policy_name(ctx.desired, ctx.roster.spec(sid))
        ctx.error(ctx.where_staff(sid, "offboarding"), f"staff {sid}: unknown offboarding policy {name!r}", "policy")
    return policy


def _sessions(
    ctx: Ctx,
    sid: str,
    policy: PolicySpec,
    cutoff: dt.datetime,
    label: str,
    deps: tuple[int, ...],
    drift: bool,
    *,
    scheduled: bool,
    noun: str = "future session",
) -> dict[str, list[int]]:
    """Future sessions and active series of ``sid``; returns action ids per client.
    ``scheduled``: ahead of a deactivation date (series end there but stay active)."""
    per_client: dict[str, list[int]] = {}
    # Drift follows the policy too: a session booked with a professional who left goes to
    # the successor under a handover policy, as it would have at the offboarding.
    transfer = policy.future_sessions is FutureSessions.TRANSFER
    appts = [a for a in ctx.appointments_of.get(sid, ()) if a.status == "scheduled" and a.start >= cutoff]
    for a in appts:
        if transfer:
            to = ctx.takes_over(sid, local_date(a.start, ctx.roster.tz))
            if to is None:
                continue
            aid = ctx.add(
                T.APPOINTMENT_TRANSFER,
                a.id,
                sid,
                {"staff": (sid, to)},
                f"{label}: {noun} transferred to {to}",
                deps,
                drift,
                session_context(a),
            )
        else:
            aid = ctx.add(
                T.APPOINTMENT_CANCEL,
                a.id,
                sid,
                {"status": ("scheduled", "cancelled"), "cancel_reason": (a.cancel_reason, policy.cancel_reason)},
                f"{label}: {noun} cancelled",
                deps,
                drift,
                session_context(a),
            )
        per_client.setdefault(a.client, []).append(aid)
    for s in sorted((s for s in ctx.series.values() if s.staff == sid and s.active), key=lambda s: s.id):
        if scheduled and s.until is not None and s.until <= cutoff:
            continue  # no occurrence on or after the deactivation date: nothing to do yet
        sdeps = deps + ((ctx.series_deps[s.id],) if s.id in ctx.series_deps else ())
        if transfer:
            day = ctx.roster.leaves[sid] or ctx.roster.today
            to = ctx.takes_over(sid, max(day, ctx.roster.today), open_ended=True)
            if to is None:
                continue
            aid = ctx.add(
                T.SERIES_TRANSFER,
                s.id,
                sid,
                {"staff": (sid, to)},
                f"{label}: series transferred to {to}",
                sdeps,
                drift,
                series_context(s),
            )
            ctx.update_series(s.id, aid, staff=to)
        else:
            aid = _end_series(ctx, s, sid, cutoff, label, sdeps, drift, keep_active=scheduled)
        per_client.setdefault(s.client, []).append(aid)
    return per_client


def _end_series(
    ctx: Ctx,
    s: Series,
    sid: str,
    cutoff: dt.datetime,
    label: str,
    deps: tuple[int, ...],
    drift: bool,
    *,
    keep_active: bool,
) -> int:
    """End ``s`` at ``cutoff``. Ahead of a scheduled date (``keep_active``) only ``until``
    moves: the sessions before the date still happen; the series is made inactive
    when the professional is offboarded on the date."""
    changes: dict[str, tuple[object, object]] = {} if keep_active else {"active": (True, False)}
    new_until = cutoff if s.until is None or s.until > cutoff else s.until  # never extend a series
    if new_until != s.until:
        changes["until"] = (ctx_iso(s.until), ctx_iso(new_until))
    reason = f"{label}: series ends before the date" if keep_active else f"{label}: series ended"
    aid = ctx.add(T.SERIES_END, s.id, sid, changes, reason, deps, drift, series_context(s))
    ctx.update_series(s.id, aid, active=keep_active, until=new_until)
    return aid


def ctx_iso(value: dt.datetime | None) -> str | None:
    """A plan time string, or None."""
    return iso_z(value) if value is not None else None


def _clients(
    ctx: Ctx,
    sid: str,
    policy: PolicySpec,
    label: str,
    per_client: dict[str, list[int]],
    base: tuple[int, ...],
    drift: bool,
) -> None:
    entries = ctx.desired.clients_by_id()
    # Clients only ever move away from a leaving professional, so the index as read suffices.
    mine = [
        cid
        for cid in ctx.clients_of.get(sid, ())
        if ctx.clients[cid].primary == sid and ctx.clients[cid].status == "active"
    ]
    for cid in mine:
        deps = tuple(per_client.get(cid, ())) or base
        entry = entries.get(cid)
        if entry is not None and client_rules.explicit(
            ctx, entry, label=f"{label}: ", staff=sid, deps=deps, drift=drift
        ):
            continue
        client_rules.by_policy(
            ctx, ctx.clients[cid], sid, policy, label, deps, drift, may_inactivate=entry is None or entry.status is None
        )


def offboard(ctx: Ctx, sid: str) -> None:
    """The four steps for a professional active in the database and leaving now."""
    policy = _policy(ctx, sid)
    if policy is None:
        return
    label = f"{sid} offboarding (policy {policy.name})"
    first = len(ctx.actions) + 1
    base: tuple[int, ...] = ()
    if policy.export is not ExportFormat.NONE:
        fmt = policy.export.value
        ext = "fhir.json" if fmt == "fhir" else "csv"
        base = (
            ctx.add(
                T.EXPORT_WRITE,
                sid,
                sid,
                {"format": (None, fmt), "file": (None, f"{sid}-{ctx.stamp}.{ext}")},
                f"{label}: client records exported ({fmt}) before any change",
            ),
        )
    per_client = _sessions(ctx, sid, policy, ctx.at, label, base, False, scheduled=False)
    _clients(ctx, sid, policy, label, per_client, base, False)
    row = ctx.actual.staff[sid]
    mine = [a.id for a in ctx.actions[first - 1 :] if a.staff == sid]
    ctx.add(
        T.STAFF_DEACTIVATE,
        sid,
        sid,
        {"active": (True, False), "deactivated_at": (ctx_iso(row.deactivated_at), ctx.as_of)},
        f"{label}: professional deactivated, seat released",
        mine,
    )


def scheduled(ctx: Ctx, sid: str, day: dt.date) -> None:
    """Record the date once; now, move or cancel what is booked at/after it."""
    policy = _policy(ctx, sid)
    if policy is None:
        return
    row = ctx.actual.staff[sid]
    label = f"{sid} leaves on {day.isoformat()} (policy {policy.name})"
    deps: tuple[int, ...] = ()
    recorded = row.deactivate_on == day
    if not recorded:
        old = row.deactivate_on.isoformat() if row.deactivate_on else None
        if row.deactivate_on is not None and row.deactivate_on < day:
            # Bookings between the old and the new date were handled for the old one.
            ctx.warn(
                f"staff {sid}: deactivation date moved from {old} to {day.isoformat()}; sessions and series "
                f"already cancelled, ended or transferred for {old} are not restored"
            )
        deps = (
            ctx.add(
                T.STAFF_SCHEDULE_DEACTIVATION,
                sid,
                sid,
                {"deactivate_on": (old, day.isoformat())},
                f"{label}: deactivation date recorded",
            ),
        )
    instant = start_of_day(day, ctx.roster.tz)
    # Bookings made after the date was recorded contradict it: drift.
    _sessions(ctx, sid, policy, instant, label, deps, recorded, scheduled=True, noun="session on/after the date")


def leftovers(ctx: Ctx, sid: str) -> None:
    """An inactive professional still holding future sessions, series or active clients."""
    policy = _policy(ctx, sid)
    if policy is None:
        return
    label = f"drift: {sid} is inactive (policy {policy.name})"
    per_client = _sessions(ctx, sid, policy, ctx.at, label, (), True, scheduled=False)
    _clients(ctx, sid, policy, label, per_client, (), True)
