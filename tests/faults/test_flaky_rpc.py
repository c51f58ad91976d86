"""A10/A11: resets, stalls and half-closed sockets between relay and chain; a node with pruned history."""

from __future__ import annotations

import pytest

from backend.chain.client import account, connect, contract_at
from backend.chain.notary import NotaryBatchLookup, NotaryClient
from backend.chain.transactions import TransactionSender
from backend.config import ANVIL_DEV_KEYS
from backend.errors import ChainError
from backend.proofs.receipts import ReceiptStep, StepStatus, verify_receipt_onchain
from backend.services.anchoring import AnchoringWorker
from backend.services.receipts import evidence_receipt
from tests.factories import queue_evidence
from tests.faults.rpc_proxy import FaultSchedule, RpcFaultProxy
from tests.notary.test_anchoring import assert_exactly_once_on_chain
from tests.stacks import NotaryStack

MAX_RETRIES = 8


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_relay_through_flaky_rpc_anchors_each_item_once(stack: NotaryStack, seed: int) -> None:
    schedule = FaultSchedule(seed=seed, reset_rate=0.03, stall_rate=0.01, stall_seconds=1.5, half_close_rate=0.02)
    queue_evidence(stack.sessions, 60, seed=seed)
    with RpcFaultProxy(stack.node.url, schedule) as proxy:
        proxy.enabled = False
        w3 = connect(proxy.url, timeout=0.5)  # short timeout: a stall becomes a typed timeout
        proxy.enabled = True
        notary = NotaryClient(w3, contract_at(w3, stack.notary.address, {"abi": stack.notary.contract.abi}))
        worker = AnchoringWorker(
            stack.sessions,
            w3,
            notary,
            TransactionSender(w3, account(ANVIL_DEV_KEYS[1])),
            confirmations=0,
            max_batch=10,
            max_wait=0,
            holder="flaky",
        )
        codes: list[str] = []
        for _ in range(200):
            try:
                worker.run_once(force=True)
            except ChainError as exc:  # every failure is typed; none escapes as a raw exception
                codes.append(exc.code)
                continue
            if worker.backlog() == 0 and not worker._has_open_batch():
                break
        assert set(codes) <= {"CHAIN_UNAVAILABLE", "TRANSACTION_DROPPED", "NONCE_TOO_LOW", "ALREADY_KNOWN"}, codes
        assert schedule.counts["reset"] + schedule.counts["stall"] + schedule.counts["half_close"] > 0
    assert_exactly_once_on_chain(stack, 60)


def test_receipt_verifies_against_node_with_pruned_history(stack: NotaryStack) -> None:
    """A11: logs and old receipts gone; verification passes from contract storage, step 13 skipped."""
    ids = queue_evidence(stack.sessions, 12, seed=4)
    stack.worker(max_batch=12).run_until_idle(mine=stack.mine)
    stack.mine(5)
    with stack.sessions() as session:
        receipt = evidence_receipt(session, ids[3], chain_id=31337, contract=stack.notary.address).to_json()
    head = stack.w3.eth.block_number
    with RpcFaultProxy(stack.node.url, FaultSchedule(prune_below=head)) as proxy:
        w3 = connect(proxy.url)
        lookup = NotaryBatchLookup(
            NotaryClient(w3, contract_at(w3, stack.notary.address, {"abi": stack.notary.contract.abi}))
        )
        report = verify_receipt_onchain(receipt, lookup)
    assert report.ok, report.to_json()
    assert report.status_of(ReceiptStep.CONTRACT_VERIFY) == StepStatus.PASSED
    assert report.status_of(ReceiptStep.ANCHOR_TX) == StepStatus.SKIPPED
