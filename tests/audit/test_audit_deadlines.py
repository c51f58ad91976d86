"""Issue 15 items 5 and 6 on a notarized evidence history: anchoring deadlines are findings of their
own (no false alarm on an honest history), and an audit whose inputs fail in part still reports
every step, naming the one that could not read and why."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.audit import AuditReport, StepStatus
from backend.audit.trust import TRUST_ASSUMPTIONS
from backend.chain.anvil import rpc_call
from tests.accounts.support import uploader_client
from tests.audit.audit_support import AuditedHistory, RefusingProxy, build_history

pytestmark = pytest.mark.xdist_group("audit-deadlines")

DEADLINE = 600  # seconds


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedHistory]:
    built = build_history(tmp_path_factory.mktemp("audit-deadlines"), items=12, batch=5, pending=1, seed=15)
    yield built
    built.close()


def _overdue(report: AuditReport) -> list[dict[str, Any]]:
    return [f.to_json() for f in report.step(5).findings if f.code == "AUDIT_EVIDENCE_ANCHORING_OVERDUE"]


def _advance(history: AuditedHistory, seconds: int) -> None:
    rpc_call(history.node.url, "evm_increaseTime", [seconds])
    rpc_call(history.node.url, "evm_mine")


def test_audit_honest_history_with_deadlines_raises_no_alarm(history: AuditedHistory) -> None:
    report = history.audit(evidence_anchoring_seconds=DEADLINE, review_opening_seconds=DEADLINE)
    assert [s.status for s in report.steps] == [StepStatus.PASSED] * 7, report.to_json_text()
    assert report.findings == []
    assert f"anchored within {DEADLINE} s of queueing: 0 overdue" in report.step(5).detail
    assert f"review opened on chain within {DEADLINE} s of filing: 0 overdue" in report.step(3).detail


def test_audit_names_evidence_not_anchored_within_the_deadline(history: AuditedHistory) -> None:
    """The pending item waits past the deadline on the chain's clock: named, with its own code."""
    snapshot = rpc_call(history.node.url, "evm_snapshot")
    try:
        _advance(history, DEADLINE + 60)
        report = history.audit(evidence_anchoring_seconds=DEADLINE)
        without_deadline = history.audit()
    finally:
        assert rpc_call(history.node.url, "evm_revert", [snapshot]) is True
    [finding] = _overdue(report)
    assert finding["reason"] == "not_anchored"
    assert finding["row"] == f"id={history.pending_ids[0]}"
    assert finding["step"] == 5
    assert "1 evidence item(s) not batched" in finding["message"]
    assert report.step(5).status is StepStatus.FAILED
    assert [s.step for s in report.steps if s.status is not StepStatus.PASSED] == [5]
    assert without_deadline.step(5).status is StepStatus.PASSED  # "pending" stays pending without a deadline


def test_audit_names_evidence_anchored_later_than_the_deadline(tmp_path: Path) -> None:
    late = build_history(tmp_path / "late", items=4, batch=5, pending=0, seed=16)
    try:
        on_time = late.audit(evidence_anchoring_seconds=DEADLINE)
        queued = late.add_evidence(2, seed=17)
        _advance(late, DEADLINE + 120)
        late.anchor()
        report = late.audit(evidence_anchoring_seconds=DEADLINE)
    finally:
        late.close()
    assert _overdue(on_time) == []
    [finding] = _overdue(report)
    assert finding["reason"] == "anchored_late"
    assert finding["batch"] == 2
    assert finding["row"] in {f"id={queued[0]}", f"id={queued[1]}"}
    assert "holds 2 evidence item(s) queued more than 600 s before it" in finding["message"]
    assert [s.step for s in report.steps if s.status is StepStatus.FAILED] == [5]


def test_audit_reports_every_step_when_one_contract_cannot_be_read(history: AuditedHistory) -> None:
    """EvidenceNotary's views fail: the steps that read them fail naming the error, the others pass,
    and the report is written."""
    notary = history.runtime.deployment.address("EvidenceNotary")
    proxy = RefusingProxy(history.node.url, notary)
    with proxy:
        report = history.audit(rpc_url=proxy.url)
    assert proxy.refused > 0
    status = {s.step: s.status for s in report.steps}
    assert status == {
        1: StepStatus.PASSED,
        2: StepStatus.FAILED,
        3: StepStatus.PASSED,
        4: StepStatus.PASSED,
        5: StepStatus.FAILED,
        6: StepStatus.PASSED,
        7: StepStatus.FAILED,
    }
    for number in (2, 5, 7):
        [finding] = report.step(number).findings
        assert finding.reason == "inputs_unreadable"
        assert finding.fields["error"] == "RPC_ERROR"
        assert "eth_call failed: view refused" in finding.message
        assert report.step(number).detail == "could not read its inputs (RPC_ERROR): nothing checked"
    document = json.loads(report.to_json_text())
    assert document["ok"] is False
    assert document["complete"] is False
    assert document["subject"]["batchCount"] is None
    assert report.checkpoint is None


def test_audit_report_lists_what_it_takes_on_the_operators_word(history: AuditedHistory) -> None:
    document = json.loads(history.audit().to_json_text())
    listed = document["trustAssumptions"]
    assert [t["id"] for t in listed] == sorted(t["id"] for t in listed)
    assert {t["id"] for t in listed} >= {
        "eligibility",
        "waitingPeriod",
        "ageBand",
        "membershipEnds",
        "rosterVetting",
        "drawSeedBlock",
        "jurorConflicts",
        "evidenceQueuedAt",
    }
    # Bound on chain (issue 15 items 1-3): no longer taken on the operator's word.
    assert not {t["id"] for t in listed} & {"shareParameters", "ruleSetChoice", "juryDraw", "rosterAdmin"}
    assert listed == [t.to_json() for t in TRUST_ASSUMPTIONS]
    assert all(t["steps"] and t["why"] for t in listed)
    # complete: every step passed, given these, and no pass rests on an operator-held secret.
    assert document["operatorSatisfiable"] == []
    assert document["complete"] is True


def test_uploads_after_the_development_chain_moved_ahead_are_not_anchored_late(tmp_path: Path) -> None:
    """The demo moves the chain's clock days ahead (``POST /chain/advance``); evidence uploaded
    through the API afterwards is stamped on the chain's clock, so anchoring it at once is on time
    — while an item queued before the jump and anchored after it is still named late."""
    moved = build_history(tmp_path / "moved", items=2, batch=5, pending=0, seed=18)
    try:
        before_jump = moved.add_evidence(1, seed=19)
        _advance(moved, 3 * 86_400)

        async def upload() -> httpx.Response:
            async with uploader_client(moved.runtime) as client:
                return await client.post(
                    "/evidence",
                    params={"claim_ref": "0x" + "ab" * 32},
                    content=b"%PDF-1.4\n% uploaded after the jump\n%%EOF\n",
                    headers={"Content-Type": "application/pdf"},
                )

        uploaded = asyncio.run(upload())
        assert uploaded.status_code == 201, uploaded.text
        moved.anchor()
        report = moved.audit(evidence_anchoring_seconds=DEADLINE)
    finally:
        moved.close()
    [finding] = _overdue(report)
    assert finding["reason"] == "anchored_late"
    assert finding["row"] == f"id={before_jump[0]}"
    assert "holds 1 evidence item(s) queued more than 600 s before it" in finding["message"]
