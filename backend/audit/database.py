"""Reading the operator's database for the audit: the rows that mirror chain state, as plain tuples.

Nothing here interprets a row; ``backend.audit.evidence`` and ``backend.audit.anchors`` decide
what each row must equal. Items are streamed in batch order (``yield_per``) so a million rows
never sit in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import AnchorBatch, AnchorItem, EvidenceItem

__all__ = ["DbBatch", "DbItem", "load_batches", "orphan_evidence_ids", "stream_items"]

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


def orphan_evidence_ids(sessions: sessionmaker[Session]) -> list[str]:
    """Evidence rows that no outbox row refers to (never queued, or their outbox row was removed)."""
    query = (
        select(EvidenceItem.id).where(~exists().where(AnchorItem.ref_id == EvidenceItem.id)).order_by(EvidenceItem.id)
    )
    with sessions() as session:
        return [str(r) for r in session.scalars(query)]
