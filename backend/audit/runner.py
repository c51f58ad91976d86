"""Running the checklist: read the chain once (pinned to the head block), run every step in order.

The steps are listed in ``backend.audit.checklist.STEPS``; what they read is
``backend.audit.context.AuditContext`` (sources and how far each is trusted are described there).

Whatever fails, the report is written: a step that cannot read its inputs (a view call or a log
read fails, the store or the database is unreachable) is ``failed`` with one finding of its own
type, reason ``inputs_unreadable``, naming the error, and the next steps run. Only a node that
cannot say its head block stops the audit (``ChainUnavailable``).

A checkpoint makes the audit incremental (``since_checkpoint``): only blocks after it are read,
and step 2 first checks that the chain still extends it. A passing audit proposes the next
checkpoint (``AuditReport.checkpoint``), chained to the previous one.
"""

from __future__ import annotations

import logging
from typing import Any

from backend.apportionment.scheduler import plan_schedule
from backend.audit.chain import ZERO32, RpcReader
from backend.audit.checklist import STEPS, StepSpec
from backend.audit.checkpoint import Checkpoint
from backend.audit.context import SCRATCH_SUBDIR, AuditContext, AuditSources, Progress
from backend.audit.custody import server_signed
from backend.audit.database import load_server_held_keys
from backend.audit.errors import AuditError, DatabaseMismatch
from backend.audit.readers import store_check_for
from backend.audit.report import AuditReport, StepOutcome, StepResult, StepStatus
from backend.errors import HubaoError
from backend.proofs.hexstr import to_hex
from evidence_store.errors import EvidenceStoreError

__all__ = ["AuditSources", "Progress", "audit_runtime", "run_audit", "store_check_for"]

log = logging.getLogger(__name__)


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
            results.append(spec.result(_run_step(spec, ctx)))
        report = AuditReport(
            subject=_subject(ctx),
            steps=results,
            operator_satisfiable=_operator_satisfiable(ctx),
            roster_changes=(_read_or_none(lambda: ctx.roster_verdict().changes) if ctx.ledger is not None else None)
            or [],
        )
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


def _run_step(spec: StepSpec, ctx: AuditContext) -> StepOutcome:
    """``spec.run(ctx)``, or, when the step cannot read its inputs, a failure naming the error."""
    assert spec.run is not None
    try:
        return spec.run(ctx)
    except Exception as exc:  # whatever a step fails on, the others run and the report is written
        log.warning("audit step %d %s could not read its inputs", spec.number, spec.name, exc_info=True)
        error = exc.code if isinstance(exc, HubaoError | EvidenceStoreError) else type(exc).__name__
        message = str(exc) or type(exc).__name__
        text = f"step {spec.number} could not read its inputs: {error}: {message}"
        finding: AuditError
        if issubclass(spec.error, DatabaseMismatch):  # its findings name a table and a row: none here
            finding = DatabaseMismatch(text, reason="inputs_unreadable", table="", row="", fields=[], error=error)
        else:
            finding = spec.error(text, reason="inputs_unreadable", error=error)
        return StepOutcome(
            StepStatus.FAILED, f"could not read its inputs ({error}): nothing checked", findings=[finding]
        )


def _operator_satisfiable(ctx: AuditContext) -> list[dict[str, Any]]:
    """What in the history an operator-held secret could have made (needs the database and the
    ClaimLedger logs; without them steps 3 or 7 are not passes, so ``complete`` is false anyway)."""
    if ctx.sources.sessions is None or ctx.ledger is None:
        return []
    sessions = ctx.sources.sessions
    signed = _read_or_none(lambda: server_signed(ctx.ledger_logs[0], load_server_held_keys(sessions)))
    if signed is None:  # unknown is not "none": the pass cannot be shown to rest on participants' keys
        return [{"id": "serverHeldKeys", "step": 3, "what": "not counted: logs or database unreadable"}]
    return [signed.to_json()] if signed else []


def _read_or_none(read: Any) -> Any:
    try:
        return read()
    except Exception:  # the subject leaves out what could not be read; the steps name why
        return None


def _subject(ctx: AuditContext) -> dict[str, Any]:
    record = ctx.sources.deployment
    batch_count = _read_or_none(lambda: ctx.batch_count)
    head_root = _read_or_none(lambda: ctx.head_root)
    return {
        "chainId": record.chain_id,
        "genesisHash": record.genesis_hash,
        "contracts": {name: record.contracts[name].address.lower() for name in sorted(record.contracts)},
        "mode": "incremental" if ctx.incremental else "full",
        "fromBlock": ctx.from_block,
        "toBlock": ctx.head,
        "fromBatch": ctx.start_id,
        "batchCount": batch_count,
        "headRoot": None if head_root is None else to_hex(head_root),
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
            evidence_anchoring_seconds=settings.evidence_anchoring_deadline,
            review_opening_seconds=settings.review_opening_deadline,
            scratch_dir=settings.resolved_data_dir / SCRATCH_SUBDIR,
        )
    )
