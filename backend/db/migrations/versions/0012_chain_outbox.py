"""chain_outbox: every chain write of the hosts, sent by the one elected sender of its key

Hosts insert rows; the holder of the key's ``chain-sender`` lease assigns nonces, signs (the raw
bytes are kept so a later leader rebroadcasts exactly them) and records outcomes
(``backend.services.chain_outbox``, issue 18 item 1).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("to", sa.String(length=42), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.String(length=80), nullable=False),
        sa.Column("gas", sa.BigInteger(), nullable=True),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=True),
        sa.Column("fencing_token", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_name", sa.String(length=128), nullable=True),
        sa.Column("error_args", sa.String(), nullable=True),
        sa.Column("revert_data", sa.LargeBinary(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chain_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_chain_outbox_key_status_id", ["chain_id", "sender", "status", "id"], unique=False)
        batch_op.create_index(
            "ix_chain_outbox_key_status_nonce", ["chain_id", "sender", "status", "nonce"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("chain_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_chain_outbox_key_status_nonce")
        batch_op.drop_index("ix_chain_outbox_key_status_id")
    op.drop_table("chain_outbox")
