"""Review: reviewer assignment, the queue, evidence verification and decryption, signed verdicts.

* **Assignment** — ``review_quorum`` (the claim's anchored rule set) reviewers per claim: accounts
  with the reviewer role and a signing key, never the claimant, never an account with a declared
  :class:`~backend.db.models.Relation` to the claimant, never the same reviewer twice; the least
  loaded first, ties broken by ``keccak256(claimId ‖ accountId)`` so the choice is reproducible.
* **Evidence verification** — four checks, each ``pass`` / ``fail`` / ``pending`` with a detail:
  ``decrypt`` (the data key unwraps, every ciphertext block re-hashes to its CID, every AES-GCM
  segment authenticates), ``rehash`` (sha256 of the plaintext and its size equal the recorded ones,
  and the CID re-derives from the ciphertext bytes), ``commitment`` (``keccak256(sha256 ‖ salt)``
  is the leaf's content commitment), ``inclusion`` (the leaf's proof verifies in
  ``EvidenceNotary.verify`` against the anchored batch, and the leaf is in the claim's evidence
  root filed on ClaimLedger). ``verified`` is true only when all four pass.
* **Access log** (RELIABILITY.md E5) — every decryption appends an :class:`EvidenceAccess` row to a
  hash chain: ``entry_hash = keccak256(prev_hash ‖ canonical JSON {evidenceId, accountId, purpose,
  at})``, the first ``prev_hash`` is 32 zero bytes. :func:`verify_access_log` recomputes the chain and
  names the first row that does not fit (edited, deleted before it, or inserted out of order).
  Deleting the newest rows is only caught once the head is anchored (not done yet).
* **Verdicts** — the report is stored encrypted in the evidence store (never on chain); on chain
  only ``reportHash = keccak256(abi.encode(keccak256(report), salt))`` — salted, because a short
  report ("diagnosis confirmed") would be brute-forced from a plain hash. The verdict is signed
  server-side with the reviewer's EIP-712 key (signature kept before relaying, so a retry relays the
  same one) and relayed by the operator. If someone else relayed that signed verdict first (C3), the
  relay reverts on the used nonce, and the verdict counts as recorded when the chain holds our
  digest for this reviewer.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend.chain.claims import ClaimState, LedgerTx
from backend.chain.eip712 import Verdict, VerdictKind, sign_verdict, verdict_digest
from backend.chain.notary import NotaryBatchLookup, NotaryClient
from backend.chain.transactions import ContractReverted
from backend.db.models import (
    Account,
    AnchorBatch,
    AnchorItem,
    Claim,
    ClaimEvent,
    EvidenceAccess,
    EvidenceItem,
    Member,
    Relation,
    ReviewAssignment,
    utcnow,
)
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.proofs.access_log import access_entry_hash
from backend.proofs.commitments import content_commitment, new_salt, report_hash
from backend.proofs.keccak import keccak256
from backend.proofs.leaves import evidence_leaf_hash
from backend.proofs.merkle import MerkleTree, verify_proof
from backend.services.accounts import signing_account
from backend.services.anchoring import unpack_proof
from backend.services.auth import Principal
from backend.services.claims import (
    ClaimView,
    claim_leaf_hashes,
    claim_view,
    flags_of,
    hex32,
    is_claimant,
    ledger,
    record_event,
    set_status,
)
from backend.services.context import ServiceContext
from backend.services.rules import REASON_CODES

GENESIS = b"\x00" * 32
VERDICT_TTL_SECONDS = 3600
_access_lock = threading.Lock()


def reason_code_number(verdict: str, reason: str | None) -> int:
    """The ``uint16`` on chain: 0 for approvals, else 1 + the index in ``REASON_CODES``."""
    if verdict == "APPROVE":
        return 0
    assert reason is not None
    return 1 + REASON_CODES.index(reason)


# --- assignment and the queue -------------------------------------------------------------------


def related_account_ids(session: Session, member_ids: list[str]) -> set[str]:
    if not member_ids:
        return set()
    return set(session.scalars(select(Relation.account_id).where(Relation.member_id.in_(member_ids))).all())


def assign_reviewers(ctx: ServiceContext, session: Session, claim: Claim) -> list[str]:
    """Fill the claim's review panel up to the rule set's quorum; returns the assigned account ids."""
    return assign_reviewers_many(ctx, session, [claim])[claim.id]


def assign_reviewers_many(ctx: ServiceContext, session: Session, claims: list[Claim]) -> dict[str, list[str]]:
    """:func:`assign_reviewers` for several claims at once (the filing relay's batch): reviewer
    roster, open load and relations are read once. Returns claim id → assigned account ids."""
    panels = plan_review_panels(ctx, session, claims)
    apply_review_panels(session, claims, panels)
    return {claim_pk: panel.chosen for claim_pk, panel in panels.items()}


@dataclass(frozen=True)
class ReviewPanel:
    """Who :func:`plan_review_panels` chose for one claim."""

    chosen: list[str]
    had: int
    quorum: int


def plan_review_panels(ctx: ServiceContext, session: Session, claims: list[Claim]) -> dict[str, ReviewPanel]:
    """Reads only: each claim's reviewers up to its rule set's quorum — never the claimant, never a
    related reviewer, never one already on the panel; least open load first (each claim sees the
    load the ones before it add), ties broken by ``keccak256(claimId ‖ account id)``."""
    if not claims:
        return {}
    chain = ledger(ctx)
    current: dict[str, set[str]] = {c.id: set() for c in claims}
    for claim_pk, reviewer_id in session.execute(
        select(ReviewAssignment.claim_pk, ReviewAssignment.reviewer_id).where(
            ReviewAssignment.claim_pk.in_(list(current))
        )
    ).all():
        current[claim_pk].add(reviewer_id)
    members = {
        m.id: m for m in session.scalars(select(Member).where(Member.id.in_({c.member_id for c in claims}))).all()
    }
    related: dict[str, set[str]] = {member_id: set() for member_id in members}
    for member_id, account_id in session.execute(
        select(Relation.member_id, Relation.account_id).where(Relation.member_id.in_(list(members)))
    ).all():
        related[member_id].add(account_id)
    load: dict[str, int] = {
        reviewer_id: int(count)
        for reviewer_id, count in session.execute(
            select(ReviewAssignment.reviewer_id, func.count())
            .where(ReviewAssignment.verdict.is_(None))
            .group_by(ReviewAssignment.reviewer_id)
        ).all()
    }
    candidates = session.scalars(
        select(Account).where(
            Account.role == "reviewer", Account.disabled.is_(False), Account.signing_address.is_not(None)
        )
    ).all()
    panels: dict[str, ReviewPanel] = {}
    for claim in claims:
        quorum = chain.review_quorum(claim.rule_set_hash)
        member = members[claim.member_id]
        have = current[claim.id]
        excluded = {member.account_id, *have, *related[member.id]}
        ranked = sorted(
            (a for a in candidates if a.id not in excluded),
            key=lambda a: (load.get(a.id, 0), keccak256(claim.claim_id + a.id.encode())),
        )
        chosen = [a.id for a in ranked[: max(0, quorum - len(have))]]
        for account_id in chosen:
            load[account_id] = load.get(account_id, 0) + 1
        panels[claim.id] = ReviewPanel(chosen, len(have), quorum)
    return panels


def apply_review_panels(session: Session, claims: list[Claim], panels: dict[str, ReviewPanel]) -> None:
    """Write the assignments :func:`plan_review_panels` chose, with their timeline rows."""
    for claim in claims:
        panel = panels[claim.id]
        for account_id in panel.chosen:
            session.add(ReviewAssignment(claim_pk=claim.id, reviewer_id=account_id))
        if panel.chosen:
            record_event(session, claim, "reviewers_assigned", count=panel.had + len(panel.chosen), quorum=panel.quorum)
        if panel.had + len(panel.chosen) < panel.quorum:
            record_event(session, claim, "reviewers_short", needed=panel.quorum - panel.had - len(panel.chosen))
    session.flush()


def _assignment(session: Session, principal: Principal, claim_pk: str) -> tuple[Claim, ReviewAssignment]:
    """The claim and the caller's assignment to it; anything else is the nonexistent-id 404.

    An assignment never puts a reviewer on their own or a related member's claim; should one exist
    anyway (a relation declared after the assignment, an edited row), the reviewer gets 403
    ``REVIEWER_CONFLICTED`` for everything on that claim — verdict, evidence, report.
    """
    if principal.role != "reviewer":
        raise NotFound("no such claim")
    assignment = session.scalars(
        select(ReviewAssignment).where(
            ReviewAssignment.claim_pk == claim_pk, ReviewAssignment.reviewer_id == principal.account_id
        )
    ).first()
    claim = session.get(Claim, claim_pk)
    if assignment is None or claim is None:
        raise NotFound("no such claim")
    member = session.get(Member, claim.member_id)
    if member is not None and (
        member.account_id == principal.account_id or principal.account_id in related_account_ids(session, [member.id])
    ):
        raise Forbidden("a reviewer may not act on their own or a related member's claim", code="REVIEWER_CONFLICTED")
    return claim, assignment


@dataclass(frozen=True)
class QueueEntry:
    id: str
    claim_id: str
    status: str
    illness_code: str
    flags: list[str]
    assigned_at: datetime
    verdict: str | None


def review_queue(session: Session, principal: Principal, *, pending_only: bool = False) -> list[QueueEntry]:
    """Claims assigned to the calling reviewer (open ones first)."""
    if principal.role != "reviewer":
        raise Forbidden("only reviewers have a review queue")
    stmt = (
        select(ReviewAssignment, Claim)
        .join(Claim, Claim.id == ReviewAssignment.claim_pk)
        .where(ReviewAssignment.reviewer_id == principal.account_id)
        .order_by(ReviewAssignment.verdict.is_not(None), ReviewAssignment.assigned_at)
    )
    if pending_only:
        stmt = stmt.where(ReviewAssignment.verdict.is_(None), Claim.status == "UNDER_REVIEW")
    return [
        QueueEntry(c.id, "0x" + c.claim_id.hex(), c.status, c.illness_code, flags_of(c), a.assigned_at, a.verdict)
        for a, c in session.execute(stmt).all()
    ]


@dataclass(frozen=True)
class ReviewDetail:
    claim: ClaimView
    member_age_at_diagnosis: int
    waiting_ends_at: datetime
    joined_at: datetime
    verdict: str | None
    reason_code: str | None
    report_hash: str | None


def review_detail(session: Session, principal: Principal, claim_pk: str) -> ReviewDetail:
    """What an assigned reviewer needs: the claim, its flags and evidence list, membership dates."""
    claim, assignment = _assignment(session, principal, claim_pk)
    member = session.get(Member, claim.member_id)
    assert member is not None
    return ReviewDetail(
        claim=claim_view(session, claim),
        member_age_at_diagnosis=claim.age_at_diagnosis,
        waiting_ends_at=member.waiting_ends_at,
        joined_at=member.joined_at,
        verdict=assignment.verdict,
        reason_code=assignment.reason_code,
        report_hash=hex32(assignment.report_hash),
    )


# --- the evidence access log (E5) ---------------------------------------------------------------


def log_access(ctx: ServiceContext, evidence_id: str, account_id: str, purpose: str) -> EvidenceAccess:
    """Append one row to the hash-chained access log (serialised: one chain, no forks)."""
    with _access_lock, ctx.sessions.begin() as session:
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(7268211)"))  # across processes
        last = session.scalars(select(EvidenceAccess).order_by(EvidenceAccess.id.desc()).limit(1)).first()
        prev = last.entry_hash if last is not None else GENESIS
        at = utcnow()
        row = EvidenceAccess(
            evidence_id=evidence_id,
            account_id=account_id,
            purpose=purpose,
            at=at,
            prev_hash=prev,
            entry_hash=access_entry_hash(prev, evidence_id, account_id, purpose, at),
        )
        session.add(row)
    return row


@dataclass(frozen=True)
class AccessLogReport:
    ok: bool
    rows: int
    bad_row: int | None = None
    problem: str | None = None


def verify_access_log(session: Session) -> AccessLogReport:
    """Recompute the access log's hash chain; the first row that does not fit is named."""
    prev = GENESIS
    count = 0
    for row in session.scalars(select(EvidenceAccess).order_by(EvidenceAccess.id)):
        count += 1
        if row.prev_hash != prev:
            return AccessLogReport(False, count, row.id, "prev_hash does not link to the row before (row deleted?)")
        expected = access_entry_hash(row.prev_hash, row.evidence_id, row.account_id, row.purpose, row.at)
        if row.entry_hash != expected:
            return AccessLogReport(False, count, row.id, "entry_hash does not match the row's contents (row edited)")
        prev = row.entry_hash
    return AccessLogReport(True, count)


# --- opening and verifying evidence ---------------------------------------------------------------


def _sealed(item: EvidenceItem) -> Any:
    from evidence_store import SealedEvidence
    from evidence_store.multiformats import CID

    return SealedEvidence(
        cid=CID.from_bytes(item.cid),
        commitment=item.commitment,
        salt=item.salt,
        plaintext_sha256=item.plaintext_sha256,
        wrapped_dek=item.wrapped_dek,
        kid=item.kek_id or "",
        size=item.size,
    )


def readable_evidence(session: Session, principal: Principal, claim_pk: str, evidence_id: str) -> EvidenceItem:
    """The evidence item if the caller may see its plaintext: the claimant or an assigned reviewer."""
    claim = session.get(Claim, claim_pk)
    item = session.get(EvidenceItem, evidence_id)
    if claim is None or item is None or item.claim_pk != claim.id:
        raise NotFound("no such evidence")
    if is_claimant(session, principal, claim):
        return item
    if principal.role == "reviewer":
        try:
            _assignment(session, principal, claim.id)  # 403 for a conflicted reviewer
        except NotFound:
            raise NotFound("no such evidence") from None
        return item
    raise NotFound("no such evidence")


@dataclass(frozen=True)
class OpenedEvidence:
    evidence_id: str
    media_type: str
    size: int
    original_name: str | None
    chunks: Iterator[bytes]


def open_claim_evidence(ctx: ServiceContext, principal: Principal, claim_pk: str, evidence_id: str) -> OpenedEvidence:
    """Verified plaintext for the claimant or an assigned reviewer; the decryption is logged first."""
    from evidence_store import open_evidence

    with ctx.sessions() as session:
        item = readable_evidence(session, principal, claim_pk, evidence_id)
        sealed = _sealed(item)
        meta = (item.id, item.media_type, item.size, item.original_name)
    chunks = open_evidence(ctx.store, ctx.keyring, sealed)  # raises eagerly (shredded, key)
    purpose = "claimant_download" if principal.role == "member" else "review_download"
    log_access(ctx, evidence_id, principal.account_id, purpose)
    return OpenedEvidence(*meta, chunks=chunks)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # pass | fail | pending
    detail: str


@dataclass(frozen=True)
class EvidenceVerification:
    evidence_id: str
    verified: bool
    checks: list[Check]


def verify_claim_evidence(
    ctx: ServiceContext, principal: Principal, claim_pk: str, evidence_id: str
) -> EvidenceVerification:
    """The four checks of the module docstring, for an assigned reviewer (the decryption is logged)."""
    from evidence_store import compute_cid
    from evidence_store.crypto import WrappedKey, decrypt_stream
    from evidence_store.errors import EvidenceStoreError
    from evidence_store.multiformats import CID

    with ctx.sessions() as session:
        claim, _ = _assignment(session, principal, claim_pk)
        item = session.get(EvidenceItem, evidence_id)
        if item is None or item.claim_pk != claim.id:
            raise NotFound("no such evidence")
        anchor = session.scalars(select(AnchorItem).where(AnchorItem.ref_id == item.id)).first()
        batch = session.get(AnchorBatch, anchor.batch_id) if anchor and anchor.batch_id is not None else None
        claim_leaves = claim_leaf_hashes(session, claim)
        claim_root, claim_onchain_id = claim.evidence_root, claim.claim_id
        cid = CID.from_bytes(item.cid)

    checks: list[Check] = []
    digest: bytes | None = None
    size = 0
    # 1. decrypt
    if item.wrapped_dek is None:
        checks.append(Check("decrypt", "fail", "the data key was crypto-shredded"))
    else:
        try:
            dek = ctx.keyring.unwrap(WrappedKey(item.kek_id or "", item.wrapped_dek))
            log_access(ctx, item.id, principal.account_id, "review_verify")
            hasher = hashlib.sha256()
            for chunk in decrypt_stream(dek, ctx.store.cat(cid)):
                hasher.update(chunk)
                size += len(chunk)
            digest = hasher.digest()
            checks.append(
                Check("decrypt", "pass", "key unwrapped; every block matched its CID; every segment authenticated")
            )
        except EvidenceStoreError as exc:
            checks.append(Check("decrypt", "fail", f"{exc.code}: {exc.message}"))
    # 2. re-hash
    if digest is None:
        checks.append(Check("rehash", "fail", "no authenticated plaintext to hash"))
    else:
        problems = []
        if digest != item.plaintext_sha256:
            problems.append("sha256 of the plaintext differs from the recorded digest")
        if size != item.size:
            problems.append(f"plaintext is {size} bytes, {item.size} recorded")
        try:
            rederived = compute_cid(ctx.store.cat(cid), cid_version=cid.version)
            if rederived != cid:
                problems.append(f"the ciphertext re-derives to {rederived}, not the recorded CID")
        except EvidenceStoreError as exc:
            problems.append(f"ciphertext unreadable: {exc.code}")
        checks.append(
            Check("rehash", "fail" if problems else "pass", "; ".join(problems) or "sha256, size and CID re-derive")
        )
    # 3. commitment
    basis = digest if digest is not None else item.plaintext_sha256
    if content_commitment(basis, item.salt) == item.commitment:
        checks.append(Check("commitment", "pass", "keccak256(sha256 ‖ salt) equals the leaf's content commitment"))
    else:
        checks.append(
            Check("commitment", "fail", "keccak256(sha256 ‖ salt) differs from the leaf's content commitment")
        )
    # 4. inclusion
    checks.append(_inclusion_check(ctx, item, anchor, batch, claim_leaves, claim_root, claim_onchain_id))
    verified = all(c.status == "pass" for c in checks)
    return EvidenceVerification(item.id, verified, checks)


def _inclusion_check(
    ctx: ServiceContext,
    item: EvidenceItem,
    anchor: AnchorItem | None,
    batch: AnchorBatch | None,
    claim_leaves: list[bytes],
    claim_root: bytes,
    claim_id: bytes,
) -> Check:
    leaf = evidence_leaf_hash(item.claim_ref, item.commitment, item.cid)
    if anchor is None or batch is None or batch.status != "confirmed" or batch.onchain_id is None:
        return Check("inclusion", "pending", "not anchored yet: the commitment is queued for the next batch")
    onchain_root = ledger(ctx).claim(claim_id).evidence_root
    tree = MerkleTree.from_leaf_hashes(claim_leaves)
    if leaf not in claim_leaves:
        return Check("inclusion", "fail", "the leaf is not among the claim's evidence leaves")
    if tree.root != claim_root or onchain_root != claim_root:
        return Check("inclusion", "fail", "the claim's evidence root on chain does not match its leaves")
    if not verify_proof(onchain_root, leaf, tree.proof(claim_leaves.index(leaf))):
        return Check("inclusion", "fail", "the leaf does not prove into the claim's evidence root")
    lookup = NotaryBatchLookup(NotaryClient(ctx.w3, ctx.contracts["EvidenceNotary"]))
    proof = unpack_proof(anchor.proof)
    onchain = lookup.batch(batch.onchain_id)
    if onchain is None or onchain.root != batch.root:
        return Check("inclusion", "fail", f"batch {batch.onchain_id} on chain does not hold the recorded root")
    if not lookup.verify(batch.onchain_id, leaf, proof):
        return Check("inclusion", "fail", f"EvidenceNotary.verify rejected the proof in batch {batch.onchain_id}")
    return Check(
        "inclusion",
        "pass",
        f"proof verified on chain in batch {batch.onchain_id} (root {hex32(batch.root)}, block {onchain.block});"
        " leaf is in the claim's evidence root on ClaimLedger",
    )


# --- verdicts ------------------------------------------------------------------------------------


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
    from evidence_store import seal_evidence

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
    from evidence_store import SealedEvidence, open_evidence
    from evidence_store.multiformats import CID

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
