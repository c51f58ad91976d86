"""``complete`` is never true for a pass an operator-held secret could produce (issue 14 item 5).

``server_signed`` counts the verdicts and vote commitments signed by keys the server generated;
the report lists them under ``operatorSatisfiable`` and is not complete while there are any.
"""

from __future__ import annotations

import json

from backend.audit.custody import server_signed
from backend.audit.ledger_events import LedgerLog
from backend.audit.report import AuditReport, StepResult, StepStatus

SERVER = "0x" + "aa" * 20
DEVICE = "0x" + "bb" * 20


def _log(name: str, index: int, **fields: object) -> LedgerLog:
    return LedgerLog(name, 10, index, b"\x01" * 32, dict(fields))


def test_counts_only_server_held_signers_of_verdicts_and_commitments() -> None:
    logs = [
        _log("VerdictRecorded", 0, reviewer=SERVER),
        _log("VerdictRecorded", 1, reviewer=DEVICE),
        _log("VoteCommitted", 2, juror=SERVER.upper().replace("0X", "0x")),
        _log("VoteRevealed", 3, juror=SERVER),  # a reveal is opened by anyone: the commitment was signed
        _log("RoleGranted", 4, account=SERVER),
        LedgerLog("VerdictRecorded", 10, 5, None, {}, malformed=True),
    ]
    signed = server_signed(logs, frozenset({SERVER}))
    assert bool(signed)
    assert signed.counts == {"VerdictRecorded": 1, "VoteCommitted": 1}
    assert signed.addresses == (SERVER,)
    assert not server_signed(logs, frozenset({"0x" + "cc" * 20}))


def _report(entries: list[dict[str, object]]) -> AuditReport:
    steps = [StepResult(n, f"s{n}", f"step {n}", StepStatus.PASSED) for n in range(1, 8)]
    return AuditReport(subject={}, steps=steps, operator_satisfiable=entries)


def test_a_pass_resting_on_a_server_held_key_is_not_complete() -> None:
    entry = server_signed([_log("VerdictRecorded", 0, reviewer=SERVER)], frozenset({SERVER})).to_json()
    held = _report([entry])
    assert held.ok
    assert not held.complete
    document = json.loads(held.to_json_text())
    assert document["complete"] is False
    assert document["operatorSatisfiable"] == [
        {
            "id": "serverHeldKeys",
            "step": 3,
            "what": "1 VerdictRecorded signed by keys this server generated (it holds or held them)",
            "counts": {"VerdictRecorded": 1, "VoteCommitted": 0},
            "addresses": [SERVER],
        }
    ]
    clean = _report([])
    assert clean.complete
    assert json.loads(clean.to_json_text())["operatorSatisfiable"] == []
