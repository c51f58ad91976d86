"""Step 4: the plan's rules per claim (``backend.audit.claim_rules``), from the context's one replay.

Skipped (not passed) when a rule set in use has no document: its payout bands and parameters were
not checked. What public data cannot show (eligibility, waiting period, which age band) is named
in the detail of every outcome.
"""

from __future__ import annotations

from backend.audit.context import AuditContext
from backend.audit.report import StepOutcome, StepStatus
from backend.audit.steps.claim_history import claims_unavailable

__all__ = ["NOT_PUBLIC", "run"]

NOT_PUBLIC = (
    "not checkable from public data: eligibility at joining, the waiting period and which age band applies "
    "(birth, join and diagnosis dates are off chain; a claim's member commitment is unlinkable to a membership)"
)


def run(ctx: AuditContext) -> StepOutcome:
    blocked = claims_unavailable(ctx)
    if blocked is not None:
        return blocked
    verdict = ctx.claims_verdict()
    c = verdict.rules_checked
    detail = f"{c['claims']} claims under {c['ruleSets']} rule set(s); {NOT_PUBLIC}"
    if verdict.rules:
        status = StepStatus.FAILED
    elif verdict.missing_documents:
        status = StepStatus.SKIPPED
        detail = (
            f"{c['withoutDocument']} of {c['claims']} claims are under rule sets whose document was not given "
            f"({', '.join(verdict.missing_documents)}): payout bands and parameters not checked; {NOT_PUBLIC}"
        )
    else:
        status = StepStatus.PASSED
    return StepOutcome(status, detail, checked=c, findings=list(verdict.rules))
