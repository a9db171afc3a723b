"""The reconciler's own tables in an OpenEMR database.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_INNODB: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "reconciler_practice",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(255)),
        sa.Column("clinical_director_id", sa.String(255)),
        sa.Column("client_plan_limit", sa.Integer),
        sa.Column("seat_price_cents", sa.Integer),
        sa.Column("billing_cycle_day", sa.Integer, nullable=False, server_default="1"),
        **_INNODB,
    )
    op.create_table(
        "reconciler_staff",
        sa.Column("username", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("access", sa.String(32), nullable=False),
        sa.Column("billing_role", sa.String(64)),
        sa.Column("max_caseload", sa.Integer),
        sa.Column("settings", sa.JSON),
        sa.Column("deactivate_on", sa.Date),
        sa.Column("deactivated_at", sa.DateTime),
        **_INNODB,
    )
    op.create_table(
        "reconciler_seat_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("staff_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("plan_id", sa.String(64)),
        sa.Column("credit_cents", sa.Integer),
        **_INNODB,
    )
    op.create_index("ix_reconciler_seat_events_staff_id", "reconciler_seat_events", ["staff_id"])
    op.create_table(
        "reconciler_audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("signer", sa.String(255)),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("action_id", sa.Integer, nullable=False),
        sa.Column("action_type", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("staff_id", sa.String(255)),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
        sa.Column("reason", sa.Text),
        sa.Column("prev_hash", sa.String(71), nullable=False),
        sa.Column("hash", sa.String(71), nullable=False),
        **_INNODB,
    )
    op.create_index("ix_reconciler_audit_events_plan_id", "reconciler_audit_events", ["plan_id"])
    op.create_table(
        "reconciler_client_links",
        sa.Column("pubpid", sa.String(255), primary_key=True),
        sa.Column("duplicate_of", sa.String(255), nullable=False),
        **_INNODB,
    )
    op.create_index("ix_reconciler_client_links_duplicate_of", "reconciler_client_links", ["duplicate_of"])


def downgrade() -> None:
    for name in (
        "reconciler_client_links",
        "reconciler_audit_events",
        "reconciler_seat_events",
        "reconciler_staff",
        "reconciler_practice",
    ):
        op.drop_table(name)
