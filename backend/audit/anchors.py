"""Step 2: the anchor hash chain, replayed from ``BatchAnchored`` events and checked against storage.

Pure: takes what was read from the chain (and optionally the operator's view of its batches)
and returns findings. What it establishes, for batches ``start..count`` (``start`` = 1, or the
batch after a checkpoint):

* storage links: ``batch(n).prevRoot == batch(n−1).root`` (the zero root for batch 1), no zero
  root, no empty batch, no root twice, ``headRoot == batch(count).root``;
* replay (C8): events come in chain order with ids ``start, start+1, …, count``, and each equals
  ``batch(id)`` in root, prevRoot, leafCount and block — events = storage;
* a missing event is **pruned history** (``history_unavailable``, RELIABILITY.md A11) when the node
  no longer serves that block's receipts, and a failure otherwise;
* a checkpoint still holds: the chain has ``headRoot`` at ``batchCount`` (and the checkpoint's
  block hash, where the node serves it);
* the operator's view (database rows ordered by on-chain id) links the same way, and the first
  broken link is named (RELIABILITY.md F3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from backend.audit.chain import ZERO32, AnchorEvent, ChainBatch
from backend.audit.checkpoint import Checkpoint
from backend.audit.database import DbBatch
from backend.audit.errors import AnchorChainBroken
from backend.proofs.hexstr import to_hex

__all__ = ["AnchorHistory", "AnchorVerdict", "check_anchor_chain", "short"]


def short(value: bytes) -> str:
    """A hash as it appears in messages: all of it, since a flipped bit may sit anywhere."""
    return to_hex(value)


@dataclass(frozen=True)
class AnchorHistory:
    """What the chain says about batches ``start_id..batch_count`` (read at one block)."""

    batch_count: int
    head_root: bytes
    start_id: int
    base_root: bytes  # root of batch start_id − 1 (zero for batch 1)
    storage: dict[int, ChainBatch]
    events: Sequence[AnchorEvent]

    def root_of(self, batch_id: int) -> bytes | None:
        if batch_id == self.start_id - 1:
            return self.base_root
        stored = self.storage.get(batch_id)
        return None if stored is None else stored.root


@dataclass
class AnchorVerdict:
    findings: list[AnchorChainBroken] = field(default_factory=list)
    history_unavailable: list[int] = field(default_factory=list)  # batch ids whose events are pruned
    checked: dict[str, int] = field(default_factory=dict)
    # The chain's newest batches whose row is still ``sent``: mined, the worker waiting for their
    # confirmation depth (a later audit sees them confirmed, or names them).
    awaiting_depth: list[int] = field(default_factory=list)


def check_anchor_chain(
    history: AnchorHistory,
    *,
    history_available: Callable[[int], bool],
    checkpoint: Checkpoint | None = None,
    checkpoint_block_hash: bytes | None = None,
    db_batches: Sequence[DbBatch] | None = None,
) -> AnchorVerdict:
    """Step 2 over ``history``; ``history_available(block)`` asks the node whether it kept a block."""
    verdict = AnchorVerdict()
    _storage_links(history, verdict)
    _replay(history, verdict, history_available)
    if checkpoint is not None:
        _checkpoint(history, checkpoint, checkpoint_block_hash, verdict)
    if db_batches is not None:
        _operator_view(history, db_batches, verdict)
    verdict.checked.update(
        {
            "batches": history.batch_count - history.start_id + 1,
            "events": len(history.events),
            "eventsUnavailable": len(verdict.history_unavailable),
        }
    )
    return verdict


def _storage_links(history: AnchorHistory, verdict: AnchorVerdict) -> None:
    seen: dict[bytes, int] = {}
    for n in range(history.start_id, history.batch_count + 1):
        stored = history.storage[n]
        expected = history.root_of(n - 1)
        if stored.root == ZERO32:
            verdict.findings.append(
                AnchorChainBroken(f"batch {n}: storage holds a zero root", reason="zero_root", batch=n)
            )
        if stored.leaf_count == 0:
            verdict.findings.append(
                AnchorChainBroken(f"batch {n}: storage holds 0 leaves", reason="leaf_count", batch=n)
            )
        if expected is not None and stored.prev_root != expected:
            verdict.findings.append(
                AnchorChainBroken(
                    f"batch {n}: prevRoot {short(stored.prev_root)} is not the root of batch {n - 1} "
                    f"({short(expected)}): the hash chain breaks here",
                    reason="prev_root",
                    batch=n,
                )
            )
        if stored.root in seen:
            verdict.findings.append(
                AnchorChainBroken(
                    f"batch {n}: root {short(stored.root)} was already anchored as batch {seen[stored.root]}",
                    reason="duplicate_root",
                    batch=n,
                )
            )
        seen.setdefault(stored.root, n)
    top = history.root_of(history.batch_count) if history.batch_count else ZERO32
    if history.batch_count >= history.start_id - 1 and top is not None and history.head_root != top:
        verdict.findings.append(
            AnchorChainBroken(
                f"headRoot {short(history.head_root)} is not the root of the last batch {history.batch_count}",
                reason="head_root",
                batch=history.batch_count,
            )
        )


def _replay(history: AnchorHistory, verdict: AnchorVerdict, history_available: Callable[[int], bool]) -> None:
    pruned = _pruned(history, {e.batch_id for e in history.events}, verdict, history_available)
    expected = history.start_id
    order_broken = False
    by_id: dict[int, AnchorEvent] = {}
    for event in history.events:
        if event.batch_id > expected and all(n in pruned for n in range(expected, event.batch_id)):
            expected = event.batch_id  # the gap is history the node no longer serves, not a break
        if event.batch_id != expected and not order_broken:
            order_broken = True
            verdict.findings.append(
                AnchorChainBroken(
                    f"replay: the event after batch {expected - 1} is batch {event.batch_id} "
                    f"(block {event.block_number}), expected batch {expected}",
                    reason="event_order",
                    batch=expected,
                )
            )
        expected = event.batch_id + 1
        if event.batch_id in by_id:
            verdict.findings.append(
                AnchorChainBroken(
                    f"replay: batch {event.batch_id} was announced twice", reason="event_order", batch=event.batch_id
                )
            )
            continue
        by_id[event.batch_id] = event
        stored = history.storage.get(event.batch_id)
        if stored is None:
            verdict.findings.append(
                AnchorChainBroken(
                    f"replay: event for batch {event.batch_id} (block {event.block_number}) but storage has "
                    f"{history.batch_count} batches",
                    reason="extra_event",
                    batch=event.batch_id,
                )
            )
            continue
        diffs = [
            name
            for name, a, b in (
                ("root", event.root, stored.root),
                ("prevRoot", event.prev_root, stored.prev_root),
                ("leafCount", event.leaf_count, stored.leaf_count),
                ("blockNumber", event.block_number, stored.block_number),
            )
            if a != b
        ]
        if diffs:
            verdict.findings.append(
                AnchorChainBroken(
                    f"replay: the BatchAnchored event of batch {event.batch_id} differs from batch({event.batch_id}) "
                    f"storage in {', '.join(diffs)}",
                    reason="event_storage",
                    batch=event.batch_id,
                )
            )


def _pruned(
    history: AnchorHistory, announced: set[int], verdict: AnchorVerdict, history_available: Callable[[int], bool]
) -> set[int]:
    """Batches without an event: pruned history (returned) or a real gap (a finding each)."""
    missing = [n for n in range(history.start_id, history.batch_count + 1) if n not in announced]
    if not missing:
        return set()
    # Pruning removes a prefix of history: find the first missing batch whose block is still served.
    lo, hi = 0, len(missing)
    while lo < hi:
        mid = (lo + hi) // 2
        if history_available(history.storage[missing[mid]].block_number):
            hi = mid
        else:
            lo = mid + 1
    verdict.history_unavailable.extend(missing[:lo])
    for n in missing[lo:]:
        block = history.storage[n].block_number
        verdict.findings.append(
            AnchorChainBroken(
                f"replay: no BatchAnchored event for batch {n}, although storage records it in block {block} "
                "and the node serves that block",
                reason="missing_event",
                batch=n,
            )
        )
    return set(missing[:lo])


def _checkpoint(history: AnchorHistory, cp: Checkpoint, block_hash: bytes | None, verdict: AnchorVerdict) -> None:
    def broken(message: str) -> None:
        verdict.findings.append(
            AnchorChainBroken(
                f"checkpoint (batch {cp.batch_count}, block {cp.block_number}) is not extended: {message}",
                reason="checkpoint",
                batch=cp.batch_count,
            )
        )

    if history.batch_count < cp.batch_count:
        broken(f"the chain has only {history.batch_count} batches")
        return
    if cp.batch_count:
        root = history.root_of(cp.batch_count)
        if root is not None and root != cp.head_root:
            broken(f"batch {cp.batch_count} now has root {short(root)}, the checkpoint says {short(cp.head_root)}")
    if block_hash is not None and block_hash != cp.block_hash:
        broken(f"block {cp.block_number} now has hash {short(block_hash)}: the chain was rewritten below it")


def _operator_view(history: AnchorHistory, rows: Sequence[DbBatch], verdict: AnchorVerdict) -> None:
    """Walk the operator's confirmed batches in on-chain order; name the first link that breaks.

    The chain's newest batches may have rows still ``sent`` (mined, the anchoring worker waiting
    for their confirmation depth): after the last confirmed row only, a ``sent`` row with the
    chain's root and the right link counts as in flight (``awaiting_depth``), not removed. Anywhere
    else a batch without its confirmed row is a broken link, as before."""
    confirmed = [r for r in rows if r.status == "confirmed"]
    by_id: dict[int, list[DbBatch]] = {}
    for row in confirmed:
        if row.onchain_id is not None:
            by_id.setdefault(row.onchain_id, []).append(row)
    sent = {r.root: r for r in rows if r.status == "sent"}
    last_confirmed = max(by_id, default=0)
    chain_id_of = {s.root: n for n, s in history.storage.items()}
    top = max([history.batch_count, *by_id])
    prev_root = history.base_root
    for n in range(history.start_id, top + 1):
        found = by_id.get(n, [])

        def broken(message: str, row: DbBatch | None, _n: int = n) -> None:
            verdict.findings.append(
                AnchorChainBroken(
                    f"operator's view: first broken link at batch {_n}: {message}",
                    reason="db_link",
                    batch=_n,
                    table="anchor_batches",
                    row=None if row is None else f"id={row.id}",
                )
            )

        chain_root = history.root_of(n)
        in_flight = sent.get(chain_root) if chain_root is not None and n > last_confirmed else None
        if not found and in_flight is not None and in_flight.prev_root == prev_root:
            verdict.awaiting_depth.append(n)
            prev_root = in_flight.root
            continue
        if not found:
            broken(f"the chain's batch {n} ({short(chain_root or ZERO32)}) has no confirmed row (removed)", None)
            return
        if len(found) > 1:
            broken(f"{len(found)} rows claim on-chain id {n} (inserted)", found[1])
            return
        row = found[0]
        if n > history.batch_count:
            broken(f"row id={row.id} claims batch {n}, the chain has {history.batch_count} batches (inserted)", row)
            return
        if row.root != chain_root:
            elsewhere = chain_id_of.get(row.root)
            why = (
                f"it is the chain's batch {elsewhere} (reordered)"
                if elsewhere
                else "not on chain (inserted or altered)"
            )
            broken(
                f"row id={row.id} has root {short(row.root)}, "
                f"the chain's batch {n} is {short(chain_root or ZERO32)}: {why}",
                row,
            )
            return
        if row.prev_root != prev_root:
            broken(
                f"row id={row.id} links to {short(row.prev_root)}, the previous batch's root is {short(prev_root)}", row
            )
            return
        prev_root = row.root
    extra = [r for r in confirmed if r.onchain_id is None]
    if extra:
        verdict.findings.append(
            AnchorChainBroken(
                f"operator's view: confirmed row id={extra[0].id} has no on-chain id (inserted)",
                reason="db_link",
                table="anchor_batches",
                row=f"id={extra[0].id}",
            )
        )
