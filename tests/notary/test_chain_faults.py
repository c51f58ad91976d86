"""Chain faults (RELIABILITY.md A1, A3, A5, A6): crashes, dropped mempool, nonces, error classes."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.chain.anvil import AnvilNode, rpc_call
from backend.chain.client import account
from backend.chain.transactions import NonceGap, NonceTooLow, ReplacementUnderpriced, TransactionSender
from backend.config import ANVIL_DEV_KEYS
from backend.errors import ChainUnavailable
from tests.factories import queue_evidence
from tests.notary.test_anchoring import assert_exactly_once_on_chain
from tests.stacks import NotaryStack

KILL_SEEDS = list(range(20))


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_sigkill_anvil_mid_batch_anchors_every_item_once(
    seed: int, tmp_path: Path, stack_factory: Callable[..., NotaryStack]
) -> None:
    """A1/A5: kill -9 anvil at a seeded point; restart from its state file; 100/100 exactly once."""
    rng = random.Random(seed)
    stack = stack_factory(state_path=tmp_path / "state.json", state_interval=3600)
    stack.node.stop()  # persist the deployment, then restart from the state file
    stack.node.start()
    queue_evidence(stack.sessions, 100, seed=seed)
    worker = stack.worker(
        max_batch=rng.choice([7, 10, 25]), confirmations=rng.choice([0, 1, 2]), reorg_policy="requeue"
    )
    persist_after, kill_after = sorted(rng.sample(range(1, 12), 2))
    for cycle in range(1, 13):
        worker.run_once(force=True)
        stack.mine()
        if cycle == persist_after:
            stack.node.stop()  # a state dump: everything up to here survives
            stack.node.start()
        if cycle == kill_after:
            stack.node.kill()  # everything since the last dump is lost, nonces go back
            with pytest.raises(ChainUnavailable):
                worker.run_once(force=True)
            stack.node.start()
    worker.run_until_idle(max_cycles=60, mine=stack.mine)
    assert_exactly_once_on_chain(stack, 100)
    status = rpc_call(stack.node.url, "txpool_status")
    assert isinstance(status, dict)
    assert int(str(status["queued"]), 16) == 0  # A5: no nonce gap left behind


def test_graceful_restart_drops_mempool_and_worker_resends(
    tmp_path: Path, stack_factory: Callable[..., NotaryStack]
) -> None:
    """A3: automine off; the anchor sits in the mempool; SIGTERM drops it; the worker re-sends."""
    stack = stack_factory(state_path=tmp_path / "state.json", state_interval=3600)
    rpc_call(stack.node.url, "evm_setAutomine", [False])
    queue_evidence(stack.sessions, 20, seed=11)
    worker = stack.worker()
    worker.run_once(force=True)
    status = rpc_call(stack.node.url, "txpool_status")
    assert isinstance(status, dict)
    assert int(str(status["pending"]), 16) == 1
    assert worker.run_once().confirmed == 0  # nothing is done from a hash alone
    stack.node.stop()
    stack.node.start()  # mempool not persisted
    rpc_call(stack.node.url, "evm_setAutomine", [False])
    report = worker.run_once()
    assert report.resent == 1
    stack.mine()
    worker.run_until_idle(mine=stack.mine)
    assert_exactly_once_on_chain(stack, 20)


def _raw_transfer(sender: TransactionSender, nonce: int, tip_gwei: int = 1) -> bytes:
    w3 = sender.w3
    tx = {
        "to": "0x000000000000000000000000000000000000dEaD",
        "value": 1,
        "gas": 21000,
        "nonce": nonce,
        "chainId": w3.eth.chain_id,
        "maxFeePerGas": w3.to_wei(100, "gwei"),
        "maxPriorityFeePerGas": w3.to_wei(tip_gwei, "gwei"),
    }
    return bytes(sender.signer.sign_transaction(tx).raw_transaction)


def test_error_classification_names_each_nonce_failure(stack: NotaryStack) -> None:
    """A6: nonce too low, replacement underpriced and a gap each map to a named error."""
    sender = TransactionSender(stack.w3, account(ANVIL_DEV_KEYS[5]))
    base = {"to": "0x000000000000000000000000000000000000dEaD", "value": 1, "gas": 21000}
    first = sender.send(base)  # type: ignore[arg-type]
    sender.wait(first)
    with pytest.raises(NonceTooLow, match="nonce too low"):
        sender.send(base, nonce=first.nonce)  # type: ignore[arg-type]
    rpc_call(stack.node.url, "evm_setAutomine", [False])
    pending = sender.send({**base, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9})  # type: ignore[arg-type]
    with pytest.raises(ReplacementUnderpriced):
        sender.send(
            {**base, "value": 2, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9},  # type: ignore[arg-type]
            nonce=pending.nonce,
        )
    with pytest.raises(NonceGap, match="would stall"):
        sender.send(base, nonce=pending.nonce + 5)  # type: ignore[arg-type]
    status = rpc_call(stack.node.url, "txpool_status")
    assert isinstance(status, dict)
    assert int(str(status["queued"]), 16) == 0


def test_rpc_down_is_a_typed_error_and_the_worker_resumes(stack: NotaryStack) -> None:
    queue_evidence(stack.sessions, 10, seed=12)
    worker = stack.worker()
    stack.node.kill()
    with pytest.raises(ChainUnavailable):
        worker.run_once(force=True)
    stack.node.start()  # a fresh chain: the contract is gone too, so redeploy is needed
    assert stack.notary.w3.eth.get_code(stack.notary.contract.address) == b""


def test_nonce_resyncs_after_rollback(tmp_path: Path, anvil_factory: Callable[..., AnvilNode]) -> None:
    """A5: the chain's nonce goes backwards after a crash; the next send uses it (no gap)."""
    node = anvil_factory(state_path=tmp_path / "state.json", state_interval=3600)
    from backend.chain.client import connect

    w3 = connect(node.url)
    sender = TransactionSender(w3, account(ANVIL_DEV_KEYS[6]))
    base = {"to": "0x000000000000000000000000000000000000dEaD", "value": 1, "gas": 21000}
    sender.wait(sender.send(base))  # type: ignore[arg-type]
    node.stop()
    node.start()
    for _ in range(3):
        sender.wait(sender.send(base))  # type: ignore[arg-type]
    node.kill()
    node.start()
    assert w3.eth.get_transaction_count(sender.address) == 1  # 4 → 1
    sent = sender.send(base)  # type: ignore[arg-type]
    assert sent.nonce == 1
    sender.wait(sent)
    status = rpc_call(node.url, "txpool_status")
    assert isinstance(status, dict)
    assert int(str(status["queued"]), 16) == 0
