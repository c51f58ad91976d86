"""Periods published on their own as anvil's clock passes notice instants (no sleeping).

Timeline (Asia/Shanghai, default schedule): the suite is deployed on 2032-03-01 12:00, so the
first period is 20320307. m1, m2 joined on 2032-01-01; w1 joined on 03-05 and is still in its
90-day waiting period at the 03-07 snapshot (it shares: Xiang Hu Bao's rule); late joins on 03-10.
One claim of 1,000 fen is final-approved on 03-08 (period 20320321).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from backend.apportionment.audit import check_membership_mirror
from backend.apportionment.ledger import ShareLedgerReader
from backend.apportionment.member_shares import share_receipt
from backend.apportionment.published import published_ledgers
from backend.apportionment.receipts import verify_share_receipt_offline
from backend.apportionment.scheduler import due_periods, period_statuses, plan_schedule, publish_due_periods
from backend.chain.anvil import AnvilNode, rpc_call
from backend.chain.apportionment import ApportionmentClient
from backend.db.lease import Lease
from backend.db.models import Member, RuleSetRecord
from backend.runtime import Runtime
from backend.services.membership import protected_commitments_at, protected_members_at
from backend.services.rule_sets import claim_params, roster_for
from tests.apportionment_chain.conftest import CST, RULES
from tests.apportionment_chain.support import ClaimDriver, add_member, chain_now, set_time

pytestmark = pytest.mark.xdist_group("apportionment-chain")


def _at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2032, month, day, hour, minute, second, tzinfo=CST)


def _runtime_at(
    anvil_factory: Callable[..., AnvilNode], runtime_factory: Callable[..., Runtime], instant: datetime
) -> Runtime:
    node = anvil_factory()
    rpc_call(node.url, "evm_setNextBlockTimestamp", [int(instant.timestamp())])
    rpc_call(node.url, "evm_mine")
    return runtime_factory(node)


def _move_clock(runtime: Runtime, instant: datetime) -> None:
    """Mine the next block exactly at ``instant`` (evm_setNextBlockTimestamp + evm_mine)."""
    set_time(runtime, instant)
    assert chain_now(runtime) == int(instant.timestamp())


def test_periods_publish_on_schedule_once_each_in_order(
    anvil_factory: Callable[..., AnvilNode], runtime_factory: Callable[..., Runtime]
) -> None:
    runtime = _runtime_at(anvil_factory, runtime_factory, _at(3, 1, 12))
    assert "Apportionment" in runtime.contracts  # deployed with the suite at 03-01 12:00
    schedule = plan_schedule(runtime.settings)
    with runtime.sessions.begin() as session:
        session.add(RuleSetRecord(hash=RULES.hash(), version=1, canonical_json=RULES.canonical_json(), active=True))
    driver = ClaimDriver(runtime, RULES).setup()
    m1 = add_member(runtime, "s-m1", _at(1, 1))
    add_member(runtime, "s-m2", _at(1, 1))
    w1 = add_member(runtime, "s-w1", _at(3, 5))
    add_member(runtime, "s-late", _at(3, 10))
    with runtime.sessions.begin() as session:  # w1 is inside its 90-day waiting period on 03-07
        member = session.query(Member).filter_by(commitment=w1[1]).one()
        member.waiting_ends_at = _at(3, 5) + timedelta(days=90)
    claim = driver.to_notice(1_000)

    # Nothing is due before the first notice instant, even one second before it.
    assert publish_due_periods(runtime) == []
    _move_clock(runtime, _at(3, 6, 23, 59, 59))
    assert publish_due_periods(runtime) == []
    assert [s.status for s in period_statuses(runtime, count=1)] == ["skipped", "open"]

    # At 00:00 on the notice day the period is due; only the lease holder publishes it.
    _move_clock(runtime, _at(3, 7))
    assert [p.period_id for p in due_periods(runtime, schedule, _at(3, 7))] == [20320307]
    holder = Lease(runtime.sessions, "workflow", "replica-a")
    other = Lease(runtime.sessions, "workflow", "replica-b")
    assert holder.acquire()
    assert not other.acquire()
    assert publish_due_periods(runtime, lease=other) == [], "a replica without the lease publishes nothing"
    first = publish_due_periods(runtime, lease=holder)
    assert [(r.period.period_id, r.published_now) for r in first] == [(20320307, True)]
    record = first[0].record
    assert (record.claim_count, record.member_count, record.due_fen) == (0, 3, 0)
    with ShareLedgerReader(first[0].ledger_path) as reader:
        members = {row.member_commitment for row in reader.rows()}
    assert w1[1] in members, "a member in the waiting period shares (pays from joining)"
    assert publish_due_periods(runtime, lease=holder) == [], "a published period is never published again"

    # The snapshot: the stream the publisher reads is the protected set, in ascending order.
    with runtime.sessions() as session:
        streamed = list(protected_commitments_at(session, _at(3, 7)))
        listed = sorted(bytes(m.commitment) for m in protected_members_at(session, _at(3, 7)))
    assert streamed == listed == sorted(members)
    with runtime.sessions() as session:
        assert check_membership_mirror(session, record).ok, "the auditor's database check uses the same rule"
        without_waiting = list(protected_commitments_at(session, _at(3, 7), include_waiting=False))
    assert len(without_waiting) == 2
    assert w1[1] not in without_waiting

    # The claim becomes final on 03-08; the clock then jumps past two notice days at once.
    _move_clock(runtime, _at(3, 8, 13))
    driver.finalize(claim)
    _move_clock(runtime, _at(4, 7, 1))
    stale = published_ledgers(runtime).ledgers / ".20320321.crashed.build"  # a crash mid-publish left it
    stale.write_bytes(b"partial ledger")
    os.utime(stale, (0, 0))
    later = publish_due_periods(runtime)
    assert not stale.exists()
    assert [r.period.period_id for r in later] == [20320321, 20320407]
    march = later[0].record
    assert (march.claim_count, march.payouts_fen, march.member_count) == (1, 1_000, 4)
    assert march.surplus_in_fen == record.surplus_out_fen
    assert later[1].record.surplus_in_fen == march.surplus_out_fen
    assert publish_due_periods(runtime) == []
    statuses = {s.period.period_id: s.status for s in period_statuses(runtime, count=3)}
    assert statuses == {20320307: "published", 20320321: "published", 20320407: "published", 20320421: "open"}

    # A crash after the chain took the period but before the local files: the receipt still
    # comes, from the ledger fetched by CID and a node file rebuilt once; a damaged node file
    # is rebuilt rather than trusted.
    files = published_ledgers(runtime)
    files.path_of(20320321).unlink()
    files.tree_path_of(20320321).unlink()
    with runtime.sessions() as session:
        receipt = share_receipt(runtime, session, m1[0], 20320321)
    assert verify_share_receipt_offline(receipt).ok
    assert files.tree_path_of(20320321).exists()
    tree_path = files.tree_path_of(20320321)
    raw = bytearray(tree_path.read_bytes())
    raw[32 + 32 * 2] ^= 0xFF  # an inner node below the root
    tree_path.write_bytes(bytes(raw))
    with runtime.sessions() as session:
        again = share_receipt(runtime, session, m1[0], 20320321)
    assert again.to_json() == receipt.to_json()


def test_the_workflow_clock_publishes_a_closed_period_by_itself(
    anvil_factory: Callable[..., AnvilNode], runtime_factory: Callable[..., Runtime]
) -> None:
    runtime = _runtime_at(anvil_factory, runtime_factory, _at(3, 1, 12))
    # Anchored before the snapshot (the period's rules are the ones in force at it), but the
    # operator's database does not hold the document yet.
    roster_for(runtime).anchor_rule_set(RULES.hash(), claim_params(RULES))
    add_member(runtime, "c-m1", _at(1, 1))
    _move_clock(runtime, _at(3, 7, 0, 0, 30))
    assert publish_due_periods(runtime) == [], "no rule-set document yet: the period waits, nothing raises"
    with runtime.sessions.begin() as session:
        session.add(RuleSetRecord(hash=RULES.hash(), version=1, canonical_json=RULES.canonical_json(), active=True))
    client = ApportionmentClient(runtime.w3, runtime.contracts["Apportionment"])
    assert client.period(20320307) is None
    runtime.start_background()  # every replica runs it; the "workflow" lease elects one
    try:
        deadline = time.monotonic() + 60  # the clock ticks every 5 s; this waits for its first cycles
        while client.period(20320307) is None and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        runtime.stop_background()
    record = client.period(20320307)
    assert record is not None, "the workflow clock did not publish the closed period"
    assert record.member_count == 1
    assert client.last_period_id() == 20320307, "only the closed period, nothing ahead of the chain's clock"
