"""claims.claimant_key: the address of the claimant device's key for the claim (ClaimLedger 2.0.0)

The claim id binds it and it signs the claim's withdrawal and appeal; the server keeps only the
address (issue 14 item 4). Claims filed before have none (NULL).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimant_key", sa.String(length=42), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_column("claimant_key")
