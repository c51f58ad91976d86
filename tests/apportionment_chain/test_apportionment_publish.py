"""Publishing periods on a real anvil: figures with both caps binding, an independent recomputation
from the chain (ClaimLedger events + Apportionment storage) and the ledger file fetched by CID,
idempotence, and the refusals (period not closed, predecessor missing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hexbytes import HexBytes
from web3 import Web3

from backend.apportionment.audit import audit_period
from backend.apportionment.ledger import (
    ShareLedgerReader,
    check_year_to_date_continuity,
    membership_snapshot,
    verify_share_ledger,
)
from backend.apportionment.period_record import record_inputs, record_totals
from backend.apportionment.publish import compute_and_publish_period
from backend.apportionment.published import published_ledgers
from backend.apportionment.schedule import ApportionmentSchedule, ScheduleConfig
from backend.apportionment.service_errors import PeriodNotClosed, PeriodOutOfOrder
from backend.chain.apportionment import ApportionmentClient
from evidence_store.multiformats import CID
from tests.apportionment_chain.conftest import RULES, Scenario, _cst

pytestmark = pytest.mark.xdist_group("apportionment-chain")


def _client(scenario: Scenario) -> ApportionmentClient:
    return ApportionmentClient(scenario.runtime.w3, scenario.runtime.contracts["Apportionment"])


def _rows(path: Path) -> dict[bytes, tuple[int, int, int]]:
    with ShareLedgerReader(path) as reader:
        return {r.member_commitment: (r.share_fen, r.subsidy_fen, r.year_to_date_fen) for r in reader.rows()}


def test_publish_records_figures_with_both_caps_binding(scenario: Scenario) -> None:
    client = _client(scenario)
    a, b, c = (client.period(scenario.periods[k].period_id) for k in "ABC")
    assert a is not None
    assert b is not None
    assert c is not None
    # A: a1 + a2 (the last instant of the window counts); N = m1–m4 + m6.
    # P = 2000, fee = 160, D = 2160, base = ceil(2160 / 5) = 432; case cap 10 × 2 = 20 binds.
    assert (a.claim_count, a.payouts_fen, a.fee_fen, a.surplus_in_fen, a.member_count) == (2, 2000, 160, 0, 5)
    assert (a.base_fen, a.share_total_fen, a.subsidy_total_fen, a.surplus_out_fen) == (432, 100, 2060, 0)
    # B: b1 (at the window's first instant) + j1 (jury); N = m1–m5 (m6 ended, m5 joined).
    # P = 1501, fee = floor(120.08) = 120, D = 1621, base = 325, S_out = 1625 − 1621 = 4.
    assert (b.claim_count, b.payouts_fen, b.fee_fen, b.surplus_in_fen, b.member_count) == (2, 1501, 120, 0, 5)
    assert (b.base_fen, b.share_total_fen, b.subsidy_total_fen, b.surplus_out_fen) == (325, 40, 1585, 4)
    # C: nothing approved; the surplus of B covers it: D = −4, base 0, S_out = 4.
    assert (c.claim_count, c.payouts_fen, c.surplus_in_fen, c.base_fen, c.surplus_out_fen) == (0, 0, 4, 0, 4)
    for record in (a, b, c):
        assert (record.fee_bps, record.per_case_cap_fen, record.annual_cap_fen) == (800, 10, 25)
        assert record.rule_set_hash == RULES.hash()
        assert record.wind_down is False

    m = {k: v.commitment for k, v in scenario.members.items()}
    rows_a = _rows(scenario.published["A"].ledger_path)
    assert rows_a == {m[k]: (20, 412, 20) for k in ("m1", "m2", "m3", "m4", "m6")}
    rows_b = _rows(scenario.published["B"].ledger_path)
    # m1–m4 paid 20 already: the annual cap (25) leaves 5. m5 is new: the per-case cap (10 × 2) binds.
    assert rows_b == {**{m[k]: (5, 320, 25) for k in ("m1", "m2", "m3", "m4")}, m["m5"]: (20, 305, 20)}
    rows_c = _rows(scenario.published["C"].ledger_path)
    assert rows_c == {**{m[k]: (0, 0, 25) for k in ("m1", "m2", "m3", "m4")}, m["m5"]: (0, 0, 20)}

    approved = {k: [x.claim_id for x in scenario.published[k].approvals] for k in "AB"}
    assert approved == {
        "A": [scenario.claims["a1"], scenario.claims["a2"]],
        "B": [scenario.claims["b1"], scenario.claims["j1"]],
    }
    assert [x.via for x in scenario.published["B"].approvals] == ["notice", "jury"]
    assert client.last_period_id() == 20310407
    assert client.period_count() == 3


def _final_approvals_by_raw_logs(scenario: Scenario, start: int, end: int) -> list[tuple[bytes, int]]:
    """(claimId, payoutFen) of claims final-approved in [start, end), from raw logs by topic."""
    w3 = scenario.runtime.w3
    ledger = scenario.runtime.contracts["ClaimLedger"]
    finalized = Web3.keccak(text="NoticeFinalized(bytes32)")
    tallied = Web3.keccak(text="JuryTallied(bytes32,uint32,uint8,uint8,uint8,uint8)")
    found = []
    for log in w3.eth.get_logs({"address": ledger.address, "fromBlock": 0, "toBlock": "latest"}):
        topic = bytes(log["topics"][0])
        if topic == tallied and int.from_bytes(bytes(log["data"])[:32], "big") != 6:
            continue  # a jury that rejected
        if topic not in (finalized, tallied):
            continue
        ts = int(w3.eth.get_block(log["blockNumber"])["timestamp"])
        if start <= ts < end:
            claim_id = bytes(log["topics"][1])
            found.append((claim_id, int(ledger.functions.claim(claim_id).call()[5])))
    return found


def test_period_record_recomputes_from_chain_and_ledger_fetched_by_cid(scenario: Scenario, tmp_path: Path) -> None:
    client = _client(scenario)
    store = scenario.runtime.store
    previous: Path | None = None
    for name in "ABC":
        period = scenario.periods[name]
        record = client.period(period.period_id)
        assert record is not None
        # The claims, independently: every final approval whose block time falls in the window.
        claims = _final_approvals_by_raw_logs(
            scenario, int(period.window_start.timestamp()), int(period.window_end.timestamp())
        )
        assert record.claim_count == len(claims)
        assert record.payouts_fen == sum(p for _, p in claims)
        assert record.fee_fen == record.payouts_fen * record.fee_bps // 10_000
        # The ledger file, fetched by the CID the chain recorded (the store checks every block).
        path = tmp_path / f"{name}.hsl"
        path.write_bytes(b"".join(store.cat(CID.from_bytes(record.ledger_cid))))
        result = verify_share_ledger(path)  # every row, total and the root recompute
        assert result.inputs == record_inputs(record)
        assert result.totals == record_totals(record)
        assert result.share_root == record.ledger_root
        with ShareLedgerReader(path) as reader:
            snapshot = membership_snapshot(row.member_commitment for row in reader.rows())
            assert (snapshot.root, snapshot.member_count) == (record.membership_root, record.member_count)
            # Year to date carried from the previous period of the same year.
            if previous is None:
                assert check_year_to_date_continuity(None, reader) == record.member_count
            else:
                with ShareLedgerReader(previous) as before:
                    assert check_year_to_date_continuity(before, reader) == record.member_count
        # The surplus chain: S_in is the previous period's S_out.
        if name != "A":
            before_record = client.period(scenario.periods[chr(ord(name) - 1)].period_id)
            assert before_record is not None
            assert record.surplus_in_fen == before_record.surplus_out_fen
        # Events = storage: the PeriodPublished event carries the same record.
        [event] = [e for e in client.published_events() if e.record.period_id == period.period_id]
        assert event.record == record
        assert event.block_number == client.published_block(period.period_id)
        previous = path


def test_publish_again_verifies_and_returns_the_same_record(scenario: Scenario) -> None:
    runtime = scenario.runtime
    before = scenario.published["B"]
    again = compute_and_publish_period(runtime, scenario.periods["B"], _cst(2031, 4, 7, 2, 0))
    assert again.published_now is False
    assert again.record == before.record
    assert again.block_number == before.block_number
    assert again.tx_hash == before.tx_hash
    # Lose every local file: the previous period's ledger comes back from the store by CID.
    files = published_ledgers(runtime)
    for path in files.ledgers.glob("*.hsl"):
        path.unlink()
    files.index_path.unlink()
    rebuilt = compute_and_publish_period(runtime, scenario.periods["B"], _cst(2031, 4, 7, 2, 0))
    assert rebuilt.record == before.record
    assert files.path_of(20310307).exists(), "A's ledger refetched by CID for B's year-to-date"
    assert files.entry(20310321) is not None


def test_publish_refuses_unclosed_period_and_missing_predecessor(scenario: Scenario) -> None:
    not_closed = scenario.refusals["C_not_closed"]
    assert isinstance(not_closed, PeriodNotClosed)
    assert not_closed.code == "PERIOD_NOT_CLOSED"
    assert "chain has not reached" in not_closed.message
    out_of_order = scenario.refusals["C_before_B"]
    assert isinstance(out_of_order, PeriodOutOfOrder)
    assert out_of_order.fields == {"period_id": 20310407, "previous_period_id": 20310321}
    with pytest.raises(PeriodNotClosed, match="closes at"):
        compute_and_publish_period(scenario.runtime, scenario.periods["C"], _cst(2031, 4, 6))


def test_membership_is_committed_by_root_without_listing_members_on_chain(scenario: Scenario) -> None:
    tx_hash = scenario.published["B"].tx_hash
    assert tx_hash is not None
    calldata = bytes(scenario.runtime.w3.eth.get_transaction(HexBytes(tx_hash))["input"])
    record = _client(scenario).period(20310321)
    assert record is not None
    assert record.membership_root in calldata
    for member in scenario.members.values():
        assert member.commitment not in calldata, "no member commitment goes on chain"


def test_audit_period_passes_for_every_published_period(scenario: Scenario) -> None:
    runtime = scenario.runtime
    for name in "ABC":
        audit = audit_period(
            runtime.w3,
            runtime.contracts["ClaimLedger"],
            _client(scenario),
            runtime.store,
            scenario.periods[name].period_id,
        )
        assert audit.ok, audit.to_json()
        assert [c.name for c in audit.checks] == [
            "record",
            "claims",
            "rule_set",
            "fee",
            "ledger",
            "membership",
            "surplus",
            "year_to_date",
        ]


def test_audit_period_reports_what_disagrees_with_the_chain(scenario: Scenario) -> None:
    runtime = scenario.runtime
    # Read under a UTC calendar, 20310307 closes 8 hours later: b1 (approved at 03-07 00:00 in
    # Shanghai) falls inside, so the chain's approvals no longer match the record.
    utc = ApportionmentSchedule(ScheduleConfig(timezone="UTC"))
    audit = audit_period(
        runtime.w3, runtime.contracts["ClaimLedger"], _client(scenario), runtime.store, 20310307, schedule=utc
    )
    # The record's window is not the UTC calendar's either.
    assert audit.failed() == ["claims", "rule_set"]
    assert "(3, 3001)" in audit.checks[1].detail
    missing = audit_period(runtime.w3, runtime.contracts["ClaimLedger"], _client(scenario), runtime.store, 20310507)
    assert missing.failed() == ["record"]
    assert not missing.ok
