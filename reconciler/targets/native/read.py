"""Reading the actual state: the edge between the database and the pure planner.

Two phases: the practice row and the whole staff table (small) first; from them
and the desired state, :func:`reconciler.planner.scope.read_scope` says which clients,
appointments and series the plan needs; then one set-based, indexed query per set.
Every query has an ORDER BY, large ``IN`` lists are chunked, naive-UTC database
times become aware UTC, and client names are never selected.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from reconciler.model.actual import (
    ActualState,
    Appointment,
    Client,
    Practice,
    Series,
    Staff,
)
from reconciler.planner.scope import ReadScope
from reconciler.timeutil import UTC, naive_utc

if TYPE_CHECKING:  # pragma: no cover
    import sqlite3

    import psycopg
    from sqlalchemy.engine import Connection

#: Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
CHUNK = 500


class Rows:
    """Statements with ``?`` parameters, run on one connection, rows as tuples.

    The reads are plain SQL on the DB-API level, so that ``plan`` on a SQLite file can
    run them on the standard library's sqlite3 without importing SQLAlchemy
    (:mod:`reconciler.targets.native.lite`); on a SQLAlchemy connection (PostgreSQL,
    the apply transaction) they go through ``exec_driver_sql``. Values come back as the
    driver returns them: SQLite's times, dates and JSON as text, PostgreSQL's as objects.
    """

    def __init__(self, run: Callable[[str, tuple[Any, ...]], list[Any]], *, qmark: bool, text_times: bool) -> None:
        self._run = run
        self._qmark = qmark
        self._text_times = text_times

    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._run(self.statement(sql), tuple(params))

    def statement(self, sql: str) -> str:
        """``sql`` as this connection's driver is given it."""
        return sql if self._qmark else format_style(sql)

    def time(self, value: dt.datetime) -> Any:
        """A bound value for a naive-UTC DateTime column, as SQLAlchemy stores it
        (SQLite compares the text: the same format, microseconds included)."""
        naive = naive_utc(value)
        return naive.isoformat(" ", "microseconds") if self._text_times else naive


def format_style(sql: str) -> str:
    """``sql`` with ``?`` parameters for a driver of the ``format``/``pyformat`` style
    (psycopg): ``%s`` each, a literal ``%`` doubled. The statements here hold no ``?``
    other than parameters (no string literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


def sa_rows(conn: "Connection") -> Rows:
    """:class:`Rows` on a SQLAlchemy connection (its transaction, its driver)."""
    dialect = conn.dialect
    if dialect.paramstyle not in ("qmark", "format", "pyformat"):
        raise ValueError(f"the native target's reads need a qmark or format driver, not {dialect.paramstyle}")

    def run(sql: str, params: tuple[Any, ...]) -> list[Any]:
        return list(conn.exec_driver_sql(sql, params).all())

    return Rows(run, qmark=dialect.paramstyle == "qmark", text_times=dialect.name == "sqlite")


def sqlite_rows(raw: "sqlite3.Connection") -> Rows:
    """:class:`Rows` on a standard-library sqlite3 connection (its transaction)."""
    return Rows(lambda sql, params: raw.execute(sql, params).fetchall(), qmark=True, text_times=True)


def psycopg_rows(raw: "psycopg.Connection[Any]") -> Rows:
    """:class:`Rows` on a psycopg connection of its own (its transaction); always with a
    parameter tuple, so that psycopg reads the ``%%`` of :func:`format_style` as ``%``."""
    return Rows(lambda sql, params: raw.execute(sql, params).fetchall(), qmark=False, text_times=False)


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


def _date(value: dt.date | str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# No first_name / last_name: the planner never sees PHI.
_CLIENT_COLS = "id, status, primary_id, balance_cents, portal_access, duplicate_of, deleted_at"
_APPT_COLS = "id, client_id, staff_id, start_at, end_at, status, series_id, cancel_reason, telehealth"
_SERIES_COLS = "id, client_id, staff_id, rrule, start_at, duration_minutes, until, active"
_PRACTICE_COLS = (
    "name, timezone, owner_id, clinical_director_id, client_plan_limit, seat_price_cents, billing_cycle_day"
)
_STAFF_COLS = "id, name, role, access, active, billing_role, deactivate_on, deactivated_at, settings, max_caseload"


def _in(column: str, chunk: Sequence[Any]) -> str:
    return f"{column} IN ({', '.join('?' * len(chunk))})"


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


def read_base(rows: Rows) -> tuple[Practice | None, dict[str, Staff]]:
    """The practice row (None if missing) and every staff row, by id."""
    prows = rows(f"SELECT {_PRACTICE_COLS} FROM practice ORDER BY id LIMIT 1")
    practice = None
    if prows:
        name, timezone, owner, director, plan_limit, seat_price, cycle_day = prows[0]
        practice = Practice(
            name=name,
            timezone=timezone,
            owner=owner,
            clinical_director=director,
            client_plan_limit=plan_limit,
            seat_price_cents=seat_price,
            billing_cycle_day=cycle_day or 1,
        )
    staff: dict[str, Staff] = {}
    for sid, name, role, access, active, billing, leave_on, left_at, settings, caseload in rows(
        f"SELECT {_STAFF_COLS} FROM staff ORDER BY id"
    ):
        staff[sid] = Staff(
            id=sid,
            name=name,
            role=role,
            access=access,
            active=bool(active),
            billing_role=billing,
            deactivate_on=_date(leave_on),
            deactivated_at=_aware(left_at),
            settings=dict(_json(settings) or {}),
            max_caseload=caseload,
        )
    return practice, staff


def _clients(rows: Rows, where: str, params: Sequence[Any], out: dict[str, Client]) -> None:
    for cid, status, primary, balance, portal, duplicate_of, deleted_at in rows(
        f"SELECT {_CLIENT_COLS} FROM clients WHERE {where} ORDER BY id", params
    ):
        out[cid] = Client(
            id=cid,
            status=status,
            primary=primary,
            balance_cents=int(balance or 0),
            portal_access=bool(portal),
            duplicate_of=duplicate_of,
            deleted_at=_aware(deleted_at),
        )


def _appointment_rows(rows: Rows, where: str, params: Sequence[Any], out: dict[str, Appointment]) -> None:
    # Rows unpack as tuples: a leaver's read is thousands of rows, and attribute
    # look-ups add up.
    for aid, client, staff, start, end, status, series, reason, telehealth in rows(
        f"SELECT {_APPT_COLS} FROM appointments WHERE {where} ORDER BY id", params
    ):
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


def _appointments(
    rows: Rows,
    staff_ids: Sequence[str],
    since: dt.datetime,
    out: dict[str, Appointment],
    *,
    by: str = "staff_id",
) -> None:
    """``scheduled`` appointments at/after ``since`` whose ``by`` column (staff, or client) is in ids."""
    bound = rows.time(since)
    for chunk in _chunks(staff_ids):
        where = f"{_in(by, chunk)} AND status = ? AND start_at >= ?"
        _appointment_rows(rows, where, (*chunk, "scheduled", bound), out)


def _series_rows(rows: Rows, where: str, params: Sequence[Any], out: dict[str, Series]) -> None:
    for sid, client, staff, rrule, start, minutes, until, active in rows(
        f"SELECT {_SERIES_COLS} FROM series WHERE {where} ORDER BY id", params
    ):
        out[sid] = Series(
            id=sid,
            client=client,
            staff=staff,
            rrule=rrule,
            start=_req(start),
            duration_minutes=int(minutes),
            until=_AWARE[until],
            active=bool(active),
        )


def _series(rows: Rows, staff_ids: Sequence[str], out: dict[str, Series], *, by: str = "staff_id") -> None:
    """Active series whose ``by`` column (staff, or client) is in ids."""
    for chunk in _chunks(staff_ids):
        _series_rows(rows, f"{_in(by, chunk)} AND active = ?", (*chunk, True), out)


def _caseloads(rows: Rows, staff_ids: Sequence[str]) -> dict[str, int]:
    out = {sid: 0 for sid in staff_ids}
    for chunk in _chunks(staff_ids):
        for sid, n in rows(
            f"SELECT primary_id, count(*) FROM clients WHERE status = ? AND {_in('primary_id', chunk)} "
            "GROUP BY primary_id ORDER BY primary_id",
            ("active", *chunk),
        ):
            out[sid] = int(n)
    return out


def read_sets(rows: Rows, scope: ReadScope, practice: Practice | None, staff: dict[str, Staff]) -> ActualState:
    """Phase two: the rows ``scope`` names, given the already read practice and staff."""
    clients: dict[str, Client] = {}
    for chunk in _chunks(scope.now_staff):
        _clients(rows, f"{_in('primary_id', chunk)} AND status = ?", (*chunk, "active"), clients)
    for chunk in _chunks(scope.client_ids):
        _clients(rows, _in("id", chunk), chunk, clients)
    _clients(rows, "primary_id IS NULL AND status = ?", ("active",), clients)
    if scope.purge_before is not None:
        due: dict[str, Client] = {}
        _clients(rows, "status = ? AND deleted_at < ?", ("deleted", rows.time(scope.purge_before)), due)
        clients.update(due)
        # A client still marked a duplicate of a purge candidate keeps it (duplicate_of is a
        # foreign key, and the link is history): read those too, whatever the config names.
        # Only queried when something is due, which is rare.
        for chunk in _chunks(sorted(due)):
            _clients(rows, _in("duplicate_of", chunk), chunk, clients)
    appointments: dict[str, Appointment] = {}
    _appointments(rows, scope.now_staff, scope.at, appointments)
    by_instant: dict[dt.datetime, list[str]] = {}
    for sid, instant in scope.scheduled_staff:
        by_instant.setdefault(instant, []).append(sid)
    for instant in sorted(by_instant):
        _appointments(rows, sorted(by_instant[instant]), instant, appointments)
    # Bookings of clients the config closes (ix_appointments_client, ix_series_client):
    # the same rows may also be in the staff sets above; keyed by id, they are read once.
    _appointments(rows, scope.closing_clients, scope.at, appointments, by="client_id")
    series: dict[str, Series] = {}
    _series(rows, sorted(set(scope.now_staff) | {s for s, _ in scope.scheduled_staff}), series)
    _series(rows, scope.closing_clients, series, by="client_id")
    ((active_total,),) = rows("SELECT count(*) FROM clients WHERE status = ?", ("active",))
    return ActualState(
        practice=practice,
        staff=staff,
        clients={k: clients[k] for k in sorted(clients)},
        appointments={k: appointments[k] for k in sorted(appointments)},
        series={k: series[k] for k in sorted(series)},
        caseloads=_caseloads(rows, scope.caseload_staff),
        active_client_total=int(active_total),
        active_staff_total=sum(1 for s in staff.values() if s.active),
    )


def read_scoped(rows: Rows, scope: ReadScope) -> ActualState:
    """Re-read exactly the rows of a saved plan's scope (``apply`` recomputes the
    fingerprint from this inside its locked transaction)."""
    practice, staff = read_base(rows)
    return read_sets(rows, scope, practice, staff)


#: The data-flow name (ARCHITECTURE.md): ``read_actual(rows, scope) -> ActualState``.
read_actual = read_scoped


def read_by_id(
    rows: Rows, appointment_ids: Sequence[str], series_ids: Sequence[str], client_ids: Sequence[str]
) -> tuple[dict[str, Appointment], dict[str, Series], dict[str, Client]]:
    """Rows by id whatever their state (``revert`` compares them with an old plan's after values)."""
    clients: dict[str, Client] = {}
    for chunk in _chunks(client_ids):
        _clients(rows, _in("id", chunk), chunk, clients)
    appts: dict[str, Appointment] = {}
    for chunk in _chunks(appointment_ids):
        _appointment_rows(rows, _in("id", chunk), chunk, appts)
    series: dict[str, Series] = {}
    for chunk in _chunks(series_ids):
        _series_rows(rows, _in("id", chunk), chunk, series)
    return appts, series, clients


def database_id(rows: Rows, *, has_meta: bool) -> str | None:
    """The database's random identity (``reconciler_meta.db_id``), or None for a
    database made without the migrations (tests' ``metadata.create_all``)."""
    if not has_meta:
        return None
    found = rows("SELECT value FROM reconciler_meta WHERE key = ? ORDER BY key", ("db_id",))
    return str(found[0][0]) if found and found[0][0] is not None else None
