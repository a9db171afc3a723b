"""reconciler_meta: facts about the database itself; ``db_id``, a random identity
written once, which a saved plan carries so that ``apply`` can tell a plan made
against another database from a stale one (as the native target's 0004).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INNODB: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    meta = op.create_table(
        "reconciler_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        **_INNODB,
    )
    op.bulk_insert(meta, [{"key": "db_id", "value": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("reconciler_meta")
