"""Step 6: every published period's ledger file re-derived from the chain and equal to the record.

The checks are ``backend.apportionment.audit.audit_period`` (the same the member's share receipt
relies on), every read pinned to the audited head; this step walks the ``PeriodPublished`` events
in scope and names each check that fails. With the operator's database, each period's members are
also compared with the database's (``backend.audit.membership``, reason ``membership_db``) and with
the members recomputed from the anchored membership log (``backend.audit.membership_log``, reasons
``membership_log``, ``membership_log_unanchored``, ``membership_log_late``, ``membership_log_batch``).
Both membership checks stream in commitment order: memory does not grow with the members; their
scratch files (the sorted log, fetched ledger files) go in a temporary directory under
``AuditSources.scratch_dir`` and are removed when the step ends.
"""

from __future__ import annotations

from web3 import Web3
from web3.contract import Contract

from backend.apportionment import audit as period_audit
from backend.apportionment.left_out import fetched_ledger
from backend.apportionment.schedule import DEFAULT_SCHEDULE, ApportionmentSchedule
from backend.audit.context import APPORTIONMENT, LEDGER, MEMBERSHIP_LOG, AuditContext
from backend.audit.errors import ApportionmentInvalid
from backend.audit.membership import membership_mirror_findings
from backend.audit.membership_log import AnchoredLog, anchored_batches, period_findings, read_membership_log
from backend.audit.readers import first_log_block
from backend.audit.report import StepOutcome, StepStatus
from backend.chain.apportionment import ApportionmentClient, PublishedPeriodEvent
from backend.chain.client import contract_at, http_web3
from backend.chain.compiler import load_artifact
from backend.chain.deploy import artifact_name
from evidence_store.errors import EvidenceStoreError

__all__ = ["run"]


def run(ctx: AuditContext) -> StepOutcome:

    record = ctx.sources.deployment
    if APPORTIONMENT not in record.contracts or LEDGER not in record.contracts:
        return StepOutcome(StepStatus.SKIPPED, "the deployment record has no Apportionment")
    if ctx.sources.store is None:
        return StepOutcome(StepStatus.SKIPPED, "no evidence store: the period ledger files cannot be fetched")
    w3 = http_web3(ctx.sources.rpc_url, ctx.sources.rpc_timeout)
    layout = ctx.sources.layout
    client = ApportionmentClient(
        w3, contract_at(w3, record.address(APPORTIONMENT), load_artifact(APPORTIONMENT, layout))
    )
    ledger = contract_at(w3, record.address(LEDGER), load_artifact(LEDGER, layout))
    first = record.contracts[APPORTIONMENT].block
    if not ctx.rpc.history_available(first):
        return StepOutcome(
            StepStatus.HISTORY_UNAVAILABLE, f"the node has pruned Apportionment's history (block {first} and after)"
        )
    events = [e for e in client.published_events(from_block=first, to_block=ctx.head)]
    # The plan's launch is judged on its whole history, also when only the periods since the last
    # checkpoint are re-derived: the first period ever published, not the first in scope.
    first_period = min((e.block_number for e in events), default=None)
    if ctx.incremental:
        events = [e for e in events if e.block_number >= ctx.from_block]
    findings: list[ApportionmentInvalid] = []
    schedule = ctx.sources.schedule or DEFAULT_SCHEDULE
    log: AnchoredLog | None = None
    deadline = ctx.sources.evidence_anchoring_seconds  # the anchoring deadline, evidence and membership alike
    scratch = ctx.sources.scratch_dir
    if ctx.sources.sessions is not None and MEMBERSHIP_LOG in record.contracts:
        membership_log = contract_at(
            w3, record.address(MEMBERSHIP_LOG), load_artifact(artifact_name(MEMBERSHIP_LOG), layout)
        )
        launch = min((b for b in (_first_claim_block(ctx), first_period) if b is not None), default=None)
        log = read_membership_log(
            anchored_batches(membership_log, ctx.head),
            ctx.sources.sessions,
            scratch_dir=scratch,
            deadline=deadline,
            launch_block=launch,
        )
        findings.extend(log.broken)
        findings.extend(log.late)
    try:
        _periods(ctx, events, log, findings, w3=w3, ledger=ledger, client=client, schedule=schedule)
    finally:
        if log is not None:
            log.close()
    status = StepStatus.FAILED if findings else StepStatus.PASSED
    detail = f"{len(events)} period(s) re-derived from ClaimLedger and their ledger files"
    if ctx.sources.sessions is not None:
        detail += "; their members compared with the database's members under protection at each snapshot"
    if log is not None:
        detail += f" and with the anchored membership log ({log.batches} batch(es), {log.change_count} change(s))"
    return StepOutcome(status, detail, checked={"periods": len(events)}, findings=list(findings))


def _periods(
    ctx: AuditContext,
    events: list[PublishedPeriodEvent],
    log: AnchoredLog | None,
    findings: list[ApportionmentInvalid],
    *,
    w3: Web3,
    ledger: Contract,
    client: ApportionmentClient,
    schedule: ApportionmentSchedule,
) -> None:
    """Each period in scope: re-derived from the chain, its members compared (findings appended)."""
    record = ctx.sources.deployment
    scratch = ctx.sources.scratch_dir
    for event in events:
        pid = event.record.period_id
        ctx.progress("re-deriving periods", 1, len(events))
        try:
            audit = period_audit.audit_period(
                w3,
                ledger,
                client,
                ctx.sources.store,
                pid,
                schedule=schedule,
                from_block=record.contracts[LEDGER].block,
                at_block=ctx.head,
                scratch_dir=scratch,
            )
        except EvidenceStoreError as exc:
            findings.append(
                ApportionmentInvalid(
                    f"period {pid} (block {event.block_number}): a ledger file could not be fetched and re-hashed "
                    f"from the evidence store ({exc.code})",
                    reason="ledger_file",
                    period=pid,
                    block=event.block_number,
                )
            )
            continue
        if ctx.sources.sessions is not None:
            findings.extend(
                membership_mirror_findings(
                    ctx.sources.sessions,
                    ctx.sources.store,
                    event.record,
                    schedule=schedule,
                    block=event.block_number,
                    scratch_dir=scratch,
                )
            )
        if log is not None and ctx.sources.sessions is not None:
            with fetched_ledger(ctx.sources.store, event.record, scratch) as members:
                findings.extend(
                    period_findings(
                        log,
                        ctx.sources.sessions,
                        event.record,
                        members,
                        snapshot_at=schedule.period(pid).snapshot_at,
                        block=event.block_number,
                        deadline=ctx.sources.evidence_anchoring_seconds,
                        head_time=ctx.head_time,
                        scratch_dir=scratch,
                    )
                )
        for check in audit.checks:
            if not check.ok:
                findings.append(
                    ApportionmentInvalid(
                        f"period {pid} (block {event.block_number}): {check.name}: {check.detail}",
                        reason=check.name,
                        period=pid,
                        block=event.block_number,
                    )
                )


def _first_claim_block(ctx: AuditContext) -> int | None:
    """The block of ClaimLedger's first ``ClaimFiled`` (None: no claim yet). An incremental audit
    replays only the claims its new logs touch, so the first filing is looked up on the chain."""
    if ctx.ledger is None:
        return None
    if ctx.incremental:
        deployed = ctx.sources.deployment.contracts[LEDGER].block
        return first_log_block(ctx.rpc, ctx.ledger, "ClaimFiled", deployed, ctx.head)
    return min((log.block for log in ctx.ledger_logs[0] if log.name == "ClaimFiled"), default=None)
