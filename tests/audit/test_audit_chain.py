"""The auditor against the chain: restarts (F6), pruned history (A11), a rewritten chain, checkpoints."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.audit import Checkpoint, SignedCheckpoint, StepStatus, extension_problems
from backend.audit.checkpoint import generate_key
from backend.chain.anvil import AnvilNode, rpc_call
from backend.runtime import build_runtime
from tests.audit.audit_support import AuditedHistory, build_history, settings_for, upload
from tests.faults.rpc_proxy import FaultSchedule, RpcFaultProxy

pytestmark = pytest.mark.xdist_group("audit-chain")


@pytest.fixture
def history(tmp_path: Path) -> Iterator[AuditedHistory]:
    built = build_history(tmp_path, items=30, batch=10, pending=0, seed=3)
    yield built
    built.runtime.close()
    built.node.kill()


def test_audit_is_byte_identical_across_anvil_and_backend_restarts(history: AuditedHistory, tmp_path: Path) -> None:
    """F6: same history → same report, before/after an anvil restart from its state and a backend restart."""
    before = history.audit().to_json_text()
    history.node.stop()  # SIGTERM: anvil writes its state file
    history.node.start()
    after_chain = history.audit().to_json_text()
    history.runtime.close()
    history.runtime = build_runtime(settings_for(history.node, history.data_dir, 10))  # reuses the deployment
    after_backend = history.audit().to_json_text()
    assert '"ok": true' in before
    assert before == after_chain == after_backend


def test_audit_reports_history_unavailable_when_logs_are_pruned(history: AuditedHistory) -> None:
    """A11: eth_getLogs answers nothing below block N while storage holds the batches → never "passed"."""
    head = int(str(rpc_call(history.node.url, "eth_blockNumber")), 16)
    with RpcFaultProxy(history.node.url, FaultSchedule(prune_below=head)) as proxy:
        report = history.audit(rpc_url=proxy.url)
    step2 = report.step(2)
    assert step2.status is StepStatus.HISTORY_UNAVAILABLE
    assert step2.findings == []
    assert step2.checked["eventsUnavailable"] == 2  # batches 1 and 2; batch 3 sits in the head block
    assert "pruned the events of 2 batch(es)" in step2.detail
    assert not report.ok
    assert report.checkpoint is None  # nothing to resume from: the replay did not run
    assert report.step(5).status is StepStatus.PASSED  # storage still proves every leaf
    assert report.step(7).status is StepStatus.PASSED
    for step in (3, 4, 6):  # ClaimLedger's and Apportionment's logs are gone too: no replay, no pass
        assert report.step(step).status is StepStatus.HISTORY_UNAVAILABLE, report.step(step).to_json()
        assert "pruned" in report.step(step).detail


def test_audit_names_a_rewritten_chain_and_the_checkpoint_it_breaks(history: AuditedHistory, tmp_path: Path) -> None:
    """anvil restarted WITHOUT its state and the history replayed differently: steps 1 and 2 fail, named."""
    first = history.audit()
    assert first.ok
    assert first.checkpoint is not None
    signed = SignedCheckpoint(Checkpoint.from_json(first.checkpoint)).sign(generate_key()).sign(generate_key())
    assert len(signed.verify_signatures(minimum=2)) == 2
    genesis = rpc_call(history.node.url, "eth_getBlockByNumber", ["0x0", False])
    assert isinstance(genesis, dict)
    port = history.node.port
    history.runtime.close()
    history.node.kill()
    # a different chain at the same address: fresh genesis (other timestamp), same deployer, other anchors
    node = AnvilNode(port=port, extra_args=["--timestamp", str(int(genesis["timestamp"], 16) + 1000)]).start()
    history.node = node
    rewritten = build_runtime(settings_for(node, tmp_path / "rewritten", 7))
    try:
        upload(rewritten, 21, seed=99)
        rewritten.anchoring_worker(holder="rewrite").run_until_idle()
        assert rewritten.deployment.address("EvidenceNotary").lower() == first.subject["contracts"]["EvidenceNotary"]
    finally:
        rewritten.close()

    report = history.audit(checkpoint=signed.checkpoint)  # the old record, the old database, the old checkpoint
    assert not report.ok
    reasons1 = {f.reason for f in report.step(1).findings}
    assert "genesis" in reasons1
    checkpoint_findings = [f.message for f in report.step(2).findings if f.reason == "checkpoint"]
    assert any("is not extended: batch 3 now has root" in m for m in checkpoint_findings)
    block = signed.checkpoint.block_number  # the checkpoint's block (after the suite's deployments)
    assert any(f"block {block} now has hash" in m and "rewritten below it" in m for m in checkpoint_findings)
    links = [f.message for f in report.step(2).findings if f.reason == "db_link"]
    assert len(links) == 1
    assert "first broken link at batch 1" in links[0]

    incremental = history.audit(checkpoint=signed.checkpoint, since_checkpoint=True)
    assert any(f.reason == "checkpoint" for f in incremental.step(2).findings)


def test_incremental_audit_reads_only_new_blocks_and_extends_the_checkpoint(history: AuditedHistory) -> None:
    full = history.audit()
    assert full.checkpoint is not None
    cp1 = Checkpoint.from_json(full.checkpoint)
    assert cp1.batch_count == 3
    history.add_evidence(15, seed=40)
    history.anchor()

    report = history.audit(checkpoint=cp1, since_checkpoint=True)
    assert report.ok, report.to_json_text()
    assert report.subject["mode"] == "incremental"
    assert report.subject["fromBlock"] == cp1.block_number + 1
    assert report.subject["fromBatch"] == 4
    assert report.step(2).checked == {"batches": 2, "events": 2, "eventsUnavailable": 0}
    assert report.step(5).checked["items"] == 15
    assert report.checkpoint is not None
    cp2 = Checkpoint.from_json(report.checkpoint)
    assert cp2.previous == cp1.digest()
    assert cp2.batch_count == 5
    assert extension_problems(cp1, cp2) == []
    assert extension_problems(cp2, cp1) != []
    # the full audit of the same history proposes the same head
    full2 = history.audit(checkpoint=cp1)
    assert full2.checkpoint is not None
    assert Checkpoint.from_json(full2.checkpoint) == cp2


def test_incremental_audit_names_a_tampered_new_batch_and_a_forged_checkpoint(
    history: AuditedHistory, tmp_path: Path
) -> None:
    full = history.audit()
    assert full.checkpoint is not None
    cp1 = Checkpoint.from_json(full.checkpoint)
    history.add_evidence(10, seed=41)
    history.anchor()
    db = history.copy_db(tmp_path / "tampered.db")
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE anchor_batches SET leaf_count = leaf_count + 1 WHERE onchain_id = 4")
    con.close()
    report = history.audit(db, checkpoint=cp1, since_checkpoint=True)
    assert [(f.fields["table"], f.fields["fields"]) for f in report.step(7).findings] == [
        ("anchor_batches", ["leaf_count"])
    ]
    forged = Checkpoint(cp1.chain_id, cp1.contract, cp1.block_number, cp1.block_hash, cp1.batch_count, b"\x01" * 32)
    report = history.audit(checkpoint=forged, since_checkpoint=True)
    messages = [f.message for f in report.step(2).findings if f.reason == "checkpoint"]
    assert len(messages) == 1
    assert "batch 3 now has root" in messages[0]
