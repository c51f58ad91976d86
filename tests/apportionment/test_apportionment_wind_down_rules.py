"""The wind-down filing rule (DESIGN.md "Plan rules" → Wind-down): before the stop, within 180 days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backend.apportionment.service_errors import ClaimFilingClosed
from backend.apportionment.wind_down import WindDownState, check_claim_filing

SINCE = datetime(2031, 5, 10, 8, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=180)
STATE = WindDownState(active=True, since=SINCE, late_filing_until=UNTIL)


def test_claims_are_unaffected_while_the_plan_runs() -> None:
    check_claim_filing(WindDownState(active=False), date(2040, 1, 1), datetime(2040, 1, 2, tzinfo=UTC))


def test_illness_before_the_stop_can_be_filed_until_the_last_instant_of_the_window() -> None:
    check_claim_filing(STATE, date(2031, 5, 9), SINCE)
    check_claim_filing(STATE, date(2031, 5, 9), UNTIL - timedelta(seconds=1))


def test_filing_after_the_window_is_refused() -> None:
    with pytest.raises(ClaimFilingClosed) as caught:
        check_claim_filing(STATE, date(2031, 5, 9), UNTIL)
    assert caught.value.code == "WIND_DOWN_FILING_CLOSED"


@pytest.mark.parametrize("diagnosed", [date(2031, 5, 10), date(2031, 6, 1)])
def test_illness_on_or_after_the_stop_day_is_refused(diagnosed: date) -> None:
    with pytest.raises(ClaimFilingClosed) as caught:
        check_claim_filing(STATE, diagnosed, SINCE + timedelta(days=1))
    assert caught.value.code == "DIAGNOSED_AFTER_WIND_DOWN"


def test_the_gate_reads_the_chain_once_for_a_burst_of_filings(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the kept state expires under a burst, one thread reads the chain; the others go on
    with the state kept instead of each making the same call."""
    import threading
    import time
    from types import SimpleNamespace

    from backend.apportionment import wind_down
    from backend.apportionment.published import CONTRACT_NAME

    reads: list[int] = []
    release = threading.Event()

    def slow_read(ctx: object) -> WindDownState:
        reads.append(1)
        if len(reads) > 1:  # the refresh: held until every filing thread has asked
            release.wait(5)
        return WindDownState(active=False)

    monkeypatch.setattr(wind_down, "wind_down_state", slow_read)
    gate = wind_down.WindDownGate(SimpleNamespace(contracts={CONTRACT_NAME: object()}), max_age=0.05)  # type: ignore[arg-type]
    assert gate.state().active is False  # the first read
    time.sleep(0.06)  # expired
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(gate.state().active)) for _ in range(20)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while len(answers) < 19 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(5)
    assert answers == [False] * 20
    assert len(reads) == 2  # the first, then one refresh for all twenty
