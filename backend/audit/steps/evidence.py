"""Step 5: every evidence item is fetchable, re-hashes to its CID, and its leaf is in its on-chain root.

The list of items is the operator's database (never trusted: ``backend.audit.evidence`` recomputes
every leaf); without an evidence store the leaves are checked against the chain but nothing is
fetched, and the step is skipped rather than passed.
"""

from __future__ import annotations

from backend.audit.context import AuditContext
from backend.audit.report import StepOutcome, StepStatus

__all__ = ["run"]


def run(ctx: AuditContext) -> StepOutcome:
    if ctx.sources.sessions is None:
        return StepOutcome(
            StepStatus.SKIPPED, "no list of evidence items: give the operator's database (--database-url)"
        )
    verdict = ctx.evidence_verdict()
    if ctx.sources.store is None:
        return StepOutcome(
            StepStatus.SKIPPED,
            "no evidence store: leaves were checked against the chain but no item was fetched",
            checked=verdict.evidence_checked,
            findings=list(verdict.evidence),
        )
    status = StepStatus.FAILED if verdict.evidence else StepStatus.PASSED
    c = verdict.evidence_checked
    detail = f"{c['items']} items: {c['fetched']} fetched and re-hashed, {c['pending']} not anchored yet"
    return StepOutcome(status, detail, checked=c, findings=list(verdict.evidence))
