"""SQLAlchemy 2 models of the practice database (SPEC §1).

Times are stored as naive UTC ``DateTime`` on every backend (one convention, the
same bytes on SQLite and PostgreSQL); ``reconciler.targets.native`` converts at the edge.
Bulk work uses the ``Table`` objects (``Staff.__table__`` etc.) through Core.
The Alembic migrations in ``db/migrations`` must match these models; a test checks
that ``alembic upgrade head`` produces exactly this metadata.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dict[str, Any]: JSON,
        dt.datetime: DateTime(),
        dt.date: Date(),
    }


class PracticeRow(Base):
    __tablename__ = "practice"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one practice per database
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    clinical_director_id: Mapped[str | None] = mapped_column(String(64))
    client_plan_limit: Mapped[int | None] = mapped_column(Integer)
    seat_price_cents: Mapped[int | None] = mapped_column(Integer)
    billing_cycle_day: Mapped[int] = mapped_column(Integer, default=1)


class StaffRow(Base):
    __tablename__ = "staff"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    access: Mapped[str] = mapped_column(String(32))
    billing_role: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivate_on: Mapped[dt.date | None] = mapped_column(Date)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    max_caseload: Mapped[int | None] = mapped_column(Integer)


class ClientRow(Base):
    __tablename__ = "clients"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(200))  # PHI
    last_name: Mapped[str] = mapped_column(String(200))  # PHI
    status: Mapped[str] = mapped_column(String(16), default="active")
    primary_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("staff.id"))
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    portal_access: Mapped[bool] = mapped_column(Boolean, default=False)
    duplicate_of: Mapped[str | None] = mapped_column(String(64), ForeignKey("clients.id"))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_clients_primary_status", "primary_id", "status"),
        Index("ix_clients_status_deleted_at", "status", "deleted_at"),
        Index("ix_clients_duplicate_of", "duplicate_of"),  # purge: who still points here
    )


class SeriesRow(Base):
    __tablename__ = "series"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("clients.id"))
    staff_id: Mapped[str] = mapped_column(String(64), ForeignKey("staff.id"))
    rrule: Mapped[str] = mapped_column(Text)
    start_at: Mapped[dt.datetime] = mapped_column(DateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=50)
    until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        Index("ix_series_staff_active", "staff_id", "active"),
        Index("ix_series_client", "client_id"),
    )


class AppointmentRow(Base):
    __tablename__ = "appointments"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("clients.id"))
    staff_id: Mapped[str] = mapped_column(String(64), ForeignKey("staff.id"))
    start_at: Mapped[dt.datetime] = mapped_column(DateTime)
    end_at: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    series_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("series.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    telehealth: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_appointments_staff_status_start", "staff_id", "status", "start_at"),
        Index("ix_appointments_client", "client_id"),
        Index("ix_appointments_series", "series_id"),
    )


class AuditEventRow(Base):
    """Append-only and hash-chained (SPEC §7.1): never updated or deleted. ``at`` is
    stored as :func:`reconciler.security.chain.chain_time` (whole UTC seconds), exactly
    what the chain hashes. ``before``/``after`` hold ids and field values, never names."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(200))
    plan_id: Mapped[str] = mapped_column(String(64))
    action_id: Mapped[int] = mapped_column(Integer)
    action_type: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    # SPEC §7.1: the staff id whose signed approval allowed the action (or NULL), and the
    # hash chain (``reconciler.security.chain``): ``sha256:`` + 64 hex digits each.
    signer: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(71))
    hash: Mapped[str] = mapped_column(String(71))
    #: The client the event concerns (client.* target, or the client of a session or
    #: series), for ``audit --client`` (migration 0005).
    client_id: Mapped[str | None] = mapped_column(String(64))

    # Migration 0005: audit queries filter by professional, client, actor, type and time.
    __table_args__ = (
        Index("ix_audit_events_plan_id", "plan_id"),
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_staff_id_at", "staff_id", "at"),
        Index("ix_audit_events_client_id_at", "client_id", "at"),
        Index("ix_audit_events_actor_at", "actor", "at"),
        Index("ix_audit_events_action_type_at", "action_type", "at"),
    )


class SeatEventRow(Base):
    __tablename__ = "seat_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[str] = mapped_column(String(64), ForeignKey("staff.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "activated" | "deactivated"
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    plan_id: Mapped[str | None] = mapped_column(String(64))
    credit_cents: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_seat_events_staff", "staff_id"),)


class MetaRow(Base):
    """Facts about the database itself: ``db_id`` (a random identity written once, by
    the migration that creates this table, i.e. at ``db init``)."""

    __tablename__ = "reconciler_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


metadata = Base.metadata
# Declarative types __table__ as FromClause; these are Tables, which Core insert/update need.
practice_t: Table = cast(Table, PracticeRow.__table__)
staff_t: Table = cast(Table, StaffRow.__table__)
clients_t: Table = cast(Table, ClientRow.__table__)
series_t: Table = cast(Table, SeriesRow.__table__)
appointments_t: Table = cast(Table, AppointmentRow.__table__)
audit_t: Table = cast(Table, AuditEventRow.__table__)
seats_t: Table = cast(Table, SeatEventRow.__table__)
meta_t: Table = cast(Table, MetaRow.__table__)
