"""Wind-down on a real anvil: the operator stops sharing, the final period is paid by the operator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest

from backend.api.app import create_app
from backend.apportionment.onchain import verify_share_receipt_onchain
from backend.apportionment.publish import compute_and_publish_period
from backend.apportionment.published import published_ledgers
from backend.apportionment.schedule import DEFAULT_SCHEDULE
from backend.apportionment.service_errors import ClaimFilingClosed
from backend.apportionment.wind_down import WindDownGate, check_claim_filing, wind_down_state
from backend.chain.apportionment import ApportionmentClient, ApportionmentLookup
from backend.db.models import Member, RuleSetRecord
from backend.runtime import Runtime
from tests.apportionment_chain.conftest import CST, RULES
from tests.apportionment_chain.support import ClaimDriver, add_account, add_member, set_time, with_apportionment

pytestmark = pytest.mark.xdist_group("apportionment-chain")


def _call(runtime: Runtime, method: str, path: str, token: str, json: object = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://hubao.test") as client:
            return await client.request(method, path, headers={"Authorization": f"Bearer {token}"}, json=json)

    return asyncio.run(go())


def test_wind_down_makes_the_operator_pay_every_base(runtime_factory: Callable[..., Runtime]) -> None:
    runtime = with_apportionment(runtime_factory())
    set_time(runtime, datetime(2031, 5, 1, 10, tzinfo=CST))
    with runtime.sessions.begin() as session:
        session.add(RuleSetRecord(hash=RULES.hash(), version=1, canonical_json=RULES.canonical_json(), active=True))
    driver = ClaimDriver(runtime, RULES).setup()
    members = [add_member(runtime, f"w{i}", datetime(2031, 1, 1, tzinfo=CST)) for i in range(3)]
    operator = add_account(runtime, "operator-w", "operator")
    claim = driver.to_notice(3000)
    set_time(runtime, datetime(2031, 5, 9, 10, tzinfo=CST))
    driver.finalize(claim)

    refused = _call(runtime, "POST", "/plan/wind-down", members[0][2])
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    assert _call(runtime, "GET", "/plan/wind-down", members[0][2]).json()["windDown"] is False

    began = _call(runtime, "POST", "/plan/wind-down", operator)
    assert began.status_code == 200, began.text
    state = began.json()
    assert state["windDown"] is True
    assert state["lastSharedPeriodId"] is None  # nothing was ever shared by members
    since = datetime.fromisoformat(state["since"])
    assert datetime.fromisoformat(state["lateFilingUntil"]) - since == timedelta(days=180)
    assert state["tx"] is not None
    client = ApportionmentClient(runtime.w3, runtime.contracts["Apportionment"])
    assert client.wind_down() is True
    applicant = add_account(runtime, "applicant-w", "member")
    join = {"birthDate": "1990-01-01", "creditScore": 700, "healthAnswers": [False] * len(RULES.health_questions)}
    refused_join = _call(runtime, "POST", "/members/join", applicant, json=join)
    assert (refused_join.status_code, refused_join.json()["code"]) == (409, "PLAN_WINDING_DOWN"), refused_join.text
    with runtime.sessions() as session:
        assert session.query(Member).filter(Member.account_id.isnot(None)).count() == 3, "no membership was added"
    again = _call(runtime, "POST", "/plan/wind-down", operator)
    assert again.json() == state, "a second call returns the recorded state"
    assert _call(runtime, "GET", "/plan/wind-down", members[1][2]).json() == state
    assert published_ledgers(runtime).read_index()["windDown"] == state
    block = runtime.w3.eth.get_transaction_receipt(state["tx"])["blockNumber"]
    assert since.timestamp() == runtime.w3.eth.get_block(block)["timestamp"], "the stop is the chain's block time"
    published_ledgers(runtime).update_index("windDown", None)  # a replica that did not begin it
    assert wind_down_state(runtime).to_json() == state, "details re-derived from WindDownBegan"
    assert isinstance(runtime.claim_filing_gate, WindDownGate)
    plan = runtime.claim_filing_gate.state()
    check_claim_filing(plan, since.date() - timedelta(days=1), since + timedelta(days=179))
    with pytest.raises(ClaimFilingClosed) as after_stop:
        check_claim_filing(plan, since.date(), since)
    assert after_stop.value.code == "DIAGNOSED_AFTER_WIND_DOWN"
    with pytest.raises(ClaimFilingClosed) as too_late:
        check_claim_filing(plan, since.date() - timedelta(days=1), since + timedelta(days=180))
    assert too_late.value.code == "WIND_DOWN_FILING_CLOSED"

    period = DEFAULT_SCHEDULE.period(20310521)
    set_time(runtime, datetime(2031, 5, 21, 1, tzinfo=CST))
    published = compute_and_publish_period(runtime, period, datetime(2031, 5, 21, 1, tzinfo=CST))
    record = published.record
    # P = 3000, fee = 240, D = 3240 among 3: base 1080, paid in full by the operator.
    assert record.wind_down is True
    assert (record.claim_count, record.payouts_fen, record.fee_fen, record.base_fen) == (1, 3000, 240, 1080)
    assert (record.share_total_fen, record.subsidy_total_fen, record.surplus_out_fen) == (0, 3240, 0)
    assert client.period(20310521) == record

    receipt = _call(runtime, "GET", "/me/shares/20310521/receipt", members[2][2])
    assert receipt.status_code == 200, receipt.text
    doc = receipt.json()
    assert doc["period"]["windDown"] is True
    assert (doc["leaf"]["shareFen"], doc["leaf"]["subsidyFen"]) == (0, 1080)
    report = verify_share_receipt_onchain(doc, ApportionmentLookup(client))
    assert report.ok, report.to_json()
