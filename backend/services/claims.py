"""Claims: filing (with streamed, encrypted evidence), the claimant's views, appeal, withdrawal, payout.

The claim's on-chain identity is built from commitments only (DESIGN.md "Evidence: privacy first"):

* **Evidence root** — the OpenZeppelin StandardMerkleTree root (sorted leaves, ``MerkleTree``) over
  the claim's evidence *leaf hashes* ``keccak256(keccak256(abi.encode(claimRef, contentCommitment,
  cid)))`` — the very leaves the anchoring worker notarizes in ``EvidenceNotary`` batches. Any
  evidence item therefore proves its membership in the claim (proof against ``Claim.evidenceRoot``)
  and its notarization (proof against the batch root) with the same leaf.
* **Claim reference** (``claimRef`` of those leaves) — ``claim_ref(claim.id, random salt)``: one per
  claim, unlinkable to the API id.
* **Member commitment** — a fresh one per claim, so two claims of one member cannot be linked on
  chain: ``member_commitment(member.id, salt_c)`` with ``salt_c = keccak256("hubao.claim-member-salt.v1"
  ‖ member.salt ‖ claimRef)``. It is re-derivable from the database (the member's secret salt), so
  the claimant — and only someone holding that salt — can prove the claim is theirs.
* **Claim id** — ``claimIdOf(memberCommitment, evidenceRoot, ruleSetHash, payoutFen)``.

Integrity rules applied at filing: a diagnosis inside the waiting period rejects the claim
(``WAITING_PERIOD``, decided by the rules, never sent to review or to the chain), ends the
membership and records that the member's past shares are due for refund; the payout follows the
age band at diagnosis; a plaintext already used as evidence of another claim flags both claims
``DUPLICATE_EVIDENCE`` for the reviewers.

Every on-chain step is recorded as a :class:`~backend.db.models.ClaimEvent` with its block and
transaction. A filing interrupted between the database commit and the chain (RPC down) is
completed by :func:`resume_filing` (or the workflow clock): the filing relay of
:mod:`backend.services.filing` files and opens claims in shared, idempotent transactions, so a step
is never applied twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend.chain.claims import ClaimLedgerClient, ClaimState, LedgerTx, OnchainClaim
from backend.chain.eip712 import claim_id as claim_id_of
from backend.chain.transactions import ContractReverted
from backend.db.models import (
    AnchorItem,
    Claim,
    ClaimEvent,
    EvidenceItem,
    Member,
    new_public_id,
    utcnow,
)
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests
from backend.proofs.commitments import claim_member_commitment, new_salt, payment_ref
from backend.proofs.commitments import claim_ref as make_claim_ref
from backend.proofs.leaves import evidence_leaf_hash
from backend.proofs.merkle import MerkleTree
from backend.proofs.receipts import EvidenceReceipt
from backend.services.auth import Principal
from backend.services.context import ServiceContext
from backend.services.evidence import AcceptedEvidence, insert_evidence_rows, seal_upload
from backend.services.membership import age_in_years, terminate
from backend.services.receipts import evidence_receipt
from backend.services.rule_sets import current_rule_set, load_illness_catalog
from backend.services.rules import RuleSet

log = logging.getLogger(__name__)

DUPLICATE_EVIDENCE = "DUPLICATE_EVIDENCE"
WAITING_PERIOD = "WAITING_PERIOD"
# Claims a member may start per rolling day (RELIABILITY.md D13): a real claimant files one.
CLAIMS_PER_DAY = 3
MAX_FILES_PER_CLAIM = 10  # RELIABILITY.md D9
OPEN_STATES = ("FILED", "UNDER_REVIEW", "IN_NOTICE", "DISPUTED")


# --- shared plumbing (also used by services.review and services.jury) ---------------------------


def ledger(ctx: ServiceContext) -> ClaimLedgerClient:
    """The ClaimLedger client of this context (built once by the composition root)."""
    return ctx.claim_ledger


def hex32(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


def event_row(claim_pk: str, kind: str, tx: LedgerTx | None = None, **detail: Any) -> dict[str, Any]:
    """The column values of one timeline row (``ClaimEvent``), for a bulk insert."""
    return {
        "claim_pk": claim_pk,
        "kind": kind,
        "block_number": tx.block_number if tx else None,
        "tx_hash": tx.tx_hash if tx else None,
        "detail": json.dumps(detail, sort_keys=True, default=str),
    }


def record_event(session: Session, claim: Claim, kind: str, tx: LedgerTx | None = None, **detail: Any) -> ClaimEvent:
    """Append one timeline row; ``detail["private"]`` is kept out of every API view."""
    event = ClaimEvent(**event_row(claim.id, kind, tx, **detail))
    session.add(event)
    claim.updated_at = utcnow()
    return event


def set_status(claim: Claim, state: ClaimState | str) -> None:
    name = state.name if isinstance(state, ClaimState) else state
    claim.status = name
    if name in ("REJECTED", "APPROVED", "PAID", "WITHDRAWN") and claim.final_at is None:
        claim.final_at = utcnow()


def get_claim(session: Session, claim_pk: str, *, for_update: bool = False) -> Claim:
    stmt = select(Claim).where(Claim.id == claim_pk)
    if for_update:
        stmt = stmt.with_for_update()
    claim = session.scalars(stmt).first()
    if claim is None:
        raise NotFound("no such claim")
    return claim


def member_of(session: Session, principal: Principal) -> Member | None:
    return session.scalars(select(Member).where(Member.account_id == principal.account_id)).first()


def is_claimant(session: Session, principal: Principal, claim: Claim) -> bool:
    if principal.role != "member":
        return False
    member = session.get(Member, claim.member_id)
    return member is not None and member.account_id == principal.account_id


def visible_claim(session: Session, principal: Principal, claim_pk: str) -> Claim:
    """The claim if ``principal`` may read it (its claimant, an operator or an auditor).

    Anyone else gets exactly the error of a nonexistent id (RELIABILITY.md D1).
    """
    claim = session.get(Claim, claim_pk)
    if claim is None:
        raise NotFound("no such claim")
    if principal.role in ("operator", "auditor") or is_claimant(session, principal, claim):
        return claim
    raise NotFound("no such claim")


def owned_claim(session: Session, principal: Principal, claim_pk: str) -> Claim:
    """The claim if ``principal`` is its claimant (the only one who may act on it as claimant)."""
    claim = session.get(Claim, claim_pk)
    if claim is None or not is_claimant(session, principal, claim):
        raise NotFound("no such claim")
    return claim


def evidence_root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """StandardMerkleTree root over the claim's evidence leaf hashes (order-independent)."""
    leaves = list(leaf_hashes)
    if not leaves:
        raise InvalidInput("a claim needs at least one evidence file", code="EVIDENCE_REQUIRED")
    return MerkleTree.from_leaf_hashes(leaves).root


def claim_leaf_hashes(session: Session, claim: Claim) -> list[bytes]:
    items = session.scalars(select(EvidenceItem).where(EvidenceItem.claim_pk == claim.id)).all()
    return [evidence_leaf_hash(e.claim_ref, e.commitment, e.cid) for e in items]


def age_band_label(rules: RuleSet, age: int) -> str:
    """The payout band containing ``age``, e.g. ``"0-39"`` or ``"40-59"``."""
    low = 0
    for band in sorted(rules.payout_bands, key=lambda b: b.max_age_years):
        if age <= band.max_age_years:
            return f"{low}-{band.max_age_years}"
        low = band.max_age_years + 1
    return f"{low}+"


# --- views -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceView:
    id: str
    media_type: str
    size: int
    commitment: str
    cid: str
    anchored: bool
    duplicate: bool
    original_name: str | None  # only for the claimant

    @classmethod
    def of(
        cls, evidence_id: str, media_type: str, size: int, commitment: bytes, cid: bytes, *, name: str | None
    ) -> EvidenceView:
        """The view of stored values (hex commitment, text CID); not anchored, not a duplicate."""
        from evidence_store.multiformats import CID

        text = str(CID.from_bytes(cid))
        return cls(evidence_id, media_type, size, "0x" + commitment.hex(), text, False, False, name)


@dataclass(frozen=True)
class ClaimView:
    id: str
    claim_id: str
    status: str
    illness_code: str
    diagnosis_date: date
    age_at_diagnosis: int
    payout_fen: int
    rule_set_hash: str
    evidence_root: str
    reason_code: str | None
    flags: list[str]
    filed_at: datetime
    updated_at: datetime
    final_at: datetime | None
    evidence: list[EvidenceView] = field(default_factory=list)
    # Fields (``status``, ``payoutFen``) whose database copy disagrees with ClaimLedger; the view
    # then carries the chain's values. Empty when the view was checked against the chain and agrees
    # (or was not checked: views returned by a step that has just written both).
    chain_mismatch: list[str] = field(default_factory=list)


def flags_of(claim: Claim) -> list[str]:
    return [f for f in claim.flags.split(",") if f]


def add_flag(claim: Claim, flag: str) -> None:
    flags = flags_of(claim)
    if flag not in flags:
        claim.flags = ",".join([*flags, flag])


def evidence_views(session: Session, claim: Claim, *, with_names: bool) -> list[EvidenceView]:
    """The claim's evidence, oldest first: two queries whatever the number of files."""
    rows = session.execute(
        select(
            EvidenceItem.id,
            EvidenceItem.media_type,
            EvidenceItem.size,
            EvidenceItem.commitment,
            EvidenceItem.cid,
            EvidenceItem.plaintext_sha256,
            EvidenceItem.original_name,
            AnchorItem.proof.is_not(None),
        )
        .outerjoin(AnchorItem, AnchorItem.ref_id == EvidenceItem.id)
        .where(EvidenceItem.claim_pk == claim.id)
        .order_by(EvidenceItem.created_at)
    ).all()
    duplicated = _duplicated_digests(session, claim.id, [row.plaintext_sha256 for row in rows])
    return [
        replace(
            EvidenceView.of(
                row.id,
                row.media_type,
                row.size,
                row.commitment,
                row.cid,
                name=row.original_name if with_names else None,
            ),
            anchored=bool(row[7]),
            duplicate=row.plaintext_sha256 in duplicated,
        )
        for row in rows
    ]


def _duplicated_digests(session: Session, claim_pk: str, digests: list[bytes]) -> set[bytes]:
    """Those of ``digests`` that are also the plaintext of another claim's evidence."""
    if not digests:
        return set()
    return set(
        session.scalars(
            select(EvidenceItem.plaintext_sha256)
            .where(
                EvidenceItem.plaintext_sha256.in_(digests),
                EvidenceItem.claim_pk.is_not(None),
                EvidenceItem.claim_pk != claim_pk,
            )
            .distinct()
        ).all()
    )


def offchain_only(claim: Claim) -> bool:
    """Whether ClaimLedger legitimately has no record of ``claim``: a filing not relayed yet, or a
    waiting-period rejection (decided by the rules, never sent to the chain)."""
    return claim.status == "FILED" or (claim.status == "REJECTED" and claim.reason_code == WAITING_PERIOD)


@dataclass(frozen=True)
class ChainVersion:
    """A claim's status and payout as ClaimLedger holds them, and where the database row disagrees."""

    status: str
    payout_fen: int
    mismatch: list[str]


def chain_version(chain: ClaimLedgerClient, claim: Claim) -> ChainVersion:
    """Status and payout from ``ClaimLedger.claim(claimId)`` (one ``eth_call``), compared with the row.

    The chain is authoritative: a row edited behind the API's back does not change what is shown.
    Unknown on chain (``ClaimLedgerUnknownClaim``), a claim keeps its database status, flagged
    unless :func:`offchain_only`. A disagreement is logged (claim ids and states only) and may be
    transient while a step is in flight between its transaction and the database commit.
    """
    try:
        onchain: OnchainClaim | None = chain.claim(claim.claim_id)
    except ContractReverted as exc:
        if exc.error != "ClaimLedgerUnknownClaim":
            raise
        onchain = None
    if onchain is None:
        mismatch = [] if offchain_only(claim) else ["status"]
        version = ChainVersion(claim.status, claim.payout_fen, mismatch)
    else:
        mismatch = []
        if onchain.state.name != claim.status:
            mismatch.append("status")
        if onchain.payout_fen != claim.payout_fen:
            mismatch.append("payoutFen")
        version = ChainVersion(onchain.state.name, onchain.payout_fen, mismatch)
    if version.mismatch:
        log.warning(
            "claim row disagrees with ClaimLedger",
            extra={
                "claim_pk": claim.id,
                "fields": version.mismatch,
                "db_status": claim.status,
                "chain_status": onchain.state.name if onchain else ClaimState.NONE.name,
                "db_payout_fen": claim.payout_fen,
                "chain_payout_fen": onchain.payout_fen if onchain else None,
            },
        )
    return version


def claim_view(
    session: Session, claim: Claim, *, with_names: bool = False, chain: ClaimLedgerClient | None = None
) -> ClaimView:
    """The API's view of ``claim``; with ``chain``, status and payout are ClaimLedger's (see :func:`chain_version`)."""
    version = chain_version(chain, claim) if chain is not None else ChainVersion(claim.status, claim.payout_fen, [])
    return ClaimView(
        id=claim.id,
        claim_id="0x" + claim.claim_id.hex(),
        status=version.status,
        illness_code=claim.illness_code,
        diagnosis_date=claim.diagnosis_date,
        age_at_diagnosis=claim.age_at_diagnosis,
        payout_fen=version.payout_fen,
        rule_set_hash="0x" + claim.rule_set_hash.hex(),
        evidence_root="0x" + claim.evidence_root.hex(),
        reason_code=claim.reason_code,
        flags=flags_of(claim),
        filed_at=claim.filed_at,
        updated_at=claim.updated_at,
        final_at=claim.final_at,
        evidence=evidence_views(session, claim, with_names=with_names),
        chain_mismatch=version.mismatch,
    )


def get_claim_view(
    session: Session, principal: Principal, claim_pk: str, *, chain: ClaimLedgerClient | None = None
) -> ClaimView:
    """One claim for its claimant, an operator or an auditor; checked against ``chain`` when given."""
    claim = visible_claim(session, principal, claim_pk)
    return claim_view(session, claim, with_names=is_claimant(session, principal, claim), chain=chain)


def list_claims(
    session: Session,
    principal: Principal,
    *,
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
    chain: ClaimLedgerClient | None = None,
) -> list[ClaimView]:
    """The caller's own claims (members); every claim for operators and auditors (read-only).

    With ``chain``, each view is checked against ClaimLedger (one ``eth_call`` per claim); the
    ``status`` filter applies to the database copy.
    """
    stmt = select(Claim).order_by(Claim.filed_at.desc(), Claim.id)
    if principal.role == "member":
        stmt = stmt.join(Member, Member.id == Claim.member_id).where(Member.account_id == principal.account_id)
    elif principal.role not in ("operator", "auditor"):
        raise Forbidden("only members, operators and auditors list claims")
    if status is not None:
        stmt = stmt.where(Claim.status == status)
    claims = session.scalars(stmt.limit(min(limit, 100)).offset(offset)).all()
    own = principal.role == "member"
    return [claim_view(session, c, with_names=own, chain=chain) for c in claims]


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    at: datetime
    block_number: int | None
    tx_hash: str | None
    detail: dict[str, Any]


def claim_timeline(session: Session, principal: Principal, claim_pk: str) -> list[TimelineEntry]:
    """Every recorded step of the claim, oldest first (on-chain steps carry block and transaction)."""
    claim = visible_claim(session, principal, claim_pk)
    rows = session.scalars(select(ClaimEvent).where(ClaimEvent.claim_pk == claim.id).order_by(ClaimEvent.id)).all()
    entries = []
    for row in rows:
        detail = json.loads(row.detail or "{}")
        detail.pop("private", None)
        entries.append(TimelineEntry(row.kind, row.at, row.block_number, hex32(row.tx_hash), detail))
    return entries


def claim_evidence_receipt(
    ctx: ServiceContext, session: Session, principal: Principal, claim_pk: str, evidence_id: str
) -> EvidenceReceipt:
    """The claimant's PRIVATE receipt (with salt and digest); operators and auditors get the public one."""
    claim = visible_claim(session, principal, claim_pk)
    item = session.get(EvidenceItem, evidence_id)
    if item is None or item.claim_pk != claim.id:
        raise NotFound("no such evidence")
    return evidence_receipt(
        session,
        evidence_id,
        chain_id=ctx.deployment.chain_id,
        contract=ctx.contracts["EvidenceNotary"].address,
        private=is_claimant(session, principal, claim),
    )


# --- filing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimRequest:
    illness_code: str
    diagnosis_date: date


@dataclass
class ClaimDraft:
    """A claim being filed: validated form, then evidence streamed in, then :func:`file_claim`."""

    claim_pk: str
    member_id: str
    account_id: str
    claim_ref: bytes
    request: ClaimRequest
    age_at_diagnosis: int
    payout_fen: int
    rule_set_hash: bytes
    waiting_period: bool
    files: list[tuple[AcceptedEvidence, str | None]] = field(default_factory=list)
    # The claimant's view of the claim as :func:`record_claim` committed it.
    recorded: ClaimView | None = None


def require_claimant_role(principal: Principal) -> None:
    """Only member accounts file claims (checked before the form is read)."""
    if principal.role != "member":
        raise Forbidden("only members file claims")


def begin_claim(
    ctx: ServiceContext, principal: Principal, request: ClaimRequest, *, today: date | None = None
) -> ClaimDraft:
    """Check the form and the caller's membership; nothing is stored yet.

    Raises ``Forbidden`` (not a member), ``Conflict`` ``MEMBERSHIP_NOT_ACTIVE``, ``InvalidInput``
    (unknown illness code, future date, age outside every band), ``TooManyRequests`` (quota),
    ``Conflict`` ``DIAGNOSED_AFTER_WIND_DOWN`` / ``WIND_DOWN_FILING_CLOSED`` (the plan wound down).
    """
    require_claimant_role(principal)
    today = today or datetime.now(UTC).date()
    with ctx.sessions() as session:
        member = session.execute(
            select(Member.id, Member.status, Member.birth_date, Member.waiting_ends_at).where(
                Member.account_id == principal.account_id
            )
        ).first()
        if member is None:
            raise Forbidden("only members file claims: join the plan first", code="NOT_A_MEMBER")
        if member.status != "active":
            raise Conflict("your membership is not active", code="MEMBERSHIP_NOT_ACTIVE")
        if not load_illness_catalog().covers(request.illness_code):
            raise InvalidInput(
                f"{request.illness_code!r} is not in the illness catalog", code="UNKNOWN_ILLNESS", field="illnessCode"
            )
        if request.diagnosis_date > today:
            raise InvalidInput("the diagnosis date is in the future", code="INVALID_DATE", field="diagnosisDate")
        if request.diagnosis_date < member.birth_date:
            raise InvalidInput("the diagnosis date is before birth", code="INVALID_DATE", field="diagnosisDate")
        # Wind-down: only illnesses diagnosed before the stop, filed within the late-filing window.
        ctx.claim_filing_gate.check_claim_filing(request.diagnosis_date, datetime.now(UTC))
        since = datetime.now(UTC) - timedelta(days=1)
        recent = session.scalars(
            select(Claim.filed_at).where(Claim.member_id == member.id, Claim.filed_at >= since).order_by(Claim.filed_at)
        ).all()
        if len(recent) >= CLAIMS_PER_DAY:
            retry = int((recent[0] + timedelta(days=1) - datetime.now(UTC)).total_seconds()) + 1
            raise TooManyRequests(f"at most {CLAIMS_PER_DAY} claims a day; try again later", retry_after=max(1, retry))
        rules, rule_hash = current_rule_set(session)
        age = age_in_years(member.birth_date, request.diagnosis_date)
        payout = rules.payout_for_age(age)
        if payout is None:
            raise InvalidInput(
                f"no payout band covers an age of {age} at diagnosis", code="NOT_COVERED", field="diagnosisDate"
            )
        waiting = request.diagnosis_date < member.waiting_ends_at.date()
        claim_pk = new_public_id()
        return ClaimDraft(
            claim_pk=claim_pk,
            member_id=member.id,
            account_id=principal.account_id,
            claim_ref=make_claim_ref(claim_pk, new_salt()),
            request=request,
            age_at_diagnosis=age,
            payout_fen=payout,
            rule_set_hash=rule_hash,
            waiting_period=waiting,
        )


def add_claim_file(
    ctx: ServiceContext, draft: ClaimDraft, chunks: Iterable[bytes], media_type: str, filename: str | None
) -> AcceptedEvidence:
    """Stream one file through :func:`seal_upload` (type check, size limit, encryption); its rows
    are written with the claim's (:func:`record_claim`)."""
    if len(draft.files) >= MAX_FILES_PER_CLAIM:
        raise InvalidInput(f"at most {MAX_FILES_PER_CLAIM} files per claim", code="TOO_MANY_FILES")
    accepted = seal_upload(
        ctx.store,
        ctx.keyring,
        claim_ref=draft.claim_ref,
        chunks=chunks,
        media_type=media_type,
        max_bytes=ctx.settings.upload_max_bytes,
    )
    draft.files.append((accepted, _safe_name(filename)))
    return accepted


def _safe_name(filename: str | None) -> str | None:
    """Display metadata only (never a path): control characters dropped, length capped."""
    if not filename:
        return None
    cleaned = "".join(ch for ch in filename.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable())
    # The cap is 255 UTF-8 bytes (the column and D7), cut on a character boundary.
    return cleaned.encode()[:255].decode("utf-8", "ignore") or None


def abandon_claim(ctx: ServiceContext, draft: ClaimDraft) -> None:
    """Forget the files of a filing that failed: their ciphertext is unpinned.

    Their rows are written only with the claim (:func:`record_claim`), so a failed filing has none;
    should one exist (rows not yet batched), it is removed. Items already in an anchor batch stay
    (they are commitments only and the batch is immutable).
    """
    if not draft.files:
        return
    removed: list[bytes] = []
    with ctx.sessions.begin() as session:
        for accepted, _ in draft.files:
            evidence = session.get(EvidenceItem, accepted.evidence_id)
            if evidence is None:
                removed.append(accepted.cid)
                continue
            item = session.scalars(
                select(AnchorItem).where(AnchorItem.ref_id == accepted.evidence_id, AnchorItem.batch_id.is_(None))
            ).first()
            if item is None:
                continue
            session.delete(item)
            removed.append(evidence.cid)
            session.delete(evidence)
    for cid in removed:
        try:
            from evidence_store.multiformats import CID

            ctx.store.pin_rm(CID.from_bytes(cid))
        except Exception:  # best effort: GC keeps pinned data, an unpinned orphan is swept later
            log.warning("could not unpin an abandoned evidence file")


def file_claim(ctx: ServiceContext, draft: ClaimDraft) -> ClaimView:
    """Record the claim with its evidence, apply the integrity rules, and file it on chain.

    Returns the claim as stored; for a waiting-period claim the status is ``REJECTED``.
    """
    return resume_filing(ctx, record_claim(ctx, draft))


def record_claim(ctx: ServiceContext, draft: ClaimDraft) -> str:
    """Store the claim with its evidence rows (and their anchoring outbox rows) in one
    transaction; apply the integrity rules.

    Returns the claim's API id. Nothing is sent to the chain here (:func:`resume_filing` does).
    Every filing passes here, so the rows go in as bulk inserts (one statement per table, no
    unit-of-work objects); the rare branches — duplicate evidence, a waiting-period rejection —
    load the claim and go through the ORM.
    """
    if not draft.files:
        raise InvalidInput("a claim needs at least one evidence file", code="EVIDENCE_REQUIRED")
    leaves = [evidence_leaf_hash(draft.claim_ref, a.commitment, a.cid) for a, _ in draft.files]
    root = evidence_root_of(leaves)
    digests = [accepted.plaintext_sha256 for accepted, _ in draft.files]
    with ctx.sessions.begin() as session:
        member = session.execute(
            select(Member.id, Member.status, Member.salt).where(Member.id == draft.member_id)
        ).one()
        if member.status != "active":
            raise Conflict("your membership is not active", code="MEMBERSHIP_NOT_ACTIVE")
        commitment = claim_member_commitment(member.id, member.salt, draft.claim_ref)
        claim_id = claim_id_of(commitment, root, draft.rule_set_hash, draft.payout_fen)
        now = utcnow()
        session.execute(
            insert(Claim),
            [
                {
                    "id": draft.claim_pk,
                    "claim_id": claim_id,
                    "member_id": member.id,
                    "illness_code": draft.request.illness_code,
                    "diagnosis_date": draft.request.diagnosis_date,
                    "age_at_diagnosis": draft.age_at_diagnosis,
                    "payout_fen": draft.payout_fen,
                    "rule_set_hash": draft.rule_set_hash,
                    "evidence_root": root,
                    "status": "FILED",
                    "filed_at": now,
                    "updated_at": now,
                }
            ],
        )
        insert_evidence_rows(
            session,
            [(accepted, name, leaf) for (accepted, name), leaf in zip(draft.files, leaves, strict=True)],
            uploader_id=draft.account_id,
            claim_pk=draft.claim_pk,
        )
        session.execute(
            insert(ClaimEvent),
            [event_row(draft.claim_pk, "submitted", files=len(draft.files), evidenceRoot=hex32(root))],
        )
        duplicated = _duplicated_digests(session, draft.claim_pk, digests)
        if draft.waiting_period or duplicated:
            claim = get_claim(session, draft.claim_pk)
            _flag_duplicates(session, claim, digests)
            if draft.waiting_period:
                _reject_for_waiting_period(session, claim, member.id)
            session.flush()
            draft.recorded = claim_view(session, claim, with_names=True)
        else:
            draft.recorded = _recorded_view(draft, claim_id, root, now)
    return draft.claim_pk


def _recorded_view(draft: ClaimDraft, claim_id: bytes, root: bytes, now: datetime) -> ClaimView:
    """What :func:`claim_view` would read back for a plain filing :func:`record_claim` has just
    written (no flag, not yet anchored), built from what it wrote."""
    return ClaimView(
        id=draft.claim_pk,
        claim_id="0x" + claim_id.hex(),
        status="FILED",
        illness_code=draft.request.illness_code,
        diagnosis_date=draft.request.diagnosis_date,
        age_at_diagnosis=draft.age_at_diagnosis,
        payout_fen=draft.payout_fen,
        rule_set_hash="0x" + draft.rule_set_hash.hex(),
        evidence_root="0x" + root.hex(),
        reason_code=None,
        flags=[],
        filed_at=now,
        updated_at=now,
        final_at=None,
        evidence=[
            EvidenceView.of(a.evidence_id, a.media_type, a.size, a.commitment, a.cid, name=name)
            for a, name in draft.files
        ],
    )


def _flag_duplicates(session: Session, claim: Claim, digests: list[bytes]) -> None:
    """Flag ``claim`` and every other claim with evidence of the same plaintext digest."""
    others = session.scalars(
        select(Claim)
        .join(EvidenceItem, EvidenceItem.claim_pk == Claim.id)
        .where(EvidenceItem.plaintext_sha256.in_(list(digests)), Claim.id != claim.id)
        .distinct()
    ).all()
    if not others:
        return
    add_flag(claim, DUPLICATE_EVIDENCE)
    record_event(session, claim, "flagged", flag=DUPLICATE_EVIDENCE, otherClaims=len(others))
    for other in others:
        if DUPLICATE_EVIDENCE not in flags_of(other):
            add_flag(other, DUPLICATE_EVIDENCE)
            record_event(session, other, "flagged", flag=DUPLICATE_EVIDENCE, otherClaims=1)


def _reject_for_waiting_period(session: Session, claim: Claim, member_id: str) -> None:
    now = utcnow()
    set_status(claim, "REJECTED")
    claim.reason_code = WAITING_PERIOD
    record_event(session, claim, "rejected_by_rules", reasonCode=WAITING_PERIOD, decidedBy="rules")
    terminate(session, member_id, WAITING_PERIOD, now)
    record_event(session, claim, "membership_ended", reason=WAITING_PERIOD)
    # Apportionment lands later: this row is the instruction to refund every share the member paid.
    record_event(session, claim, "shares_refund_due", reason=WAITING_PERIOD, sharesPaidBefore=now.isoformat())


def resume_filing(ctx: ServiceContext, claim_pk: str) -> ClaimView:
    """Bring a FILED claim to UNDER_REVIEW on chain and assign its reviewers, through this
    process's filing relay (:mod:`backend.services.filing`: one transaction shared with every
    filing waiting, idempotent). Any other claim is returned as it is."""
    with ctx.sessions() as session:
        status = get_claim(session, claim_pk).status
    if status == "FILED":
        ctx.filing_relay.file(claim_pk)
    return filed_claim_view(ctx, claim_pk)


def filed_claim_view(ctx: ServiceContext, claim_pk: str) -> ClaimView:
    """The claimant's view of a claim just filed (with the files' names)."""
    with ctx.sessions() as session:
        return claim_view(session, get_claim(session, claim_pk), with_names=True)


# --- claimant and operator actions ----------------------------------------------------------------


def appeal_claim(ctx: ServiceContext, principal: Principal, claim_pk: str) -> ClaimView:
    """The claimant's one appeal of a review rejection: REJECTED → DISPUTED, then a jury is drawn."""
    from backend.services.jury import draw_jury

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
        tx = ledger(ctx).appeal(claim.claim_id)
        record_event(session, claim, "ClaimAppealed", tx)
        set_status(claim, ClaimState.DISPUTED)
        claim.final_at = None
    with ctx.sessions.begin() as session:
        claim = get_claim(session, claim_pk)
        draw_jury(ctx, session, claim)
        return claim_view(session, claim, with_names=True)


def withdraw_claim(ctx: ServiceContext, principal: Principal, claim_pk: str) -> ClaimView:
    """The claimant withdraws an undecided claim (relayed by the operator on chain)."""
    with ctx.sessions.begin() as session:
        claim = owned_claim(session, principal, claim_pk)
        if claim.status not in OPEN_STATES:
            raise Conflict(f"a {claim.status} claim cannot be withdrawn", code="INVALID_STATE")
        tx = ledger(ctx).withdraw_claim(claim.claim_id)
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
