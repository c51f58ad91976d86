"""Verification reports of numbered steps, shared by every receipt kind.

Verification-critical: ``StepReport.to_json`` is the machine-readable verdict of
``backend.proofs.receipts`` (evidence receipts) and ``backend.apportionment.receipts`` /
``.onchain`` (share receipts), printed by ``hubao receipts verify`` and ``hubao shares verify``;
its bytes are pinned through their tests.

A receipt kind supplies its step enum (an ``IntEnum`` numbered in run order), the base class of
its per-step errors (a ``ProofError`` whose ``fields["step"]`` is the step's number, as every
receipt error carries) and its parsed receipt type. ``StepRunner`` runs the checks in order:
the first failure records the error, and every later step is ``NOT_RUN``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, Generic, TypeVar

from backend.proofs.errors import ProofError

__all__ = ["StepReport", "StepResult", "StepRunner", "StepStatus"]

StepT = TypeVar("StepT", bound=IntEnum)
ErrorT = TypeVar("ErrorT", bound=ProofError)
ReceiptT = TypeVar("ReceiptT")


class StepStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"


@dataclass(frozen=True, slots=True)
class StepResult(Generic[StepT]):
    step: StepT
    status: StepStatus
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"step": int(self.step), "name": self.step.name, "status": str(self.status), "detail": self.detail}


@dataclass(slots=True)
class StepReport(Generic[StepT, ErrorT, ReceiptT]):
    """Outcome of verifying one receipt: one ``StepResult`` per step, in order.

    ``ok`` is true when no step failed (skipped steps are listed with the reason). ``error`` is
    the failing step's error; ``raise_for_failure()`` raises it. ``receipt`` is the parsed
    receipt once the schema step has passed.
    """

    steps: list[StepResult[StepT]] = field(default_factory=list)
    error: ErrorT | None = None
    receipt: ReceiptT | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def failed_step(self) -> StepT | None:
        # The runner records a failure only under the error's own step, so the FAILED entry is it.
        if self.error is None:
            return None
        return next(r.step for r in self.steps if r.status is StepStatus.FAILED)

    def status_of(self, step: StepT) -> StepStatus:
        for result in self.steps:
            if result.step == step:
                return result.status
        return StepStatus.NOT_RUN

    def raise_for_failure(self) -> None:
        if self.error is not None:
            raise self.error

    def to_json(self) -> dict[str, Any]:
        """Machine-readable summary (no salts, no plaintext hashes)."""
        failed = self.failed_step
        return {
            "ok": self.ok,
            "failedStep": None if failed is None else int(failed),
            "code": None if self.error is None else self.error.code,
            "message": None if self.error is None else self.error.message,
            "steps": [s.to_json() for s in self.steps],
        }


class StepRunner(Generic[StepT, ErrorT, ReceiptT]):
    """Runs steps in order into ``report``; the first failure records the error and every later
    step is NOT_RUN (all of them when ``blocked``: an earlier stage already failed).

    A check returns None when it passed or the reason it was skipped, and fails by raising an
    ``error_type`` of its own step; any other exception propagates (it is not a verdict on the
    receipt).
    """

    def __init__(
        self, report: StepReport[StepT, ErrorT, ReceiptT], error_type: type[ErrorT], *, blocked: bool = False
    ) -> None:
        self.report = report
        self.error_type = error_type
        self.blocked = blocked

    def run(self, step: StepT, check: Callable[[], str | None]) -> None:
        if self.blocked or self.report.error is not None:
            self.report.steps.append(StepResult(step, StepStatus.NOT_RUN))
            return
        try:
            skipped_reason = check()
        except self.error_type as exc:
            if exc.fields.get("step") != int(step):  # a check may only fail with its own step's error
                raise
            self.report.error = exc
            self.report.steps.append(StepResult(step, StepStatus.FAILED, exc.message))
            return
        if skipped_reason is None:
            self.report.steps.append(StepResult(step, StepStatus.PASSED))
        else:
            self.report.steps.append(StepResult(step, StepStatus.SKIPPED, skipped_reason))
