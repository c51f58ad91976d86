"""objection reasons encrypted at rest (issue 17 item 13)

``objections.reason_sealed`` holds the reason sealed under the keyring (AES-256-GCM, data key wrapped
by the KEK), as reports are. The migration cannot reach the keyring: rows written before it keep
their plain ``reason`` until the next start seals them (``notice.seal_legacy_objections``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.drop_column("reason_sealed")
