"""Step 5: every evidence item is fetchable, re-hashes to its CID, and its leaf is in its on-chain root.

The list of items is the operator's database (never trusted: ``backend.audit.evidence`` recomputes
every leaf); without an evidence store the leaves are checked against the chain but nothing is
fetched, and the step is skipped rather than passed. With a maximum anchoring delay configured,
items anchored later than that after they were queued, or still not anchored that long before the
head, are ``EvidenceAnchoringOverdue`` (``backend.audit.deadlines``).
"""

from __future__ import annotations

from backend.audit.context import AuditContext
from backend.audit.database import earliest_enqueued, queued_before
from backend.audit.deadlines import evidence_anchoring_overdue
from backend.audit.errors import AuditError, EvidenceAnchoringOverdue
from backend.audit.report import StepOutcome, StepStatus

__all__ = ["run"]


def _overdue(ctx: AuditContext) -> list[EvidenceAnchoringOverdue]:
    sessions, max_delay = ctx.sources.sessions, ctx.sources.evidence_anchoring_seconds
    if sessions is None or max_delay is None or ctx.db_batches is None:
        return []
    return evidence_anchoring_overdue(
        ctx.db_batches,
        ctx.history.storage,
        earliest_enqueued(sessions),
        lambda batch_id, cutoff: queued_before(sessions, batch_id, cutoff),
        head=ctx.head,
        head_time=ctx.head_time,
        max_delay=max_delay,
    )


def run(ctx: AuditContext) -> StepOutcome:
    if ctx.sources.sessions is None:
        return StepOutcome(
            StepStatus.SKIPPED, "no list of evidence items: give the operator's database (--database-url)"
        )
    verdict = ctx.evidence_verdict()
    overdue = _overdue(ctx)
    findings: list[AuditError] = [*verdict.evidence, *overdue]
    deadline = ""
    if ctx.sources.evidence_anchoring_seconds is not None:
        deadline = f"; anchored within {ctx.sources.evidence_anchoring_seconds} s of queueing: {len(overdue)} overdue"
    if ctx.sources.store is None:
        return StepOutcome(
            StepStatus.FAILED if overdue else StepStatus.SKIPPED,
            "no evidence store: leaves were checked against the chain but no item was fetched" + deadline,
            checked=verdict.evidence_checked,
            findings=findings,
        )
    status = StepStatus.FAILED if findings else StepStatus.PASSED
    c = verdict.evidence_checked
    detail = f"{c['items']} items: {c['fetched']} fetched and re-hashed, {c['pending']} not anchored yet" + deadline
    return StepOutcome(status, detail, checked=c, findings=findings)
