"""One chain history shared by the acceptance tests of a module: three periods of 2031, published.

Timeline (Asia/Shanghai; periods 20310307, 20310321, 20310407 of the default schedule):

* members m1–m4 and m6 join on 2031-01-01, m5 joins on 2031-03-10, m6 ends on 2031-03-15;
* a1 (1,000 fen) is final-approved on 03-02; a2 (1,000) at 03-07 00:00 − 1 s, the last instant of
  period 20310307; b1 (1,001) at 03-07 00:00 exactly, the first instant of 20310321; j1 (500) is
  objected to, judged by a jury and approved on 03-08; r1 (700) is rejected by review;
* rules: fee 8 %, per-case cap 10 fen, annual cap 25 fen (small, so that both caps bind).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backend.apportionment.publish import PublishedPeriod, compute_and_publish_period
from backend.apportionment.schedule import DEFAULT_SCHEDULE, Period
from backend.chain.anvil import AnvilNode
from backend.chain.eip712 import VerdictKind
from backend.config import Settings
from backend.db.models import RuleSetRecord
from backend.errors import HubaoError
from backend.runtime import Runtime, build_runtime
from backend.services.rules import RuleSet
from tests.apportionment_chain.support import ClaimDriver, add_member, set_next_time, set_time, with_apportionment
from tests.stacks import runtime, runtime_factory

__all__ = ["runtime", "runtime_factory"]

CST = ZoneInfo("Asia/Shanghai")
RULES = RuleSet(fee_bps=800, per_case_cap_fen=10, annual_cap_fen=25, jury_size=3, min_turnout=2)


@dataclass
class Member:
    account_id: str
    commitment: bytes
    token: str


@dataclass
class Scenario:
    runtime: Runtime
    driver: ClaimDriver
    periods: dict[str, Period]
    members: dict[str, Member] = field(default_factory=dict)
    claims: dict[str, bytes] = field(default_factory=dict)
    published: dict[str, PublishedPeriod] = field(default_factory=dict)
    refusals: dict[str, HubaoError] = field(default_factory=dict)


def _cst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CST)


def _try(scenario: Scenario, key: str, period: Period, now: datetime) -> None:
    try:
        compute_and_publish_period(scenario.runtime, period, now)
    except HubaoError as exc:
        scenario.refusals[key] = exc
    else:
        raise AssertionError(f"{key}: publishing {period.period_id} was not refused")


def build_scenario(runtime: Runtime) -> Scenario:
    with_apportionment(runtime)
    periods = {name: DEFAULT_SCHEDULE.period(pid) for name, pid in (("A", 20310307), ("B", 20310321), ("C", 20310407))}
    a_end = periods["A"].window_end
    set_time(runtime, _cst(2031, 2, 22, 10, 0))
    with runtime.sessions.begin() as session:
        session.add(RuleSetRecord(hash=RULES.hash(), version=1, canonical_json=RULES.canonical_json(), active=True))
    scenario = Scenario(runtime=runtime, driver=ClaimDriver(runtime, RULES).setup(), periods=periods)
    joined = datetime(2031, 1, 1, tzinfo=UTC)
    for name in ("m1", "m2", "m3", "m4"):
        scenario.members[name] = Member(*add_member(runtime, name, joined))
    scenario.members["m5"] = Member(*add_member(runtime, "m5", _cst(2031, 3, 10)))
    scenario.members["m6"] = Member(*add_member(runtime, "m6", joined, ended_at=_cst(2031, 3, 15)))

    d = scenario.driver
    claims = scenario.claims
    for name, payout in (("a1", 1000), ("a2", 1000), ("b1", 1001), ("j1", 500)):
        claims[name] = d.to_notice(payout)
    claims["r1"] = d.file(700)
    d.review(claims["r1"], VerdictKind.REJECT)
    d.dispute_and_seat_jury(claims["j1"])
    set_time(runtime, _cst(2031, 3, 2, 12, 0))
    d.finalize(claims["a1"])
    set_next_time(runtime, a_end - timedelta(seconds=1))
    d.finalize(claims["a2"])
    set_next_time(runtime, a_end)
    d.finalize(claims["b1"])
    set_time(runtime, _cst(2031, 3, 8, 9, 0))
    d.tally(claims["j1"])

    set_time(runtime, _cst(2031, 3, 21, 1, 0))
    _try(scenario, "C_not_closed", periods["C"], _cst(2031, 4, 8))
    scenario.published["A"] = compute_and_publish_period(runtime, periods["A"], _cst(2031, 3, 21, 1, 0))
    set_time(runtime, _cst(2031, 4, 7, 1, 0))
    _try(scenario, "C_before_B", periods["C"], _cst(2031, 4, 7, 1, 0))
    scenario.published["B"] = compute_and_publish_period(runtime, periods["B"], _cst(2031, 4, 7, 1, 0))
    scenario.published["C"] = compute_and_publish_period(runtime, periods["C"], _cst(2031, 4, 7, 1, 0))
    return scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    base: Path = tmp_path_factory.mktemp("apportionment-chain")
    node = AnvilNode(log_path=base / "anvil.log").start()
    built: Runtime | None = None
    try:
        built = build_runtime(
            Settings(
                rpc_url=node.url,
                data_dir=base / "data",
                confirmations=0,
                batch_max_wait=0,
                anchoring=False,
                log_level="WARNING",
            )
        )
        yield build_scenario(built)
    finally:
        if built is not None:
            built.close()
        node.kill()
