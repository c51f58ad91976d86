"""Anchored evidence batches as EvidenceNotary stores them (for checking receipts against the chain)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from backend.chain.notary import NotaryBatchLookup, NotaryClient
from backend.errors import NotFound

if TYPE_CHECKING:
    from backend.runtime import Runtime


@dataclass(frozen=True)
class AnchoredBatchView:
    """One batch read from contract storage (``eth_call``; survives pruned logs)."""

    batch_id: int
    chain_id: int
    contract: str
    root: str
    prev_root: str
    leaf_count: int
    block_number: int


def anchored_batch(runtime: Runtime, batch_id: int) -> AnchoredBatchView:
    """The chain's record of ``batch_id`` (``NotFound`` with BATCH_NOT_FOUND when there is none)."""
    lookup = NotaryBatchLookup(NotaryClient(runtime.w3, runtime.contracts["EvidenceNotary"]))
    batch = lookup.batch(batch_id)
    if batch is None:
        raise NotFound(f"EvidenceNotary has no batch {batch_id}", code="BATCH_NOT_FOUND", batch_id=batch_id)
    return AnchoredBatchView(
        batch_id=batch_id,
        chain_id=lookup.chain_id,
        contract=lookup.contract,
        root="0x" + batch.root.hex(),
        prev_root="0x" + batch.prev_root.hex(),
        leaf_count=batch.leaf_count,
        block_number=batch.block,
    )
