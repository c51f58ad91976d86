"""RELIABILITY G5 and G7 replayed with only what the operator holds (its key, its database).

G5: a period published with another fee or caps, an unanchored rule set or other claim totals is
refused by Apportionment with a named error; the honest period after it still publishes and
audits clean. G7: a rule set anchored and used at once is refused by ClaimLedger until its public
delay has passed; a published version waits pending and becomes current once it is in force.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from eth_utils.crypto import keccak

from backend.apportionment.audit import audit_period
from backend.apportionment.publish import compute_and_publish_period
from backend.apportionment.schedule import DEFAULT_SCHEDULE
from backend.chain import eip712
from backend.chain.apportionment import ApportionmentClient, PeriodRecord
from backend.chain.transactions import ContractReverted
from backend.runtime import Runtime
from backend.services.bootstrap import bootstrap
from backend.services.rule_sets import (
    claim_params,
    current_rule_set,
    publish_rule_set,
    roster_for,
)
from tests.apportionment_chain.conftest import Scenario
from tests.apportionment_chain.support import advance, set_time

CST = ZoneInfo("Asia/Shanghai")
NEXT = 20310421  # the period after the scenario's last published one (C = 20310407)


def _client(scenario: Scenario) -> ApportionmentClient:
    return ApportionmentClient(scenario.runtime.w3, scenario.runtime.contracts["Apportionment"])


def _crafted(scenario: Scenario, **changes: int | bytes) -> PeriodRecord:
    """A period NEXT record whose arithmetic is exact for its own (possibly forged) inputs."""
    before = scenario.published["C"].record
    fields: dict[str, object] = {
        "claim_count": 0,
        "payouts_fen": 0,
        "fee_bps": before.fee_bps,
        "per_case_cap_fen": before.per_case_cap_fen,
        "annual_cap_fen": before.annual_cap_fen,
        "rule_set_hash": before.rule_set_hash,
    }
    fields.update(changes)
    n = before.member_count
    payouts, bps = int(fields["payouts_fen"]), int(fields["fee_bps"])  # type: ignore[call-overload]
    fee = payouts * bps // 10_000
    due = payouts + fee - before.surplus_out_fen
    base = 0 if due <= 0 else -(-due // n)
    share = min(base, int(fields["per_case_cap_fen"]) * int(fields["claim_count"]))  # type: ignore[call-overload]
    period = DEFAULT_SCHEDULE.period(NEXT)
    return dataclasses.replace(
        before,
        period_id=NEXT,
        fee_fen=fee,
        surplus_in_fen=before.surplus_out_fen,
        base_fen=base,
        share_total_fen=share * n,
        subsidy_total_fen=(base - share) * n,
        surplus_out_fen=n * base - due,
        window_start=int(period.window_start.timestamp()),
        window_end=int(period.window_end.timestamp()),
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"fee_bps": 10_000}, "ApportionmentParametersMismatch"),
        ({"per_case_cap_fen": 5_000_000}, "ApportionmentParametersMismatch"),
        ({"annual_cap_fen": 5_000_000}, "ApportionmentParametersMismatch"),
        ({"rule_set_hash": keccak(text="never anchored")}, "ApportionmentRuleSetNotInForce"),
        ({"claim_count": 1, "payouts_fen": 5_000_000}, "ApportionmentClaimTotalsMismatch"),
    ],
    ids=["fee-10000-bps", "huge-per-case-cap", "huge-annual-cap", "unanchored-rule-set", "other-claim-totals"],
)
def test_publish_crafted_period_is_refused_by_apportionment(
    scenario: Scenario, changes: dict[str, int | bytes], error: str
) -> None:
    runtime = scenario.runtime
    set_time(runtime, datetime(2031, 4, 21, 1, 0, tzinfo=CST))
    client = _client(scenario)
    with pytest.raises(ContractReverted) as info:
        runtime.operator.transact(client.publish_tx(_crafted(scenario, **changes)))
    assert info.value.error == error
    assert client.period(NEXT) is None


def test_publish_honest_period_after_refusals_passes_and_audits_clean(scenario: Scenario) -> None:
    runtime = scenario.runtime
    set_time(runtime, datetime(2031, 4, 21, 2, 0, tzinfo=CST))
    published = compute_and_publish_period(
        runtime, DEFAULT_SCHEDULE.period(NEXT), datetime(2031, 4, 21, 2, 0, tzinfo=CST)
    )
    # The same figures as the honest record the refusals started from (its own ledger file).
    assert published.record == dataclasses.replace(_crafted(scenario), ledger_cid=published.record.ledger_cid)
    audit = audit_period(runtime.w3, runtime.contracts["ClaimLedger"], _client(scenario), runtime.store, NEXT)
    assert audit.ok, audit.to_json()


DELAY = 3_600


@pytest.fixture
def delayed(runtime_factory: Callable[..., Runtime]) -> Runtime:
    runtime = runtime_factory(rule_set_delay=DELAY)
    bootstrap(runtime)
    return runtime


def test_file_claim_under_rule_set_anchored_at_once_is_refused_until_its_delay(delayed: Runtime) -> None:
    roster = roster_for(delayed)
    assert roster.rule_set_delay() == DELAY
    with delayed.sessions() as session:
        rules, current_hash = current_rule_set(session)
    lax = dataclasses.replace(rules, version=rules.version + 1, fee_bps=10_000, per_case_cap_fen=5_000_000)
    roster.anchor_rule_set(lax.hash(), claim_params(lax))
    member, evidence = keccak(text="chosen claimant"), keccak(text="chosen evidence")
    payout = rules.payout_bands[0].payout_fen
    claimant = "0x35b1Ba3B702f9986CF4B7c471Aa1D528409Db1A4"
    claim_id = eip712.claim_id(member, evidence, lax.hash(), payout, claimant)
    data = delayed.contracts["ClaimLedger"].encode_abi(
        "fileClaim", args=[(claim_id, member, evidence, lax.hash(), payout, claimant)]
    )
    with pytest.raises(ContractReverted) as info:
        delayed.operator.transact({"to": delayed.contracts["ClaimLedger"].address, "data": data})
    assert info.value.error == "ClaimLedgerRuleSetNotInForce"
    assert roster.rule_set_in_force(int(delayed.w3.eth.get_block("latest")["timestamp"])) == current_hash


def test_publish_rule_set_waits_pending_until_in_force(delayed: Runtime) -> None:
    with delayed.sessions() as session:
        before, before_hash = current_rule_set(session)
    record = publish_rule_set(delayed, {"fee_bps": 700})
    assert not record.active
    with delayed.sessions() as session:
        assert current_rule_set(session)[1] == before_hash  # the old one stays in use meanwhile
    roster = roster_for(delayed)
    onchain = roster.rule_set(bytes(record.hash))
    assert onchain is not None
    assert onchain.effective_at == onchain.anchored_at + DELAY
    assert onchain.params.fee_bps == 700
    advance(delayed, DELAY)
    bootstrap(delayed)
    with delayed.sessions() as session:
        rules, current_hash = current_rule_set(session)
    assert (rules.fee_bps, current_hash) == (700, bytes(record.hash))
    old = roster.rule_set(before_hash)
    assert old is not None
    assert old.retired
    assert before.fee_bps != 700
