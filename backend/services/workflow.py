"""The workflow clock's step: move every claim whose chain-time window has passed.

:func:`advance` finalizes notices without objection, sends ``drawJury`` for a disputed claim whose
scheduled draw block is past (the contract picks the jurors), tallies a jury whose reveal window
closed (a voided round makes the contract schedule the next draw). The workflow clock of
:mod:`backend.background` runs it every few seconds under the ``workflow`` lease; ``hubao claims
advance`` runs it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from backend.db.models import Claim
from backend.errors import Conflict
from backend.services.claims import get_claim, ledger
from backend.services.context import ServiceContext
from backend.services.jury import tally_jury
from backend.services.jury_seats import chain_now, draw_jury_if_due
from backend.services.notice import finalize_notice, notice_ends


@dataclass
class AdvanceReport:
    finalized: list[str] = field(default_factory=list)
    tallied: list[str] = field(default_factory=list)
    drawn: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def advance(ctx: ServiceContext) -> AdvanceReport:
    """Move every claim whose window has passed: finalize notices, tally juries, redraw voided rounds."""
    report = AdvanceReport()
    now = chain_now(ctx)
    with ctx.sessions() as session:
        ids = list(session.scalars(select(Claim.id).where(Claim.status.in_(("IN_NOTICE", "DISPUTED")))))
    for claim_pk in ids:
        try:
            with ctx.sessions.begin() as session:
                claim = get_claim(session, claim_pk)
                if claim.status == "IN_NOTICE" and now >= notice_ends(session, claim):
                    finalize_notice(ctx, session, claim)
                    report.finalized.append(claim_pk)
                elif claim.status == "DISPUTED":
                    onchain = ledger(ctx).claim(claim.claim_id)
                    if onchain.commit_ends == 0:
                        if onchain.draw_block != 0 and draw_jury_if_due(ctx, session, claim):
                            report.drawn.append(claim_pk)
                    elif now >= onchain.reveal_ends:
                        tally_jury(ctx, session, claim)
                        report.tallied.append(claim_pk)
        except Conflict as exc:
            report.failed[claim_pk] = exc.code
    return report
