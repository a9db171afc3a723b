"""One conditional, set-based writer per supported action type (SPEC §6).

Every writer applies a run of consecutive actions of one type with as few
statements as it can (``UPDATE ... WHERE <ids> AND <the state the plan saw>``) and
checks the row count: a row that no longer holds what the plan saw fails the apply
(:class:`ApplyFailed`), and the executor rolls the whole transaction back. Writers
decide nothing the plan did not say and never read or write a client's name.

``WRITERS`` covers exactly :data:`CAPABILITIES`; ``UNSUPPORTED`` says why the others
are not (a plan that needs one is refused before anything changes).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, insert, or_, select, text, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from reconciler.errors import ApplyFailed
from reconciler.model.actions import Action
from reconciler.model.actions import ActionType as T
from reconciler.timeutil import naive_utc, parse_iso_z

from . import recurrence as rec
from . import series as ser
from .read import (
    CANCELLED,
    DEFAULT_ACCESS,
    DEFAULT_ROLE,
    RESTORED,
    client_active_cond,
    scheduled_cond,
    unassigned_cond,
)
from .tables import client_links, patient_data, seat_events, staff_facts, users
from .tables import postcalendar_events as ev
from .tables import practice as practice_t

CHUNK = 500


@dataclass
class WriteContext:
    """What the writers need besides the actions."""

    plan_id: str
    as_of: dt.datetime
    tz: str
    uid: Mapping[str, int]  # username -> users.id
    seat_credits: Mapping[str, int] = field(default_factory=dict)
    #: What a writer did beyond the plan's own ids (e.g. the successor series' new pc_eid),
    #: by action id: recorded in OpenEMR's log row.
    notes: dict[int, str] = field(default_factory=dict)
    #: pubpid -> pids, read once per apply (see :func:`_pids_of`).
    pids: dict[str, list[int]] | None = None
    #: The clients (pubpids) this transaction's reads saw, for :func:`_pids_of`.
    clients_read: frozenset[str] = frozenset()


Writer = Callable[[Connection, Sequence[Action], WriteContext], int]


def _chunks(ids: Sequence[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(ids), size):
        yield list(ids[i : i + size])


def _describe(kind: T, ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
    return f"{kind.value} {shown}"


def _stale(kind: T, ids: Sequence[str], what: str = "") -> ApplyFailed:
    return ApplyFailed(
        f"{_describe(kind, sorted(ids))}: the row no longer holds what the plan saw{what}; "
        "the apply was rolled back and nothing was changed - re-run plan"
    )


def _groups(actions: Sequence[Action]) -> list[tuple[Mapping[str, tuple[Any, Any]], list[Action]]]:
    """Actions of one type with identical ``changes``, in order of first appearance; a
    target twice is malformed."""
    out: dict[Hashable, tuple[Mapping[str, tuple[Any, Any]], list[Action]]] = {}
    seen: set[str] = set()
    for a in actions:
        if a.target in seen:
            raise ApplyFailed(
                f"plan names {a.type.value} {a.target} twice in a row (action #{a.id}); nothing was changed"
            )
        seen.add(a.target)
        key = json.dumps([a.type.value, {k: [v[0], v[1]] for k, v in sorted(a.changes.items())}], sort_keys=True)
        out.setdefault(key, (a.changes, []))[1].append(a)
    return list(out.values())


def _user(ctx: WriteContext, sid: str, kind: T, target: str) -> int:
    if sid not in ctx.uid:
        raise ApplyFailed(f"{kind.value} {target}: no OpenEMR user named {sid!r}; nothing was changed")
    return ctx.uid[sid]


def _only(kind: T, changes: Mapping[str, Any], allowed: set[str], target: str) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ApplyFailed(
            f"{kind.value} {target}: the openemr target cannot change {', '.join(unknown)}; nothing was changed"
        )


# ---------------------------------------------------------------- practice
#: practice.update fields -> ``reconciler_practice`` columns (OpenEMR has no such settings).
PRACTICE_COLS: Mapping[str, str] = {
    "owner": "owner_id",
    "clinical_director": "clinical_director_id",
    "timezone": "timezone",
    "client_plan_limit": "client_plan_limit",
}


def openemr_timezone(conn: Connection) -> str | None:
    """OpenEMR's own time zone setting (``globals.gbl_time_zone``), or None when the
    installation sets none (then PHP's default applies, which the database cannot tell)."""
    has_globals = conn.execute(
        text(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'globals'"
        )
    ).scalar()
    if not has_globals:
        return None
    tz = conn.execute(text("SELECT gl_value FROM globals WHERE gl_name = 'gbl_time_zone' ORDER BY gl_index LIMIT 1"))
    value = tz.scalar()
    return str(value) if value else None


def timezone_refusal(conn: Connection, wanted: Any) -> str | None:
    """Why the practice timezone cannot become ``wanted`` on this OpenEMR, or None.

    OpenEMR's calendar stores wall-clock dates and times (``pc_eventDate``,
    ``pc_startTime``) read in the practice timezone (SPEC §6): when OpenEMR itself is set
    to a time zone, another one would move every session the reconciler sees while OpenEMR
    shows them unchanged. The practice timezone may only follow OpenEMR's own setting."""
    own = openemr_timezone(conn)
    if own is None or own == wanted:
        return None
    return (
        f"OpenEMR's calendar keeps its times in OpenEMR's own time zone ({own}, globals gbl_time_zone), so the "
        f"practice timezone must be {own}: change OpenEMR's time zone (Administration > Globals > Locale) first"
    )


def write_practice_update(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """The practice settings in ``reconciler_practice`` (SPEC §8.1), where the row still
    holds the planned before values; a timezone only as OpenEMR's own (:func:`timezone_refusal`)."""
    for a in actions:
        _only(a.type, a.changes, set(PRACTICE_COLS), a.target)
        if "timezone" in a.changes:
            why = timezone_refusal(conn, a.changes["timezone"][1])
            if why is not None:
                raise ApplyFailed(f"practice.update: {why}; nothing was changed")
        conds: list[ColumnElement[bool]] = []
        values: dict[str, Any] = {}
        for fname, (before, after) in sorted(a.changes.items()):
            col = practice_t.c[PRACTICE_COLS[fname]]
            conds.append(col.is_(None) if before is None else col == before)
            values[col.name] = after
        n = conn.execute(update(practice_t).where(*conds).values(**values)).rowcount
        if n != 1:
            raise _stale(a.type, [a.target], " (the practice settings)")
    return len(actions)


# ---------------------------------------------------------------- staff
FACT_FIELDS = ("role", "access", "billing_role", "max_caseload", "settings", "deactivate_on", "deactivated_at")
STAFF_FIELDS = {"name", "active", *FACT_FIELDS}


def _fact_value(fname: str, v: Any) -> Any:
    if v is None:
        return None
    if fname == "deactivate_on":
        return dt.date.fromisoformat(str(v))
    if fname == "deactivated_at":
        return naive_utc(parse_iso_z(str(v)))
    return v


def _current_facts(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """username -> current values (JSON-comparable) of the staff fields, rows locked."""
    q = (
        select(users.c.username, users.c.fname, users.c.lname, users.c.active, staff_facts)
        .select_from(users.outerjoin(staff_facts, staff_facts.c.username == users.c.username))
        .where(users.c.username.in_(list(ids)))
        .order_by(users.c.username, users.c.id)
        .with_for_update()
    )
    out: dict[str, dict[str, Any]] = {}
    for r in conn.execute(q).mappings():
        if r["username"] in out:
            continue
        name = " ".join(p for p in ((r["fname"] or "").strip(), (r["lname"] or "").strip()) if p)
        d_on = ser.as_date(r["deactivate_on"])
        d_at = r["deactivated_at"]
        out[r["username"]] = {
            "name": name or r["username"],
            "active": bool(r["active"]),
            "role": r["role"] or DEFAULT_ROLE,
            "access": r["access"] or DEFAULT_ACCESS,
            "billing_role": r["billing_role"],
            "max_caseload": r["max_caseload"],
            "settings": dict(r["settings"] or {}),
            "deactivate_on": d_on.isoformat() if d_on else None,
            "deactivated_at": (
                d_at.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
                if isinstance(d_at, dt.datetime)
                else None
            ),
            "_has_facts": r["role"] is not None,
        }
    return out


def _same(fname: str, current: Any, before: Any) -> bool:
    if fname == "settings":
        return (current or {}) == (before or {})
    if fname == "deactivated_at" and current is not None and before is not None:
        return parse_iso_z(str(current)) == parse_iso_z(str(before))
    return bool(current == before)


def _write_staff(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Check every action's ``before`` against the locked rows, then write ``after``:
    ``active`` and ``name`` to ``users``, every other field to ``reconciler_staff``."""
    ids = [a.target for a in actions]
    current = _current_facts(conn, ids)
    missing = sorted(set(ids) - set(current))
    if missing:
        raise ApplyFailed(
            f"{_describe(actions[0].type, missing)}: no such OpenEMR user; the apply was rolled back "
            "and nothing was changed - re-run plan"
        )
    stale = []
    for a in actions:
        _only(a.type, a.changes, STAFF_FIELDS, a.target)
        if any(not _same(f, current[a.target][f], before) for f, (before, _after) in a.changes.items()):
            stale.append(a.target)
    if stale:
        raise _stale(actions[0].type, stale)
    need_facts = sorted(
        {a.target for a in actions if set(a.changes) & set(FACT_FIELDS) and not current[a.target]["_has_facts"]}
    )
    if need_facts:
        conn.execute(
            insert(staff_facts), [{"username": u, "role": DEFAULT_ROLE, "access": DEFAULT_ACCESS} for u in need_facts]
        )
    for changes, group in _groups(actions):
        targets = [a.target for a in group]
        if "active" in changes:
            want = bool(changes["active"][1])
            n = conn.execute(
                update(users)
                .where(users.c.username.in_(targets), users.c.active == int(not want))
                .values(active=int(want))
            ).rowcount
            if n < len(targets):
                raise _stale(group[0].type, targets, " (users.active)")
        if "name" in changes:
            full = str(changes["name"][1]).strip()
            first, _, last = full.rpartition(" ") if " " in full else (full, "", "")
            conn.execute(update(users).where(users.c.username.in_(targets)).values(fname=first, lname=last))
        facts = {f: _fact_value(f, changes[f][1]) for f in FACT_FIELDS if f in changes}
        if facts:
            conn.execute(update(staff_facts).where(staff_facts.c.username.in_(targets)).values(**facts))
    return len(actions)


def _seat_events(conn: Connection, actions: Sequence[Action], ctx: WriteContext, kind: str) -> None:
    rows = [
        {
            "staff_id": a.target,
            "kind": kind,
            "at": naive_utc(ctx.as_of),
            "plan_id": ctx.plan_id,
            "credit_cents": ctx.seat_credits.get(a.target) if kind == "deactivated" else None,
        }
        for a in actions
    ]
    if rows:
        conn.execute(insert(seat_events), rows)


def write_staff(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """staff.update / staff.schedule_deactivation."""
    return _write_staff(conn, actions, ctx)


def write_staff_deactivate(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """``users.active`` 1 -> 0, deactivated-at recorded, the seat released."""
    n = _write_staff(conn, actions, ctx)
    _seat_events(conn, actions, ctx, "deactivated")
    return n


def write_staff_reactivate(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """``users.active`` 0 -> 1, the seat added back."""
    n = _write_staff(conn, actions, ctx)
    _seat_events(conn, actions, ctx, "activated")
    return n


# ---------------------------------------------------------------- appointments
def write_appointment_cancel(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """``pc_apptstatus`` -> ``x`` where the session is still scheduled (and not recurring)."""
    for a in actions:
        _only(a.type, a.changes, {"status", "cancel_reason"}, a.target)
        if a.changes.get("status") != ("scheduled", "cancelled"):
            raise ApplyFailed(f"appointment.cancel {a.target}: malformed changes; nothing was changed")
    total = 0
    for chunk in _chunks([int(a.target) for a in actions]):
        n = conn.execute(
            update(ev)
            .where(ev.c.pc_eid.in_(chunk), ev.c.pc_recurrtype == 0, scheduled_cond())
            .values(pc_apptstatus=CANCELLED)
        ).rowcount
        if n != len(chunk):
            raise _stale(T.APPOINTMENT_CANCEL, [str(i) for i in chunk], " (status scheduled)")
        total += n
    return total


def write_appointment_transfer(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """``pc_aid`` old -> new where the session is still scheduled with the old professional."""
    total = 0
    for changes, group in _groups(actions):
        _only(T.APPOINTMENT_TRANSFER, changes, {"staff"}, group[0].target)
        old, new = changes["staff"]
        old_id, new_id = (
            _user(ctx, old, T.APPOINTMENT_TRANSFER, group[0].target),
            _user(ctx, new, T.APPOINTMENT_TRANSFER, group[0].target),
        )
        for chunk in _chunks([int(a.target) for a in group]):
            n = conn.execute(
                update(ev)
                .where(ev.c.pc_eid.in_(chunk), ev.c.pc_recurrtype == 0, scheduled_cond(), ev.c.pc_aid == str(old_id))
                .values(pc_aid=str(new_id))
            ).rowcount
            if n != len(chunk):
                raise _stale(T.APPOINTMENT_TRANSFER, [str(i) for i in chunk], f" (scheduled with {old})")
            total += n
    return total


def write_appointment_restore(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """``revert`` of a cancellation: ``pc_apptstatus`` ``x``/``%`` -> ``-`` (OpenEMR's "none",
    a booked session) where the session is still cancelled. OpenEMR keeps no cancellation
    reason and the cancel overwrote the status letter, so the session comes back as booked."""
    for a in actions:
        _only(a.type, a.changes, {"status", "cancel_reason"}, a.target)
        if a.changes.get("status") != ("cancelled", "scheduled"):
            raise ApplyFailed(f"appointment.restore {a.target}: malformed changes; nothing was changed")
    total = 0
    for chunk in _chunks([int(a.target) for a in actions]):
        n = conn.execute(
            update(ev)
            .where(ev.c.pc_eid.in_(chunk), ev.c.pc_recurrtype == 0, ev.c.pc_apptstatus.in_(("x", "%")))
            .values(pc_apptstatus=RESTORED)
        ).rowcount
        if n != len(chunk):
            raise _stale(T.APPOINTMENT_RESTORE, [str(i) for i in chunk], " (status cancelled)")
        total += n
    return total


# ---------------------------------------------------------------- series
#: The columns ``series.end`` reads (the row's recurrence, its professional, and what its
#: conditional UPDATE names); a split reads every column, to copy them into the new row.
_END_COLUMNS = (
    ev.c.pc_eid,
    ev.c.pc_aid,
    ev.c.pc_eventDate,
    ev.c.pc_endDate,
    ev.c.pc_startTime,
    ev.c.pc_recurrtype,
    ev.c.pc_recurrspec,
)


def _series_rows(conn: Connection, actions: Sequence[Action], *, whole: bool = True) -> dict[str, dict[str, Any]]:
    ids = [int(a.target) for a in actions]
    rows = (
        conn.execute(
            (select(ev) if whole else select(*_END_COLUMNS))
            .where(ev.c.pc_eid.in_(ids), ev.c.pc_recurrtype > 0, ev.c.pc_apptstatus.not_in(("x", "%")))
            .order_by(ev.c.pc_eid)
            .with_for_update()
        )
        .mappings()
        .all()
    )
    return {str(r["pc_eid"]): dict(r) for r in rows}


def _iso_until(er: rec.EventRow, tz: str) -> str | None:
    u = ser.until_of(er, tz)
    return None if u is None else u.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _check_series(a: Action, row: Mapping[str, Any] | None, ctx: WriteContext, staff: str) -> rec.EventRow:
    if row is None:
        raise _stale(a.type, [a.target], " (an active recurring event)")
    if row["pc_aid"] != str(_user(ctx, staff, a.type, a.target)):
        raise _stale(a.type, [a.target], f" (with {staff})")
    er = ser.event_row(row)
    if "until" in a.changes:
        before = a.changes["until"][0]
        now = _iso_until(er, ctx.tz)
        if (None if before is None else parse_iso_z(str(before))) != (None if now is None else parse_iso_z(now)):
            raise _stale(a.type, [a.target], " (its end date)")
    if not ser.is_active(er, ctx.as_of, ctx.tz):
        raise _stale(a.type, [a.target], " (a session at or after the plan's time)")
    return er


def _set_end(
    conn: Connection, row: Mapping[str, Any], new_end: dt.date, target: str, kind: T, spec: rec.RecurrSpec | None = None
) -> None:
    values: dict[str, Any] = {"pc_endDate": new_end}
    if spec is not None:
        values["pc_recurrspec"] = rec.dump_recurrspec(spec)
    n = conn.execute(
        update(ev)
        .where(
            ev.c.pc_eid == row["pc_eid"],
            ev.c.pc_aid == row["pc_aid"],
            ev.c.pc_endDate == row["pc_endDate"],
            ev.c.pc_recurrspec == row["pc_recurrspec"],
        )
        .values(**values)
    ).rowcount
    if n != 1:
        raise _stale(kind, [target])


def write_series_end(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """``pc_endDate`` = the last day whose session starts before the cutoff (the plan's
    ``until``, else its ``as_of``): OpenEMR's own "this and future" end. Earlier
    sessions are untouched; a series with no session before the cutoff keeps
    ``pc_endDate >= pc_eventDate`` with its first day excluded (never an end before the start)."""
    rows = _series_rows(conn, actions, whole=False)
    ends: list[tuple[Mapping[str, Any], dt.date, rec.RecurrSpec | None, str]] = []
    for a in actions:
        _only(a.type, a.changes, {"active", "until"}, a.target)
        er = _check_series(a, rows.get(a.target), ctx, a.staff or "")
        if "until" not in a.changes:
            continue
        after = a.changes["until"][1]
        cutoff = parse_iso_z(str(after)) if after is not None else ctx.as_of
        sp = ser.split(er, cutoff, ctx.tz)
        if sp.kind == "nothing":
            continue
        assert sp.old_end_date is not None
        ends.append((rows[a.target], sp.old_end_date, sp.old_spec, a.target))
    _set_ends(conn, ends, T.SERIES_END)
    return len(actions)


def _set_ends(
    conn: Connection, ends: Sequence[tuple[Mapping[str, Any], dt.date, rec.RecurrSpec | None, str]], kind: T
) -> None:
    """:func:`_set_end` for many rows, one UPDATE per :data:`CHUNK`: each row's new end
    (and spec) by ``CASE pc_eid``, where it still holds the professional, end and spec
    read (one statement per series was most of an offboarding's series time)."""
    for i in range(0, len(ends), CHUNK):
        chunk = ends[i : i + CHUNK]
        specs = {row["pc_eid"]: rec.dump_recurrspec(spec) for row, _, spec, _ in chunk if spec is not None}
        values: dict[str, Any] = {
            "pc_endDate": case({row["pc_eid"]: end for row, end, _, _ in chunk}, value=ev.c.pc_eid)
        }
        if specs:
            values["pc_recurrspec"] = case(specs, value=ev.c.pc_eid, else_=ev.c.pc_recurrspec)
        seen = [(row["pc_eid"], row["pc_aid"], row["pc_endDate"], row["pc_recurrspec"]) for row, _, _, _ in chunk]
        held: ColumnElement[bool]
        if all(v is not None for t in seen for v in t):
            # One row-value IN (each row's four values as read) within the primary key's
            # range: the same condition as an OR of one AND per row, which cost more to
            # build and compile than the server took to run it.
            held = and_(
                ev.c.pc_eid.in_([t[0] for t in seen]),
                tuple_(ev.c.pc_eid, ev.c.pc_aid, ev.c.pc_endDate, ev.c.pc_recurrspec).in_(seen),
            )
        else:  # a NULL compares as IS NULL here, which a row value cannot say
            held = or_(
                *(
                    and_(
                        ev.c.pc_eid == eid,
                        ev.c.pc_aid == aid,
                        ev.c.pc_endDate == end,
                        ev.c.pc_recurrspec == spec,
                    )
                    for eid, aid, end, spec in seen
                )
            )
        n = conn.execute(update(ev).where(held).values(**values)).rowcount
        if n != len(chunk):
            raise _stale(kind, [target for _, _, _, target in chunk])


def write_series_transfer(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Split the row at the plan's ``as_of`` (:func:`recurrence.split_at`): the leaver's
    row ends on the last day before the cutoff, and a new recurring row — every column
    copied from the old row, as OpenEMR's own "this and future" inserts it — starts on the
    first session at or after it for the successor. A series whose every session is
    still ahead simply changes hands (no past to keep)."""
    rows = _series_rows(conn, actions)
    for a in actions:
        _only(a.type, a.changes, {"staff"}, a.target)
        old, new = a.changes["staff"]
        row = rows.get(a.target)
        er = _check_series(a, row, ctx, old)
        assert row is not None
        new_id = str(_user(ctx, new, a.type, a.target))
        sp = ser.split(er, ctx.as_of, ctx.tz)
        if sp.kind == "nothing":
            raise _stale(a.type, [a.target], " (a session after now)")
        if sp.kind == "whole":
            n = conn.execute(
                update(ev).where(ev.c.pc_eid == row["pc_eid"], ev.c.pc_aid == row["pc_aid"]).values(pc_aid=new_id)
            ).rowcount
            if n != 1:
                raise _stale(a.type, [a.target])
            continue
        new_eid = _continue_for(conn, a, row, sp, new_id, ctx)
        assert sp.new_start_date is not None
        ctx.notes[a.id] = f"successor series {new_eid} from {sp.new_start_date.isoformat()}"
    return len(actions)


def _continue_for(
    conn: Connection, a: Action, row: Mapping[str, Any], sp: rec.Split, new_aid: str, ctx: WriteContext
) -> int:
    """End ``row`` before the cutoff and insert the successor's recurring row from the first
    session at or after it (every other column copied, as OpenEMR's "this and future"
    does); returns the new ``pc_eid``."""
    assert sp.old_end_date is not None and sp.new_start_date is not None and sp.new_spec is not None
    _set_end(conn, row, sp.old_end_date, a.target, a.type)
    copy = {c.name: row[c.name] for c in ev.c if c.name not in ("pc_eid", "uuid")}
    copy.update(
        pc_aid=new_aid,
        pc_eventDate=sp.new_start_date,
        pc_endDate=sp.new_end_date,
        pc_recurrspec=rec.dump_recurrspec(sp.new_spec),
        pc_time=naive_utc(ctx.as_of),
        uuid=uuid.uuid4().bytes,
    )
    empty = [c.name for c in ev.c if c.name in copy and copy[c.name] is None and not c.nullable]
    if empty:
        raise ApplyFailed(
            f"{a.type.value} {a.target}: column {empty[0]} of the recurring event is empty; nothing was changed"
        )
    key = conn.execute(insert(ev).values(**copy)).inserted_primary_key
    assert key is not None
    return int(key[0])


SPLIT_FIELDS = {"until", "successor_series", "successor_staff", "successor_start"}


def write_series_split(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """SPEC §8.3 on OpenEMR, as ``series.transfer`` but at the deactivation instant (the
    plan's ``until``) instead of now: the leaver's row ends on the last day whose session
    starts before it — nothing before it is rewritten — and a new recurring row for the
    successor starts on the first session at or after it, which must be the one the plan
    names (``successor_start``). A row with no session before the date simply changes
    hands. The new row's ``pc_eid`` is OpenEMR's (the plan's ``successor_series`` id is
    recorded with it in OpenEMR's log)."""
    rows = _series_rows(conn, actions)
    for a in actions:
        _only(a.type, a.changes, SPLIT_FIELDS, a.target)
        try:
            cutoff = parse_iso_z(str(a.changes["until"][1]))
            to = str(a.changes["successor_staff"][1])
            first = parse_iso_z(str(a.changes["successor_start"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise ApplyFailed(
                f"series.split {a.target}: malformed changes (need until, successor_staff, successor_start); "
                "nothing was changed"
            ) from None
        row = rows.get(a.target)
        er = _check_series(a, row, ctx, a.staff or "")
        assert row is not None
        new_aid = str(_user(ctx, to, a.type, a.target))
        sp = ser.split(er, cutoff, ctx.tz)
        if sp.kind == "nothing" or sp.new_start_date is None:
            raise _stale(a.type, [a.target], " (a session on or after the date)")
        if ser.local_instant(sp.new_start_date, er.start_time, ctx.tz) != first:
            raise _stale(a.type, [a.target], " (its first session on or after the date)")
        planned = a.changes["successor_series"][1]
        if sp.kind == "whole":
            n = conn.execute(
                update(ev).where(ev.c.pc_eid == row["pc_eid"], ev.c.pc_aid == row["pc_aid"]).values(pc_aid=new_aid)
            ).rowcount
            if n != 1:
                raise _stale(a.type, [a.target])
            ctx.notes[a.id] = f"no session before the date: the series changes hands (plan's successor {planned})"
            continue
        new_eid = _continue_for(conn, a, row, sp, new_aid, ctx)
        ctx.notes[a.id] = f"successor series {new_eid} (plan's {planned}) from {sp.new_start_date.isoformat()}"
    return len(actions)


def write_series_restore(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """``revert`` of ``series.end``: the end day back to what it was (``until``'s old value),
    where the row still ends where the end put it and is still the professional's. The
    first-day exclusion an end adds to a row with no session before its cutoff is removed
    again. ``active`` needs no write: OpenEMR derives it from the end day."""
    ids = [int(a.target) for a in actions]
    rows = {
        str(r["pc_eid"]): dict(r)
        for r in conn.execute(
            select(ev).where(ev.c.pc_eid.in_(ids), ev.c.pc_recurrtype > 0).order_by(ev.c.pc_eid).with_for_update()
        ).mappings()
    }
    zone = ZoneInfo(ctx.tz)
    for a in actions:
        _only(a.type, a.changes, {"active", "until"}, a.target)
        row = rows.get(a.target)
        if row is None or row["pc_apptstatus"] in ("x", "%"):
            raise _stale(a.type, [a.target], " (a recurring event)")
        if row["pc_aid"] != str(_user(ctx, a.staff or "", a.type, a.target)):
            raise _stale(a.type, [a.target], f" (with {a.staff})")
        if "until" not in a.changes:
            continue
        er = ser.event_row(row)
        now_until, old_until = a.changes["until"]
        if now_until is None or old_until is None:
            raise ApplyFailed(
                f"series.restore {a.target}: OpenEMR shows no recurring row without an end day; nothing was changed"
            )
        cut = rec.end_date_for_until(parse_iso_z(str(now_until)), er.start_time, zone)
        ended_at = max(cut, er.event_date)
        if er.end_date != ended_at:
            raise _stale(a.type, [a.target], " (its end day)")
        spec = None
        first = f"{er.event_date:%Y%m%d}"
        if cut < er.event_date and first in er.spec.exdate:
            spec = er.spec.with_exdates(tuple(t for t in er.spec.exdate if t != first))
        _set_end(
            conn, row, rec.end_date_for_until(parse_iso_z(str(old_until)), er.start_time, zone), a.target, a.type, spec
        )
    return len(actions)


# ---------------------------------------------------------------- clients
CLIENT_FIELDS = {"status", "primary", "portal_access", "duplicate_of"}


def _client_conds(
    changes: Mapping[str, tuple[Any, Any]], ctx: WriteContext, kind: T, target: str
) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    pd = patient_data
    conds: list[ColumnElement[bool]] = []
    values: dict[str, Any] = {}
    if "status" in changes:
        before, after = changes["status"]
        if before not in ("active", "inactive") or after not in ("active", "inactive"):
            raise ApplyFailed(
                f"{kind.value} {target}: the openemr target has no client status {after!r}; nothing was changed"
            )
        conds.append(client_active_cond() if before == "active" else pd.c.care_team_status == "inactive")
        values["care_team_status"] = after
    if "primary" in changes:
        before, after = changes["primary"]
        conds.append(unassigned_cond() if before is None else pd.c.providerID == _user(ctx, before, kind, target))
        values["providerID"] = 0 if after is None else _user(ctx, after, kind, target)
    if "portal_access" in changes:
        before, after = changes["portal_access"]
        conds.append(pd.c.allow_patient_portal == "YES" if before else pd.c.allow_patient_portal != "YES")
        values["allow_patient_portal"] = "YES" if after else "NO"
    return conds, values


def _pids_of(conn: Connection, ctx: WriteContext, pubpids: Sequence[str]) -> dict[str, list[int]]:
    """pubpid -> ``patient_data.pid`` (usually one; every row holding it) for ``pubpids``.
    OpenEMR has no key on ``pubpid`` (``tables.MISSING_INDEXES``), so an UPDATE naming
    clients by chart number scans and locks the whole table; the writers name rows by the
    unique ``pid`` key instead (and still check ``pubpid``).

    Looking chart numbers up scans ``patient_data`` too, so one lookup serves the apply:
    the first one also asks for every client the transaction's reads saw
    (``ctx.clients_read``: the re-plan or fingerprint read, which every client action
    names a client of); only a chart number still unknown costs another scan. (Reading
    every patient's pid instead cost ~0.2 s of an apply at the bench's 20,000 patients.)"""
    if ctx.pids is None:
        ctx.pids = {}
    known = ctx.pids
    missing = [c for c in pubpids if c not in known]
    if missing:
        wanted = sorted(set(missing) | (ctx.clients_read - known.keys()))
        for c in wanted:
            known[c] = []
        for chunk in _chunks(wanted, PUBPID_CHUNK):
            for pid, pubpid in conn.execute(
                select(patient_data.c.pid, patient_data.c.pubpid)
                .where(patient_data.c.pubpid.in_(chunk))
                .order_by(patient_data.c.pid)
            ):
                if pubpid in known:  # the exact chart number (the collation also matches 'c-1 ' to 'C-1')
                    known[pubpid].append(int(pid))
    return known


#: Chart numbers per lookup (each lookup scans ``patient_data``).
PUBPID_CHUNK = 5000


def write_clients(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Reassign, inactivate, reactivate or mark duplicate: one conditional UPDATE of
    ``patient_data`` per group of equal changes; the duplicate link in
    ``reconciler_client_links`` (OpenEMR has no column for it)."""
    total = 0
    pids_of = _pids_of(conn, ctx, [a.target for a in actions])
    for changes, group in _groups(actions):
        kind = group[0].type
        _only(kind, changes, CLIENT_FIELDS, group[0].target)
        conds, values = _client_conds(changes, ctx, kind, group[0].target)
        for chunk in _chunks([a.target for a in group]):
            if "duplicate_of" in changes:
                before = changes["duplicate_of"][0]
                have = dict(
                    conn.execute(
                        select(client_links.c.pubpid, client_links.c.duplicate_of)
                        .where(client_links.c.pubpid.in_(chunk))
                        .order_by(client_links.c.pubpid)
                        .with_for_update()
                    ).all()
                )
                bad = [c for c in chunk if have.get(c) != before]
                if bad:
                    raise _stale(kind, bad, " (duplicate_of)")
            pids = sorted(p for c in chunk for p in pids_of.get(c, ()))
            n = (
                conn.execute(
                    update(patient_data)
                    .where(patient_data.c.pid.in_(pids), patient_data.c.pubpid.in_(chunk), *conds)
                    .values(**values)
                ).rowcount
                if values and pids
                else (0 if values else len(chunk))
            )
            if n != len(chunk):
                raise _stale(
                    kind, chunk, " (" + ", ".join(f"{k} {json.dumps(v[0])}" for k, v in sorted(changes.items())) + ")"
                )
            if "duplicate_of" in changes:
                after = changes["duplicate_of"][1]
                conn.execute(delete(client_links).where(client_links.c.pubpid.in_(chunk)))
                if after is not None:
                    conn.execute(insert(client_links), [{"pubpid": c, "duplicate_of": after} for c in chunk])
            total += n
    return total


def write_nothing(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """``export.write``: the files are written before the transaction."""
    return len(actions)


WRITERS: Mapping[T, Writer] = {
    T.PRACTICE_UPDATE: write_practice_update,
    T.STAFF_UPDATE: write_staff,
    T.STAFF_SCHEDULE_DEACTIVATION: write_staff,
    T.STAFF_DEACTIVATE: write_staff_deactivate,
    T.STAFF_REACTIVATE: write_staff_reactivate,
    T.APPOINTMENT_CANCEL: write_appointment_cancel,
    T.APPOINTMENT_TRANSFER: write_appointment_transfer,
    T.APPOINTMENT_RESTORE: write_appointment_restore,
    T.SERIES_END: write_series_end,
    T.SERIES_TRANSFER: write_series_transfer,
    T.SERIES_SPLIT: write_series_split,
    T.SERIES_RESTORE: write_series_restore,
    T.CLIENT_REASSIGN: write_clients,
    T.CLIENT_INACTIVATE: write_clients,
    T.CLIENT_REACTIVATE: write_clients,
    T.CLIENT_MARK_DUPLICATE: write_clients,
    T.EXPORT_WRITE: write_nothing,
}

#: Why the openemr target cannot carry out the other action types.
UNSUPPORTED: Mapping[T, str] = {
    T.STAFF_CREATE: "creating an OpenEMR user needs credentials and access-control groups; create the user in OpenEMR",
    T.CLIENT_DELETE: "OpenEMR has no soft delete for patients",
    T.CLIENT_PURGE: "OpenEMR has no soft delete for patients, so nothing is ever due for purging",
}

CAPABILITIES = frozenset(WRITERS)


def writer_groups(actions: Sequence[Action]) -> list[list[Action]]:
    """Consecutive actions that share a writer, in plan order: of one type, except that
    client actions of any type form one run (:func:`write_clients` writes each set of equal
    changes with one statement; an offboarding interleaves inactivations and
    reassignments, which were one statement per client otherwise). A client named again
    by another type starts a new run, so that action sees the first one's write."""
    groups: list[list[Action]] = []
    targets: set[str] = set()
    for a in actions:
        last = groups[-1][0].type if groups else None
        if last is a.type or (
            last is not None
            and WRITERS.get(a.type) is write_clients
            and WRITERS.get(last) is write_clients
            and a.target not in targets
        ):
            groups[-1].append(a)
        else:
            groups.append([a])
            targets = set()
        targets.add(a.target)
    return groups
