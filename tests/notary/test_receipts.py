"""Receipts: served by the API, verified offline and on chain by the CLI; any altered field fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend.chain.notary import NotaryBatchLookup
from backend.proofs.receipts import verify_receipt_offline, verify_receipt_onchain
from backend.services.receipts import NotYetAnchored, evidence_receipt
from tests.factories import queue_evidence
from tests.stacks import NotaryStack


def _receipt(stack: NotaryStack, evidence_id: str, private: bool = False) -> dict[str, Any]:
    with stack.sessions() as session:
        receipt = evidence_receipt(
            session, evidence_id, chain_id=stack.w3.eth.chain_id, contract=stack.notary.address, private=private
        )
    return receipt.to_json()


@pytest.fixture
def anchored(stack: NotaryStack) -> tuple[NotaryStack, list[str]]:
    ids = queue_evidence(stack.sessions, 40, seed=21)
    stack.worker(max_batch=16).run_until_idle(mine=stack.mine)
    return stack, ids


def test_receipt_verifies_offline_and_on_chain(anchored: tuple[NotaryStack, list[str]]) -> None:
    stack, ids = anchored
    lookup = NotaryBatchLookup(stack.notary)
    for evidence_id in ids[::7]:
        receipt = _receipt(stack, evidence_id, private=True)
        assert verify_receipt_offline(receipt).ok
        report = verify_receipt_onchain(receipt, lookup)
        assert report.ok, report.to_json()
        assert [s.status for s in report.steps].count("failed") == 0


def test_receipt_before_anchoring_is_a_conflict(stack: NotaryStack) -> None:
    (evidence_id,) = queue_evidence(stack.sessions, 1, seed=22)
    with pytest.raises(NotYetAnchored):
        _receipt(stack, evidence_id)


def _altered(receipt: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    doc = json.loads(json.dumps(receipt))
    target = doc
    for key in path[:-1]:
        target = target[key]
    value = target[path[-1]]
    if isinstance(value, bool):
        target[path[-1]] = not value
    elif isinstance(value, int):
        target[path[-1]] = value + 1
    elif isinstance(value, list):
        target[path[-1]] = [value[0][:-1] + ("0" if value[0][-1] != "0" else "1"), *value[1:]]
    elif isinstance(value, str) and value.startswith("0x"):
        last = value[-1].lower()
        target[path[-1]] = value[:-1] + ("0" if last != "0" else "1")
    else:
        target[path[-1]] = value + "x"
    return doc


FIELDS: list[tuple[str, ...]] = [
    ("version",),
    ("kind",),
    ("chainId",),
    ("contract",),
    ("batchId",),
    ("root",),
    ("prevRoot",),
    ("leafCount",),
    ("leaf", "claimRef"),
    ("leaf", "contentCommitment"),
    ("leaf", "cid"),
    ("leafHash",),
    ("proof",),
    ("anchorTx",),
    ("anchorBlock",),
    ("salt",),
    ("plaintextSha256",),
]


@pytest.mark.parametrize("path", FIELDS, ids=[".".join(p) for p in FIELDS])
def test_altered_receipt_field_fails_naming_the_step(
    anchored: tuple[NotaryStack, list[str]], path: tuple[str, ...]
) -> None:
    stack, ids = anchored
    receipt = _receipt(stack, ids[5], private=True)
    report = verify_receipt_onchain(_altered(receipt, path), NotaryBatchLookup(stack.notary))
    assert not report.ok, f"altering {'.'.join(path)} went unnoticed"
    assert report.error is not None
    assert report.failed_step is not None


def test_cli_verifies_receipt_offline_and_against_chain(
    anchored: tuple[NotaryStack, list[str]], tmp_path: Path
) -> None:
    stack, ids = anchored
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(_receipt(stack, ids[0])))
    offline = subprocess.run(
        [sys.executable, "-m", "backend", "receipt", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "receipt verified" in offline.stdout
    onchain = subprocess.run(
        [sys.executable, "-m", "backend", "receipt", "verify", str(path), "--rpc", stack.node.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert onchain.returncode == 0, onchain.stdout + onchain.stderr
    assert "CONTRACT_VERIFY" in onchain.stdout
    forged = _altered(json.loads(path.read_text()), ("root",))
    path.write_text(json.dumps(forged))
    rejected = subprocess.run(
        [sys.executable, "-m", "backend", "receipt", "verify", str(path), "--rpc", stack.node.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rejected.returncode == 1
    assert "receipt rejected at step 3 (PROOF)" in rejected.stdout
