"""A12 (Jepsen-lite): random schedules of uploads, relay cycles and faults; invariants after every step.

Rules: queue evidence, run a relay cycle, mine, shallow reorg, kill -9 anvil and restart it from
its state file, graceful restart (state dump), replace the relay process (new worker, same DB).
Invariants after every step: no root is anchored twice on chain; every confirmed batch is on chain
with the recorded block hash and its stored proofs verify; the on-chain anchors form one hash
chain. At the end, after a drain: every queued item is anchored exactly once.
The failing example is replayable from Hypothesis' database (seed printed by pytest on failure).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import select

from backend.chain.anvil import AnvilNode
from backend.db.models import AnchorBatch, AnchorItem
from backend.errors import ChainUnavailable
from backend.proofs.merkle import verify_proof
from backend.services.anchoring import AnchoringWorker, unpack_proof
from tests.factories import queue_evidence
from tests.notary.test_anchoring import assert_exactly_once_on_chain
from tests.stacks import NotaryStack, build_stack


class NotarizationModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="hubao-model-"))
        node = AnvilNode(state_path=self.tmp / "state.json", state_interval=3600).start()
        self.stack: NotaryStack = build_stack(node, f"sqlite:///{self.tmp / 'model.db'}")
        node.stop()  # persist the deployment
        node.start()
        self.restart_block = self.stack.w3.eth.block_number
        self.queued = 0
        self.seed = 0
        self.worker = self._new_worker()

    def _new_worker(self) -> AnchoringWorker:
        self.seed += 1
        return AnchoringWorker(
            self.stack.sessions,
            self.stack.w3,
            self.stack.notary,
            self.stack.notary_sender,
            confirmations=2,
            max_batch=6,
            max_wait=0,
            holder=f"relay-{self.seed}",
            reorg_policy="requeue",
        )

    @rule(count=st.integers(min_value=1, max_value=8))
    def queue(self, count: int) -> None:
        self.seed += 1
        queue_evidence(self.stack.sessions, count, seed=self.seed * 1000 + count)
        self.queued += count

    @rule()
    def relay_cycle(self) -> None:
        try:
            self.worker.run_once(force=True)
        except ChainUnavailable:
            pytest.fail("the chain is running; a cycle must not fail")

    @rule(blocks=st.integers(min_value=1, max_value=3))
    def mine(self, blocks: int) -> None:
        self.stack.mine(blocks)

    # anvil restarted from a state file has no history to reorg below its restart block.
    @precondition(lambda self: self.stack.w3.eth.block_number - self.restart_block > 2)
    @rule(depth=st.integers(min_value=1, max_value=2))
    def shallow_reorg(self, depth: int) -> None:
        self.stack.reorg(depth)  # below the finality depth of 2 + 1

    @rule()
    def crash_chain(self) -> None:
        self.stack.node.kill()
        self.stack.node.start()
        self.restart_block = self.stack.w3.eth.block_number

    @rule()
    def persist_chain(self) -> None:
        self.stack.node.stop()
        self.stack.node.start()
        self.restart_block = self.stack.w3.eth.block_number

    @rule()
    def replace_relay(self) -> None:
        self.worker.lease.release()
        self.worker = self._new_worker()

    @invariant()
    def no_root_twice_and_one_hash_chain(self) -> None:
        events = sorted(self.stack.anchored_events(), key=lambda e: int(e["batchId"]))
        roots = [bytes(e["root"]) for e in events]
        assert len(roots) == len(set(roots))
        prev = b"\0" * 32
        for event in events:
            assert bytes(event["prevRoot"]) == prev
            prev = bytes(event["root"])

    @invariant()
    def confirmed_batches_hold_and_proofs_verify(self) -> None:
        with self.stack.sessions() as session:
            confirmed = session.scalars(select(AnchorBatch).where(AnchorBatch.status == "confirmed")).all()
            for batch in confirmed:
                if self.stack.notary.batch_id_of(batch.root) != batch.onchain_id:
                    continue  # lost in a crash since the last cycle: the next cycle must re-send it
                item = session.scalars(select(AnchorItem).where(AnchorItem.batch_id == batch.id)).first()
                assert item is not None
                assert verify_proof(batch.root, item.leaf_hash, unpack_proof(item.proof))

    def teardown(self) -> None:
        try:
            self.worker.run_until_idle(max_cycles=80, mine=self.stack.mine)
            assert_exactly_once_on_chain(self.stack, self.queued)
        finally:
            self.stack.node.kill()
            self.stack.engine.dispose()


TestNotarizationModel = NotarizationModel.TestCase
TestNotarizationModel.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
