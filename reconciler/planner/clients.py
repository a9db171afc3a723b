"""Client rules (SPEC §3.1 step 3 and §3.5): explicit entries, policy defaults, purge."""

from __future__ import annotations

import datetime as dt
from pathlib import PurePath, PurePosixPath
from typing import Sequence

from reconciler.model.actions import ActionType as T
from reconciler.model.actual import Client
from reconciler.model.desired import ClientFutureSessions, ClientSpec, ClientStatus, OtherClients, PolicySpec
from reconciler.planner.context import Ctx, series_context, session_context
from reconciler.planner.policies import balance_target_kind
from reconciler.planner.scope import PURGE_AFTER, closing_clients
from reconciler.timeutil import iso_z

ACTIVE = "active"
INACTIVE = "inactive"
DELETED = "deleted"


def config_relative(file: str, source: str) -> str:
    """``file`` relative to the config directory ``source`` when it lies inside it.

    Pure path arithmetic (no I/O): the loader names files as ``<directory as given>/<rel>``,
    so a reason cites ``clients.yaml`` whether the plan ran with ``-c examples/clients``
    or an absolute path; plan JSON and plan_id must not depend on the checkout location.
    """
    path, base = PurePosixPath(file), PurePosixPath(PurePath(source).as_posix())
    if base.parts and path.is_relative_to(base) and path != base:
        return path.relative_to(base).as_posix()
    return file


def _entry_where(ctx: Ctx, cid: str) -> str:
    loc = ctx.desired.locations.get(f"client:{cid}")
    if loc is not None and loc.file:
        name = config_relative(loc.file, ctx.desired.source)
        return f" ({name}:{loc.line})" if loc.line is not None else f" ({name})"
    return ""


def _inactivate(ctx: Ctx, c: Client, staff: str | None, reason: str, deps: Sequence[int], drift: bool) -> int:
    aid = ctx.add(
        T.CLIENT_INACTIVATE,
        c.id,
        staff,
        {"status": (c.status, INACTIVE), "primary": (c.primary, None), "portal_access": (c.portal_access, False)},
        reason,
        deps,
        drift,
    )
    ctx.update_client(c.id, status=INACTIVE, primary=None, portal_access=False)
    return aid


def _reassign(ctx: Ctx, c: Client, new: str, staff: str | None, reason: str, deps: Sequence[int], drift: bool) -> int:
    aid = ctx.add(T.CLIENT_REASSIGN, c.id, staff, {"primary": (c.primary, new)}, reason, deps, drift)
    ctx.update_client(c.id, primary=new)
    return aid


#: The cancel reason of a session cancelled because its client leaves care (SPEC §8.2).
CLIENT_CANCEL_REASON = "Client is no longer in care"


def session_decision(ctx: Ctx, e: ClientSpec) -> ClientFutureSessions | None:
    """The entry's ``future_sessions``, else ``practice.client_future_sessions`` when the
    config sets it; None when nobody decided (the plan then warns about kept bookings)."""
    if e.future_sessions is not None:
        return e.future_sessions
    if "client_future_sessions" in ctx.desired.practice.given:
        return ctx.desired.practice.client_future_sessions
    return None


def _cancel_bookings(
    ctx: Ctx, c: Client, e: ClientSpec, src: str, staff: str | None, deps: Sequence[int], drift: bool
) -> list[int]:
    """``future_sessions: cancel``: the client's scheduled sessions after now are cancelled and
    its active series ended, before the client action. Returns the action ids."""
    rule = "future_sessions: cancel" if e.future_sessions is not None else "practice.client_future_sessions: cancel"
    handled = {a.target for a in ctx.actions if a.type is T.APPOINTMENT_CANCEL}
    ids: list[int] = []
    appts = sorted(
        (
            a
            for a in ctx.actual.appointments.values()
            if a.client == c.id and a.status == "scheduled" and a.start >= ctx.at and a.id not in handled
        ),
        key=lambda a: (a.start, a.id),
    )
    for a in appts:
        ids.append(
            ctx.add(
                T.APPOINTMENT_CANCEL,
                a.id,
                staff,
                {"status": ("scheduled", "cancelled"), "cancel_reason": (a.cancel_reason, CLIENT_CANCEL_REASON)},
                f"{src}: client's future session cancelled ({rule})",
                deps,
                drift,
                session_context(a),
            )
        )
    for sr in sorted((x for x in ctx.series.values() if x.client == c.id and x.active), key=lambda x: x.id):
        sdeps = [*deps, *((ctx.series_deps[sr.id],) if sr.id in ctx.series_deps else ())]
        changes: dict[str, tuple[object, object]] = {"active": (True, False)}
        if sr.until is None or sr.until > ctx.at:
            changes["until"] = (iso_z(sr.until) if sr.until else None, ctx.as_of)
        aid = ctx.add(
            T.SERIES_END,
            sr.id,
            staff,
            changes,
            f"{src}: client's series ended ({rule})",
            sdeps,
            drift,
            series_context(sr),
        )
        ctx.update_series(sr.id, aid, active=False, until=ctx.at if "until" in changes else sr.until)
        ids.append(aid)
    return ids


def explicit(ctx: Ctx, e: ClientSpec, *, label: str, staff: str | None, deps: Sequence[int] = (), drift: bool) -> bool:
    """Plan the client's ``clients:`` entry. Returns False when the entry leaves the
    primary open and the primary is leaving: the caller's policy decides that part."""
    c = ctx.clients.get(e.id)
    ctx.handled_clients.add(e.id)
    src = f"{label}explicit clients: entry{_entry_where(ctx, e.id)}"
    if c is None:
        if e.status is not ClientStatus.DELETED:  # a deleted client may since have been purged
            ctx.error(ctx.where_client(e.id), f"client {e.id} is not in the database", "reference")
        return True
    if c.status == DELETED:
        if e.status is not ClientStatus.DELETED:
            ctx.error(
                ctx.where_client(e.id, "status"),
                f"client {e.id} is deleted in the database and cannot be changed",
                "deleted",
            )
        return True
    leaving = (
        e.status is ClientStatus.DELETED
        or (e.duplicate_of is not None and (c.duplicate_of != e.duplicate_of or c.status != INACTIVE))
        or (e.status is ClientStatus.INACTIVE and c.status == ACTIVE)
    )
    if leaving and session_decision(ctx, e) is ClientFutureSessions.CANCEL:
        deps = [*deps, *_cancel_bookings(ctx, c, e, src, staff, deps, drift)]
    if e.status is ClientStatus.DELETED:
        stamp = ctx.stamp
        exp = ctx.add(
            T.EXPORT_WRITE,
            e.id,
            staff,
            {"format": (None, "fhir"), "file": (None, f"client-{e.id}-{stamp}.fhir.json")},
            f"{src}: client records exported (fhir) before deletion",
            deps,
            drift,
        )
        ctx.add(
            T.CLIENT_DELETE,
            e.id,
            staff,
            {
                "status": (c.status, DELETED),
                "deleted_at": (None, ctx.as_of),
                "primary": (c.primary, None),
                "portal_access": (c.portal_access, False),
            },
            f"{src}: client deleted (soft; needs --confirm-delete {e.id})",
            [exp, *deps],
            drift,
        )
        ctx.update_client(c.id, status=DELETED, primary=None, portal_access=False, deleted_at=ctx.at)
        ctx.warn(
            f"client {e.id}: deletion needs --confirm-delete {e.id} and an actor who is the owner, "
            "a practice manager or has entire-practice access"
        )
        return True
    if e.duplicate_of:
        if c.duplicate_of == e.duplicate_of and c.status == INACTIVE:
            return True  # already so (even if the original was purged since)
        if e.duplicate_of not in ctx.clients:
            ctx.error(
                ctx.where_client(e.id, "duplicate_of"),
                f"client {e.id}: duplicate_of {e.duplicate_of} is not in the database",
                "reference",
            )
            return True
        problem = _duplicate_target_problem(ctx, e.duplicate_of)
        if problem is not None:
            ctx.error(
                ctx.where_client(e.id, "duplicate_of"),
                f"client {e.id}: {problem}; point to the record that stays",
                "duplicate_of",
            )
            return True
        if c.duplicate_of != e.duplicate_of or c.status != INACTIVE:
            ctx.add(
                T.CLIENT_MARK_DUPLICATE,
                e.id,
                staff,
                {
                    "status": (c.status, INACTIVE),
                    "duplicate_of": (c.duplicate_of, e.duplicate_of),
                    "primary": (c.primary, None),
                    "portal_access": (c.portal_access, False),
                },
                f"{src}: duplicate of {e.duplicate_of} marked inactive (history kept)",
                deps,
                drift,
            )
            ctx.update_client(c.id, status=INACTIVE, duplicate_of=e.duplicate_of, primary=None, portal_access=False)
        return True
    if e.status is ClientStatus.INACTIVE:
        if c.status == ACTIVE:
            _inactivate(ctx, c, staff, f"{src}: client inactivated", deps, drift)
        return True
    # status active or unspecified
    if c.status == INACTIVE:
        if e.status is ClientStatus.ACTIVE:
            new = e.primary or c.primary
            changes: dict[str, tuple[object, object]] = {"status": (INACTIVE, ACTIVE)}
            if new != c.primary:
                changes["primary"] = (c.primary, new)
            if new is None:
                ctx.error(
                    ctx.where_client(e.id, "status"),
                    f"client {e.id}: reactivation needs an active primary (add primary:)",
                    "unassigned",
                )
                return True
            ctx.add(
                T.CLIENT_REACTIVATE,
                e.id,
                staff or new,
                changes,
                f"{src}: client reactivated with primary {new}",
                deps,
                drift,
            )
            ctx.update_client(c.id, status=ACTIVE, primary=new)
        elif e.primary and e.primary != c.primary:
            ctx.warn(f"client {e.id} is inactive: its primary is not changed unless the entry says status: active")
        return True
    if e.primary and e.primary != c.primary:
        _reassign(ctx, c, e.primary, staff, f"{src}: client reassigned to {e.primary}", deps, drift)
        return True
    if c.primary is None or not ctx.roster.active_today(c.primary):
        return e.primary is not None
    return True


def _duplicate_target_problem(ctx: Ctx, target: str) -> str | None:
    """Why the database row ``target`` cannot be the record a duplicate points to, or None.

    A duplicate must name the record that stays: not a deleted one (it will be purged,
    and the link with it) and not another duplicate (chains hide the original). Targets
    whose own ``clients:`` entry says so are reported by the config checks instead.
    """
    row = ctx.actual.clients.get(target)
    entry = ctx.desired.clients_by_id().get(target)
    if row is None or (entry is not None and (entry.duplicate_of is not None or entry.status is ClientStatus.DELETED)):
        return None
    if row.status == DELETED:
        return f"duplicate_of {target} is deleted in the database"
    if row.duplicate_of is not None:
        return f"duplicate_of {target} is itself a duplicate of {row.duplicate_of} in the database"
    return None


def by_policy(
    ctx: Ctx,
    c: Client,
    leaver: str,
    policy: PolicySpec,
    label: str,
    deps: Sequence[int],
    drift: bool,
    *,
    may_inactivate: bool,
) -> None:
    """A leaving professional's client without an explicit decision: balance first, then other_clients.

    ``plan_explicit`` never meets these clients again: one without an entry is not in it, one
    with an entry was marked handled by :func:`explicit`, which ran first."""
    today = ctx.roster.today
    if c.balance_cents > 0:
        kind = balance_target_kind(policy)
        if kind == "successor":
            target = ctx.takes_over(leaver, today, open_ended=True)
        else:
            named = {"owner": ctx.roster.owner, "clinical_director": ctx.roster.clinical_director}.get(
                kind, policy.clients_with_balance
            )
            if named is None:
                ctx.error(
                    ctx.where_staff(leaver, "offboarding"),
                    f"staff {leaver}: policy {policy.name} sends balances to the {kind}, but the practice names none",
                    "reference",
                )
                return
            target = ctx.effective(named, today, leaver)
        if target is not None:
            _reassign(
                ctx,
                c,
                target,
                leaver,
                f"{label}: client with an outstanding balance reassigned to {target} (clients_with_balance: {policy.clients_with_balance})",
                deps,
                drift,
            )
        return
    if policy.other_clients is OtherClients.TRANSFER:
        # A client is open-ended like a series: in a chain A -> B -> C where B leaves later,
        # it goes to C (the final active successor), with its series, not to B for a few days.
        target = ctx.takes_over(leaver, today, open_ended=True)
        if target is not None:
            _reassign(
                ctx,
                c,
                target,
                leaver,
                f"{label}: client reassigned to successor {target} (other_clients: transfer)",
                deps,
                drift,
            )
        return
    if not may_inactivate:
        ctx.error(
            ctx.where_client(c.id, "status"),
            f"client {c.id} is declared active, but its primary {leaver} is leaving and policy {policy.name} would inactivate it: declare a primary",
            "unassigned",
        )
        return
    _inactivate(ctx, c, leaver, f"{label}: client inactivated (other_clients: inactivate)", deps, drift)


def plan_explicit(ctx: Ctx) -> None:
    """Entries of ``clients:`` not already planned with a leaving professional, by id."""
    for e in sorted(ctx.desired.clients, key=lambda x: x.id):
        if e.id in ctx.handled_clients:
            continue
        c = ctx.clients.get(e.id)
        staff = (c.primary or e.primary) if c is not None else None
        drift = False
        explicit(ctx, e, label="", staff=staff, drift=drift)


def plan_purge(ctx: Ctx) -> None:
    """Clients deleted more than 30 days ago: purged (row and appointments removed)."""
    horizon = ctx.at - PURGE_AFTER
    due = {
        cid
        for cid, c in ctx.clients.items()
        if c.status == DELETED and c.deleted_at is not None and c.deleted_at < horizon and cid in ctx.actual.clients
    }
    # A duplicate purged in the same plan does not keep its original (else a second plan).
    originals = {c.duplicate_of for cid, c in ctx.clients.items() if c.duplicate_of and cid not in due}
    for cid in sorted(due):
        deleted_at = ctx.clients[cid].deleted_at
        assert deleted_at is not None  # by the definition of ``due``
        when = iso_z(deleted_at)
        if cid in originals:
            # Duplicates still point at it (history kept): the row stays.
            ctx.warn(f"client {cid} is due for purge but other clients are marked duplicates of it: kept")
            continue
        ctx.add(
            T.CLIENT_PURGE,
            cid,
            None,
            {"deleted_at": (when, None), "exists": (True, False)},
            f"client deleted at {when}, more than 30 days ago: purged (the audit trail keeps ids only)",
        )


#: Booking ids listed per warning before "and N more" (the plan JSON has the rest's owner).
LIST_BOOKINGS = 12

_CLOSING_VERB = {
    T.CLIENT_INACTIVATE: "becomes inactive",
    T.CLIENT_MARK_DUPLICATE: "is marked a duplicate",
    T.CLIENT_DELETE: "is deleted",
}


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def warn_kept_bookings(ctx: Ctx) -> None:
    """Warn per client whose entry inactivates, deletes or marks it duplicate while it
    keeps future scheduled sessions or active series after this plan.

    A client leaving care does not cancel their bookings by itself (the SPEC gives
    client entries no session rule), so the plan says which ones remain and asks for
    a decision instead of silently keeping a departed client on the calendar.
    """
    entries = ctx.desired.clients_by_id()
    closing = {cid for cid in closing_clients(ctx.desired) if session_decision(ctx, entries[cid]) is None}
    if not closing:
        return
    verb: dict[str, str] = {}
    cancelled: set[str] = set()
    for a in ctx.actions:
        if a.type in _CLOSING_VERB and a.target in closing:
            verb[a.target] = _CLOSING_VERB[a.type]
            if a.type is T.CLIENT_MARK_DUPLICATE:
                # The projected row: an already linked client's action does not repeat the link.
                verb[a.target] += f" of {ctx.clients[a.target].duplicate_of}"
        elif a.type is T.APPOINTMENT_CANCEL:
            cancelled.add(a.target)
    sessions: dict[str, list[tuple[dt.datetime, str]]] = {}
    for appt in ctx.actual.appointments.values():
        if appt.client in closing and appt.status == "scheduled" and appt.start >= ctx.at and appt.id not in cancelled:
            sessions.setdefault(appt.client, []).append((appt.start, appt.id))
    series: dict[str, list[str]] = {}
    for s in ctx.series.values():  # the projection: series this plan ends are inactive here
        if s.client in closing and s.active:
            series.setdefault(s.client, []).append(s.id)
    for cid in sorted(set(sessions) | set(series)):
        c = ctx.clients.get(cid)
        if c is None:
            continue
        what = verb.get(cid) or (
            "is deleted" if c.status == DELETED else "is inactive" if c.status == INACTIVE else None
        )
        if what is None:
            continue  # the entry was not applied (an error says why)
        appt_ids = [aid for _, aid in sorted(sessions.get(cid, []), key=lambda t: (t[0], _natural(t[1])))]
        series_ids = sorted(series.get(cid, []), key=_natural)
        kept = " and ".join(
            part
            for part in (
                _count(len(appt_ids), "scheduled session", "scheduled sessions") if appt_ids else "",
                _count(len(series_ids), "active series", "active series") if series_ids else "",
            )
            if part
        )
        ids = ", ".join(appt_ids[:LIST_BOOKINGS]) + (
            f", and {len(appt_ids) - LIST_BOOKINGS} more" if len(appt_ids) > LIST_BOOKINGS else ""
        )
        listed = "; ".join(part for part in (ids, ", ".join(series_ids)) if part)
        ctx.warn(f"client {cid} {what} but keeps {kept} ({listed}): cancel them or give them an explicit decision")


def _natural(ident: str) -> tuple[str, int, str]:
    """``A-9`` before ``A-10``: ids are a prefix and a number in the shipped data."""
    head, _, tail = ident.rpartition("-")
    return (head, int(tail), "") if tail.isdigit() else (ident, -1, ident)
