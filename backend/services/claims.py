"""Claims: the shared claim records (ClaimLedger client, timeline rows, lookups with access rules)
and the read views of a claim.

The other claim modules build on this one: :mod:`backend.services.claim_filing` (a claimant files
a claim), :mod:`backend.services.filing` (the relay that brings filed claims on chain),
:mod:`backend.services.claim_actions` (appeal, withdrawal, payout), :mod:`backend.services.review`
and :mod:`backend.services.jury`. Every on-chain step is recorded as a
:class:`~backend.db.models.ClaimEvent` with its block and transaction; views read the chain's state
first (ClaimLedger is authoritative) and the database for what stays off chain.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from backend.chain.claims import ClaimLedgerClient
from backend.chain.ledger_types import ClaimState, LedgerTx, OnchainClaim
from backend.chain.transactions import ContractReverted
from backend.db.models import AnchorItem, Claim, ClaimEvent, EvidenceItem, Member, table_of, utcnow
from backend.errors import Forbidden, InvalidInput, NotFound
from backend.proofs.leaves import evidence_leaf_hash
from backend.proofs.merkle import MerkleTree
from backend.proofs.receipts import EvidenceReceipt
from backend.services.auth import Principal
from backend.services.context import ServiceContext
from backend.services.receipts import evidence_receipt
from backend.services.rules import RuleSet
from evidence_store.multiformats import CID

log = logging.getLogger(__name__)


DUPLICATE_EVIDENCE = "DUPLICATE_EVIDENCE"
WAITING_PERIOD = "WAITING_PERIOD"
OPEN_STATES = ("FILED", "UNDER_REVIEW", "IN_NOTICE", "DISPUTED")


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


# A claim in one of these states is decided for good: its ``final_at`` is set once.
FINAL_STATES = frozenset({"REJECTED", "APPROVED", "PAID", "WITHDRAWN"})


def set_status(claim: Claim, state: ClaimState | str) -> None:
    name = state.name if isinstance(state, ClaimState) else state
    claim.status = name
    if name in FINAL_STATES and claim.final_at is None:
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
    # The address of the claimant device's key for this claim (None before ClaimLedger 2.0.0).
    claimant_key: str | None = None


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
    duplicated = duplicated_digests(session, {claim.id: [row.plaintext_sha256 for row in rows]})[claim.id]
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


def duplicated_digests(session: Session, digests_of: dict[str, list[bytes]]) -> dict[str, set[bytes]]:
    """For each claim, those of its evidence ``digests`` that are also the plaintext of another
    claim's evidence (one Core statement, built once, for a whole group of filings)."""
    wanted = {digest for digests in digests_of.values() for digest in digests}
    claims_of: dict[bytes, set[str]] = {}
    if wanted:
        found = session.connection().execute(_duplicates_query(), {"digests": sorted(wanted)})
        for digest, claim_pk in found:
            claims_of.setdefault(bytes(digest), set()).add(claim_pk)
    return {
        claim_pk: {d for d in digests if claims_of.get(d, set()) - {claim_pk}}
        for claim_pk, digests in digests_of.items()
    }


@cache
def _duplicates_query() -> Select[bytes, str]:
    evidence = table_of(EvidenceItem)
    return (
        select(evidence.c.plaintext_sha256, evidence.c.claim_pk)
        .where(evidence.c.plaintext_sha256.in_(bindparam("digests", expanding=True)), evidence.c.claim_pk.is_not(None))
        .distinct()
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
        claimant_key=claim.claimant_key,
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
    """One step. ``at``: when this server recorded it, on the server's wall clock. ``chain_time``:
    for an on-chain step, its block's timestamp, the clock every window and deadline is judged by
    (the two differ on a development chain moved ahead; None when the node cannot say now)."""

    kind: str
    at: datetime
    block_number: int | None
    tx_hash: str | None
    detail: dict[str, Any]
    chain_time: datetime | None = None


def claim_timeline(
    session: Session,
    principal: Principal,
    claim_pk: str,
    block_time: Callable[[int], datetime | None] | None = None,
) -> list[TimelineEntry]:
    """Every recorded step of the claim, oldest first (on-chain steps carry block and transaction,
    and their block's time when ``block_time`` reads it)."""
    claim = visible_claim(session, principal, claim_pk)
    rows = session.scalars(select(ClaimEvent).where(ClaimEvent.claim_pk == claim.id).order_by(ClaimEvent.id)).all()
    entries = []
    for row in rows:
        detail = json.loads(row.detail or "{}")
        detail.pop("private", None)
        chain_time = block_time(row.block_number) if block_time is not None and row.block_number is not None else None
        entries.append(TimelineEntry(row.kind, row.at, row.block_number, hex32(row.tx_hash), detail, chain_time))
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
