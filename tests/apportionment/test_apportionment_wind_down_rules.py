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
