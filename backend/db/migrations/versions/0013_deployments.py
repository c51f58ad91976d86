"""deployments: the contract suite's deployment record, shared by every host of the database;
an index on claims.claimant_key

Until now the record lived in ``<data dir>/deployment.json``: a second host with its own data
directory deployed a suite of its own. Every host now reads and writes it here (issue 18 item 4);
the file stays as a per-host copy for tools that read it.

Every filing checks that its claim key was never used before (``claim_filing.begin_claim``): without
an index that is a scan of every claim, per filing.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index("ix_claims_claimant_key", ["claimant_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index("ix_claims_claimant_key")
    op.drop_table("deployments")
