"""deployments: the contract suite's deployment record, shared by every host of the database

Until now the record lived in ``<data dir>/deployment.json``: a second host with its own data
directory deployed a suite of its own. Every host now reads and writes it here (issue 18 item 4);
the file stays as a per-host copy for tools that read it.

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
        "deployments",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("deployments")
