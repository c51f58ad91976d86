"""the membership log: joins and exits queued for anchoring in MembershipLog (issue 15 item 4)

``membership_log`` is the outbox of membership changes (written in the same transaction as the
``members`` row changes); ``membership_batches`` mirrors the batches anchored in the MembershipLog
contract, with the columns of ``anchor_batches``. Members that joined before this revision get
their join (and exit) rows here, so the log starts complete; the anchoring relay anchors them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "membership_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("prev_root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("tx_nonce", sa.Integer(), nullable=True),
        sa.Column("onchain_id", sa.Integer(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("root"),
    )
    with op.batch_alter_table("membership_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_membership_batches_status"), ["status"], unique=False)
    op.create_table(
        "membership_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("change", sa.Integer(), nullable=False),
        sa.Column("commitment", sa.LargeBinary(length=32), nullable=False),
        sa.Column("effective_at", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("proof", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["membership_batches.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "change", name="uq_membership_log_member_change"),
    )
    with op.batch_alter_table("membership_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_membership_log_commitment"), ["commitment"], unique=False)
        batch_op.create_index("ix_membership_log_pending", ["batch_id", "id"], unique=False)
    _backfill()


def _backfill() -> None:
    """Join (and exit) rows for the members that exist already, in join order."""
    from datetime import UTC, datetime

    from backend.proofs.membership_log import EXIT, JOIN, membership_leaf_hash

    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, commitment, joined_at, ended_at FROM members ORDER BY joined_at, id")
    ).fetchall()
    now = datetime.now(UTC)
    log = sa.table(
        "membership_log",
        sa.column("change", sa.Integer()),
        sa.column("commitment", sa.LargeBinary()),
        sa.column("effective_at", sa.BigInteger()),
        sa.column("member_id", sa.String()),
        sa.column("leaf_hash", sa.LargeBinary()),
        sa.column("enqueued_at", sa.DateTime(timezone=True)),
    )
    entries = []
    for member_id, commitment, joined_at, ended_at in rows:
        for change, at in ((JOIN, joined_at), (EXIT, ended_at)):
            if at is None:
                continue
            instant = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            seconds = int((instant if instant.tzinfo else instant.replace(tzinfo=UTC)).timestamp())
            entries.append(
                {
                    "change": change,
                    "commitment": bytes(commitment),
                    "effective_at": seconds,
                    "member_id": member_id,
                    "leaf_hash": membership_leaf_hash(change, bytes(commitment), seconds),
                    "enqueued_at": now,
                }
            )
    if entries:
        op.bulk_insert(log, entries)


def downgrade() -> None:
    with op.batch_alter_table("membership_log", schema=None) as batch_op:
        batch_op.drop_index("ix_membership_log_pending")
        batch_op.drop_index(batch_op.f("ix_membership_log_commitment"))
    op.drop_table("membership_log")
    with op.batch_alter_table("membership_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_batches_status"))
    op.drop_table("membership_batches")
