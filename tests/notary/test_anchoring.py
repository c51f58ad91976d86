"""The anchoring worker against a real anvil: batches, proofs, hash chain, exactly once."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from backend.db.models import AnchorBatch, AnchorItem, utcnow
from backend.proofs.merkle import MerkleTree, verify_proof
from backend.services.anchoring import DeepReorg, unpack_proof
from tests.factories import queue_evidence
from tests.stacks import NotaryStack


def _items(stack: NotaryStack) -> list[AnchorItem]:
    with stack.sessions() as session:
        return list(session.scalars(select(AnchorItem).order_by(AnchorItem.id)))


def _batches(stack: NotaryStack) -> list[AnchorBatch]:
    with stack.sessions() as session:
        return list(session.scalars(select(AnchorBatch).order_by(AnchorBatch.id)))


def assert_exactly_once_on_chain(stack: NotaryStack, expected_items: int) -> None:
    """Every queued item sits in one confirmed batch whose root is on chain exactly once."""
    events = stack.anchored_events()
    roots = [bytes(e["root"]) for e in events]
    assert len(roots) == len(set(roots)), "a root was anchored twice"
    batches = _batches(stack)
    assert all(b.status == "confirmed" for b in batches)
    assert {b.root for b in batches} == set(roots)
    assert sum(int(e["leafCount"]) for e in events) == expected_items
    items = _items(stack)
    assert len(items) == expected_items
    assert all(i.batch_id is not None and i.proof is not None for i in items)
    # the anchors form one unbroken hash chain from the zero root
    prev = b"\0" * 32
    for event in sorted(events, key=lambda e: int(e["batchId"])):
        assert bytes(event["prevRoot"]) == prev
        prev = bytes(event["root"])


def test_anchor_happy_path_stores_verifiable_proofs(stack: NotaryStack) -> None:
    queue_evidence(stack.sessions, 250, seed=1)
    worker = stack.worker(max_batch=100, confirmations=2)
    worker.run_until_idle(mine=stack.mine)
    assert_exactly_once_on_chain(stack, 250)
    assert [b.leaf_count for b in _batches(stack)] == [100, 100, 50]
    rng = random.Random(7)
    batches = {b.id: b for b in _batches(stack)}
    for item in rng.sample(_items(stack), 25):
        batch = batches[item.batch_id]  # type: ignore[index]
        proof = unpack_proof(item.proof)
        assert verify_proof(batch.root, item.leaf_hash, proof)
        assert stack.notary.verify(batch.onchain_id, item.leaf_hash, proof) is True  # type: ignore[arg-type]
        assert stack.notary.verify(batch.onchain_id, b"\x01" * 32, proof) is False  # type: ignore[arg-type]


def test_batches_wait_for_confirmations_before_proofs(stack: NotaryStack) -> None:
    queue_evidence(stack.sessions, 10, seed=2)
    worker = stack.worker(confirmations=3)
    worker.run_once(force=True)
    assert [b.status for b in _batches(stack)] == ["sent"]
    assert all(i.proof is None for i in _items(stack))
    stack.mine(2)
    worker.run_once()
    assert [b.status for b in _batches(stack)] == ["sent"]
    stack.mine(1)
    worker.run_once()
    assert [b.status for b in _batches(stack)] == ["confirmed"]


def test_partial_batch_waits_for_max_wait(stack: NotaryStack) -> None:
    queue_evidence(stack.sessions, 5, seed=3)
    worker = stack.worker(max_batch=100, max_wait=3600)
    report = worker.run_once()
    assert report.formed == 0
    assert worker.backlog() == 5


def test_items_stamped_ahead_of_the_wall_clock_are_due_at_once(stack: NotaryStack) -> None:
    """Evidence queued on the chain's clock when the development chain runs days ahead (the demo
    after POST /chain/advance): a partial batch forms at once instead of waiting for the wall clock
    to catch up with the stamp."""
    queue_evidence(stack.sessions, 3, seed=31)
    with stack.sessions.begin() as session:
        session.execute(update(AnchorItem).values(enqueued_at=utcnow() + timedelta(days=7)))
    worker = stack.worker(max_batch=100, max_wait=3600)
    report = worker.run_once()
    assert report.formed == 1
    assert worker.backlog() == 0


def test_trillian_round_trip_thousand_leaves(stack: NotaryStack) -> None:
    """F4: 1,000 leaves in batches of 50: each exactly once, roots equal an independent tree."""
    queue_evidence(stack.sessions, 1000, seed=4)
    stack.worker(max_batch=50).run_until_idle(max_cycles=200)
    assert_exactly_once_on_chain(stack, 1000)
    items = _items(stack)
    for batch in _batches(stack):
        leaves = [i.leaf_hash for i in sorted(items, key=lambda i: i.leaf_index or 0) if i.batch_id == batch.id]
        assert MerkleTree.from_leaf_hashes(leaves).root == batch.root
    for index in (0, 5, 27, 31, 80, 91, 999):
        item = items[index]
        batch = next(b for b in _batches(stack) if b.id == item.batch_id)
        assert stack.notary.verify(batch.onchain_id, item.leaf_hash, unpack_proof(item.proof))  # type: ignore[arg-type]


def test_tampered_leaf_hash_is_never_anchored(stack: NotaryStack) -> None:
    """F5 (Yeti): a stored leaf hash that does not follow from its row is caught before anchoring."""
    ids = queue_evidence(stack.sessions, 20, seed=5)
    with stack.sessions.begin() as session:
        session.execute(update(AnchorItem).where(AnchorItem.ref_id == ids[3]).values(leaf_hash=b"\x99" * 32))
    report = stack.worker().run_once(force=True)
    assert report.rejected_items == [ids[3]]
    events = stack.anchored_events()
    assert len(events) == 1
    assert int(events[0]["leafCount"]) == 19


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_shallow_reorg_resends_lost_anchor_once(stack: NotaryStack, depth: int) -> None:
    """A7: a reorg removes an unconfirmed anchor; the worker sees it and anchors it again, once."""
    queue_evidence(stack.sessions, 30, seed=6)
    worker = stack.worker(confirmations=8, max_batch=10, pipeline=1)
    worker.run_once(force=True)  # batch 1 sent
    stack.mine(depth - 1)
    stack.reorg(depth)
    assert stack.notary.batch_count() == 0
    worker.run_until_idle(mine=stack.mine)
    assert_exactly_once_on_chain(stack, 30)


def test_reorg_below_finality_never_changes_final_record(stack: NotaryStack) -> None:
    """A8: with K confirmations, a reorg of depth < K leaves confirmed batches untouched."""
    k = 4
    queue_evidence(stack.sessions, 10, seed=7)
    worker = stack.worker(confirmations=k)
    worker.run_once(force=True)
    stack.mine(k)
    worker.run_once()
    (before,) = _batches(stack)
    assert before.status == "confirmed"
    stack.reorg(k - 1)
    worker.run_once()
    (after,) = _batches(stack)
    assert (after.status, after.block_hash, after.onchain_id) == ("confirmed", before.block_hash, before.onchain_id)


def test_reorg_beyond_finality_halts_with_deep_reorg(stack: NotaryStack) -> None:
    """A8: a reorg of depth >= K that removes a final anchor raises DEEP_REORG, never silently accepted."""
    k = 2
    queue_evidence(stack.sessions, 10, seed=8)
    worker = stack.worker(confirmations=k)
    worker.run_once(force=True)
    stack.mine(k)
    worker.run_once()
    assert _batches(stack)[0].status == "confirmed"
    stack.reorg(k + 1)
    with pytest.raises(DeepReorg, match="left the chain"):
        worker.run_once()
    assert _batches(stack)[0].status == "confirmed"  # nothing changed behind the operator's back


def test_replayed_events_equal_contract_storage(stack: NotaryStack) -> None:
    """C8: replaying every BatchAnchored event from block 0 gives exactly what the views return."""
    queue_evidence(stack.sessions, 45, seed=31)
    stack.worker(max_batch=10).run_until_idle()
    events = stack.anchored_events()
    assert len(events) == stack.notary.batch_count() == 5
    for event in events:
        stored = stack.notary.batch(int(event["batchId"]))
        assert (stored.root, stored.prev_root, stored.leaf_count) == (
            bytes(event["root"]),
            bytes(event["prevRoot"]),
            int(event["leafCount"]),
        )
        assert stack.notary.batch_id_of(stored.root) == int(event["batchId"])
    assert stack.notary.head_root() == bytes(events[-1]["root"])
