"""outbox index in formation order: (batch_id, id) instead of (batch_id, enqueued_at)

The anchoring worker forms a batch with ``WHERE batch_id IS NULL ORDER BY id LIMIT n``. With the
index on ``(batch_id, enqueued_at)`` the database had to sort every queued row to return the first
``n`` — each formation cost grew with the backlog. With ``(batch_id, id)`` the rows come out of the
index already in order.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 08:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("anchor_items", schema=None) as batch_op:
        batch_op.drop_index("ix_anchor_items_pending")
        batch_op.create_index("ix_anchor_items_pending", ["batch_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("anchor_items", schema=None) as batch_op:
        batch_op.drop_index("ix_anchor_items_pending")
        batch_op.create_index("ix_anchor_items_pending", ["batch_id", "enqueued_at"], unique=False)
