"""A claimant files a claim: the form checked, evidence streamed and encrypted, the claim recorded.

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
membership and records that the member's past shares are due for refund. Because that cannot be
undone, such a filing is refused *before anything is stored* (422 ``WAITING_PERIOD_NOT_ACKNOWLEDGED``,
naming the day the waiting period ends) unless the claimant acknowledged the consequence
(``ClaimRequest.acknowledge_waiting_period``, the form field ``acknowledgeWaitingPeriod=true``). The
payout follows the
age band at diagnosis; a plaintext already used as evidence of another claim flags both claims
``DUPLICATE_EVIDENCE`` for the reviewers.

Filing is idempotent per member when the client sends an idempotency key (the header
``Idempotency-Key``; the web UI always does): :func:`claim_by_idempotency_key` answers a retry with
the claim already recorded, and a retry racing the first request is caught by the unique
``(member_id, idempotency_key)`` constraint in :func:`record_claim` (its files are dropped and the
first claim answered). A claimant whose connection dropped after the upload gets their claim back,
never a second one.

Every on-chain step is recorded as a :class:`~backend.db.models.ClaimEvent` with its block and
transaction. A filing interrupted between the database commit and the chain (RPC down) is
completed by :func:`resume_filing` (or the workflow clock): the filing relay of
:mod:`backend.services.filing` files and opens claims in shared, idempotent transactions, so a step
is never applied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from eth_utils.address import is_address
from sqlalchemy import exists, func, insert, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.chain.eip712 import claim_id as claim_id_of
from backend.db.models import AnchorItem, Claim, ClaimEvent, EvidenceItem, Member, new_public_id, table_of, utcnow
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests
from backend.proofs.commitments import claim_member_commitment, new_salt
from backend.proofs.commitments import claim_ref as make_claim_ref
from backend.proofs.filing_receipt import FilingReceipt
from backend.proofs.leaves import evidence_leaf_hash
from backend.services.auth import Principal
from backend.services.chain_clock import queue_time
from backend.services.claims import (
    DUPLICATE_EVIDENCE,
    WAITING_PERIOD,
    ClaimView,
    EvidenceView,
    add_flag,
    claim_view,
    duplicated_digests,
    event_row,
    evidence_root_of,
    flags_of,
    get_claim,
    hex32,
    record_event,
    set_status,
)
from backend.services.context import ServiceContext
from backend.services.evidence import AcceptedEvidence, evidence_rows, insert_rows, seal_upload
from backend.services.filing_receipts import FILING_RECEIPT_DETAIL, sign_filing_receipt
from backend.services.membership import age_in_years, terminate
from backend.services.rule_sets import in_force_subquery, load_illness_catalog, rule_set_of
from evidence_store.multiformats import CID

log = logging.getLogger(__name__)


# Claims a member may start per rolling day (RELIABILITY.md D13): a real claimant files one.
CLAIMS_PER_DAY = 3
MAX_FILES_PER_CLAIM = 10  # RELIABILITY.md D9


@dataclass(frozen=True)
class ClaimRequest:
    illness_code: str
    diagnosis_date: date
    # The claimant read that a diagnosis inside the waiting period rejects the claim and ends the
    # membership for good; without it such a filing is refused before anything is stored.
    acknowledge_waiting_period: bool = False
    idempotency_key: str | None = None
    # The address of the key the claimant's device made for this claim (it signs the claim's
    # withdrawal and appeal; the claim id binds it). The server never sees the key itself.
    claimant_key: str = ""


@dataclass
class ClaimDraft:
    """A claim being filed: validated form, then evidence streamed in, then :func:`file_claim`."""

    claim_pk: str
    member_id: str
    member_salt: bytes  # the member's secret salt (their per-claim commitments are derived from it)
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
    # True when :func:`record_claim` found the idempotency key already used: ``claim_pk`` and
    # ``recorded`` are then the earlier claim's, and this draft's files were dropped.
    replayed: bool = False
    # The operator's signed promise to have it on chain by a deadline (None when it never goes on chain).
    filing_receipt: FilingReceipt | None = None


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
    now = datetime.now(UTC)  # claims' filed_at (the quota's window) is the server's wall clock
    # The plan's today, on the clock the waiting period was stamped on (joins are stamped at
    # queue_time): on a development chain moved ahead, a member past the waiting period by the
    # chain's clock could otherwise name no diagnosis date that is both covered and not "in the
    # future" by the wall clock (found by the QA walk-through). The same day in production.
    today = today or queue_time(ctx).date()
    with ctx.sessions() as session:
        # One round trip for the member and what the checks below need (every filing passes here).
        recent = (Claim.member_id == Member.id, Claim.filed_at >= now - timedelta(days=1))
        used = select(Claim.id).where(Claim.claimant_key == request.claimant_key)
        if request.idempotency_key is not None:  # a retry of this very filing replays it (record_claim)
            used = used.where(
                or_(
                    Claim.member_id != Member.id,
                    Claim.idempotency_key.is_(None),
                    Claim.idempotency_key != request.idempotency_key,
                )
            )
        rule_set = in_force_subquery()
        member = session.execute(
            select(
                Member.id,
                Member.status,
                Member.salt,
                Member.birth_date,
                Member.waiting_ends_at,
                exists(used).label("key_used"),
                select(func.count(Claim.id)).where(*recent).scalar_subquery().label("recent_claims"),
                select(func.min(Claim.filed_at)).where(*recent).scalar_subquery().label("oldest_recent"),
                rule_set.c.hash.label("rule_set_hash"),
                rule_set.c.version.label("rule_set_version"),
                rule_set.c.canonical_json.label("rule_set_json"),
            )
            .outerjoin(rule_set, true())
            .where(Member.account_id == principal.account_id)
        ).first()
        if member is None:
            raise Forbidden("only members file claims: join the plan first", code="NOT_A_MEMBER")
        if member.status != "active":
            raise Conflict("your membership is not active", code="MEMBERSHIP_NOT_ACTIVE")
        if not load_illness_catalog().covers(request.illness_code):
            raise InvalidInput(
                f"{request.illness_code!r} is not in the illness catalog", code="UNKNOWN_ILLNESS", field="illnessCode"
            )
        if not is_address(request.claimant_key):
            raise InvalidInput(
                "claimantKey: the address of the key your device made for this claim",
                code="VALIDATION_ERROR",
                field="claimantKey",
            )
        if member.key_used:
            raise Conflict(
                "this claim key was used for another claim: make a new key for each claim (they keep your claims "
                "unlinkable on chain)",
                code="CLAIMANT_KEY_REUSED",
            )
        if request.diagnosis_date > today:
            raise InvalidInput(
                f"the diagnosis date is in the future: the plan's today is {today.isoformat()}",
                code="INVALID_DATE",
                field="diagnosisDate",
            )
        if request.diagnosis_date < member.birth_date:
            raise InvalidInput("the diagnosis date is before birth", code="INVALID_DATE", field="diagnosisDate")
        # Wind-down: only illnesses diagnosed before the stop, filed within the late-filing window.
        ctx.claim_filing_gate.check_claim_filing(request.diagnosis_date, now)
        if member.recent_claims >= CLAIMS_PER_DAY:
            retry = int((member.oldest_recent + timedelta(days=1) - now).total_seconds()) + 1
            raise TooManyRequests(f"at most {CLAIMS_PER_DAY} claims a day; try again later", retry_after=max(1, retry))
        rules, rule_hash = rule_set_of(member.rule_set_hash, member.rule_set_version, member.rule_set_json)
        age = age_in_years(member.birth_date, request.diagnosis_date)
        payout = rules.payout_for_age(age)
        if payout is None:
            raise InvalidInput(
                f"no payout band covers an age of {age} at diagnosis", code="NOT_COVERED", field="diagnosisDate"
            )
        waiting = request.diagnosis_date < member.waiting_ends_at.date()
        if waiting and not request.acknowledge_waiting_period:
            ends = member.waiting_ends_at.date().isoformat()
            raise InvalidInput(
                f"the diagnosis date is inside your waiting period, which ends on {ends}: filing this claim "
                "rejects it (WAITING_PERIOD), ends your membership for good and refunds the shares you paid. "
                "Nothing was stored; to file anyway, send acknowledgeWaitingPeriod=true",
                code="WAITING_PERIOD_NOT_ACKNOWLEDGED",
                field="acknowledgeWaitingPeriod",
                waitingEndsAt=member.waiting_ends_at.isoformat(),
            )
        claim_pk = new_public_id()
        return ClaimDraft(
            claim_pk=claim_pk,
            member_id=member.id,
            member_salt=bytes(member.salt),
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
    name = _safe_name(filename)
    accepted = seal_upload(
        ctx.store,
        ctx.keyring,
        claim_ref=draft.claim_ref,
        chunks=chunks,
        media_type=media_type,
        max_bytes=ctx.settings.upload_max_bytes,
        name=name,
    )
    draft.files.append((accepted, name))
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
    Every filing passes here: what can be computed is computed in the caller's thread
    (:func:`prepare_filing`: ids, commitments, the signed receipt, the rows), and the rows are
    written by this process's filing writer (``ctx.filing_writer``), which commits the filings
    that arrive together in one transaction of bulk inserts (:func:`write_filings`).
    """
    if not draft.files:
        raise InvalidInput("a claim needs at least one evidence file", code="EVIDENCE_REQUIRED")
    key = draft.request.idempotency_key
    prepared = prepare_filing(ctx, draft)
    # No look-up first: the route answered a retry whose claim was already recorded before reading
    # its body; a retry racing the first request is caught here by the unique constraint.
    try:
        ctx.filing_writer.write(prepared)
    except IntegrityError:
        earlier = claim_by_idempotency_key(ctx, draft.account_id, key) if key is not None else None
        if earlier is None:
            raise
        return _replay(ctx, draft, earlier)  # a retry raced the first request, which won
    return draft.claim_pk


def claim_by_idempotency_key(ctx: ServiceContext, account_id: str, key: str) -> ClaimView | None:
    """The claim the account's member filed with ``key``, as the filing answered it, or None."""
    with ctx.sessions() as session:
        claim = session.scalars(
            select(Claim)
            .join(Member, Member.id == Claim.member_id)
            .where(Member.account_id == account_id, Claim.idempotency_key == key)
        ).first()
        return None if claim is None else claim_view(session, claim, with_names=True)


def replayed_filing_receipt(ctx: ServiceContext, claim_pk: str) -> dict[str, Any] | None:
    """The filing receipt the first answer for ``claim_pk`` carried (None when it got none)."""
    from backend.services.filing_receipts import filing_receipt_of

    with ctx.sessions() as session:
        try:
            return filing_receipt_of(session, get_claim(session, claim_pk))
        except NotFound:
            return None


def _replay(ctx: ServiceContext, draft: ClaimDraft, earlier: ClaimView) -> str:
    abandon_claim(ctx, draft)
    draft.claim_pk, draft.recorded, draft.replayed = earlier.id, earlier, True
    return earlier.id


@dataclass
class PreparedFiling:
    """A filing's rows, computed before any database transaction (:func:`prepare_filing`)."""

    draft: ClaimDraft
    claim_id: bytes
    root: bytes
    now: datetime
    queued_at: datetime
    receipt: FilingReceipt | None
    claim: dict[str, Any]
    evidence: list[dict[str, Any]]
    anchors: list[dict[str, Any]]
    submitted: dict[str, Any]

    @property
    def digests(self) -> list[bytes]:
        return [accepted.plaintext_sha256 for accepted, _ in self.draft.files]


def prepare_filing(ctx: ServiceContext, draft: ClaimDraft) -> PreparedFiling:
    """Everything of a filing but the write: the claim's ids and commitments, the operator's signed
    receipt, the rows. The member's salt was read by begin_claim (it never changes); whether they
    are still active is checked when the rows are written."""
    leaves = [evidence_leaf_hash(draft.claim_ref, a.commitment, a.cid) for a, _ in draft.files]
    root = evidence_root_of(leaves)
    queued_at = queue_time(ctx)  # it may read the chain: never inside a transaction
    commitment = claim_member_commitment(draft.member_id, draft.member_salt, draft.claim_ref)
    claim_id = claim_id_of(commitment, root, draft.rule_set_hash, draft.payout_fen, draft.request.claimant_key)
    now = utcnow()
    # Signed before the commit, so a filing the database holds always has its receipt: a claim
    # the rules reject at filing (waiting period) never goes on chain and gets none. Stamped on
    # the chain's clock, as the evidence is: onChainBy is judged by block time, and a development
    # chain moved days ahead made a prompt filing look LATE to `hubao receipt verify --rpc`.
    receipt = None if draft.waiting_period else sign_filing_receipt(ctx, claim_id, root, queued_at)
    submitted: dict[str, Any] = {"files": len(draft.files), "evidenceRoot": hex32(root)}
    if receipt is not None:
        submitted[FILING_RECEIPT_DETAIL] = receipt.to_json()
    evidence, anchors = evidence_rows(
        [(accepted, name, leaf) for (accepted, name), leaf in zip(draft.files, leaves, strict=True)],
        uploader_id=draft.account_id,
        claim_pk=draft.claim_pk,
        queued_at=queued_at,
    )
    claim = {
        "id": draft.claim_pk,
        "claim_id": claim_id,
        "member_id": draft.member_id,
        "illness_code": draft.request.illness_code,
        "diagnosis_date": draft.request.diagnosis_date,
        "age_at_diagnosis": draft.age_at_diagnosis,
        "payout_fen": draft.payout_fen,
        "rule_set_hash": draft.rule_set_hash,
        "evidence_root": root,
        "claimant_key": draft.request.claimant_key,
        "status": "FILED",
        "filed_at": now,
        "updated_at": now,
        "idempotency_key": draft.request.idempotency_key,
    }
    return PreparedFiling(draft, claim_id, root, now, queued_at, receipt, claim, evidence, anchors, submitted)


def write_filings(ctx: ServiceContext, batch: list[PreparedFiling]) -> dict[str, BaseException]:
    """Write ``batch`` in one transaction (group commit: the filing writer hands over every filing
    waiting); the claims refused, by claim id. Should the transaction fail (a retry racing its first
    request on the idempotency key, say), each filing is written alone, so one bad filing fails
    only itself — with the error the caller of :func:`record_claim` expects."""
    try:
        with ctx.sessions.begin() as session:
            return _write(session, batch)
    except Exception as exc:
        if len(batch) == 1:
            return {batch[0].draft.claim_pk: exc}
        failed: dict[str, BaseException] = {}
        for one in batch:
            failed.update(write_filings(ctx, [one]))
        return failed


def _write(session: Session, batch: list[PreparedFiling]) -> dict[str, BaseException]:
    """One statement per table for the whole batch (Core inserts on the tables, no ORM layer); the
    rare branches — duplicate evidence, a waiting-period rejection — load the claim through the ORM.
    A member whose membership ended since begin_claim (another claim of theirs rejected for the
    waiting period, say) files nothing: their rows are read FOR SHARE, so the ending waits for this
    commit or this write sees it."""
    active = set(
        session.scalars(
            select(Member.id)
            .where(Member.id.in_({p.draft.member_id for p in batch}), Member.status == "active")
            .order_by(Member.id)
            .with_for_update(read=True)
        )
    )
    refused: dict[str, BaseException] = {
        p.draft.claim_pk: Conflict("your membership is not active", code="MEMBERSHIP_NOT_ACTIVE")
        for p in batch
        if p.draft.member_id not in active
    }
    kept = [p for p in batch if p.draft.member_id in active]
    if not kept:
        return refused
    session.execute(insert(table_of(Claim)), [p.claim for p in kept])
    insert_rows(session, [row for p in kept for row in p.evidence], [row for p in kept for row in p.anchors])
    session.execute(
        insert(table_of(ClaimEvent)), [event_row(p.draft.claim_pk, "submitted", **p.submitted) for p in kept]
    )
    duplicated = duplicated_digests(session, {p.draft.claim_pk: p.digests for p in kept})
    for p in kept:
        draft = p.draft
        if draft.waiting_period or duplicated[draft.claim_pk]:
            claim = get_claim(session, draft.claim_pk)
            _flag_duplicates(session, claim, p.digests)
            if draft.waiting_period:
                _reject_for_waiting_period(session, claim, draft.member_id, p.queued_at)
            session.flush()
            draft.recorded = claim_view(session, claim, with_names=True)
        else:
            draft.recorded = _recorded_view(draft, p.claim_id, p.root, p.now)
        draft.filing_receipt = p.receipt
    return refused


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
        claimant_key=draft.request.claimant_key,
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


def _reject_for_waiting_period(session: Session, claim: Claim, member_id: str, now: datetime) -> None:
    """``now`` is on the chain's clock (:func:`queue_time`): the exit goes to the membership log,
    whose anchoring deadline and period snapshots are judged by block time."""
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
