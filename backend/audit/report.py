"""The audit report: numbered step results and their findings, serialised deterministically.

Determinism (RELIABILITY.md F6): the JSON form is a function of the audited history only — keys
sorted, findings sorted, no wall-clock time, no host names, no durations. Two audits of the same
history give byte-identical ``to_json_text()``; the only times in it are chain data (block
numbers and hashes).

Statuses, and what they mean for the exit code:

* ``passed`` — the step ran over everything it covers and found nothing;
* ``failed`` — at least one finding (exit 1);
* ``history_unavailable`` — the node no longer serves the history the step replays (EIP-4444
  pruning, RELIABILITY.md A11); what storage could answer was checked, but the step is **not** a
  pass (exit 1);
* ``skipped`` — the step needs a source that was not given (e.g. the database); not a pass, not a
  failure (exit 0, ``complete`` false);
* ``not_implemented`` — the step is registered but its checks do not exist yet; never a pass
  (exit 0, ``complete`` false).

A step that could not read its inputs is ``failed`` with one finding, reason ``inputs_unreadable``,
naming the error; the other steps still ran. ``trustAssumptions`` lists what every pass takes on
the operator's word (``backend.audit.trust``): facts that stay off chain by the plan's design.

``complete`` is true only when every step ran and passed **and** no pass rests on a secret the
operator holds: ``operatorSatisfiable`` lists what in the audited history an operator-held secret
could have produced (verdicts and votes signed by keys the server generated, ``backend.audit.custody``);
any entry there keeps ``complete`` false (issue 14 item 5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from backend.audit.errors import AuditError
from backend.audit.trust import TRUST_ASSUMPTIONS

__all__ = ["REPORT_VERSION", "AuditReport", "StepOutcome", "StepResult", "StepStatus"]

REPORT_VERSION = 1


class StepStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    HISTORY_UNAVAILABLE = "history_unavailable"
    SKIPPED = "skipped"
    NOT_IMPLEMENTED = "not_implemented"


@dataclass
class StepOutcome:
    """What a step's checks found, before the checklist numbers and names it (``StepSpec.result``)."""

    status: StepStatus
    detail: str = ""
    checked: dict[str, int] = field(default_factory=dict)
    findings: list[AuditError] = field(default_factory=list)


@dataclass
class StepResult:
    """What one checklist step found. ``checked`` holds counts of what it covered."""

    step: int
    name: str
    title: str
    status: StepStatus
    detail: str = ""
    checked: dict[str, int] = field(default_factory=dict)
    findings: list[AuditError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        findings = sorted(self.findings, key=lambda f: f.sort_key())
        return {
            "step": self.step,
            "name": self.name,
            "title": self.title,
            "status": str(self.status),
            "detail": self.detail,
            "checked": dict(sorted(self.checked.items())),
            "findingCount": len(findings),
            "findings": [f.to_json() for f in findings],
        }


@dataclass
class AuditReport:
    """The whole audit. ``subject`` says what was audited (chain, contracts, block range)."""

    subject: dict[str, Any]
    steps: list[StepResult]
    checkpoint: dict[str, Any] | None = None
    operator_satisfiable: list[dict[str, Any]] = field(default_factory=list)
    #: Every reviewer/juror roster change with its RosterTimelock announcement (step 3).
    roster_changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No step failed and no replay was blocked by missing history."""
        return all(s.status in (StepStatus.PASSED, StepStatus.SKIPPED, StepStatus.NOT_IMPLEMENTED) for s in self.steps)

    @property
    def complete(self) -> bool:
        """Every step ran and passed, and no pass rests on an operator-held secret (given
        ``trustAssumptions``, the facts that stay off chain)."""
        return not self.operator_satisfiable and all(s.status is StepStatus.PASSED for s in self.steps)

    @property
    def findings(self) -> list[AuditError]:
        return [f for s in self.steps for f in sorted(s.findings, key=lambda f: f.sort_key())]

    def step(self, number: int) -> StepResult:
        return next(s for s in self.steps if s.step == number)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "kind": "hubao-audit",
            "ok": self.ok,
            "complete": self.complete,
            "subject": self.subject,
            "checkpoint": self.checkpoint,
            "steps": [s.to_json() for s in sorted(self.steps, key=lambda s: s.step)],
            "findingCount": sum(len(s.findings) for s in self.steps),
            "trustAssumptions": [t.to_json() for t in TRUST_ASSUMPTIONS],
            "operatorSatisfiable": self.operator_satisfiable,
            "rosterChanges": self.roster_changes,
        }

    def to_json_text(self) -> str:
        """Canonical text: sorted keys, two-space indent, trailing newline (byte-stable)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=True) + "\n"
