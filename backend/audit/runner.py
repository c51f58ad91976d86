"""Running the checklist: read the chain once (pinned to the head block), run every step in order.

The steps are listed in ``backend.audit.checklist.STEPS``; what they read is
``backend.audit.context.AuditContext`` (sources and how far each is trusted are described there).

A checkpoint makes the audit incremental (``since_checkpoint``): only blocks after it are read,
and step 2 first checks that the chain still extends it. A passing audit proposes the next
checkpoint (``AuditReport.checkpoint``), chained to the previous one.
"""

from __future__ import annotations

from typing import Any

from backend.apportionment.scheduler import plan_schedule
from backend.audit.chain import ZERO32, RpcReader
from backend.audit.checklist import STEPS
from backend.audit.checkpoint import Checkpoint
from backend.audit.context import AuditContext, AuditSources, Progress
from backend.audit.readers import store_check_for
from backend.audit.report import AuditReport, StepResult, StepStatus
from backend.proofs.hexstr import to_hex

__all__ = ["AuditSources", "Progress", "audit_runtime", "run_audit", "store_check_for"]


def run_audit(sources: AuditSources) -> AuditReport:
    """Run every step of the checklist and return the report (``report.ok`` decides the exit code).

    Raises ``ChainUnavailable`` / ``ChainError`` when the chain cannot be read at all.
    """
    with RpcReader(sources.rpc_url, timeout=sources.rpc_timeout) as rpc:
        ctx = AuditContext(sources, rpc, rpc.block_number())
        results: list[StepResult] = []
        for spec in STEPS:
            if spec.run is None:
                results.append(
                    StepResult(spec.number, spec.name, spec.title, StepStatus.NOT_IMPLEMENTED, spec.pending_note)
                )
                continue
            ctx.progress(f"step {spec.number} {spec.name}", 0, None)
            results.append(spec.result(spec.run(ctx)))
        report = AuditReport(subject=_subject(ctx), steps=results)
        if report.ok:
            head_hash = ctx.block_hash(ctx.head) or ZERO32
            proposed = Checkpoint(
                chain_id=sources.deployment.chain_id,
                contract=ctx.notary.lower(),
                block_number=ctx.head,
                block_hash=head_hash,
                batch_count=ctx.batch_count,
                head_root=ctx.head_root,
            )
            if sources.checkpoint is not None:
                proposed = sources.checkpoint.following(proposed)
            report.checkpoint = proposed.to_json()
        return report


def _subject(ctx: AuditContext) -> dict[str, Any]:
    record = ctx.sources.deployment
    return {
        "chainId": record.chain_id,
        "genesisHash": record.genesis_hash,
        "contracts": {name: record.contracts[name].address.lower() for name in sorted(record.contracts)},
        "mode": "incremental" if ctx.incremental else "full",
        "fromBlock": ctx.from_block,
        "toBlock": ctx.head,
        "fromBatch": ctx.start_id,
        "batchCount": ctx.batch_count,
        "headRoot": to_hex(ctx.head_root),
        "database": ctx.sources.sessions is not None,
        "evidenceStore": ctx.sources.store is not None,
    }


def audit_runtime(runtime: Any) -> AuditReport:
    """A full audit with the backend's own resources (``backend.runtime.Runtime``): chain, DB, store."""
    settings = runtime.settings
    return run_audit(
        AuditSources(
            rpc_url=settings.chain_url,
            deployment=runtime.deployment,
            sessions=runtime.sessions,
            store=runtime.store,
            rpc_timeout=settings.rpc_timeout,
            schedule=plan_schedule(settings),
        )
    )
