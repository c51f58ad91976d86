"""Steps 5 and 7's shared state over the operator's evidence rows: the chain they are checked
against, what was found so far, and the leaf arithmetic every check uses.

Verification-critical (pure): the leaf of an evidence row is recomputed from its
``(claimRef, contentCommitment, cid)``, never read from the row; a stored proof is only folded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from backend.audit.chain import AnchorEvent, ChainBatch
from backend.audit.database import DbItem
from backend.audit.errors import DatabaseMismatch, EvidenceNotProven
from backend.proofs.commitments import content_commitment
from backend.proofs.errors import LeafEncodingError, MerkleError
from backend.proofs.leaves import evidence_leaf_hash
from backend.proofs.merkle import process_proof

__all__ = [
    "BATCH_STATUSES",
    "ChainLookups",
    "EvidenceRun",
    "EvidenceVerdict",
    "StoreCheck",
    "db_mismatch",
    "fold_proof",
    "opens_commitment",
    "recomputed_leaf",
]

StoreCheck = Callable[[bytes], tuple[str, str] | None]
"""``store_check(cid)`` → ``None`` when the store serves bytes that re-hash to the CID, else
``(reason, message)`` with reason ``not_found`` | ``corrupt`` | ``invalid_cid`` | ``unavailable``."""

BATCH_STATUSES = ("built", "sent", "confirmed")


@dataclass(frozen=True)
class ChainLookups:
    """The chain as steps 5/7 see it: batches in scope plus look-ups for anything outside it."""

    storage: dict[int, ChainBatch]  # batches in scope, by id
    events: dict[int, AnchorEvent]  # their BatchAnchored events (missing when pruned)
    batch_id_of: Callable[[bytes], int]  # any root → its batch id (0: not anchored)
    block_hash: Callable[[int], bytes | None]  # hash of a block (None: not served)
    start_id: int = 1


@dataclass
class EvidenceVerdict:
    evidence: list[EvidenceNotProven] = field(default_factory=list)  # step 5
    mirror: list[DatabaseMismatch] = field(default_factory=list)  # step 7
    evidence_checked: dict[str, int] = field(default_factory=dict)
    mirror_checked: dict[str, int] = field(default_factory=dict)


def db_mismatch(message: str, reason: str, table: str, row: str, fields: list[str]) -> DatabaseMismatch:
    return DatabaseMismatch(message, reason=reason, table=table, row=row, fields=fields)


def recomputed_leaf(item: DbItem) -> bytes | None:
    if item.claim_ref is None or item.commitment is None or item.cid is None:
        return None
    try:
        return evidence_leaf_hash(item.claim_ref, item.commitment, item.cid)
    except LeafEncodingError:
        return None


def fold_proof(leaf: bytes | None, packed: bytes | None) -> bytes | None:
    if leaf is None or packed is None or len(packed) % 32:
        return None
    try:
        return process_proof(leaf, [packed[i : i + 32] for i in range(0, len(packed), 32)])
    except MerkleError:
        return None


def opens_commitment(item: DbItem) -> bool:
    s, d, c = item.salt, item.plaintext_sha256, item.commitment
    if s is None or d is None or c is None or len(s) != 32 or len(d) != 32:
        return False
    return content_commitment(d, s) == c


@dataclass
class EvidenceRun:
    chain: ChainLookups
    store_check: StoreCheck | None
    verdict: EvidenceVerdict = field(default_factory=EvidenceVerdict)
    included: dict[int, int] = field(default_factory=dict)  # chain batch id → proven items
    deferred: list[tuple[DbItem, bytes]] = field(default_factory=list)  # evidence changed, column unknown
    items: int = 0
    fetched: int = 0
    pending: int = 0
    rows_checked: dict[str, int] = field(
        default_factory=lambda: {"anchor_batches": 0, "anchor_items": 0, "evidence_items": 0}
    )

    def mirror(self, message: str, reason: str, table: str, row: str, fields: list[str]) -> None:
        self.verdict.mirror.append(db_mismatch(message, reason, table, row, fields))

    def evidence(self, message: str, reason: str, item: DbItem, batch: int | None = None) -> None:
        self.verdict.evidence.append(
            EvidenceNotProven(message, reason=reason, row=f"id={item.evidence_id or item.ref_id}", batch=batch)
        )
