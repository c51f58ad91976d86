"""The operator's steps on one claim: finalize an unopposed notice, tally a jury, draw a jury round.

Each step runs in one transaction and answers with the claim as it stands afterwards. Callers that
are not operators are told the claim does not exist, as for any claim they may not see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sqlalchemy.orm import Session

from backend.db.models import Claim
from backend.errors import NotFound
from backend.services import jury, jury_seats, notice
from backend.services.auth import Principal
from backend.services.claims import ClaimView, claim_view, get_claim
from backend.services.context import ServiceContext

OperatorStep = Literal["finalize-notice", "tally", "draw-jury"]

OPERATOR_STEPS: dict[OperatorStep, Callable[[ServiceContext, Session, Claim], object]] = {
    "finalize-notice": notice.finalize_notice,
    "tally": jury.tally_jury,
    "draw-jury": jury_seats.draw_jury,
}


def run_operator_step(ctx: ServiceContext, principal: Principal, claim_pk: str, step: OperatorStep) -> ClaimView:
    """Run ``step`` on the claim (operators only) and return the claim's view after it."""
    if principal.role != "operator":
        raise NotFound("no such claim")
    with ctx.sessions.begin() as session:
        claim = get_claim(session, claim_pk)
        OPERATOR_STEPS[step](ctx, session, claim)
        return claim_view(session, claim)
