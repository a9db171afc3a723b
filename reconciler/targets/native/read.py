"""Reading the actual state: the edge between the database and the pure planner.

Two phases: the practice row and the whole staff table (small) first; from them
and the desired state, :func:`reconciler.planner.scope.read_scope` says which clients,
appointments and series the plan needs; then one set-based, indexed query per set.
Every query has an ORDER BY, large ``IN`` lists are chunked, naive-UTC database
times become aware UTC, and client names are never selected.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator, Sequence

from sqlalchemy import String, and_, func, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from reconciler.model.actual import (
    ActualState,
    Appointment,
    Client,
    Practice,
    Series,
    Staff,
)
from reconciler.planner.scope import ReadScope
from reconciler.targets.native.schema import (
    appointments_t,
    clients_t,
    practice_t,
    series_t,
    staff_t,
)
from reconciler.timeutil import UTC, naive_utc

#: Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
CHUNK = 500


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    """Aware UTC from a naive-UTC database value (a datetime, or SQLite's ISO text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _AwareMemo(dict[Any, "dt.datetime | None"]):
    """:func:`_aware` by value: scheduled sessions fall on a few hundred slots, so a
    read of thousands of appointments parses each distinct time once. Bounded."""

    def __missing__(self, value: Any) -> dt.datetime | None:
        if len(self) >= 65_536:
            self.clear()
        out = self[value] = _aware(value)
        return out


_AWARE = _AwareMemo()


def _req(value: dt.datetime | str) -> dt.datetime:
    out = _AWARE[value]
    assert out is not None
    return out


def _raw_time(col: ColumnElement[Any]) -> ColumnElement[Any]:
    # SQLite keeps DateTime as ISO text; SQLAlchemy parses it with a regex per value,
    # datetime.fromisoformat (in _aware) is several times faster. PostgreSQL's driver
    # returns datetime objects either way.
    return type_coerce(col, String).label(col.key)


_CLIENT_COLS = (
    clients_t.c.id,
    clients_t.c.status,
    clients_t.c.primary_id,
    clients_t.c.balance_cents,
    clients_t.c.portal_access,
    clients_t.c.duplicate_of,
    _raw_time(clients_t.c.deleted_at),
)  # no first_name / last_name: the planner never sees PHI
_APPT_COLS = (
    appointments_t.c.id,
    appointments_t.c.client_id,
    appointments_t.c.staff_id,
    _raw_time(appointments_t.c.start_at),
    _raw_time(appointments_t.c.end_at),
    appointments_t.c.status,
    appointments_t.c.series_id,
    appointments_t.c.cancel_reason,
    appointments_t.c.telehealth,
)
_SERIES_COLS = (
    series_t.c.id,
    series_t.c.client_id,
    series_t.c.staff_id,
    series_t.c.rrule,
    _raw_time(series_t.c.start_at),
    series_t.c.duration_minutes,
    _raw_time(series_t.c.until),
    series_t.c.active,
)


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


def read_base(conn: Connection) -> tuple[Practice | None, dict[str, Staff]]:
    """The practice row (None if missing) and every staff row, by id."""
    prow = conn.execute(select(practice_t).order_by(practice_t.c.id).limit(1)).mappings().first()
    practice = None
    if prow is not None:
        practice = Practice(
            name=prow["name"],
            timezone=prow["timezone"],
            owner=prow["owner_id"],
            clinical_director=prow["clinical_director_id"],
            client_plan_limit=prow["client_plan_limit"],
            seat_price_cents=prow["seat_price_cents"],
            billing_cycle_day=prow["billing_cycle_day"] or 1,
        )
    staff: dict[str, Staff] = {}
    for r in conn.execute(select(staff_t).order_by(staff_t.c.id)).mappings():
        staff[r["id"]] = Staff(
            id=r["id"],
            name=r["name"],
            role=r["role"],
            access=r["access"],
            active=bool(r["active"]),
            billing_role=r["billing_role"],
            deactivate_on=r["deactivate_on"],
            deactivated_at=_aware(r["deactivated_at"]),
            settings=dict(r["settings"] or {}),
            max_caseload=r["max_caseload"],
        )
    return practice, staff


def _clients(conn: Connection, where: ColumnElement[bool], out: dict[str, Client]) -> None:
    for r in conn.execute(select(*_CLIENT_COLS).where(where).order_by(clients_t.c.id)):
        out[r.id] = Client(
            id=r.id,
            status=r.status,
            primary=r.primary_id,
            balance_cents=int(r.balance_cents or 0),
            portal_access=bool(r.portal_access),
            duplicate_of=r.duplicate_of,
            deleted_at=_aware(r.deleted_at),
        )


def _appointments(
    conn: Connection,
    staff_ids: Sequence[str],
    since: dt.datetime,
    out: dict[str, Appointment],
    *,
    by: ColumnElement[Any] = appointments_t.c.staff_id,
) -> None:
    """``scheduled`` appointments at/after ``since`` whose ``by`` column (staff, or client) is in ids."""
    for chunk in _chunks(staff_ids):
        q = (
            select(*_APPT_COLS)
            .where(
                and_(
                    by.in_(chunk), appointments_t.c.status == "scheduled", appointments_t.c.start_at >= naive_utc(since)
                )
            )
            .order_by(appointments_t.c.id)
        )
        # .all() fetches in one call and rows unpack as tuples: a leaver's read is
        # thousands of rows, and per-row fetches and attribute look-ups add up.
        for aid, client, staff, start, end, status, series, reason, telehealth in conn.execute(q).all():
            out[aid] = Appointment(
                id=aid,
                client=client,
                staff=staff,
                start=_req(start),
                end=_req(end),
                status=status,
                series=series,
                cancel_reason=reason,
                telehealth=bool(telehealth),
            )


def _series(
    conn: Connection, staff_ids: Sequence[str], out: dict[str, Series], *, by: ColumnElement[Any] = series_t.c.staff_id
) -> None:
    """Active series whose ``by`` column (staff, or client) is in ids."""
    for chunk in _chunks(staff_ids):
        q = (
            select(*_SERIES_COLS)
            .where(and_(by.in_(chunk), series_t.c.active == True))  # noqa: E712 (SQL, not Python)
            .order_by(series_t.c.id)
        )
        for r in conn.execute(q):
            out[r.id] = Series(
                id=r.id,
                client=r.client_id,
                staff=r.staff_id,
                rrule=r.rrule,
                start=_req(r.start_at),
                duration_minutes=int(r.duration_minutes),
                until=_AWARE[r.until],
                active=bool(r.active),
            )


def _caseloads(conn: Connection, staff_ids: Sequence[str]) -> dict[str, int]:
    out = {sid: 0 for sid in staff_ids}
    for chunk in _chunks(staff_ids):
        q = (
            select(clients_t.c.primary_id, func.count())
            .where(and_(clients_t.c.status == "active", clients_t.c.primary_id.in_(chunk)))
            .group_by(clients_t.c.primary_id)
            .order_by(clients_t.c.primary_id)
        )
        for sid, n in conn.execute(q):
            out[sid] = int(n)
    return out


def read_sets(conn: Connection, scope: ReadScope, practice: Practice | None, staff: dict[str, Staff]) -> ActualState:
    """Phase two: the rows ``scope`` names, given the already read practice and staff."""
    clients: dict[str, Client] = {}
    for chunk in _chunks(scope.now_staff):
        _clients(conn, and_(clients_t.c.primary_id.in_(chunk), clients_t.c.status == "active"), clients)
    for chunk in _chunks(scope.client_ids):
        _clients(conn, clients_t.c.id.in_(chunk), clients)
    _clients(conn, and_(clients_t.c.primary_id.is_(None), clients_t.c.status == "active"), clients)
    if scope.purge_before is not None:
        due: dict[str, Client] = {}
        _clients(
            conn, and_(clients_t.c.status == "deleted", clients_t.c.deleted_at < naive_utc(scope.purge_before)), due
        )
        clients.update(due)
        # A client still marked a duplicate of a purge candidate keeps it (duplicate_of is a
        # foreign key, and the link is history): read those too, whatever the config names.
        # Only queried when something is due, which is rare.
        for chunk in _chunks(sorted(due)):
            _clients(conn, clients_t.c.duplicate_of.in_(chunk), clients)
    appointments: dict[str, Appointment] = {}
    _appointments(conn, scope.now_staff, scope.at, appointments)
    by_instant: dict[dt.datetime, list[str]] = {}
    for sid, instant in scope.scheduled_staff:
        by_instant.setdefault(instant, []).append(sid)
    for instant in sorted(by_instant):
        _appointments(conn, sorted(by_instant[instant]), instant, appointments)
    # Bookings of clients the config closes (ix_appointments_client, ix_series_client):
    # the same rows may also be in the staff sets above; keyed by id, they are read once.
    _appointments(conn, scope.closing_clients, scope.at, appointments, by=appointments_t.c.client_id)
    series: dict[str, Series] = {}
    _series(conn, sorted(set(scope.now_staff) | {s for s, _ in scope.scheduled_staff}), series)
    _series(conn, scope.closing_clients, series, by=series_t.c.client_id)
    active_total = conn.execute(
        select(func.count()).select_from(clients_t).where(clients_t.c.status == "active")
    ).scalar_one()
    return ActualState(
        practice=practice,
        staff=staff,
        clients={k: clients[k] for k in sorted(clients)},
        appointments={k: appointments[k] for k in sorted(appointments)},
        series={k: series[k] for k in sorted(series)},
        caseloads=_caseloads(conn, scope.caseload_staff),
        active_client_total=int(active_total),
        active_staff_total=sum(1 for s in staff.values() if s.active),
    )


def read_scoped(conn: Connection, scope: ReadScope) -> ActualState:
    """Re-read exactly the rows of a saved plan's scope (``apply`` recomputes the
    fingerprint from this inside its locked transaction)."""
    practice, staff = read_base(conn)
    return read_sets(conn, scope, practice, staff)


#: The data-flow name (ARCHITECTURE.md): ``read_actual(conn, scope) -> ActualState``.
read_actual = read_scoped


def read_by_id(
    conn: Connection, appointment_ids: Sequence[str], series_ids: Sequence[str], client_ids: Sequence[str]
) -> tuple[dict[str, Appointment], dict[str, Series], dict[str, Client]]:
    """Rows by id whatever their state (``revert`` compares them with an old plan's after values)."""
    clients: dict[str, Client] = {}
    for chunk in _chunks(client_ids):
        _clients(conn, clients_t.c.id.in_(chunk), clients)
    appts: dict[str, Appointment] = {}
    for chunk in _chunks(appointment_ids):
        for r in conn.execute(select(*_APPT_COLS).where(appointments_t.c.id.in_(chunk)).order_by(appointments_t.c.id)):
            appts[r.id] = Appointment(
                id=r.id,
                client=r.client_id,
                staff=r.staff_id,
                start=_req(r.start_at),
                end=_req(r.end_at),
                status=r.status,
                series=r.series_id,
                cancel_reason=r.cancel_reason,
                telehealth=bool(r.telehealth),
            )
    series: dict[str, Series] = {}
    for chunk in _chunks(series_ids):
        for sr in conn.execute(select(*_SERIES_COLS).where(series_t.c.id.in_(chunk)).order_by(series_t.c.id)):
            series[sr.id] = Series(
                id=sr.id,
                client=sr.client_id,
                staff=sr.staff_id,
                rrule=sr.rrule,
                start=_req(sr.start_at),
                duration_minutes=int(sr.duration_minutes),
                until=_aware(sr.until),
                active=bool(sr.active),
            )
    return appts, series, clients
