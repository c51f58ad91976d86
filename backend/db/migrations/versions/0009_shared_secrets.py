"""shared_secrets: fingerprints of the secrets every host of a deployment must share

The first host records the fingerprint of its JWT secret and of each key-encryption key; a later
host whose secret differs is refused at start-up (``backend.db.shared_secrets``, issue 18 item 2).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_secrets",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("first_host", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("shared_secrets")
