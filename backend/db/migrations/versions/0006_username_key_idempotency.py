"""case-insensitive usernames and idempotent filings (issue 17 items 2 and 9)

``accounts.username_key`` is the NFKC-normalised, case-folded username, unique: ``Alice`` can no
longer register beside ``alice``. Accounts that already collide keep working under their own
spelling: the first registered holds the key, each later one ``key#id`` (no username contains
``#``, so no sign-in or registration ever matches it). ``claims.idempotency_key`` is the client's
Idempotency-Key of a filing, unique per member: a retry answers the claim already recorded.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("username_key", sa.String(length=128), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, username FROM accounts ORDER BY created_at, id")).fetchall()
    taken: set[str] = set()
    for account_id, username in rows:
        key = unicodedata.normalize("NFKC", username).casefold()
        value = key if key not in taken else f"{key}#{account_id}"
        taken.add(key)
        bind.execute(sa.text("UPDATE accounts SET username_key = :k WHERE id = :i"), {"k": value, "i": account_id})
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column("username_key", existing_type=sa.String(length=128), nullable=False)
        batch_op.create_unique_constraint("uq_accounts_username_key", ["username_key"])
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_claims_member_idempotency", ["member_id", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_constraint("uq_claims_member_idempotency", type_="unique")
        batch_op.drop_column("idempotency_key")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_accounts_username_key", type_="unique")
        batch_op.drop_column("username_key")
