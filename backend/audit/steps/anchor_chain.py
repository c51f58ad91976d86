"""Step 2: the anchor hash chain is unbroken from the first batch (or the checkpoint) to the head.

The checks are ``backend.audit.anchors.check_anchor_chain``; this step gives it the history read at
the head, the checkpoint and its block hash, and the operator's batch rows when a database is given.
"""

from __future__ import annotations

from backend.audit.anchors import check_anchor_chain
from backend.audit.context import AuditContext
from backend.audit.report import StepOutcome, StepStatus

__all__ = ["run"]


def run(ctx: AuditContext) -> StepOutcome:
    cp = ctx.sources.checkpoint
    cp_hash = ctx.block_hash(cp.block_number) if cp is not None and cp.block_number <= ctx.head else None
    verdict = check_anchor_chain(
        ctx.history,
        history_available=ctx.rpc.history_available,
        checkpoint=cp,
        checkpoint_block_hash=cp_hash,
        db_batches=ctx.db_batches,
    )
    first, last = ctx.start_id, ctx.batch_count
    span = f"batches {first}..{last}" if last >= first else "no new batches"
    if verdict.findings:
        status, detail = StepStatus.FAILED, f"{span}: {len(verdict.findings)} broken link(s)"
    elif verdict.history_unavailable:
        status = StepStatus.HISTORY_UNAVAILABLE
        detail = (
            f"{span}: the node has pruned the events of {len(verdict.history_unavailable)} batch(es) "
            f"({verdict.history_unavailable[0]}..{verdict.history_unavailable[-1]}); only the storage hash chain "
            "could be checked — the replay did not run"
        )
    else:
        status, detail = StepStatus.PASSED, f"{span}: replayed from block {ctx.from_block}, events = storage"
    if ctx.db_batches is not None:
        detail += "; operator's view checked"
        if verdict.awaiting_depth:
            first_waiting, last_waiting = verdict.awaiting_depth[0], verdict.awaiting_depth[-1]
            detail += (
                f" (batches {first_waiting}..{last_waiting} mined, awaiting their confirmation depth: "
                "audit again to see them confirmed)"
            )
    return StepOutcome(status, detail, checked=verdict.checked, findings=list(verdict.findings))
