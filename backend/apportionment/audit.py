"""The auditor's re-derivation of a published period, from the chain and the evidence store only.

Service edge for auditors (anyone with read access to the chain and the store; no database).
``audit_period`` re-derives one period and reports each check (``PeriodCheck``) rather than
stopping at the first difference, so a report lists everything that disagrees:

    record        the contract holds a record for the period
    claims        claim count and Σ payouts = the ClaimLedger final approvals whose block time
                  lies in the period's window (``chain_inputs.final_approvals``)
    rule_set      the record's window is the schedule's; its rule set is the one ClaimLedger had in
                  force at the snapshot (``ruleSetInForce(windowEnd)``) and its fee and caps are that
                  rule set's anchored ones (which step 4 ties to the rule set's JSON)
    fee           fee = floor(P × feeBps / 10000)
    ledger        the file under the recorded CID recomputes byte for byte (``verify_share_ledger``,
                  the publisher's streaming builder: bounded memory at any member count)
                  and states the record's inputs, totals and root
    membership    the membership-snapshot root over the ledger's commitments = the recorded root
    surplus       S_in = S_out of the period published before it (0 for the first)
    year_to_date  every member's carried-in amount = their year-to-date in the previous period's
                  ledger of the same year (``check_year_to_date_continuity``)

What it cannot see from public data: that the membership set is the right one (who was under
protection is a database fact; the root commits to the set). ``check_membership_mirror`` is that
check for whoever holds the database: the members under protection at the notice instant — by the
publisher's own rule, ``chain_inputs.sharing_members``, **members in their waiting period
included** (they share from joining, as in Xiang Hu Bao; they only cannot claim) — must give the
recorded membership root and count.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier

from backend.apportionment.chain_inputs import final_approvals, sharing_members
from backend.apportionment.errors import ApportionmentError
from backend.apportionment.ledger import (
    ShareLedgerReader,
    check_year_to_date_continuity,
    membership_snapshot,
    verify_share_ledger,
)
from backend.apportionment.period_record import record_inputs, record_totals
from backend.apportionment.schedule import DEFAULT_SCHEDULE, ApportionmentSchedule
from backend.chain.apportionment import ApportionmentClient, PeriodRecord
from backend.chain.transactions import classify
from evidence_store.multiformats import CID

__all__ = ["PeriodAudit", "PeriodCheck", "audit_period", "check_membership_mirror", "rule_set_problem"]


@dataclass(frozen=True, slots=True)
class PeriodCheck:
    name: str
    ok: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(slots=True)
class PeriodAudit:
    """Every check of one period, in the order of the module docstring."""

    period_id: int
    checks: list[PeriodCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {"periodId": self.period_id, "ok": self.ok, "checks": [c.to_json() for c in self.checks]}


def _fetch(store: Any, record: PeriodRecord, directory: Path) -> Path:
    path = directory / f"{record.period_id}.hsl"
    with open(path, "wb") as fh:
        for chunk in store.cat(CID.from_bytes(record.ledger_cid)):  # every block checked against the CID
            fh.write(chunk)
    return path


def audit_period(
    w3: Web3,
    claim_ledger: Contract,
    apportionment: ApportionmentClient,
    store: Any,
    period_id: int,
    *,
    schedule: ApportionmentSchedule = DEFAULT_SCHEDULE,
    from_block: int = 0,
    at_block: int | None = None,
    scratch_dir: str | os.PathLike[str] | None = None,
) -> PeriodAudit:
    """Re-derive ``period_id`` from the chain and the store; never raises for a disagreement.

    ``at_block`` pins every chain read (records, events, approvals, claim storage) to that block,
    as an audit does to its head; default: the latest block. The ledger files are fetched into a
    temporary directory under ``scratch_dir`` (default: the system's), removed before returning.
    """
    audit = PeriodAudit(period_id)
    period = schedule.period(period_id)
    block: int | str = "latest" if at_block is None else at_block
    record = apportionment.period(period_id, block=block)
    audit.checks.append(PeriodCheck("record", record is not None, "" if record else "no record on chain"))
    if record is None:
        return audit

    def check(name: str, fn: Callable[[], str | None]) -> None:
        try:
            problem = fn()
        except ApportionmentError as exc:
            problem = exc.message
        audit.checks.append(PeriodCheck(name, problem is None, problem or ""))

    def claims() -> str | None:
        approvals = final_approvals(
            w3, claim_ledger, period.window_start, period.window_end, from_block=from_block, at_block=at_block
        )
        got = (len(approvals), sum(a.payout_fen for a in approvals))
        want = (record.claim_count, record.payouts_fen)
        return None if got == want else f"chain approvals give (claims, payouts) = {got}, the record says {want}"

    def rule_set() -> str | None:
        return rule_set_problem(claim_ledger, record, period.window_start, period.window_end, at_block or "latest")

    def fee() -> str | None:
        expected = record.payouts_fen * record.fee_bps // 10_000
        return None if expected == record.fee_fen else f"fee should be {expected}"

    events = apportionment.published_events(from_block=from_block, to_block=block)
    ids = [e.record.period_id for e in events]
    position = ids.index(period_id) if period_id in ids else -1
    before = events[position - 1].record if position > 0 else None

    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hubao-audit-", dir=scratch_dir) as tmp:
        directory = Path(tmp)
        check("claims", claims)
        check("rule_set", rule_set)
        check("fee", fee)
        path = _fetch(store, record, directory)

        def ledger() -> str | None:
            result = verify_share_ledger(path)
            if result.inputs != record_inputs(record) or result.totals != record_totals(record):
                return "the ledger's header or totals differ from the record"
            return None if result.share_root == record.ledger_root else "the ledger's root differs from the record"

        def membership() -> str | None:
            with ShareLedgerReader(path) as reader:
                snap = membership_snapshot((row.member_commitment for row in reader.rows()), spill_dir=directory)
            same = (snap.root, snap.member_count) == (record.membership_root, record.member_count)
            return None if same else "membership root over the ledger's members differs from the record"

        def surplus() -> str | None:
            carried = before.surplus_out_fen if before is not None else 0
            return None if record.surplus_in_fen == carried else f"S_in should be {carried}"

        def year_to_date() -> str | None:
            previous = before if before is not None and before.period_id // 10_000 == period.year else None
            with ShareLedgerReader(path) as current:
                if previous is None:
                    check_year_to_date_continuity(None, current)
                else:
                    with ShareLedgerReader(_fetch(store, previous, directory)) as earlier:
                        check_year_to_date_continuity(earlier, current)
            return None

        check("ledger", ledger)
        check("membership", membership)
        check("surplus", surplus)
        check("year_to_date", year_to_date)
    return audit


def rule_set_problem(
    claim_ledger: Contract, record: PeriodRecord, window_start: datetime, window_end: datetime, block: BlockIdentifier
) -> str | None:
    """Why ``record`` is not apportioned under the rule set in force at its snapshot (None when it is).

    The window must be the schedule's ``[window_start, window_end)``; the rule set the one
    ``ClaimLedger.ruleSetInForce(window_end)`` names; fee and caps that rule set's anchored ones.
    """
    want = (int(window_start.timestamp()), int(window_end.timestamp()))
    if (record.window_start, record.window_end) != want:
        return f"the record's window {(record.window_start, record.window_end)} is not the schedule's {want}"
    try:
        in_force = bytes(claim_ledger.functions.ruleSetInForce(want[1]).call(block_identifier=block))
        if in_force == bytes(32):
            return "no rule set was in force at the period's snapshot"
        if in_force != record.rule_set_hash:
            return f"the record names rule set 0x{record.rule_set_hash.hex()}, the one in force was 0x{in_force.hex()}"
        stored = claim_ledger.functions.ruleSet(in_force).call(block_identifier=block)
    except Exception as exc:
        raise classify(exc) from exc
    params = (int(stored[7]), int(stored[8]), int(stored[9]))
    given = (record.fee_bps, record.per_case_cap_fen, record.annual_cap_fen)
    if params != given:
        return f"the record's (feeBps, perCaseCapFen, annualCapFen) {given} are not the rule set's {params}"
    return None


def check_membership_mirror(
    session: Session, record: PeriodRecord, *, schedule: ApportionmentSchedule = DEFAULT_SCHEDULE
) -> PeriodCheck:
    """``membership_db``: the database's sharing members at the period's snapshot give the record's root."""
    period = schedule.period(record.period_id)
    snap = membership_snapshot(sharing_members(session, period.snapshot_at))
    got, want = (snap.root, snap.member_count), (record.membership_root, record.member_count)
    if got == want:
        return PeriodCheck("membership_db", True)
    return PeriodCheck(
        "membership_db",
        False,
        f"the database gives {snap.member_count} sharing members with another root than the record's "
        f"{record.member_count}",
    )
