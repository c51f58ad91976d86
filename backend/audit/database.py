"""Reading the operator's database for the audit: the rows that mirror chain state, as plain tuples.

Nothing here interprets a row; ``backend.audit.evidence`` and ``backend.audit.anchors`` decide
what each row must equal. Items are streamed in batch order (``yield_per``) so a million rows
never sit in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import (
    Account,
    AnchorBatch,
    AnchorItem,
    Claim,
    EvidenceItem,
    JurySeat,
    Member,
    ReviewAssignment,
    RuleSetRecord,
    ServerHeldKey,
)

__all__ = [
    "CLAIM_MIRRORED_COLUMNS",
    "MIRRORED_COLUMNS",
    "DbBatch",
    "DbClaim",
    "DbItem",
    "DbQueued",
    "DbReview",
    "DbRuleSet",
    "DbSeat",
    "count_claim_rows",
    "earliest_enqueued",
    "load_batches",
    "load_claim_rows",
    "load_rule_set_texts",
    "load_server_held_keys",
    "orphan_evidence_ids",
    "queued_before",
    "stream_items",
]

# Columns of each table that mirror chain state or anchored evidence, i.e. what step 7 checks.
# Every other column (times, media type, wrapped keys, nonce, size, ...) is the operator's own.
MIRRORED_COLUMNS: dict[str, tuple[str, ...]] = {
    "anchor_batches": (
        "root",
        "prev_root",
        "leaf_count",
        "status",
        "tx_hash",
        "onchain_id",
        "block_number",
        "block_hash",
    ),
    "anchor_items": ("kind", "ref_id", "leaf_hash", "batch_id", "leaf_index", "proof"),
    "evidence_items": ("claim_ref", "commitment", "salt", "plaintext_sha256", "cid"),
}

# The claim mirror tables (checked against the ClaimLedger replay of step 3).
CLAIM_MIRRORED_COLUMNS: dict[str, tuple[str, ...]] = {
    "claims": ("claim_id", "member_id", "payout_fen", "rule_set_hash", "evidence_root", "status"),
    "review_assignments": ("verdict", "reason_code", "report_hash", "signature"),
    "jury_seats": ("round", "juror_id", "commitment", "vote", "revealed"),
    "rule_sets": ("hash", "canonical_json"),
}


@dataclass(frozen=True, slots=True)
class DbBatch:
    id: int
    root: bytes
    prev_root: bytes
    leaf_count: int
    status: str
    tx_hash: bytes | None
    onchain_id: int | None
    block_number: int | None
    block_hash: bytes | None


@dataclass(frozen=True, slots=True)
class DbItem:
    """One outbox row joined with its evidence row (evidence fields ``None`` when that row is gone)."""

    id: int
    kind: str
    ref_id: str
    leaf_hash: bytes
    batch_id: int | None
    leaf_index: int | None
    proof: bytes | None
    evidence_id: str | None
    claim_ref: bytes | None
    commitment: bytes | None
    salt: bytes | None
    plaintext_sha256: bytes | None
    cid: bytes | None


def _b(value: bytes | None) -> bytes:
    return bytes(value) if value is not None else b""


def _scope(after_batch: int):  # type: ignore[no-untyped-def]
    """Rows an incremental audit covers: batches after the checkpoint, and everything not final."""
    return or_(
        AnchorBatch.onchain_id.is_(None),
        AnchorBatch.onchain_id > after_batch,
        AnchorBatch.status != "confirmed",
    )


def load_batches(sessions: sessionmaker[Session], after_batch: int = 0) -> list[DbBatch]:
    """Every ``anchor_batches`` row (those after ``after_batch`` in an incremental audit)."""
    query = select(
        AnchorBatch.id,
        AnchorBatch.root,
        AnchorBatch.prev_root,
        AnchorBatch.leaf_count,
        AnchorBatch.status,
        AnchorBatch.tx_hash,
        AnchorBatch.onchain_id,
        AnchorBatch.block_number,
        AnchorBatch.block_hash,
    ).order_by(AnchorBatch.id)
    if after_batch:
        query = query.where(_scope(after_batch))
    with sessions() as session:
        return [
            DbBatch(
                int(r[0]),
                _b(r[1]),
                _b(r[2]),
                int(r[3]),
                str(r[4]),
                None if r[5] is None else bytes(r[5]),
                None if r[6] is None else int(r[6]),
                None if r[7] is None else int(r[7]),
                None if r[8] is None else bytes(r[8]),
            )
            for r in session.execute(query)
        ]


def stream_items(
    sessions: sessionmaker[Session], batch_ids: list[int] | None = None, chunk: int = 20_000
) -> Iterator[DbItem]:
    """Outbox rows joined with evidence, ordered by (batch, leaf_index, id); unbatched rows first.

    ``batch_ids`` limits the stream to those batches and the unbatched rows (incremental audits).
    """
    query = (
        select(
            AnchorItem.id,
            AnchorItem.kind,
            AnchorItem.ref_id,
            AnchorItem.leaf_hash,
            AnchorItem.batch_id,
            AnchorItem.leaf_index,
            AnchorItem.proof,
            EvidenceItem.id,
            EvidenceItem.claim_ref,
            EvidenceItem.commitment,
            EvidenceItem.salt,
            EvidenceItem.plaintext_sha256,
            EvidenceItem.cid,
        )
        .outerjoin(EvidenceItem, EvidenceItem.id == AnchorItem.ref_id)
        .order_by(AnchorItem.batch_id.is_not(None), AnchorItem.batch_id, AnchorItem.leaf_index, AnchorItem.id)
    )
    if batch_ids is not None:
        query = query.where(or_(AnchorItem.batch_id.is_(None), AnchorItem.batch_id.in_(batch_ids)))
    with sessions() as session:
        result = session.execute(query.execution_options(yield_per=chunk))
        for r in result:
            yield DbItem(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                _b(r[3]),
                None if r[4] is None else int(r[4]),
                None if r[5] is None else int(r[5]),
                None if r[6] is None else bytes(r[6]),
                None if r[7] is None else str(r[7]),
                None if r[8] is None else bytes(r[8]),
                None if r[9] is None else bytes(r[9]),
                None if r[10] is None else bytes(r[10]),
                None if r[11] is None else bytes(r[11]),
                None if r[12] is None else bytes(r[12]),
            )


def earliest_enqueued(sessions: sessionmaker[Session]) -> dict[int | None, datetime]:
    """When the oldest outbox row of each batch (``None``: not batched yet) was queued."""
    query = select(AnchorItem.batch_id, func.min(AnchorItem.enqueued_at)).group_by(AnchorItem.batch_id)
    with sessions() as session:
        return {None if r[0] is None else int(r[0]): r[1] for r in session.execute(query) if r[1] is not None}


@dataclass(frozen=True, slots=True)
class DbQueued:
    """Outbox rows of one batch (``None``: not batched) queued before a cut-off: how many, the oldest."""

    batch_id: int | None
    count: int
    first_id: int
    first_ref_id: str
    first_enqueued_at: datetime


def queued_before(sessions: sessionmaker[Session], batch_id: int | None, cutoff: datetime) -> DbQueued | None:
    """The outbox rows of ``batch_id`` queued before ``cutoff`` (None when there are none)."""
    in_batch = AnchorItem.batch_id.is_(None) if batch_id is None else AnchorItem.batch_id == batch_id
    where = (in_batch, AnchorItem.enqueued_at < cutoff)
    with sessions() as session:
        count = int(session.scalar(select(func.count()).select_from(AnchorItem).where(*where)) or 0)
        if not count:
            return None
        first = session.execute(
            select(AnchorItem.id, AnchorItem.ref_id, AnchorItem.enqueued_at)
            .where(*where)
            .order_by(AnchorItem.enqueued_at, AnchorItem.id)
            .limit(1)
        ).one()
    return DbQueued(batch_id, count, int(first[0]), str(first[1]), first[2])


def orphan_evidence_ids(sessions: sessionmaker[Session]) -> list[str]:
    """Evidence rows that no outbox row refers to (never queued, or their outbox row was removed)."""
    query = (
        select(EvidenceItem.id).where(~exists().where(AnchorItem.ref_id == EvidenceItem.id)).order_by(EvidenceItem.id)
    )
    with sessions() as session:
        return [str(r) for r in session.scalars(query)]


# -- claims (step 7) -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DbClaim:
    """A ``claims`` row, with what re-derives its member commitment (the member's salt and id, the
    claim's evidence ``claim_ref``)."""

    id: str
    claim_id: bytes
    member_id: str
    member_salt: bytes | None
    claim_ref: bytes | None
    payout_fen: int
    rule_set_hash: bytes
    evidence_root: bytes
    status: str
    reason_code: str | None


@dataclass(frozen=True, slots=True)
class DbReview:
    id: int
    claim_pk: str
    reviewer: str | None  # the reviewer account's signing address
    verdict: str | None
    reason_code: str | None
    report_hash: bytes | None
    signature: bytes | None


@dataclass(frozen=True, slots=True)
class DbSeat:
    id: int
    claim_pk: str
    round: int
    juror: str | None  # the juror account's signing address
    commitment: bytes | None
    vote: bool | None
    revealed: bool


@dataclass(frozen=True, slots=True)
class DbRuleSet:
    hash: bytes
    version: int
    canonical_json: str


@dataclass(frozen=True, slots=True)
class DbClaimRows:
    claims: list[DbClaim]
    reviews: list[DbReview]
    seats: list[DbSeat]
    rule_sets: list[DbRuleSet]


def load_claim_rows(sessions: sessionmaker[Session]) -> DbClaimRows:
    """Every row of the claim mirror tables (claims, review_assignments, jury_seats, rule_sets)."""
    with sessions() as session:
        refs: dict[str, bytes] = {}
        for claim_pk, ref in session.execute(
            select(EvidenceItem.claim_pk, EvidenceItem.claim_ref)
            .where(EvidenceItem.claim_pk.is_not(None))
            .order_by(EvidenceItem.claim_pk, EvidenceItem.id)
        ):
            refs.setdefault(str(claim_pk), bytes(ref))
        salts = {str(i): bytes(s) for i, s in session.execute(select(Member.id, Member.salt))}
        claims = [
            DbClaim(
                str(r[0]),
                _b(r[1]),
                str(r[2]),
                salts.get(str(r[2])),
                refs.get(str(r[0])),
                int(r[3]),
                _b(r[4]),
                _b(r[5]),
                str(r[6]),
                None if r[7] is None else str(r[7]),
            )
            for r in session.execute(
                select(
                    Claim.id,
                    Claim.claim_id,
                    Claim.member_id,
                    Claim.payout_fen,
                    Claim.rule_set_hash,
                    Claim.evidence_root,
                    Claim.status,
                    Claim.reason_code,
                ).order_by(Claim.id)
            )
        ]
        addresses = {
            str(i): (None if a is None else str(a).lower())
            for i, a in session.execute(select(Account.id, Account.signing_address))
        }
        reviews = [
            DbReview(
                int(r[0]),
                str(r[1]),
                addresses.get(str(r[2])),
                None if r[3] is None else str(r[3]),
                None if r[4] is None else str(r[4]),
                None if r[5] is None else bytes(r[5]),
                None if r[6] is None else bytes(r[6]),
            )
            for r in session.execute(
                select(
                    ReviewAssignment.id,
                    ReviewAssignment.claim_pk,
                    ReviewAssignment.reviewer_id,
                    ReviewAssignment.verdict,
                    ReviewAssignment.reason_code,
                    ReviewAssignment.report_hash,
                    ReviewAssignment.signature,
                ).order_by(ReviewAssignment.id)
            )
        ]
        seats = [
            DbSeat(
                int(r[0]),
                str(r[1]),
                int(r[2]),
                addresses.get(str(r[3])),
                None if r[4] is None else bytes(r[4]),
                None if r[5] is None else bool(r[5]),
                bool(r[6]),
            )
            for r in session.execute(
                select(
                    JurySeat.id,
                    JurySeat.claim_pk,
                    JurySeat.round,
                    JurySeat.juror_id,
                    JurySeat.commitment,
                    JurySeat.vote,
                    JurySeat.revealed,
                ).order_by(JurySeat.id)
            )
        ]
        rule_sets = [
            DbRuleSet(bytes(h), int(v), str(j))
            for h, v, j in session.execute(
                select(RuleSetRecord.hash, RuleSetRecord.version, RuleSetRecord.canonical_json).order_by(
                    RuleSetRecord.version
                )
            )
        ]
    return DbClaimRows(claims, reviews, seats, rule_sets)


def count_claim_rows(sessions: sessionmaker[Session]) -> int:
    """Rows of the claim mirror tables (what step 7 leaves uncompared when ClaimLedger's logs are pruned)."""
    with sessions() as session:
        return sum(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Claim, ReviewAssignment, JurySeat)
        )


def load_rule_set_texts(sessions: sessionmaker[Session]) -> list[str]:
    """The canonical JSON of every stored rule set (self-authenticating documents for step 4)."""
    with sessions() as session:
        return [str(t) for t in session.scalars(select(RuleSetRecord.canonical_json).order_by(RuleSetRecord.version))]


def load_server_held_keys(sessions: sessionmaker[Session]) -> frozenset[str]:
    """Addresses (lower case) of every participant key this server generated, retired or not."""
    with sessions() as session:
        return frozenset(str(a).lower() for a in session.scalars(select(ServerHeldKey.address)))
