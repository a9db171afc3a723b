"""Audit queries on the openemr target (SPEC §8.5): ``reconciler_audit_events.client_id``
(the client an event concerns, by ``pubpid``) and indexes for filtering by time,
professional, client, actor and action type.

Existing events get ``client_id`` where it can be told: the target of a ``client.*``
event, and the ``pubpid`` of the patient of the calendar row a session or series event
names. ``client_id`` is not part of an event's hash (SPEC §7.1), so filling it in leaves
the chain verifying.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_reconciler_audit_events_at", ["at"]),
    ("ix_reconciler_audit_events_staff_id_at", ["staff_id", "at"]),
    ("ix_reconciler_audit_events_client_id_at", ["client_id", "at"]),
    ("ix_reconciler_audit_events_actor_at", ["actor", "at"]),
    ("ix_reconciler_audit_events_action_type_at", ["action_type", "at"]),
)


def upgrade() -> None:
    op.add_column("reconciler_audit_events", sa.Column("client_id", sa.String(255), nullable=True))
    op.execute("UPDATE reconciler_audit_events SET client_id = target WHERE action_type LIKE 'client.%'")
    # pc_pid is text in OpenEMR; patient_data.pid is the number it names.
    op.execute(
        "UPDATE reconciler_audit_events a "
        "JOIN openemr_postcalendar_events e ON CAST(e.pc_eid AS CHAR) = a.target "
        "JOIN patient_data p ON CAST(p.pid AS CHAR) = e.pc_pid "
        "SET a.client_id = p.pubpid "
        "WHERE (a.action_type LIKE 'appointment.%' OR a.action_type LIKE 'series.%') AND p.pubpid <> ''"
    )
    for name, cols in INDEXES:
        op.create_index(name, "reconciler_audit_events", cols)


def downgrade() -> None:
    for name, _cols in INDEXES:
        op.drop_index(name, table_name="reconciler_audit_events")
    op.drop_column("reconciler_audit_events", "client_id")
