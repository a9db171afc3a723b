"""Initial schema: practice, staff, clients, series, appointments, audit and seat events.

Must produce exactly ``reconciler.targets.native.schema.metadata`` (tests/targets/native/test_db_schema.py
compares them on SQLite and PostgreSQL). Times are naive UTC ``DateTime``.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "practice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("owner_id", ID, nullable=True),
        sa.Column("clinical_director_id", ID, nullable=True),
        sa.Column("client_plan_limit", sa.Integer(), nullable=True),
        sa.Column("seat_price_cents", sa.Integer(), nullable=True),
        sa.Column("billing_cycle_day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practice")),
    )
    op.create_table(
        "staff",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("access", sa.String(length=32), nullable=False),
        sa.Column("billing_role", ID, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deactivate_on", sa.Date(), nullable=True),
        sa.Column("deactivated_at", sa.DateTime(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("max_caseload", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
    )
    op.create_table(
        "clients",
        sa.Column("id", ID, nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("primary_id", ID, nullable=True),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("portal_access", sa.Boolean(), nullable=False),
        sa.Column("duplicate_of", ID, nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["duplicate_of"], ["clients.id"], name=op.f("fk_clients_duplicate_of_clients")),
        sa.ForeignKeyConstraint(["primary_id"], ["staff.id"], name=op.f("fk_clients_primary_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    op.create_index("ix_clients_primary_status", "clients", ["primary_id", "status"])
    op.create_index("ix_clients_status_deleted_at", "clients", ["status", "deleted_at"])
    op.create_table(
        "series",
        sa.Column("id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("rrule", sa.Text(), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_series_client_id_clients")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_series_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
    )
    op.create_index("ix_series_client", "series", ["client_id"])
    op.create_index("ix_series_staff_active", "series", ["staff_id", "active"])
    op.create_table(
        "appointments",
        sa.Column("id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("series_id", ID, nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("telehealth", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_appointments_client_id_clients")),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"], name=op.f("fk_appointments_series_id_series")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_appointments_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    op.create_index("ix_appointments_client", "appointments", ["client_id"])
    op.create_index("ix_appointments_series", "appointments", ["series_id"])
    op.create_index("ix_appointments_staff_status_start", "appointments", ["staff_id", "status", "start_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("plan_id", ID, nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("action_type", ID, nullable=False),
        sa.Column("target", ID, nullable=False),
        sa.Column("staff_id", ID, nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_plan_id", "audit_events", ["plan_id"])
    op.create_table(
        "seat_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("plan_id", ID, nullable=True),
        sa.Column("credit_cents", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_seat_events_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_events")),
    )
    op.create_index("ix_seat_events_staff", "seat_events", ["staff_id"])


def downgrade() -> None:
    for table in ("seat_events", "audit_events", "appointments", "series", "clients", "staff", "practice"):
        op.drop_table(table)
