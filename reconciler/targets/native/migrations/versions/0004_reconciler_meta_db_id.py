"""reconciler_meta: facts about the database itself; ``db_id``, a random identity
written once, which a saved plan carries so that ``apply`` can tell a plan made
against another database from a stale one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import uuid
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    meta = op.create_table(
        "reconciler_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.bulk_insert(meta, [{"key": "db_id", "value": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("reconciler_meta")
