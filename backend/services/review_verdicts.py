"""Reviewers' verdicts: prepared and signed (EIP-712) once, stored, then relayed to ClaimLedger.

The report is sealed in the evidence store; only its salted hash (``report_hash``) goes on chain.
A verdict relayed by another process (or found mined after a crash) is recorded from the chain's
logs, so a step is never applied twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.eip712 import Verdict, VerdictKind, sign_verdict, verdict_digest
from backend.chain.ledger_types import ClaimState, LedgerTx
from backend.chain.transactions import ContractReverted
from backend.db.models import Account, Claim, ClaimEvent, ReviewAssignment, utcnow
from backend.errors import Conflict, InvalidInput
from backend.proofs.commitments import new_salt, report_hash
from backend.services.accounts import signing_account
from backend.services.auth import Principal
from backend.services.claims import ClaimView, claim_view, hex32, ledger, record_event, set_status
from backend.services.context import ServiceContext
from backend.services.review import _assignment, reason_code_number
from backend.services.rules import REASON_CODES
from evidence_store import SealedEvidence, open_evidence, seal_evidence
from evidence_store.multiformats import CID

VERDICT_TTL_SECONDS = 3600


@dataclass(frozen=True)
class VerdictRequest:
    verdict: str  # APPROVE | REJECT
    reason_code: str | None
    report: str


@dataclass(frozen=True)
class VerdictResult:
    claim: ClaimView
    verdict: str
    reason_code: str | None
    report_hash: str
    digest: str
    tx_hash: str | None
    block_number: int | None
    relayed_by_other: bool


def _check_request(request: VerdictRequest) -> None:
    if request.verdict not in ("APPROVE", "REJECT"):
        raise InvalidInput("verdict is APPROVE or REJECT", code="INVALID_VERDICT", field="verdict")
    if request.verdict == "REJECT" and (request.reason_code not in REASON_CODES or request.reason_code == "APPROVED"):
        raise InvalidInput(
            "a rejection needs a reason code from the plan's enum", code="INVALID_REASON_CODE", field="reasonCode"
        )
    if request.verdict == "APPROVE" and request.reason_code not in (None, "APPROVED"):
        raise InvalidInput("an approval takes no rejection reason", code="INVALID_REASON_CODE", field="reasonCode")
    if not request.report.strip():
        raise InvalidInput("the report is required", code="REPORT_REQUIRED", field="report")
    if len(request.report) > 20_000:
        raise InvalidInput("the report is longer than 20,000 characters", code="REPORT_TOO_LONG", field="report")


def prepare_verdict(ctx: ServiceContext, principal: Principal, claim_pk: str, request: VerdictRequest) -> Verdict:
    """Store the encrypted report and the reviewer's signed verdict (once); returns the verdict."""
    _check_request(request)
    client = ledger(ctx)
    with ctx.sessions.begin() as session:
        claim, assignment = _assignment(session, principal, claim_pk)
        if assignment.signature is not None:
            if assignment.verdict != request.verdict or assignment.reason_code != (request.reason_code or "APPROVED"):
                raise Conflict("you already signed a different verdict on this claim", code="VERDICT_ALREADY_SIGNED")
            return _stored_verdict(session, claim, assignment)
        if claim.status != "UNDER_REVIEW":
            raise Conflict(f"the claim is {claim.status}, not under review", code="INVALID_STATE")
        reviewer = session.get(Account, principal.account_id)
        assert reviewer is not None
        assert reviewer.signing_address is not None
        if reviewer.signing_key_encrypted is None:  # their own key (participant_keys): the server cannot sign
            raise Conflict("your key is yours: sign the verdict draft on your device", code="DEVICE_KEY_REQUIRED")
        salt = new_salt()
        sealed = seal_evidence(ctx.store, ctx.keyring, [request.report.encode("utf-8")])
        verdict = Verdict(
            claim_id=claim.claim_id,
            verdict=int(VerdictKind[request.verdict]),
            reason_code=reason_code_number(request.verdict, request.reason_code),
            report_hash=report_hash(request.report, salt),
            rule_set_hash=claim.rule_set_hash,
            nonce=client.nonces(reviewer.signing_address),
            deadline=int(ctx.w3.eth.get_block("latest")["timestamp"]) + VERDICT_TTL_SECONDS,
        )
        signature = sign_verdict(signing_account(ctx, reviewer), verdict, client.domain())
        assignment.verdict = request.verdict
        assignment.reason_code = request.reason_code or "APPROVED"
        assignment.report_hash = verdict.report_hash
        assignment.signature = signature
        record_event(
            session,
            claim,
            "verdict_signed",
            verdict=request.verdict,
            reportHash=hex32(verdict.report_hash),
            private={
                "reviewerId": reviewer.id,
                "nonce": verdict.nonce,
                "deadline": verdict.deadline,
                "reportSalt": hex32(salt),
                "reportCid": str(sealed.cid),
                "reportKid": sealed.kid,
                "reportDek": hex32(sealed.wrapped_dek),
                "reportSha256": hex32(sealed.plaintext_sha256),
                "reportSize": sealed.size,
            },
        )
        return verdict


def _stored_verdict(session: Session, claim: Claim, assignment: ReviewAssignment) -> Verdict:
    rows = session.scalars(
        select(ClaimEvent).where(ClaimEvent.claim_pk == claim.id, ClaimEvent.kind == "verdict_signed")
    ).all()
    for row in rows:
        private = json.loads(row.detail).get("private", {})
        if private.get("reviewerId") == assignment.reviewer_id:
            assert assignment.report_hash is not None
            assert assignment.verdict is not None
            return Verdict(
                claim_id=claim.claim_id,
                verdict=int(VerdictKind[assignment.verdict]),
                reason_code=reason_code_number(assignment.verdict, assignment.reason_code),
                report_hash=assignment.report_hash,
                rule_set_hash=claim.rule_set_hash,
                nonce=int(private["nonce"]),
                deadline=int(private["deadline"]),
            )
    raise Conflict("the signed verdict's record is missing", code="VERDICT_RECORD_MISSING")


def relay_verdict(ctx: ServiceContext, principal: Principal, claim_pk: str) -> VerdictResult:
    """Relay the caller's signed verdict; success also when someone else already relayed it (C3)."""
    client = ledger(ctx)
    with ctx.sessions.begin() as session:
        claim, assignment = _assignment(session, principal, claim_pk)
        if assignment.signature is None:
            raise Conflict("no signed verdict to relay", code="NO_VERDICT")
        reviewer = session.get(Account, principal.account_id)
        assert reviewer is not None
        assert reviewer.signing_address is not None
        verdict = _stored_verdict(session, claim, assignment)
        digest = verdict_digest(verdict, client.domain())
        tx: LedgerTx | None = None
        relayed_by_other = False
        if assignment.submitted_at is None:
            if client.verdict_digest(claim.claim_id, reviewer.signing_address) != digest:
                try:
                    tx = client.submit_verdict(claim.claim_id, verdict, assignment.signature)
                except ContractReverted:
                    if client.verdict_digest(claim.claim_id, reviewer.signing_address) != digest:
                        raise
            if tx is None:
                relayed_by_other = True
                tx = _find_verdict_tx(ctx, claim.claim_id, reviewer.signing_address)
            assignment.submitted_at = utcnow()
            _apply_verdict_tx(ctx, session, claim, tx, relayed_by_other)
        return VerdictResult(
            claim=claim_view(session, claim),
            verdict=assignment.verdict or "",
            reason_code=assignment.reason_code,
            report_hash=hex32(assignment.report_hash) or "",
            digest="0x" + digest.hex(),
            tx_hash=hex32(tx.tx_hash) if tx else None,
            block_number=tx.block_number if tx else None,
            relayed_by_other=relayed_by_other,
        )


def _find_verdict_tx(ctx: ServiceContext, claim_id: bytes, reviewer: str) -> LedgerTx:
    """The transaction (whoever sent it) that recorded ``reviewer``'s verdict, with its events."""
    events = ledger(ctx).timeline(claim_id)
    mine = next(e for e in events if e.name == "VerdictRecorded" and e.args["reviewer"].lower() == reviewer.lower())
    same_tx = tuple(e for e in events if e.tx_hash == mine.tx_hash)
    return LedgerTx(mine.tx_hash, mine.block_number, same_tx)


def _apply_verdict_tx(ctx: ServiceContext, session: Session, claim: Claim, tx: LedgerTx, by_other: bool) -> None:
    recorded = tx.event("VerdictRecorded")
    assert recorded is not None
    record_event(
        session,
        claim,
        "VerdictRecorded",
        tx,
        reviewer=recorded.args["reviewer"],
        verdict="APPROVE" if recorded.args["verdict"] == 1 else "REJECT",
        reasonCode=int(recorded.args["reasonCode"]),
        reportHash=hex32(bytes(recorded.args["reportHash"])),
        relayedByOther=by_other,
    )
    decided = tx.event("ReviewDecided")
    if decided is None:
        return
    outcome = ClaimState(int(decided.args["outcome"]))
    record_event(
        session,
        claim,
        "ReviewDecided",
        tx,
        outcome=outcome.name,
        approvals=int(decided.args["approvals"]),
        rejections=int(decided.args["rejections"]),
        noticeEnds=int(decided.args["noticeEnds"]),
    )
    set_status(claim, outcome)
    if outcome == ClaimState.REJECTED:
        reasons = session.scalars(
            select(ReviewAssignment.reason_code).where(
                ReviewAssignment.claim_pk == claim.id, ReviewAssignment.verdict == "REJECT"
            )
        ).all()
        claim.reason_code = reasons[0] if reasons else None


def submit_verdict(ctx: ServiceContext, principal: Principal, claim_pk: str, request: VerdictRequest) -> VerdictResult:
    """Sign (once) and relay the calling reviewer's verdict."""
    prepare_verdict(ctx, principal, claim_pk, request)
    return relay_verdict(ctx, principal, claim_pk)


def read_report(ctx: ServiceContext, session: Session, claim: Claim, reviewer_id: str) -> str | None:
    """The decrypted report of one reviewer (for the operator and the jury), or None."""
    for row in session.scalars(
        select(ClaimEvent).where(ClaimEvent.claim_pk == claim.id, ClaimEvent.kind == "verdict_signed")
    ):
        private = json.loads(row.detail).get("private", {})
        if private.get("reviewerId") != reviewer_id:
            continue
        sealed = SealedEvidence(
            cid=CID.parse(private["reportCid"]),
            commitment=b"\x00" * 32,
            salt=b"\x00" * 32,
            plaintext_sha256=bytes.fromhex(private["reportSha256"][2:]),
            wrapped_dek=bytes.fromhex(private["reportDek"][2:]),
            kid=private["reportKid"],
            size=int(private["reportSize"]),
        )
        return b"".join(open_evidence(ctx.store, ctx.keyring, sealed)).decode("utf-8")
    return None
