"""SQLAlchemy Core tables of the practice database (SPEC §1).

Times are stored as naive UTC ``DateTime`` on every backend (one convention, the
same bytes on SQLite and PostgreSQL); ``reconciler.targets.native`` converts at the edge.
Plain Core ``Table`` objects, not ORM classes: nothing maps rows to objects, and
importing ``sqlalchemy.orm`` costs every command a tenth of a second of start-up.
The Alembic migrations in ``db/migrations`` must match these tables; a test checks
that ``alembic upgrade head`` produces exactly this metadata.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# nullable is spelled out on every column: NOT NULL unless the value is optional.
practice_t = Table(
    "practice",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: one practice per database
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("owner_id", String(64), nullable=True),
    Column("clinical_director_id", String(64), nullable=True),
    Column("client_plan_limit", Integer, nullable=True),
    Column("seat_price_cents", Integer, nullable=True),
    Column("billing_cycle_day", Integer, nullable=False, default=1),
)

staff_t = Table(
    "staff",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("access", String(32), nullable=False),
    Column("billing_role", String(64), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("deactivate_on", Date, nullable=True),
    Column("deactivated_at", DateTime, nullable=True),
    Column("settings", JSON, nullable=True),
    Column("max_caseload", Integer, nullable=True),
)

clients_t = Table(
    "clients",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("first_name", String(200), nullable=False),  # PHI
    Column("last_name", String(200), nullable=False),  # PHI
    Column("status", String(16), nullable=False, default="active"),
    Column("primary_id", String(64), ForeignKey("staff.id"), nullable=True),
    Column("balance_cents", BigInteger, nullable=False, default=0),
    Column("portal_access", Boolean, nullable=False, default=False),
    Column("duplicate_of", String(64), ForeignKey("clients.id"), nullable=True),
    Column("deleted_at", DateTime, nullable=True),
    Index("ix_clients_primary_status", "primary_id", "status"),
    Index("ix_clients_status_deleted_at", "status", "deleted_at"),
    Index("ix_clients_duplicate_of", "duplicate_of"),  # purge: who still points here
)

series_t = Table(
    "series",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(64), ForeignKey("clients.id"), nullable=False),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False),
    Column("rrule", Text, nullable=False),
    Column("start_at", DateTime, nullable=False),
    Column("duration_minutes", Integer, nullable=False, default=50),
    Column("until", DateTime, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Index("ix_series_staff_active", "staff_id", "active"),
    Index("ix_series_client", "client_id"),
)

appointments_t = Table(
    "appointments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(64), ForeignKey("clients.id"), nullable=False),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False),
    Column("start_at", DateTime, nullable=False),
    Column("end_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False, default="scheduled"),
    Column("series_id", String(64), ForeignKey("series.id"), nullable=True),
    Column("cancel_reason", Text, nullable=True),
    Column("telehealth", Boolean, nullable=False, default=False),
    Index("ix_appointments_staff_status_start", "staff_id", "status", "start_at"),
    Index("ix_appointments_client", "client_id"),
    Index("ix_appointments_series", "series_id"),
)

#: Append-only and hash-chained (SPEC §7.1): never updated or deleted. ``at`` is
#: stored as :func:`reconciler.security.chain.chain_time` (whole UTC seconds), exactly
#: what the chain hashes. ``before``/``after`` hold ids and field values, never names.
audit_t = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("plan_id", String(64), nullable=False),
    Column("action_id", Integer, nullable=False),
    Column("action_type", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    Column("staff_id", String(64), nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("reason", Text, nullable=True),
    # SPEC §7.1: the staff id whose signed approval allowed the action (or NULL), and the
    # hash chain (``reconciler.security.chain``): ``sha256:`` + 64 hex digits each.
    Column("signer", String(64), nullable=True),
    Column("prev_hash", String(71), nullable=False),
    Column("hash", String(71), nullable=False),
    # The client the event concerns (client.* target, or the client of a session or
    # series), for ``audit --client`` (migration 0005).
    Column("client_id", String(64), nullable=True),
    # Migration 0005: audit queries filter by professional, client, actor, type and time.
    Index("ix_audit_events_plan_id", "plan_id"),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_staff_id_at", "staff_id", "at"),
    Index("ix_audit_events_client_id_at", "client_id", "at"),
    Index("ix_audit_events_actor_at", "actor", "at"),
    Index("ix_audit_events_action_type_at", "action_type", "at"),
)

seats_t = Table(
    "seat_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # "activated" | "deactivated"
    Column("at", DateTime, nullable=False),
    Column("plan_id", String(64), nullable=True),
    Column("credit_cents", Integer, nullable=True),
    Index("ix_seat_events_staff", "staff_id"),
)

# Facts about the database itself: ``db_id`` (a random identity written once, by the
# migration that creates this table, i.e. at ``db init``).
meta_t = Table(
    "reconciler_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)
