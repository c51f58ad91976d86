"""Public notice and objections of claims approved by review.

**Notice** — claims approved by review are listed redacted (illness code, age band, amount, report
hashes, end of the window; never a name, a member id or a document) under their on-chain claim
id, which anyone can look up on ClaimLedger. A member may object once per claim while the window
is open (block time); the first objection sends the claim to a jury (``object`` → DISPUTED). The
objector appears on chain only as ``member_commitment(member.id, keccak256("hubao.objector-salt.v1"
‖ member.salt ‖ claimId))`` — a fresh commitment per claim. The objection's reason stays in the
database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.claims import ClaimLedgerClient
from backend.chain.ledger_types import ClaimState, LedgerTx
from backend.chain.transactions import ContractReverted
from backend.db.models import Claim, ClaimEvent, Member, Objection, ReviewAssignment
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.proofs.commitments import member_commitment
from backend.proofs.keccak import keccak256
from backend.services.auth import Principal
from backend.services.claims import (
    ChainVersion,
    age_band_label,
    chain_version,
    ledger,
    member_of,
    record_event,
    set_status,
)
from backend.services.consent import consent_draft, require_consent
from backend.services.context import ServiceContext
from backend.services.jury_seats import chain_now, declare_jury_conflicts, draw_jury_if_due
from backend.services.rule_sets import rule_set_by_hash
from backend.services.sealed_text import objection_aad, seal_text

OBJECTOR_SALT_DOMAIN = keccak256(b"hubao.objector-salt.v1")
MAX_REASON = 500


def objector_commitment(member: Member, claim_id: bytes) -> bytes:
    return member_commitment(member.id, keccak256(OBJECTOR_SALT_DOMAIN + member.salt + claim_id))


@dataclass(frozen=True)
class NoticeEntry:
    notice_id: str  # the on-chain claim id
    illness_code: str
    age_band: str
    payout_fen: int
    report_hashes: list[str]
    notice_ends: int
    rule_set_hash: str
    chain_mismatch: list[str] = field(default_factory=list)  # as ``ClaimView.chain_mismatch``


def notice_ends(session: Session, claim: Claim) -> int:
    import json

    row = session.scalars(
        select(ClaimEvent)
        .where(ClaimEvent.claim_pk == claim.id, ClaimEvent.kind == "ReviewDecided")
        .order_by(ClaimEvent.id.desc())
    ).first()
    return int(json.loads(row.detail).get("noticeEnds", 0)) if row is not None else 0


def _notice_entry(session: Session, claim: Claim, version: ChainVersion | None = None) -> NoticeEntry:
    hashes = session.scalars(
        select(ReviewAssignment.report_hash).where(
            ReviewAssignment.claim_pk == claim.id, ReviewAssignment.submitted_at.is_not(None)
        )
    ).all()
    rules = rule_set_by_hash(session, claim.rule_set_hash)
    return NoticeEntry(
        notice_id="0x" + claim.claim_id.hex(),
        illness_code=claim.illness_code,
        age_band=age_band_label(rules, claim.age_at_diagnosis),
        payout_fen=version.payout_fen if version else claim.payout_fen,
        report_hashes=sorted("0x" + h.hex() for h in hashes if h is not None),
        notice_ends=notice_ends(session, claim),
        rule_set_hash="0x" + claim.rule_set_hash.hex(),
        chain_mismatch=version.mismatch if version else [],
    )


def public_notice(
    session: Session,
    principal: Principal,
    *,
    limit: int = 50,
    offset: int = 0,
    chain: ClaimLedgerClient | None = None,
) -> list[NoticeEntry]:
    """Claims in their public-notice window, redacted, oldest first.

    With ``chain``, ClaimLedger decides (one ``eth_call`` per candidate): the candidates are the
    claims whose row says IN_NOTICE *and* those whose recorded steps (ReviewDecided → IN_NOTICE
    with no NoticeFinalized, ObjectionRecorded or ClaimWithdrawn after it) say so, so an edited
    status neither hides nor adds a claim; only those IN_NOTICE on chain are listed, with the
    chain's payout.
    """
    if principal.role not in ("member", "operator", "auditor"):
        raise Forbidden("the public notice is for members")
    in_notice = Claim.status == "IN_NOTICE"
    if chain is not None:
        published = select(ClaimEvent.claim_pk).where(
            ClaimEvent.kind == "ReviewDecided", ClaimEvent.detail.contains('"IN_NOTICE"')
        )
        left = select(ClaimEvent.claim_pk).where(
            ClaimEvent.kind.in_(("NoticeFinalized", "ObjectionRecorded", "ClaimWithdrawn"))
        )
        in_notice = in_notice | (Claim.id.in_(published) & Claim.id.not_in(left))
    claims = session.scalars(
        select(Claim).where(in_notice).order_by(Claim.updated_at, Claim.id).limit(limit).offset(offset)
    ).all()
    if chain is None:
        return [_notice_entry(session, c) for c in claims]
    entries = []
    for claim in claims:
        version = chain_version(chain, claim)
        if version.status == "IN_NOTICE":
            entries.append(_notice_entry(session, claim, version))
    return entries


def _claim_by_notice_id(session: Session, notice_id: str) -> Claim:
    try:
        raw = bytes.fromhex(notice_id.removeprefix("0x"))
    except ValueError:
        raw = b""
    claim = session.scalars(select(Claim).where(Claim.claim_id == raw)).first() if len(raw) == 32 else None
    if claim is None or claim.status not in ("IN_NOTICE", "DISPUTED", "APPROVED", "REJECTED", "PAID"):
        raise NotFound("no such notice")
    if notice_ends(session, claim) == 0:  # never published (e.g. rejected by review)
        raise NotFound("no such notice")
    return claim


@dataclass(frozen=True)
class ObjectionResult:
    notice_id: str
    status: str
    at: datetime


@dataclass(frozen=True)
class SignedObjection:
    """An objection as the objector's device signed it: its own fresh key, the deadline, the signature."""

    objector_key: str
    deadline: int
    signature: bytes


def _objection_target(
    ctx: ServiceContext, session: Session, principal: Principal, notice_id: str
) -> tuple[Member, Claim]:
    """The objecting member and the claim, once every off-chain rule of an objection holds."""
    if principal.role != "member":
        raise Forbidden("only members object to claims")
    member = member_of(session, principal)
    if member is None or member.status != "active":
        raise Forbidden("only active members object to claims", code="NOT_A_MEMBER")
    claim = _claim_by_notice_id(session, notice_id)
    if claim.member_id == member.id:
        raise Conflict("you cannot object to your own claim", code="OWN_CLAIM")
    if session.scalars(
        select(Objection.id).where(Objection.claim_pk == claim.id, Objection.member_id == member.id)
    ).first():
        raise Conflict("you already objected to this claim", code="OBJECTION_EXISTS")
    if claim.status != "IN_NOTICE" or chain_now(ctx) >= notice_ends(session, claim):
        raise Conflict("the notice window of this claim is closed", code="NOTICE_CLOSED")
    return member, claim


def objection_draft(ctx: ServiceContext, principal: Principal, notice_id: str) -> dict[str, Any]:
    """The Objection document the member's device signs with a fresh key of its own (``{typedData, signer}``)."""
    with ctx.sessions() as session:
        member, claim = _objection_target(ctx, session, principal, notice_id)
        commitment = objector_commitment(member, claim.claim_id)
        return consent_draft(ctx, "Objection", claim.claim_id, signer=None, objector_commitment=commitment)


def object_to_claim(
    ctx: ServiceContext, principal: Principal, notice_id: str, reason: str, signed: SignedObjection
) -> ObjectionResult:
    """Record a member's objection (once per member and claim), signed on the member's device by a
    key of its own (``objection_draft``); the first one disputes the claim."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason must be 1 to {MAX_REASON} characters", code="INVALID_REASON", field="reason")
    with ctx.sessions.begin() as session:
        member, claim = _objection_target(ctx, session, principal, notice_id)
        commitment = objector_commitment(member, claim.claim_id)
        require_consent(
            ctx,
            "Objection",
            claim.claim_id,
            deadline=signed.deadline,
            signature=signed.signature,
            signer=signed.objector_key,
            objector_commitment=commitment,
        )
        sealed = seal_text(ctx.keyring, reason, objection_aad(claim.id, member.id))
        objection = Objection(claim_pk=claim.id, member_id=member.id, reason="", reason_sealed=sealed)
        session.add(objection)
        session.flush()
        commitment = objector_commitment(member, claim.claim_id)
        declare_jury_conflicts(ctx, session, claim, member, commitment)  # before the draw is scheduled
        try:
            tx = ledger(ctx).object_by_sig(
                claim.claim_id, commitment, signed.objector_key, signed.deadline, signed.signature
            )
        except ContractReverted as exc:
            if exc.error == "ClaimLedgerNoticeClosed":
                raise Conflict("the notice window of this claim is closed", code="NOTICE_CLOSED") from exc
            raise
        record_event(session, claim, "ObjectionRecorded", tx, objectorKey=signed.objector_key)
        set_status(claim, ClaimState.DISPUTED)
        at = objection.at
    with ctx.sessions.begin() as session:
        claim = _claim_by_notice_id(session, notice_id)
        draw_jury_if_due(ctx, session, claim)  # once the seed block is past; else the workflow clock draws
        return ObjectionResult(notice_id, claim.status, at)


def finalize_notice(ctx: ServiceContext, session: Session, claim: Claim) -> LedgerTx:
    """IN_NOTICE → APPROVED once the window has passed without objection."""
    if claim.status != "IN_NOTICE":
        raise Conflict(f"the claim is {claim.status}, not in notice", code="INVALID_STATE")
    ends = notice_ends(session, claim)
    if chain_now(ctx) < ends:
        raise Conflict("the notice window is still open", code="NOTICE_OPEN", notice_ends=ends)
    tx = ledger(ctx).finalize_notice(claim.claim_id)
    record_event(session, claim, "NoticeFinalized", tx)
    set_status(claim, ClaimState.APPROVED)
    return tx


def seal_legacy_objections(ctx: ServiceContext) -> int:
    """Encrypt the reasons still in plain text (rows from before revision 0008); returns how many."""
    with ctx.sessions.begin() as session:
        rows = session.scalars(select(Objection).where(Objection.reason_sealed.is_(None))).all()
        for row in rows:
            row.reason_sealed = seal_text(ctx.keyring, row.reason, objection_aad(row.claim_pk, row.member_id))
            row.reason = ""
        return len(rows)
