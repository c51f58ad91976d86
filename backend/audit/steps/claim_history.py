"""Step 3: every claim's ClaimLedger events follow the state machine (``backend.audit.claims``).

Signatures, rosters, quorum, turnout, windows and events = storage are checked by the replay the
context runs once for steps 3 and 4; this step reports its history half.
"""

from __future__ import annotations

from backend.audit.claim_record import states_count
from backend.audit.context import LEDGER, AuditContext
from backend.audit.report import StepOutcome, StepStatus

__all__ = ["claims_unavailable", "run"]


def claims_unavailable(ctx: AuditContext) -> StepOutcome | None:
    """Why steps 3 and 4 cannot replay the claims (no ClaimLedger, or its history pruned), if so."""
    if ctx.ledger is None:
        return StepOutcome(StepStatus.SKIPPED, "the deployment record has no ClaimLedger")
    if ctx.ledger_history_pruned:
        first = ctx.sources.deployment.contracts[LEDGER].block
        return StepOutcome(
            StepStatus.HISTORY_UNAVAILABLE,
            f"the node has pruned ClaimLedger's history (block {first} and after): the claims cannot be replayed",
        )
    return None


def run(ctx: AuditContext) -> StepOutcome:
    blocked = claims_unavailable(ctx)
    if blocked is not None:
        return blocked
    verdict = ctx.claims_verdict()
    c = verdict.history_checked
    states = ", ".join(f"{n} {s}" for s, n in sorted(states_count(verdict.states).items()))
    detail = (
        f"{c['claims']} claims replayed ({states or 'none'}): {c['events']} events, {c['signatures']} verdict "
        f"signatures recovered, {c['reveals']} reveals opened"
    )
    deadline = ctx.sources.review_opening_seconds
    if deadline is not None:
        detail += f"; review opened on chain within {deadline} s of filing: {len(verdict.overdue)} overdue"
    detail += f"; {c.get('juryRounds', 0)} jury draw(s) recomputed: {len(verdict.draws)} mismatch(es)"
    roster = ctx.roster_verdict()
    detail += (
        f"; {len(roster.changes)} reviewer/juror roster change(s) listed (rosterChanges): "
        f"{len(roster.findings)} unannounced"
    )
    if verdict.history or verdict.overdue or verdict.draws or verdict.roles or roster.findings:
        status = StepStatus.FAILED
    elif verdict.unverifiable:
        status = StepStatus.HISTORY_UNAVAILABLE
        detail += f"; {verdict.unverifiable} block(s) of claim events no longer served by the node"
    else:
        status = StepStatus.PASSED
    checked = {**c, **{f"state{s.title().replace('_', '')}": n for s, n in states_count(verdict.states).items()}}
    checked["rosterChanges"] = len(roster.changes)
    findings = [*verdict.history, *verdict.draws, *verdict.roles, *roster.findings, *verdict.overdue]
    return StepOutcome(status, detail, checked=checked, findings=findings)
