"""The on-chain period record in the share arithmetic's terms, and back.

``backend.chain.apportionment.PeriodRecord`` is the ABI twin of ``IApportionment.PeriodRecord``;
these functions convert between it and the pure core (``PeriodInputs`` / ``PeriodTotals``, a built
``ShareLedgerResult``), so that what goes on chain is exactly what the share ledger committed to.
They live here, not in the chain client, so that the chain ring does not import the domain.
"""

from __future__ import annotations

from backend.apportionment.arithmetic import PeriodInputs, PeriodTotals
from backend.apportionment.ledger import EMPTY_ROOT, ShareLedgerResult
from backend.chain.apportionment import PeriodRecord


def record_of_ledger(
    result: ShareLedgerResult, ledger_cid: bytes, *, window_start: int = 0, window_end: int = 0
) -> PeriodRecord:
    """The record of a finished share ledger (built with ``snapshot=True``) stored under ``ledger_cid``,
    sharing the final approvals of ``[window_start, window_end)`` (Unix seconds)."""
    inputs, totals = result.inputs, result.totals
    membership_root = result.membership.root if result.membership is not None else EMPTY_ROOT
    return PeriodRecord(
        period_id=inputs.period_id,
        claim_count=inputs.claim_count,
        payouts_fen=inputs.payouts_fen,
        fee_fen=totals.fee_fen,
        surplus_in_fen=inputs.surplus_in_fen,
        member_count=inputs.member_count,
        per_case_cap_fen=inputs.per_case_cap_fen,
        annual_cap_fen=inputs.annual_cap_fen,
        fee_bps=inputs.fee_bps,
        wind_down=inputs.wind_down,
        rule_set_hash=inputs.rule_set_hash,
        membership_root=membership_root,
        base_fen=totals.base_fen,
        share_total_fen=totals.share_total_fen,
        subsidy_total_fen=totals.subsidy_total_fen,
        surplus_out_fen=totals.surplus_out_fen,
        ledger_root=result.share_root,
        ledger_cid=ledger_cid,
        window_start=window_start,
        window_end=window_end,
    )


def record_inputs(record: PeriodRecord) -> PeriodInputs:
    """The period's inputs as the pure core takes them."""
    return PeriodInputs(
        period_id=record.period_id,
        rule_set_hash=record.rule_set_hash,
        claim_count=record.claim_count,
        payouts_fen=record.payouts_fen,
        fee_bps=record.fee_bps,
        surplus_in_fen=record.surplus_in_fen,
        member_count=record.member_count,
        per_case_cap_fen=record.per_case_cap_fen,
        annual_cap_fen=record.annual_cap_fen,
        wind_down=record.wind_down,
    )


def record_totals(record: PeriodRecord) -> PeriodTotals:
    """The period's outputs as the pure core states them (D derived)."""
    return PeriodTotals(
        period_id=record.period_id,
        member_count=record.member_count,
        fee_fen=record.fee_fen,
        due_fen=record.due_fen,
        base_fen=record.base_fen,
        share_total_fen=record.share_total_fen,
        subsidy_total_fen=record.subsidy_total_fen,
        surplus_out_fen=record.surplus_out_fen,
    )
