"""Audit queries (SPEC §8.5): ``audit_events.client_id`` (the client an event concerns)
and indexes for filtering by time, professional, client, actor and action type, so a
filter over a year of events stays fast.

Existing events get ``client_id`` where it can be told: the target of a ``client.*``
event, and the client of the session or series a session/series event names (rows that
still exist).

``client_id`` is not part of an event's hash (SPEC §7.1 hashes time, actor, signer, plan
id, action type, target, before, after, prev_hash), so filling it in leaves the audit
chain of 0003 verifying.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = (
    ("ix_audit_events_at", ["at"]),
    ("ix_audit_events_staff_id_at", ["staff_id", "at"]),
    ("ix_audit_events_client_id_at", ["client_id", "at"]),
    ("ix_audit_events_actor_at", ["actor", "at"]),
    ("ix_audit_events_action_type_at", ["action_type", "at"]),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("client_id", sa.String(length=64), nullable=True))
    op.execute("UPDATE audit_events SET client_id = target WHERE action_type LIKE 'client.%'")
    op.execute(
        "UPDATE audit_events SET client_id = (SELECT a.client_id FROM appointments a WHERE a.id = audit_events.target) "
        "WHERE action_type LIKE 'appointment.%'"
    )
    op.execute(
        "UPDATE audit_events SET client_id = (SELECT s.client_id FROM series s WHERE s.id = audit_events.target) "
        "WHERE action_type LIKE 'series.%'"
    )
    for name, cols in INDEXES:
        op.create_index(name, "audit_events", cols)


def downgrade() -> None:
    for name, _cols in INDEXES:
        op.drop_index(name, table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("client_id")
