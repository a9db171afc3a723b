"""Index clients.duplicate_of: a purge looks up the clients that still point at a
client due for purge (its duplicates), which otherwise scans the clients table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Sequence, Union

from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_clients_duplicate_of", "clients", ["duplicate_of"])


def downgrade() -> None:
    op.drop_index("ix_clients_duplicate_of", table_name="clients")
