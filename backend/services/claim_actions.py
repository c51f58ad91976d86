"""The claimant's and the operator's actions on a claim: appeal (a jury is drawn), withdrawal, payout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.ledger_types import ClaimState
from backend.db.models import Claim, ClaimEvent
from backend.errors import Conflict, InvalidInput, NotFound
from backend.proofs.commitments import new_salt, payment_ref
from backend.services.auth import Principal
from backend.services.claims import (
    OPEN_STATES,
    WAITING_PERIOD,
    ClaimView,
    claim_view,
    get_claim,
    hex32,
    ledger,
    owned_claim,
    record_event,
    set_status,
)
from backend.services.consent import consent_draft, require_consent
from backend.services.context import ServiceContext
from backend.services.jury_seats import declare_jury_conflicts, draw_jury_if_due


@dataclass(frozen=True)
class SignedConsent:
    """A withdrawal or an appeal as the claim's key signed it on the claimant's device."""

    deadline: int
    signature: bytes


def _appealable(session: Session, principal: Principal, claim_pk: str) -> Claim:
    claim = owned_claim(session, principal, claim_pk)
    if claim.status != "REJECTED" or claim.reason_code == WAITING_PERIOD:
        raise Conflict("only a claim rejected by its review can be appealed", code="APPEAL_NOT_ALLOWED")
    return claim


def _withdrawable(session: Session, principal: Principal, claim_pk: str) -> Claim:
    claim = owned_claim(session, principal, claim_pk)
    if claim.status not in OPEN_STATES:
        raise Conflict(f"a {claim.status} claim cannot be withdrawn", code="INVALID_STATE")
    return claim


def consent_draft_for(ctx: ServiceContext, principal: Principal, claim_pk: str, action: str) -> dict[str, Any]:
    """The Withdrawal or Appeal document the claim's key signs on the claimant's device."""
    with ctx.sessions() as session:
        if action == "Appeal":
            claim = _appealable(session, principal, claim_pk)
        else:
            claim = _withdrawable(session, principal, claim_pk)
        return consent_draft(ctx, action, claim.claim_id, signer=claim.claimant_key)


def appeal_claim(ctx: ServiceContext, principal: Principal, claim_pk: str, signed: SignedConsent) -> ClaimView:
    """The claimant's one appeal of a review rejection, signed by the claim's key on the claimant's
    device and relayed: REJECTED → DISPUTED, then a jury is drawn."""
    with ctx.sessions.begin() as session:
        claim = owned_claim(session, principal, claim_pk)
        if claim.status != "REJECTED" or claim.reason_code == WAITING_PERIOD:
            raise Conflict("only a claim rejected by its review can be appealed", code="APPEAL_NOT_ALLOWED")
        if session.scalars(
            select(ClaimEvent.id).where(ClaimEvent.claim_pk == claim.id, ClaimEvent.kind == "ClaimAppealed")
        ).first():
            raise Conflict("this claim was already appealed", code="APPEAL_NOT_ALLOWED")
        if session.scalars(
            select(ClaimEvent.id).where(ClaimEvent.claim_pk == claim.id, ClaimEvent.kind == "JuryTallied")
        ).first():
            raise Conflict("a jury's decision is final", code="APPEAL_NOT_ALLOWED")
        declare_jury_conflicts(ctx, session, claim)  # before the draw is scheduled
        _require_claimant(ctx, "Appeal", claim, signed)
        tx = ledger(ctx).appeal_by_sig(claim.claim_id, signed.deadline, signed.signature)
        record_event(session, claim, "ClaimAppealed", tx)
        set_status(claim, ClaimState.DISPUTED)
        claim.final_at = None
    with ctx.sessions.begin() as session:
        claim = get_claim(session, claim_pk)
        draw_jury_if_due(ctx, session, claim)  # once the seed block is past; else the workflow clock draws
        return claim_view(session, claim, with_names=True)


def _require_claimant(ctx: ServiceContext, kind: str, claim: Claim, signed: SignedConsent) -> None:
    if not claim.claimant_key:
        raise Conflict("this claim was filed before claimant keys: nothing can sign this", code="NO_CLAIMANT_KEY")
    require_consent(
        ctx, kind, claim.claim_id, deadline=signed.deadline, signature=signed.signature, signer=claim.claimant_key
    )


def withdraw_claim(ctx: ServiceContext, principal: Principal, claim_pk: str, signed: SignedConsent) -> ClaimView:
    """The claimant withdraws an undecided claim: signed by the claim's key on the claimant's device,
    relayed by the operator (the contract checks the signature)."""
    with ctx.sessions.begin() as session:
        claim = _withdrawable(session, principal, claim_pk)
        _require_claimant(ctx, "Withdrawal", claim, signed)
        tx = ledger(ctx).withdraw_claim_by_sig(claim.claim_id, signed.deadline, signed.signature)
        record_event(session, claim, "ClaimWithdrawn", tx, fromState=claim.status)
        set_status(claim, ClaimState.WITHDRAWN)
        return claim_view(session, claim, with_names=True)


def record_payout(ctx: ServiceContext, principal: Principal, claim_pk: str, reference: str) -> ClaimView:
    """Operator: record the payout of an APPROVED claim (APPROVED → PAID) under a salted payment ref."""
    if principal.role != "operator":
        raise NotFound("no such claim")  # as for a nonexistent id (D1)
    if not reference.strip():
        raise InvalidInput("a payment reference is required", code="INVALID_REFERENCE", field="reference")
    with ctx.sessions.begin() as session:
        claim = get_claim(session, claim_pk)
        if claim.status != "APPROVED":
            raise Conflict(f"a {claim.status} claim cannot be paid", code="INVALID_STATE")
        salt = new_salt()
        ref = payment_ref(reference, salt)
        tx = ledger(ctx).record_payout(claim.claim_id, ref)
        record_event(
            session,
            claim,
            "PayoutRecorded",
            tx,
            paymentRef=hex32(ref),
            payoutFen=claim.payout_fen,
            private={"reference": reference, "salt": hex32(salt)},
        )
        set_status(claim, ClaimState.PAID)
        return claim_view(session, claim)
