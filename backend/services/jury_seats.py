"""Seating a jury: the on-chain draw sent once its seed block is past, and the conflicts declared before it.

ClaimLedger 2.0.0 draws the jurors itself (see :mod:`backend.services.jury` for the whole flow and
:mod:`backend.chain.jury_draw` for the rule in Python); this module only sends ``drawJury`` when
it is due, records the seats the contract chose, and declares on chain the jurors related to the
claimant or the objector before the seed block so the draw skips them.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.transactions import ContractReverted
from backend.config import ANVIL_CHAIN_ID
from backend.db.models import Account, Claim, JurySeat, Member, Relation
from backend.errors import Conflict
from backend.services.claims import hex32, ledger, record_event
from backend.services.context import ServiceContext
from backend.services.rule_sets import roster_for

# Codes of a draw that is not (yet) possible; objection and appeal leave it to the workflow clock.
DRAW_LATER = ("DRAW_NOT_DUE", "DRAW_RESCHEDULED")


def chain_now(ctx: ServiceContext) -> int:
    """The latest block's timestamp: every window is judged in block time, as the contract does."""
    return int(ctx.w3.eth.get_block("latest")["timestamp"])


def current_round(session: Session, claim: Claim) -> int:
    return int(session.scalar(select(func.max(JurySeat.round)).where(JurySeat.claim_pk == claim.id)) or 0)


def _draw_block_past(ctx: ServiceContext, draw_block: int) -> bool:
    """Whether the latest block is past ``draw_block`` (gas is estimated at the latest block). On
    the local anvil (whose blocks come only with transactions in tests) the missing blocks are
    mined: the operator sequences that chain anyway (a trust assumption the audit lists)."""
    latest = int(ctx.w3.eth.block_number)
    if latest > draw_block:
        return True
    if int(ctx.w3.eth.chain_id) == ANVIL_CHAIN_ID:
        for _ in range(draw_block - latest + 1):
            ctx.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        return True
    return False


def draw_jury(ctx: ServiceContext, session: Session, claim: Claim) -> list[str]:
    """Send ``drawJury`` for a DISPUTED claim whose scheduled draw block is past; record the seats.

    Raises Conflict ``DRAW_NOT_DUE`` (seed block not yet past), ``DRAW_RESCHEDULED`` (the contract
    fixed a new seed block), ``NOT_ENOUGH_JURORS``, ``JURY_ALREADY_DRAWN``.
    """
    if claim.status != "DISPUTED":
        raise Conflict(f"the claim is {claim.status}, not disputed", code="INVALID_STATE")
    client = ledger(ctx)
    onchain = client.claim(claim.claim_id)
    if onchain.draw_block == 0:
        raise Conflict("a jury round is open", code="JURY_ALREADY_DRAWN")
    if not _draw_block_past(ctx, onchain.draw_block):
        raise Conflict("the jury is drawn once its seed block is past", code="DRAW_NOT_DUE")
    try:
        tx = client.draw_jury(claim.claim_id)
    except ContractReverted as exc:
        if exc.error == "ClaimLedgerNotEnoughJurors":
            eligible, needed = (int(v) for v in exc.args_) if len(exc.args_) == 2 else (0, 0)
            raise Conflict(
                f"only {eligible} eligible jurors for a jury of {needed}",
                code="NOT_ENOUGH_JURORS",
                eligible=eligible,
                needed=needed,
            ) from exc
        if exc.error == "ClaimLedgerDrawTooEarly":
            raise Conflict("the jury is drawn once its seed block is past", code="DRAW_NOT_DUE") from exc
        raise
    drawn = tx.event("JuryDrawn")
    if drawn is None:
        scheduled = tx.event("JuryDrawScheduled")
        record_event(
            session,
            claim,
            "JuryDrawScheduled",
            tx,
            round=int(scheduled.args["round"]) if scheduled else 0,
            drawBlock=int(scheduled.args["drawBlock"]) if scheduled else 0,
        )
        raise Conflict("the draw was re-scheduled to a new seed block", code="DRAW_RESCHEDULED")
    round_ = int(drawn.args["round"])
    jurors = [str(a) for a in drawn.args["jurors"]]
    by_address = {
        a.signing_address: a
        for a in session.scalars(select(Account).where(Account.signing_address.in_(jurors)))
        if a.signing_address
    }
    for address in jurors:
        seated = by_address.get(address)
        if seated is not None:  # a roster member without an account here still sits (and may vote directly)
            session.add(JurySeat(claim_pk=claim.id, round=round_, juror_id=seated.id))
    record_event(
        session,
        claim,
        "JuryDrawn",
        tx,
        round=round_,
        drawBlock=onchain.draw_block,
        seed=hex32(bytes(drawn.args["seed"])),
        jurors=jurors,
        commitEnds=int(drawn.args["commitEnds"]),
        revealEnds=int(drawn.args["revealEnds"]),
    )
    session.flush()
    return jurors


def declare_jury_conflicts(
    ctx: ServiceContext,
    session: Session,
    claim: Claim,
    objector: Member | None = None,
    objector_commitment: bytes = b"",
) -> int:
    """Before a claim goes to a jury: declare on chain every juror related (``Relation``) to the
    claimant — against the claim's own on-chain member commitment, since claims carry per-claim
    commitments — and to the objector (against ``objector_commitment``), so the on-chain draw skips
    them. Sent before ``object`` / ``appeal``, so in a block before the draw's seed block (later
    declarations do not count for the draw). Returns how many were declared now."""
    members = {claim.member_id: ledger(ctx).claim(claim.claim_id).member_commitment}
    if objector is not None and objector_commitment:
        members[objector.id] = objector_commitment
    roster = roster_for(ctx)
    declared = 0
    for member_id, commitment in members.items():
        related = session.scalars(
            select(Account.signing_address)
            .join(Relation, Relation.account_id == Account.id)
            .where(Relation.member_id == member_id, Account.role == "juror", Account.signing_address.is_not(None))
        )
        for address in related:
            if address is not None and roster.declare_conflict(address, commitment) is not None:
                declared += 1
    return declared


def draw_jury_if_due(ctx: ServiceContext, session: Session, claim: Claim) -> list[str]:
    """:func:`draw_jury`, or nothing when the draw must wait (the workflow clock retries)."""
    try:
        return draw_jury(ctx, session, claim)
    except Conflict as exc:
        if exc.code in DRAW_LATER:
            return []
        raise
