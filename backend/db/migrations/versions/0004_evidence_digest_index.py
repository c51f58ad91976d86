"""index on evidence_items.plaintext_sha256: the duplicate-evidence check reads it

Every filing looks up the other claims whose evidence has the same plaintext digest
(``DUPLICATE_EVIDENCE``), and every claim view checks each of its items the same way. Without an
index each lookup scanned the whole evidence table: its cost grew with every file ever filed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 08:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_items_plaintext_sha256", ["plaintext_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_items_plaintext_sha256")
