"""Hash-chain the audit trail (SPEC §7.1): ``signer``, ``prev_hash`` and ``hash`` on
``audit_events``; every existing event is chained in id order (oldest first) with
:class:`reconciler.security.chain.Linker`, so ``reconciler audit verify`` passes right
after the upgrade. Existing rows are only completed, never otherwise changed: the chain
hashes ``at`` in whole UTC seconds, whatever the stored precision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

HASH = sa.String(length=71)
_BATCH = 1000


def upgrade() -> None:
    from reconciler.security.chain import Linker

    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("signer", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("prev_hash", HASH, nullable=True))
        batch.add_column(sa.Column("hash", HASH, nullable=True))
    conn = op.get_bind()
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer()),
        sa.column("at", sa.DateTime()),
        sa.column("actor", sa.String()),
        sa.column("signer", sa.String()),
        sa.column("plan_id", sa.String()),
        sa.column("action_type", sa.String()),
        sa.column("target", sa.String()),
        sa.column("before", sa.JSON()),
        sa.column("after", sa.JSON()),
        sa.column("prev_hash", HASH),
        sa.column("hash", HASH),
    )
    linker = Linker()
    last_id = None
    while True:
        stmt = (
            sa.select(
                events.c.id,
                events.c.at,
                events.c.actor,
                events.c.plan_id,
                events.c.action_type,
                events.c.target,
                events.c.before,
                events.c.after,
            )
            .order_by(events.c.id)
            .limit(_BATCH)
        )
        if last_id is not None:
            stmt = stmt.where(events.c.id > last_id)
        rows = conn.execute(stmt).all()
        if not rows:
            break
        updates = []
        for r in rows:
            prev, digest = linker.link(
                time=r.at,
                actor=r.actor,
                signer=None,
                plan_id=r.plan_id,
                action_type=r.action_type,
                target=r.target,
                before=r.before,
                after=r.after,
            )
            updates.append({"b_id": r.id, "b_prev": prev, "b_hash": digest})
        conn.execute(
            events.update()
            .where(events.c.id == sa.bindparam("b_id"))
            .values(prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")),
            updates,
        )
        last_id = rows[-1].id
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("prev_hash", existing_type=HASH, nullable=False)
        batch.alter_column("hash", existing_type=HASH, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("signer")
