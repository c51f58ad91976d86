"""auth_sessions.generation: refreshed tokens rotate, and a replayed one ends the session

``POST /auth/refresh`` renewed any token of an open session, so a stolen token could be renewed
until the session's end. Each refresh now moves the session to its next ``generation`` (carried by
the token as ``gen``); a token of an older generation presented again — beyond a short grace for a
retried request or a duplicated tab (``rotated_at``) — ends the session, for the thief and the owner
alike (OAuth 2.0 Security BCP, refresh token reuse detection).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 18:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("rotated_at")
        batch_op.drop_column("generation")
