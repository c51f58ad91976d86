"""server_held_keys: the participant signing keys this server generated, kept after retirement

Every reviewer or juror key the server generated and sealed (``accounts.signing_key_encrypted``)
gets a row, and the row stays when the participant registers a key of their own device and the
sealed key is deleted: the audit counts the verdicts and votes such a key signed as ones an
operator-held secret could have made, and ``complete`` stays false while the audited history has
any (issue 14 item 5). Keys sealed before this revision are backfilled; keys retired before it were
not recorded anywhere and cannot be.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 07:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_held_keys",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_index("ix_server_held_keys_account_id", "server_held_keys", ["account_id"])
    op.execute(
        "INSERT INTO server_held_keys (address, account_id, created_at) "
        "SELECT signing_address, id, created_at FROM accounts "
        "WHERE signing_key_encrypted IS NOT NULL AND signing_address IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_server_held_keys_account_id", table_name="server_held_keys")
    op.drop_table("server_held_keys")
