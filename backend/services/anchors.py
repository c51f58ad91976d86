"""Anchored evidence batches as EvidenceNotary stores them (for checking receipts against the chain)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.chain.notary import NotaryBatchLookup, NotaryClient
from backend.errors import NotFound
from backend.services.context import ServiceContext


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


def anchored_batch(ctx: ServiceContext, batch_id: int) -> AnchoredBatchView:
    """The chain's record of ``batch_id`` (``NotFound`` with BATCH_NOT_FOUND when there is none)."""
    lookup = NotaryBatchLookup(NotaryClient(ctx.w3, ctx.contracts["EvidenceNotary"]))
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


@dataclass(frozen=True)
class AnchoredBatchEntry:
    """One batch in the chain's history: storage figures plus the anchoring transaction (from logs)."""

    batch_id: int
    root: str
    prev_root: str
    leaf_count: int
    block_number: int
    tx_hash: str | None  # None where the node no longer serves the event (pruned logs)


def recent_batches(ctx: ServiceContext, limit: int) -> list[AnchoredBatchEntry]:
    """The newest ``limit`` batches, newest first: figures from storage, transactions from one log query."""
    client = NotaryClient(ctx.w3, ctx.contracts["EvidenceNotary"])
    count = client.batch_count()
    batches = [client.batch(batch_id) for batch_id in range(count, max(0, count - limit), -1)]
    events = client.anchored([b.root for b in batches], from_block=min((b.block_number for b in batches), default=0))
    out = []
    for b in batches:
        event = events.get(b.root)
        out.append(
            AnchoredBatchEntry(
                batch_id=b.batch_id,
                root="0x" + b.root.hex(),
                prev_root="0x" + b.prev_root.hex(),
                leaf_count=b.leaf_count,
                block_number=b.block_number,
                tx_hash="0x" + event.tx_hash.hex() if event is not None and event.tx_hash is not None else None,
            )
        )
    return out
