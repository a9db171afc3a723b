"""The reads and inserts of the native target outside planning: exports, import,
status, validation facts, the deletion actor, the audit trail. Every query has an
ORDER BY; no client name is selected except by the export reads (PHI)."""

from __future__ import annotations

import datetime as dt
from operator import itemgetter
from typing import Any, Sequence

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.engine import Connection, Row

from reconciler.errors import ExportError, NoPractice
from reconciler.model.actual import Client
from reconciler.model.records import (
    AuditFilter,
    ComplianceFacts,
    DbFacts,
    ExportData,
    Imported,
    StaffAccess,
    StatusFacts,
)
from reconciler.targets.native.bulkload import column_converter, copy_psycopg
from reconciler.targets.native.read import read_base, sa_rows
from reconciler.targets.native.schema import (
    appointments_t,
    audit_t,
    clients_t,
    practice_t,
    series_t,
    staff_t,
)
from reconciler.timeutil import naive_utc

# Ids per IN (...) query: far below SQLite's and PostgreSQL's bind-parameter limits.
_CHUNK = 500


# ---------------------------------------------------------------- exports
def _staff_rows(conn: Connection, ids: set[str]) -> list[Row[Any]]:
    if not ids:
        return []
    rows = conn.execute(
        select(staff_t.c.id, staff_t.c.name, staff_t.c.active, staff_t.c.role)
        .where(staff_t.c.id.in_(sorted(ids)))
        .order_by(staff_t.c.id)
    ).all()
    return list(rows)  # type: ignore[arg-type]


def _referenced_staff(clients: Sequence[Row[Any]], appointments: Sequence[Row[Any]], *extra: str) -> set[str]:
    ids = {c.primary_id for c in clients if c.primary_id} | {a.staff_id for a in appointments} | set(extra)
    return {i for i in ids if i}


def collect_staff(conn: Connection, staff_id: str) -> ExportData:
    """A professional's clients (primary or with an appointment) and their appointments."""
    if conn.execute(select(staff_t.c.id).where(staff_t.c.id == staff_id)).first() is None:
        raise ExportError(f"staff {staff_id}: no such staff member; nothing was exported")
    with_sessions = select(appointments_t.c.client_id).where(appointments_t.c.staff_id == staff_id)
    clients = list(
        conn.execute(
            select(clients_t)
            .where(
                or_(
                    clients_t.c.primary_id == staff_id,
                    clients_t.c.id.in_(with_sessions),
                )
            )
            .order_by(clients_t.c.id)
        ).all()
    )
    appts = list(
        conn.execute(
            select(appointments_t)
            .where(appointments_t.c.staff_id == staff_id)
            .order_by(
                appointments_t.c.client_id,
                appointments_t.c.start_at,
                appointments_t.c.id,
            )
        ).all()
    )
    return ExportData(_staff_rows(conn, _referenced_staff(clients, appts, staff_id)), clients, appts)


def collect_client(conn: Connection, client_id: str) -> ExportData:
    """One client and all of the client's appointments (the export before a deletion)."""
    clients = list(conn.execute(select(clients_t).where(clients_t.c.id == client_id)).all())
    if not clients:
        raise ExportError(f"client {client_id}: no such client; nothing was exported")
    appts = list(
        conn.execute(
            select(appointments_t)
            .where(appointments_t.c.client_id == client_id)
            .order_by(appointments_t.c.start_at, appointments_t.c.id)
        ).all()
    )
    return ExportData(_staff_rows(conn, _referenced_staff(clients, appts)), clients, appts)


# ---------------------------------------------------------------- import
def read_for_import(conn: Connection) -> Imported:
    """One ordered read of what the config must describe (no client names are selected)."""
    practice, staff_by_id = read_base(sa_rows(conn))
    crows = conn.execute(
        select(
            clients_t.c.id,
            clients_t.c.status,
            clients_t.c.primary_id,
            clients_t.c.duplicate_of,
        )
        .where(clients_t.c.status != "active")
        .order_by(clients_t.c.id)
    ).all()
    active_staff = select(staff_t.c.id).where(staff_t.c.active.is_(True))
    orphans = (
        conn.execute(
            select(clients_t.c.id)
            .where(
                and_(
                    clients_t.c.status == "active",
                    or_(
                        clients_t.c.primary_id.is_(None),
                        clients_t.c.primary_id.not_in(active_staff),
                    ),
                )
            )
            .order_by(clients_t.c.id)
        )
        .scalars()
        .all()
    )
    staff = tuple(staff_by_id[k] for k in sorted(staff_by_id))
    clients = tuple(Client(id=r.id, status=r.status, primary=r.primary_id, duplicate_of=r.duplicate_of) for r in crows)
    return Imported(practice, staff, clients, tuple(orphans))


# ---------------------------------------------------------------- validation
def read_db_facts(conn: Connection, client_ids: list[str]) -> DbFacts:
    """The practice timezone, all staff ids and which of ``client_ids`` exist."""
    practice, staff_rows = read_base(sa_rows(conn))
    tz = practice.timezone if practice is not None else None
    staff = {sid: row.active for sid, row in staff_rows.items()}
    found: set[str] = set()
    for start in range(0, len(client_ids), _CHUNK):
        chunk = client_ids[start : start + _CHUNK]
        found.update(
            conn.execute(select(clients_t.c.id).where(clients_t.c.id.in_(chunk)).order_by(clients_t.c.id)).scalars()
        )
    return DbFacts(tz, staff, frozenset(found))


# ---------------------------------------------------------------- status
def read_status(conn: Connection) -> StatusFacts:
    """A handful of set-based, ordered queries; raises DatabaseError without a practice."""
    practice = conn.execute(select(practice_t).order_by(practice_t.c.id).limit(1)).mappings().first()
    if practice is None:
        raise NoPractice()
    # Caseload = active clients whose primary is the staff member: one grouped join.
    caseload = (
        select(clients_t.c.primary_id.label("sid"), func.count().label("n"))
        .where(clients_t.c.status == "active")
        .group_by(clients_t.c.primary_id)
        .subquery()
    )
    staff_rows = (
        conn.execute(
            select(
                staff_t.c.id,
                staff_t.c.role,
                staff_t.c.access,
                staff_t.c.max_caseload,
                staff_t.c.deactivate_on,
                func.coalesce(caseload.c.n, 0).label("caseload"),
            )
            .select_from(staff_t.outerjoin(caseload, caseload.c.sid == staff_t.c.id))
            .where(staff_t.c.active.is_(True))
            .order_by(staff_t.c.id)
        )
        .mappings()
        .all()
    )
    inactive_staff = conn.execute(
        select(func.count()).select_from(staff_t).where(staff_t.c.active.is_(False))
    ).scalar_one()
    unassigned = (
        conn.execute(
            select(clients_t.c.id)
            .where(clients_t.c.status == "active", clients_t.c.primary_id.is_(None))
            .order_by(clients_t.c.id)
        )
        .scalars()
        .all()
    )
    # Active clients whose primary has left drop out of that professional's reports
    # just like unassigned ones: drift worth seeing.
    orphaned = (
        conn.execute(
            select(clients_t.c.id, clients_t.c.primary_id)
            .select_from(clients_t.join(staff_t, staff_t.c.id == clients_t.c.primary_id))
            .where(clients_t.c.status == "active", staff_t.c.active.is_(False))
            .order_by(clients_t.c.id)
        )
        .mappings()
        .all()
    )
    by_status = {
        status: int(n)
        for status, n in conn.execute(
            select(clients_t.c.status, func.count()).group_by(clients_t.c.status).order_by(clients_t.c.status)
        )
    }
    deleted = (
        conn.execute(
            select(clients_t.c.id, clients_t.c.deleted_at)
            .where(clients_t.c.status == "deleted")
            .order_by(clients_t.c.deleted_at, clients_t.c.id)
        )
        .mappings()
        .all()
    )
    last = (
        conn.execute(
            select(audit_t.c.plan_id, audit_t.c.at, audit_t.c.actor)
            .order_by(audit_t.c.at.desc(), audit_t.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    last_apply: dict[str, Any] | None = None
    if last is not None:
        n_events = conn.execute(
            select(func.count()).select_from(audit_t).where(audit_t.c.plan_id == last["plan_id"])
        ).scalar_one()
        last_apply = {
            "plan_id": last["plan_id"],
            "at": last["at"],
            "actor": last["actor"],
            "actions": int(n_events),
        }
    return StatusFacts(
        dict(practice),
        [dict(r) for r in staff_rows],
        int(inactive_staff),
        list(unassigned),
        [dict(r) for r in orphaned],
        by_status,
        [dict(r) for r in deleted],
        last_apply,
    )


# ---------------------------------------------------------------- compliance (SPEC §7.3)
def read_compliance(conn: Connection, at: dt.datetime) -> ComplianceFacts:
    """What inactive staff still hold at ``at`` (naive UTC, the storage convention)."""
    inactive = select(staff_t.c.id).where(staff_t.c.active.is_(False))
    sessions = conn.execute(
        select(appointments_t.c.staff_id, appointments_t.c.id)
        .where(
            appointments_t.c.staff_id.in_(inactive),
            appointments_t.c.status == "scheduled",
            appointments_t.c.start_at >= at,
        )
        .order_by(appointments_t.c.staff_id, appointments_t.c.id)
    ).all()
    series = conn.execute(
        select(series_t.c.staff_id, series_t.c.id)
        .where(
            series_t.c.staff_id.in_(inactive),
            series_t.c.active.is_(True),
            or_(series_t.c.until.is_(None), series_t.c.until > at),
        )
        .order_by(series_t.c.staff_id, series_t.c.id)
    ).all()
    clients = conn.execute(
        select(clients_t.c.primary_id, clients_t.c.id)
        .where(clients_t.c.primary_id.in_(inactive), clients_t.c.status == "active")
        .order_by(clients_t.c.primary_id, clients_t.c.id)
    ).all()
    return ComplianceFacts(
        [(r[0], r[1]) for r in sessions],
        [(r[0], r[1]) for r in series],
        [(r[0], r[1]) for r in clients],
    )


# ---------------------------------------------------------------- deletion actor
def staff_access(conn: Connection, staff_id: str) -> StaffAccess | None:
    row = conn.execute(
        select(staff_t.c.id, staff_t.c.role, staff_t.c.access, staff_t.c.active).where(staff_t.c.id == staff_id)
    ).first()
    return None if row is None else StaffAccess(row.id, row.role, row.access, bool(row.active))


# ---------------------------------------------------------------- audit
def insert_audit(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert the events in the caller's transaction, stored exactly as
    ``conn.execute(insert(audit_t), rows)`` stores them, by the fastest path each
    backend offers.

    The values go through each column type's own bind processor here
    (:func:`~.bulkload.column_converter`, as the bulk load's raw paths do), then on
    SQLite one DB-API ``executemany`` runs the compiled INSERT (SQLAlchemy's per-row
    parameter handling was most of inserting an apply's ten thousand events), and on
    PostgreSQL (psycopg) they go in with ``COPY`` (psycopg's ``executemany`` sends one
    INSERT per event: a large apply's audit trail took a second or two that way)."""
    if not rows:
        return 0
    keys = rows[0].keys()
    dialect = conn.dialect
    sqlite = dialect.name == "sqlite" and dialect.paramstyle == "qmark"
    copy = dialect.name == "postgresql" and dialect.driver == "psycopg" and set(keys) <= _AUDIT_COPY_COLUMNS
    if not (sqlite or copy) or len(keys) < 2 or any(r.keys() != keys for r in rows):
        conn.execute(insert(audit_t), rows)  # ragged rows and the rest: SQLAlchemy sorts them out
        return len(rows)
    if copy:
        names = list(keys)  # the id, left out, numbers the rows in the order they come: the chain's order
    else:
        compiled = insert(audit_t).compile(dialect=dialect, column_keys=list(keys))
        names = list(compiled.positiontup or ())
        if sorted(names) != sorted(keys):  # e.g. a column default SQLAlchemy would fill in
            conn.execute(insert(audit_t), rows)
            return len(rows)
    convert = column_converter([audit_t.c[name] for name in names], dialect)
    tuples = list(map(itemgetter(*names), rows))
    if copy:
        copy_psycopg(conn, audit_t, tuples, convert, lambda _n: None, names)
    else:
        conn.exec_driver_sql(compiled.string, convert(tuples))
    return len(rows)


_AUDIT_COPY_COLUMNS = frozenset(c.name for c in audit_t.columns) - {"id"}


def audit_head(conn: Connection) -> str:
    """The ``hash`` of the newest event (the chain's head), or the genesis hash."""
    from reconciler.security.chain import GENESIS

    head = conn.execute(select(audit_t.c.hash).order_by(audit_t.c.id.desc()).limit(1)).scalar()
    return str(head) if head is not None else GENESIS


def audit_has_plan(conn: Connection, plan_id: str) -> bool:
    """Whether any audit event names ``plan_id`` (the plan was applied)."""
    return conn.execute(select(audit_t.c.id).where(audit_t.c.plan_id == plan_id).limit(1)).first() is not None


_CHAIN_BATCH = 2000


def iter_audit_chain(conn: Connection) -> Any:
    """Every event's chained fields, oldest first (id order), read in keyset-paginated
    batches so that a trail of millions of events is never held in memory."""
    cols = (
        audit_t.c.id,
        audit_t.c.at,
        audit_t.c.actor,
        audit_t.c.signer,
        audit_t.c.plan_id,
        audit_t.c.action_type,
        audit_t.c.target,
        audit_t.c.before,
        audit_t.c.after,
        audit_t.c.prev_hash,
        audit_t.c.hash,
    )
    last: int | None = None
    while True:
        stmt = select(*cols).order_by(audit_t.c.id).limit(_CHAIN_BATCH)
        if last is not None:
            stmt = stmt.where(audit_t.c.id > last)
        rows = conn.execute(stmt).mappings().all()
        if not rows:
            return
        for r in rows:
            yield dict(r)
        last = rows[-1]["id"]


def read_audit_rows(conn: Connection, where: AuditFilter | None) -> list[Any]:
    """Audit events oldest first, filtered in SQL (indexes of migration 0005)."""
    stmt = select(audit_t).order_by(audit_t.c.id)
    f = where or AuditFilter()
    for value, col in (
        (f.plan_id, audit_t.c.plan_id),
        (f.staff, audit_t.c.staff_id),
        (f.client, audit_t.c.client_id),
        (f.actor, audit_t.c.actor),
        (f.type, audit_t.c.action_type),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if f.since is not None:
        stmt = stmt.where(audit_t.c.at >= naive_utc(f.since))
    if f.until is not None:
        stmt = stmt.where(audit_t.c.at < naive_utc(f.until))
    return list(conn.execute(stmt).all())


__all__ = [
    "audit_has_plan",
    "audit_head",
    "collect_client",
    "collect_staff",
    "insert_audit",
    "iter_audit_chain",
    "read_audit_rows",
    "read_db_facts",
    "read_compliance",
    "read_for_import",
    "read_status",
    "staff_access",
    "dt",
]
