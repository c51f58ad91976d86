"""Step 7: every database row that mirrors the chain or the evidence agrees with them.

The evidence tables are compared in the same pass as step 5 (``backend.audit.evidence``), the
claim tables against the replayed ClaimLedger history (``backend.audit.claim_mirror``); claim rows
cannot be compared when the node has pruned ClaimLedger's history (``history_unavailable``).
"""

from __future__ import annotations

from backend.audit.claim_mirror import check_claim_mirror
from backend.audit.context import AuditContext
from backend.audit.database import count_claim_rows
from backend.audit.errors import AuditError
from backend.audit.report import StepOutcome, StepStatus

__all__ = ["run"]


def run(ctx: AuditContext) -> StepOutcome:
    if ctx.sources.sessions is None:
        return StepOutcome(StepStatus.SKIPPED, "no database given (--database-url)")
    verdict = ctx.evidence_verdict()
    findings: list[AuditError] = list(verdict.mirror)
    checked = dict(verdict.mirror_checked)
    if ctx.ledger is not None and not ctx.ledger_history_pruned:
        logs, scope = ctx.ledger_logs
        claims = check_claim_mirror(
            ctx.sources.sessions,
            logs,
            ctx.claims_verdict().states,
            in_scope=scope,
        )
        findings.extend(claims.findings)
        checked.update(claims.checked)
    unchecked = 0
    if ctx.ledger is not None and ctx.ledger_history_pruned:
        unchecked = count_claim_rows(ctx.sources.sessions)
    status = StepStatus.FAILED if findings else StepStatus.HISTORY_UNAVAILABLE if unchecked else StepStatus.PASSED
    rows = ", ".join(f"{n} {t}" for t, n in sorted(checked.items()))
    detail = f"rows checked: {rows}"
    if unchecked:
        detail += f"; {unchecked} claim table row(s) not compared: the node has pruned ClaimLedger's history"
    return StepOutcome(status, detail, checked=checked, findings=findings)
