"""One set-based writer per action type (SPEC §3, the ``changes`` conventions in
:mod:`reconciler.model.actions`).

A writer receives a run of consecutive actions of one type and applies them with as
few statements as possible: actions whose ``changes`` are identical share one
``UPDATE ... WHERE id IN (...) AND <every before value>`` (ids in chunks), and the
statement's rowcount must equal the number of ids. A row that no longer holds the
state the plan saw therefore makes the write fail (:class:`ApplyFailed`) and the
executor rolls the whole transaction back. Writers decide nothing the plan did not
say; they never read or write a client's name.

``WRITERS`` is the dispatch table; it is exhaustive over :class:`ActionType` (a test
fails when a new action type lacks a writer).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence

from sqlalchemy import Table, and_, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from reconciler.errors import ApplyFailed
from reconciler.model.actions import Action, ActionType
from reconciler.targets.base import WriteContext
from reconciler.targets.native.schema import (
    appointments_t,
    clients_t,
    practice_t,
    seats_t,
    series_t,
    staff_t,
)
from reconciler.timeutil import naive_utc, parse_iso_z

# Ids per statement: well under SQLite's bound-parameter limit (32766) and small
# enough that PostgreSQL plans an index scan.
CHUNK = 900


Writer = Callable[[Connection, Sequence[Action], WriteContext], int]


# ---------------------------------------------------------------- field -> column
def _text(v: Any) -> Any:
    return v


def _datetime(v: Any) -> dt.datetime | None:
    return None if v is None else naive_utc(parse_iso_z(str(v)))


def _date(v: Any) -> dt.date | None:
    return None if v is None else dt.date.fromisoformat(str(v))


@dataclass(frozen=True)
class Col:
    """How a ``changes`` field maps to a column: its name, a JSON -> DB converter, and
    whether it is a JSON column (not comparable in SQL on PostgreSQL's ``json``)."""

    name: str
    convert: Callable[[Any], Any] = _text
    is_json: bool = False


STAFF_COLS: Mapping[str, Col] = {
    "name": Col("name"),
    "role": Col("role"),
    "access": Col("access"),
    "billing_role": Col("billing_role"),
    "active": Col("active"),
    "deactivate_on": Col("deactivate_on", _date),
    "deactivated_at": Col("deactivated_at", _datetime),
    "settings": Col("settings", is_json=True),
    "max_caseload": Col("max_caseload"),
}
CLIENT_COLS: Mapping[str, Col] = {
    "status": Col("status"),
    "primary": Col("primary_id"),
    "balance_cents": Col("balance_cents"),
    "portal_access": Col("portal_access"),
    "duplicate_of": Col("duplicate_of"),
    "deleted_at": Col("deleted_at", _datetime),
}
APPOINTMENT_COLS: Mapping[str, Col] = {
    "status": Col("status"),
    "cancel_reason": Col("cancel_reason"),
    "staff": Col("staff_id"),
}
PRACTICE_COLS: Mapping[str, Col] = {
    "owner": Col("owner_id"),
    "clinical_director": Col("clinical_director_id"),
    "timezone": Col("timezone"),
    "client_plan_limit": Col("client_plan_limit"),
}
SERIES_COLS: Mapping[str, Col] = {
    "active": Col("active"),
    "until": Col("until", _datetime),
    "staff": Col("staff_id"),
}


def _chunks(ids: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _signature(a: Action) -> Hashable:
    """Equal for actions of one type with equal ``changes``: they share one statement."""
    items = tuple(sorted(a.changes.items()))
    try:
        hash(items)
        return (a.type, items)
    except TypeError:  # a JSON object value (staff settings)
        return (a.type, json.dumps({k: [v[0], v[1]] for k, v in items}, sort_keys=True))


def _describe(kind: ActionType, ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
    return f"{kind.value} {shown}"


@dataclass
class _Batch:
    kind: ActionType
    changes: Mapping[str, tuple[Any, Any]]
    ids: list[str]


def _group_by_changes(actions: Sequence[Action]) -> list[_Batch]:
    """Actions grouped by type and identical ``changes``, in order of first appearance.
    A target named twice in one group is a malformed plan."""
    groups: dict[Hashable, _Batch] = {}
    seen: set[str] = set()
    for a in actions:
        if a.target in seen:
            raise ApplyFailed(
                f"plan names {a.type.value} {a.target} twice in a row (action #{a.id}); nothing was changed"
            )
        seen.add(a.target)
        key = _signature(a)
        if key not in groups:
            groups[key] = _Batch(a.type, a.changes, [])
        groups[key].ids.append(a.target)
    return list(groups.values())


def _conditional_update(conn: Connection, table: Table, cols: Mapping[str, Col], actions: Sequence[Action]) -> int:
    """``UPDATE table SET <after> WHERE id IN (...) AND <before>`` per group of equal changes.

    Raises
    :class:`ApplyFailed` naming the rows that no longer hold the planned ``before``.
    """
    total = 0
    for batch in _group_by_changes(actions):
        kind, ids = batch.kind, batch.ids
        changes = batch.changes
        unknown = sorted(set(changes) - set(cols))
        if unknown:
            raise ApplyFailed(
                f"{kind.value} {ids[0]}: the plan changes unknown field(s) {', '.join(unknown)}; nothing was changed"
            )
        values: dict[str, Any] = {}
        conds: list[ColumnElement[bool]] = []
        json_checks: list[tuple[str, Any]] = []
        for fname in sorted(changes):
            col = cols[fname]
            before, after = changes[fname]
            values[col.name] = col.convert(after)
            if col.is_json:
                json_checks.append((col.name, before))  # compared in Python: PostgreSQL json has no '='
            elif before is None:
                conds.append(table.c[col.name].is_(None))
            else:
                conds.append(table.c[col.name] == col.convert(before))
        for chunk in _chunks(ids):
            if json_checks:
                _check_json_before(conn, table, chunk, json_checks, kind)
            n = conn.execute(update(table).where(table.c.id.in_(chunk), *conds).values(**values)).rowcount
            if n != len(chunk):
                matched = set(
                    conn.execute(select(table.c.id).where(table.c.id.in_(chunk), *conds).order_by(table.c.id)).scalars()
                )
                stale = sorted(set(chunk) - matched)
                raise ApplyFailed(
                    f"{_describe(kind, stale)}: the row no longer holds what the plan saw "
                    f"({_before_text(changes)}); the apply was rolled back and nothing was changed "
                    "- re-run plan"
                )
            total += n
    return total


def _before_text(changes: Mapping[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k} {json.dumps(v[0])}" for k, v in sorted(changes.items()))


def _check_json_before(
    conn: Connection, table: Table, chunk: Sequence[str], checks: Sequence[tuple[str, Any]], kind: ActionType
) -> None:
    names = [c for c, _ in checks]
    rows = conn.execute(
        select(table.c.id, *[table.c[n] for n in names]).where(table.c.id.in_(chunk)).order_by(table.c.id)
    ).all()
    for row in rows:
        for name, before in checks:
            if (getattr(row, name) or None) != (before or None):
                raise ApplyFailed(
                    f"{_describe(kind, [row.id])}: {name} no longer holds what the plan saw; "
                    "the apply was rolled back and nothing was changed - re-run plan"
                )


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
        conn.execute(insert(seats_t), rows)


# ---------------------------------------------------------------- writers
def write_practice_update(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Change the practice settings (the one practice row) where it still holds the
    planned before values (SPEC §8.1)."""
    total = 0
    for a in actions:
        unknown = sorted(set(a.changes) - set(PRACTICE_COLS))
        if unknown:
            raise ApplyFailed(
                f"practice.update: the plan changes unknown field(s) {', '.join(unknown)}; nothing was changed"
            )
        values: dict[str, Any] = {}
        conds: list[ColumnElement[bool]] = []
        for fname in sorted(a.changes):
            col = PRACTICE_COLS[fname]
            before, after = a.changes[fname]
            values[col.name] = after
            conds.append(practice_t.c[col.name].is_(None) if before is None else practice_t.c[col.name] == before)
        n = conn.execute(update(practice_t).where(*conds).values(**values)).rowcount
        if n != 1:
            raise ApplyFailed(
                f"practice.update: the practice no longer holds what the plan saw ({_before_text(a.changes)}); "
                "the apply was rolled back and nothing was changed - re-run plan"
            )
        total += n
    return total


def write_staff_create(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Insert the new staff rows (``[null, value]`` per declared field); an id that
    already exists fails the apply. Active new staff take a seat (a seat event)."""
    rows = []
    for a in actions:
        unknown = sorted(set(a.changes) - set(STAFF_COLS) - {"id"})
        if unknown:
            raise ApplyFailed(f"staff.create {a.target}: unknown field(s) {', '.join(unknown)}; nothing was changed")
        row: dict[str, Any] = {c.name: None for c in STAFF_COLS.values()}
        row.update({"id": a.target, "active": True, "settings": None})
        for fname, (_before, after) in a.changes.items():
            if fname in STAFF_COLS:
                row[STAFF_COLS[fname].name] = STAFF_COLS[fname].convert(after)
        rows.append(row)
    existing = sorted(
        conn.execute(
            select(staff_t.c.id).where(staff_t.c.id.in_([r["id"] for r in rows])).order_by(staff_t.c.id)
        ).scalars()
    )
    if existing:
        raise ApplyFailed(
            f"staff.create {', '.join(existing)}: already exists; the apply was rolled back "
            "and nothing was changed - re-run plan"
        )
    conn.execute(insert(staff_t), rows)
    _seat_events(conn, [a for a, r in zip(actions, rows) if r["active"]], ctx, "activated")
    return len(rows)


def write_staff_update(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Set the differing staff fields where they still hold the planned values."""
    return _conditional_update(conn, staff_t, STAFF_COLS, actions)


def write_staff_schedule_deactivation(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Record (or clear) the scheduled deactivation date."""
    return _conditional_update(conn, staff_t, STAFF_COLS, actions)


def write_staff_deactivate(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Inactivate the staff rows and release their seats (seat events with the plan's credit)."""
    n = _conditional_update(conn, staff_t, STAFF_COLS, actions)
    _seat_events(conn, actions, ctx, "deactivated")
    return n


def write_staff_reactivate(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Reactivate the staff rows and add their seats back (seat events)."""
    n = _conditional_update(conn, staff_t, STAFF_COLS, actions)
    _seat_events(conn, actions, ctx, "activated")
    return n


def write_appointments(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Cancel (status, reason) or transfer (staff) appointments still as planned."""
    return _conditional_update(conn, appointments_t, APPOINTMENT_COLS, actions)


def write_series(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """End (active, until) or transfer (staff) recurring series still as planned."""
    return _conditional_update(conn, series_t, SERIES_COLS, actions)


def write_series_split(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """End each series at the cutoff (where it still holds the planned ``until``) and
    insert the successor's series: same client, rule and duration, from the planned
    first occurrence at/after the cutoff, until the old series' end (SPEC §8.3)."""
    total = 0
    for a in actions:
        ch = a.changes
        try:
            new_id = ch["successor_series"][1]
            to = ch["successor_staff"][1]
            first = _datetime(ch["successor_start"][1])
            old_until, cutoff = ch["until"]
        except (KeyError, TypeError, IndexError):
            raise ApplyFailed(
                f"series.split {a.target}: malformed changes (need until, successor_series, successor_staff, "
                "successor_start); nothing was changed"
            ) from None
        row = conn.execute(select(series_t).where(series_t.c.id == a.target)).mappings().first()
        until_cond = series_t.c.until.is_(None) if old_until is None else series_t.c.until == _datetime(old_until)
        n = conn.execute(
            update(series_t)
            .where(series_t.c.id == a.target, series_t.c.active.is_(True), until_cond)
            .values(until=_datetime(cutoff))
        ).rowcount
        if row is None or n != 1:
            raise ApplyFailed(
                f"series.split {a.target}: the row no longer holds what the plan saw ({_before_text(ch)}); "
                "the apply was rolled back and nothing was changed - re-run plan"
            )
        if conn.execute(select(series_t.c.id).where(series_t.c.id == new_id)).first() is not None:
            raise ApplyFailed(
                f"series.split {a.target}: series {new_id} already exists; the apply was rolled back "
                "and nothing was changed - re-run plan"
            )
        conn.execute(
            insert(series_t),
            [
                {
                    "id": new_id,
                    "client_id": row["client_id"],
                    "staff_id": to,
                    "rrule": row["rrule"],
                    "start_at": first,
                    "duration_minutes": row["duration_minutes"],
                    "until": _datetime(old_until),
                    "active": True,
                }
            ],
        )
        total += n
    return total


def write_clients(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Reassign, inactivate, reactivate, mark duplicate or soft-delete clients still as planned."""
    return _conditional_update(conn, clients_t, CLIENT_COLS, actions)


def write_client_purge(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Remove soft-deleted clients with their appointments and series.

    Only rows still ``deleted`` with the planned ``deleted_at`` go; the audit trail
    (written by the executor) keeps their ids.
    """
    total = 0
    for batch in _group_by_changes(actions):
        changes, ids = batch.changes, batch.ids
        when = _datetime(changes.get("deleted_at", (None, None))[0])
        if changes.get("exists") != (True, False) or when is None:
            raise ApplyFailed(
                f"client.purge {ids[0]}: malformed changes (need deleted_at [when, null] and "
                "exists [true, false]); nothing was changed"
            )
        cond = and_(clients_t.c.status == "deleted", clients_t.c.deleted_at == when)
        for chunk in _chunks(ids):
            matched = set(
                conn.execute(
                    select(clients_t.c.id).where(clients_t.c.id.in_(chunk), cond).order_by(clients_t.c.id)
                ).scalars()
            )
            stale = sorted(set(chunk) - matched)
            if stale:
                raise ApplyFailed(
                    f"{_describe(batch.kind, stale)}: the client is no longer deleted as the plan saw; "
                    "the apply was rolled back and nothing was changed - re-run plan"
                )
            series_ids = select(series_t.c.id).where(series_t.c.client_id.in_(chunk))
            # Appointments first (they reference series and clients), then series, then the client.
            conn.execute(
                delete(appointments_t).where(
                    appointments_t.c.client_id.in_(chunk) | appointments_t.c.series_id.in_(series_ids)
                )
            )
            conn.execute(delete(series_t).where(series_t.c.client_id.in_(chunk)))
            n = conn.execute(delete(clients_t).where(clients_t.c.id.in_(chunk), cond)).rowcount
            if n != len(chunk):
                raise ApplyFailed(
                    f"{_describe(batch.kind, list(chunk))}: purge removed {n} of {len(chunk)} rows; "
                    "the apply was rolled back and nothing was changed"
                )
            total += n
    return total


def write_nothing(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """``export.write``: the executor writes export files before the first database
    write; there is nothing to do in the database."""
    return len(actions)


WRITERS: Mapping[ActionType, Writer] = {
    ActionType.PRACTICE_UPDATE: write_practice_update,
    ActionType.STAFF_CREATE: write_staff_create,
    ActionType.STAFF_UPDATE: write_staff_update,
    ActionType.STAFF_SCHEDULE_DEACTIVATION: write_staff_schedule_deactivation,
    ActionType.STAFF_DEACTIVATE: write_staff_deactivate,
    ActionType.STAFF_REACTIVATE: write_staff_reactivate,
    ActionType.APPOINTMENT_CANCEL: write_appointments,
    ActionType.APPOINTMENT_TRANSFER: write_appointments,
    ActionType.APPOINTMENT_RESTORE: write_appointments,
    ActionType.SERIES_END: write_series,
    ActionType.SERIES_TRANSFER: write_series,
    ActionType.SERIES_SPLIT: write_series_split,
    ActionType.SERIES_RESTORE: write_series,
    ActionType.CLIENT_REASSIGN: write_clients,
    ActionType.CLIENT_INACTIVATE: write_clients,
    ActionType.CLIENT_REACTIVATE: write_clients,
    ActionType.CLIENT_MARK_DUPLICATE: write_clients,
    ActionType.CLIENT_DELETE: write_clients,
    ActionType.CLIENT_PURGE: write_client_purge,
    ActionType.EXPORT_WRITE: write_nothing,
}


def writer_groups(actions: Sequence[Action]) -> list[list[Action]]:
    """Split the plan's actions, in order, into the runs one writer call applies.

    A run is a maximal stretch of consecutive actions that share a writer (e.g.
    ``client.reassign`` and ``client.inactivate`` both go through the client
    writer) and name distinct targets. Actions on distinct rows of one table
    commute, so writing such a run set-based is the same as writing it in plan
    order; a target named again starts a new run, so its writes stay ordered.
    """
    runs: list[list[Action]] = []
    targets: set[str] = set()
    for a in actions:
        if runs and WRITERS[a.type] is WRITERS[runs[-1][0].type] and a.target not in targets:
            runs[-1].append(a)
        else:
            runs.append([a])
            targets = set()
        targets.add(a.target)
    return runs


def write_group(conn: Connection, actions: Sequence[Action], ctx: WriteContext) -> int:
    """Apply one run of :func:`writer_groups` with its writer; returns the rows written."""
    writer = WRITERS[actions[0].type]
    assert all(WRITERS[a.type] is writer for a in actions), "write_group takes actions of one writer"
    return writer(conn, actions, ctx)
