"""jury votes by the juror's own key: the server keeps no salt and no vote before the reveal (issue 14 item 3)

Jurors now derive their salt on their device (a signature of VoteSalt(claimId, round)) and the
server only relays; ``jury_seats.vote_salt`` goes, and ``jury_seats.vote`` holds a vote only once it
is revealed on chain. Rows of earlier rounds keep their history: revealed votes stay (they are public
on chain); a salt or vote of an unrevealed commitment is wiped (overwritten in place on SQLite).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:  # the freed bytes of the wiped values are overwritten, not left in the pages
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    bind.execute(sa.text("UPDATE jury_seats SET vote_salt = NULL"))
    bind.execute(sa.text("UPDATE jury_seats SET vote = NULL WHERE revealed = :no"), {"no": False})
    with op.batch_alter_table("jury_seats", schema=None) as batch_op:
        batch_op.drop_column("vote_salt")
    if sqlite:
        bind.exec_driver_sql("PRAGMA secure_delete = OFF")


def downgrade() -> None:
    with op.batch_alter_table("jury_seats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vote_salt", sa.LargeBinary(length=32), nullable=True))
