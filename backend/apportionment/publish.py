"""Closing a period: compute every member's share from the chain's figures, store the ledger,
record the period on chain.

Service edge. ``compute_and_publish_period(ctx, period, now)``:

1. The period must be closed: ``now`` and the chain's latest block time are both at or past
   ``window_end`` (block times only grow, so no later block can still fall inside the window).
2. Inputs (``chain_inputs``): final approvals in the window from ``ClaimLedger`` events, payouts
   from ``claim()`` storage; the rule set (``ClaimLedger.ruleSetInForce`` at the snapshot unless
   given; a re-verification uses the rule set the chain's record names); S_in =
   the previous published period's S_out on chain; the wind-down flag from the contract; the
   members under protection at the notice instant; what each paid this year from the previous
   period's ledger (same year), fetched by the CID the chain recorded.
3. The sharing members are streamed once from the database in commitment order into a packed
   snapshot file (N first, then the rows); ``build_period_ledger`` streams the share ledger to
   ``<data dir>/apportionment/ledgers/<periodId>.hsl`` (with the membership-snapshot root in the
   same pass) and builds its share-tree node file ``<periodId>.tree`` bottom up on disk (receipts
   read proofs from it) in bounded memory — one page of rows, at most 64 MiB of leaf hashes per
   tree, then sorted runs spilled beside the ledgers — and the ledger is added to the evidence
   store (pinned) → CID.
4. ``publishPeriod`` on chain, then the local index. The contract re-checks the arithmetic and
   takes nothing of the basis on the publisher's word: the claim count and payouts must equal its
   own final-approval totals for the window, the rule set and its fee and caps the one in force at
   the snapshot (``ApportionmentClaimTotalsMismatch``, ``ApportionmentRuleSetNotInForce``,
   ``ApportionmentParametersMismatch``).

Idempotent: when the chain already holds the period (a re-run, a crash after sending, another
replica), the recomputation must equal the chain's record field for field — then the local file
and index are completed and the stored result returned — else ``PeriodRecordMismatch``. Periods are
published in schedule order: a period whose predecessor is not on chain is refused
(``PeriodOutOfOrder``), except the very first period of a deployment.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from backend.apportionment.arithmetic import PeriodInputs
from backend.apportionment.chain_inputs import (
    FinalApproval,
    final_approvals,
    packed_member_blocks,
    paid_this_year_blocks,
    snapshot_sharing_members,
)
from backend.apportionment.files import atomic_output
from backend.apportionment.ledger import ShareLedgerBuilder, ShareLedgerReader, ShareLedgerResult
from backend.apportionment.period_record import record_of_ledger
from backend.apportionment.published import PublishedLedgers, apportionment_client, published_ledgers
from backend.apportionment.schedule import DEFAULT_SCHEDULE, ApportionmentSchedule, Period
from backend.apportionment.service_errors import PeriodNotClosed, PeriodOutOfOrder, PeriodRecordMismatch
from backend.apportionment.share_tree import DEFAULT_MEMORY_BYTES
from backend.chain.apportionment import ApportionmentClient, PeriodRecord
from backend.chain.transactions import ContractReverted
from backend.errors import NotFound
from backend.services.context import ServiceContext
from backend.services.rule_sets import current_rule_set, roster_for, rule_set_by_hash
from backend.services.rules import RuleSet

__all__ = [
    "PublishedPeriod",
    "active_rule_set",
    "build_period_ledger",
    "compute_and_publish_period",
]


@dataclass(frozen=True, slots=True)
class PublishedPeriod:
    """A period on chain and its ledger file; ``published_now`` is False when it already was."""

    period: Period
    record: PeriodRecord
    ledger_path: Path
    block_number: int
    tx_hash: bytes | None
    approvals: tuple[FinalApproval, ...]
    published_now: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "periodId": self.period.period_id,
            "noticeAt": self.period.notice_at.isoformat(),
            "debitAt": self.period.debit_at.isoformat(),
            "record": self.record.to_json(),
            "block": self.block_number,
            "tx": None if self.tx_hash is None else "0x" + self.tx_hash.hex(),
            "claims": ["0x" + a.claim_id.hex() for a in self.approvals],
            "publishedNow": self.published_now,
        }


def active_rule_set(session: Session) -> RuleSet:
    """The rule set in force (``backend.services.rule_sets.current_rule_set``; ``NotFound`` if none)."""
    rules, _ = current_rule_set(session)
    return rules


def _period_rules(ctx: ServiceContext, session: Session, period: Period, existing: PeriodRecord | None) -> RuleSet:
    """The rules to apportion under: the recorded period's own when re-verifying, else the rule set
    ClaimLedger has in force at the period's snapshot (the one ``publishPeriod`` will require)."""
    if existing is not None:
        return rule_set_by_hash(session, existing.rule_set_hash)
    in_force = roster_for(ctx).rule_set_in_force(int(period.snapshot_at.timestamp()))
    if in_force is None:
        raise NotFound(
            f"no rule set was in force at the snapshot of period {period.period_id}", code="NO_RULE_SET_IN_FORCE"
        )
    return rule_set_by_hash(session, in_force)


def _chain_time(ctx: ServiceContext) -> int:
    return int(ctx.w3.eth.get_block("latest")["timestamp"])


def _require_closed(ctx: ServiceContext, period: Period, now: datetime) -> None:
    if now < period.window_end:
        raise PeriodNotClosed(
            f"period {period.period_id} closes at {period.window_end.isoformat()}", period_id=period.period_id
        )
    if _chain_time(ctx) < int(period.window_end.timestamp()):
        raise PeriodNotClosed(
            f"the chain has not reached the end of period {period.period_id} yet", period_id=period.period_id
        )


def _surplus_in(client: ApportionmentClient, previous: Period, existing: PeriodRecord | None, pid: int) -> int:
    """S_in: the previous scheduled period's S_out; refuses to skip an unpublished predecessor."""
    before = client.period(previous.period_id)
    if before is not None:
        return before.surplus_out_fen
    if existing is not None:
        # On chain without its predecessor: it was the first period of the deployment, and the
        # contract checked its S_in against the (absent) previous S_out when it accepted it.
        return existing.surplus_in_fen
    if client.last_period_id() == 0:
        return 0  # the first period ever published
    raise PeriodOutOfOrder(
        f"publish period {previous.period_id} before {pid}", period_id=pid, previous_period_id=previous.period_id
    )


def _snapshot(ctx: ServiceContext, files: PublishedLedgers, period: Period) -> tuple[Path, int]:
    """The period's sharing members, written once to a packed temp file; (path, N)."""
    fd, name = tempfile.mkstemp(prefix=f".{period.period_id}.", suffix=".members", dir=files.ledgers)
    os.close(fd)
    path = Path(name)
    try:
        with ctx.sessions() as session:
            count = snapshot_sharing_members(session, period.snapshot_at, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, count


def build_period_ledger(
    directory: Path,
    inputs: PeriodInputs,
    members: Path,
    previous_ledger: Path | None,
    *,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> tuple[Path, Path | None, ShareLedgerResult]:
    """Stream the ledger and its share-tree node file to temp files in ``directory``.

    ``members`` is the packed snapshot (``snapshot_sharing_members``), read a block at a time and
    merge-joined with the previous ledger of the year for what each member paid (numpy columns,
    ``paid_this_year_blocks`` → ``ShareLedgerBuilder.add_packed``); the builder
    holds one chunk of rows and at most ``memory_bytes`` of leaf hashes per tree (then spilled
    runs, in ``directory``). Returns (ledger temp file, node temp file or None when N = 0, result); on
    failure nothing is left behind. ``compute_and_publish_period`` and the benchmark run this.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{inputs.period_id}.", suffix=".build", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    tree = tmp.with_suffix(".tree-build") if inputs.member_count else None
    try:
        with ExitStack() as stack:
            previous = None if previous_ledger is None else stack.enter_context(ShareLedgerReader(previous_ledger))
            fh = stack.enter_context(atomic_output(tmp))
            builder = ShareLedgerBuilder(inputs, fh, snapshot=True, memory_bytes=memory_bytes, spill_dir=directory)
            stack.callback(builder.close)
            for commitments, paid in paid_this_year_blocks(packed_member_blocks(members), previous):
                builder.add_packed(commitments, paid)
            result = builder.finish(tree_file=tree)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if tree is not None:
            tree.unlink(missing_ok=True)
        raise
    return tmp, tree, result


def _build_ledger(
    files: PublishedLedgers,
    inputs: PeriodInputs,
    period: Period,
    members: Path,
    previous_ledger: Path | None,
) -> tuple[Path, Path | None, PeriodRecord]:
    """``build_period_ledger`` in the ledgers directory; the ledger added to the store (pinned)."""
    tmp, tree, result = build_period_ledger(files.ledgers, inputs, members, previous_ledger)
    try:
        cid = files.store_file(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if tree is not None:
            tree.unlink(missing_ok=True)
        raise
    window = int(period.window_start.timestamp()), int(period.window_end.timestamp())
    return tmp, tree, record_of_ledger(result, cid, window_start=window[0], window_end=window[1])


def compute_and_publish_period(
    ctx: ServiceContext,
    period: Period,
    now: datetime,
    *,
    rules: RuleSet | None = None,
    schedule: ApportionmentSchedule = DEFAULT_SCHEDULE,
) -> PublishedPeriod:
    """Compute, store and publish ``period`` (see the module docstring); idempotent."""
    _require_closed(ctx, period, now)
    client = apportionment_client(ctx)
    files = published_ledgers(ctx)
    existing = client.period(period.period_id)
    previous = schedule.previous_period(period)
    surplus_in = _surplus_in(client, previous, existing, period.period_id)

    claim_ledger = ctx.contracts["ClaimLedger"]
    deployed = ctx.deployment.contracts.get("ClaimLedger")
    approvals = final_approvals(
        ctx.w3,
        claim_ledger,
        period.window_start,
        period.window_end,
        from_block=deployed.block if deployed is not None else 0,
    )
    with ctx.sessions() as session:
        rule_set = rules if rules is not None else _period_rules(ctx, session, period, existing)
    members, member_count = _snapshot(ctx, files, period)
    try:
        return _publish(
            ctx,
            client,
            files,
            period,
            previous,
            now,
            rule_set,
            existing,
            surplus_in,
            approvals,
            members,
            member_count,
        )
    finally:
        members.unlink(missing_ok=True)


def _publish(
    ctx: ServiceContext,
    client: ApportionmentClient,
    files: PublishedLedgers,
    period: Period,
    previous: Period,
    now: datetime,
    rule_set: RuleSet,
    existing: PeriodRecord | None,
    surplus_in: int,
    approvals: list[FinalApproval],
    members: Path,
    member_count: int,
) -> PublishedPeriod:
    wind_down = existing.wind_down if existing is not None else client.wind_down()
    inputs = PeriodInputs.from_payouts(
        [a.payout_fen for a in approvals],
        period_id=period.period_id,
        rule_set_hash=rule_set.hash(),
        fee_bps=rule_set.fee_bps,
        surplus_in_fen=surplus_in,
        member_count=member_count,
        per_case_cap_fen=rule_set.per_case_cap_fen,
        annual_cap_fen=rule_set.annual_cap_fen,
        wind_down=wind_down,
    )
    previous_record = client.period(previous.period_id) if previous.year == period.year else None
    previous_ledger = files.ledger_for(previous_record) if previous_record is not None else None

    tmp, tree, record = _build_ledger(files, inputs, period, members, previous_ledger)
    try:
        tx_hash: bytes | None = None
        published_now = False
        if existing is None:
            try:
                receipt = ctx.operator.transact(client.publish_tx(record))
                tx_hash = bytes(receipt["transactionHash"])
                published_now = True
            except ContractReverted as exc:
                if exc.error != "ApportionmentPeriodExists":
                    raise
            existing = client.period(period.period_id)
        if existing != record:
            raise PeriodRecordMismatch(
                f"the chain's record of period {period.period_id} differs from its recomputation",
                period_id=period.period_id,
            )
        path = files.path_of(period.period_id)
        if tree is not None:
            os.replace(tree, files.tree_path_of(period.period_id))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if tree is not None:
            tree.unlink(missing_ok=True)
        raise
    block = client.published_block(period.period_id)
    entry = files.entry(period.period_id) or {}
    if tx_hash is None and entry.get("tx"):
        tx_hash = bytes.fromhex(str(entry["tx"]).removeprefix("0x"))
    result = PublishedPeriod(
        period=period,
        record=record,
        ledger_path=path,
        block_number=block,
        tx_hash=tx_hash,
        approvals=tuple(approvals),
        published_now=published_now,
    )
    files.update_index(
        "periods",
        {**result.to_json(), "ledgerFile": path.name, "recordedAt": now.astimezone(UTC).isoformat()},
        period_id=period.period_id,
    )
    return result
