"""The apportionment calendar: golden lookups, the DST gap, and that windows tile time."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apportionment_support import VECTORS
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.apportionment.errors import ScheduleError
from backend.apportionment.schedule import (
    DEFAULT_SCHEDULE,
    ApportionmentSchedule,
    ScheduleConfig,
    period_for,
    periods_between,
)

VEC: dict[str, Any] = json.loads((VECTORS / "apportionment.json").read_text(encoding="utf-8"))["schedule"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_default_config_matches_vector_config() -> None:
    config = DEFAULT_SCHEDULE.config
    assert list(config.notice_days) == VEC["config"]["noticeDays"]
    assert list(config.debit_days) == VEC["config"]["debitDays"]
    assert config.timezone == VEC["config"]["timezone"]


@pytest.mark.parametrize("case", VEC["lookups"], ids=lambda c: c["why"])
def test_period_for_returns_golden_period(case: dict[str, Any]) -> None:
    period = period_for(_at(case["instant"]))
    assert period.period_id == case["periodId"]
    assert period.covers(_at(case["instant"]))


@pytest.mark.parametrize("case", VEC["periods"], ids=lambda c: str(c["periodId"]))
def test_period_by_id_has_golden_instants(case: dict[str, Any]) -> None:
    period = DEFAULT_SCHEDULE.period(case["periodId"])
    assert period.notice_at == _at(case["noticeAt"])
    assert period.notice_at.isoformat() == case["noticeAt"]
    assert period.debit_at.isoformat() == case["debitAt"]
    assert period.window_start.isoformat() == case["windowStart"]
    assert period.window_end.isoformat() == case["windowEnd"]
    assert period.snapshot_at == period.notice_at
    assert period.notice_timestamp == case["noticeTimestamp"]
    assert period.year == case["year"]


@pytest.mark.parametrize("case", VEC["ranges"], ids=lambda c: f"{c['start']}..{c['end']}")
def test_periods_between_lists_notice_instants_in_half_open_range(case: dict[str, Any]) -> None:
    got = [p.period_id for p in periods_between(_at(case["start"]), _at(case["end"]))]
    assert got == case["periodIds"]


def test_period_starts_at_first_instant_of_day_in_dst_gap() -> None:
    case = VEC["dstGap"]
    cfg = case["config"]
    schedule = ApportionmentSchedule(ScheduleConfig(tuple(cfg["noticeDays"]), tuple(cfg["debitDays"]), cfg["timezone"]))
    period = schedule.period(case["periodId"])
    assert period.notice_at.astimezone(UTC).isoformat() == case["noticeAtUtc"]
    assert period.notice_at.hour == 1  # 00:00 does not exist that day
    just_before = period.notice_at - timedelta(seconds=1)
    assert schedule.period_for(just_before).period_id == case["periodId"]
    assert schedule.period_for(period.notice_at).period_id == 20240922


_instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9997, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(instant=_instants)
def test_period_windows_tile_time_without_gap_or_overlap(instant: datetime) -> None:
    period = DEFAULT_SCHEDULE.period_for(instant)
    assert period.window_start <= instant < period.window_end
    nxt = DEFAULT_SCHEDULE.next_period(period)
    prev = DEFAULT_SCHEDULE.previous_period(period)
    assert nxt.window_start == period.window_end
    assert prev.window_end == period.window_start
    assert not prev.covers(instant)
    assert not nxt.covers(instant)
    assert DEFAULT_SCHEDULE.previous_period(nxt) == period
    assert DEFAULT_SCHEDULE.period(period.period_id) == period
    assert period.notice_at < period.debit_at < nxt.notice_at + timedelta(days=31)
    assert (period.notice_at.hour, period.notice_at.minute, period.notice_at.second) == (0, 0, 0)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(start=_instants, days=st.integers(min_value=0, max_value=400))
def test_periods_between_is_consecutive_and_inside_range(start: datetime, days: int) -> None:
    end = start + timedelta(days=days)
    got = list(DEFAULT_SCHEDULE.periods_between(start, end))
    for period in got:
        assert start <= period.notice_at < end
    for a, b in itertools.pairwise(got):
        assert DEFAULT_SCHEDULE.next_period(a) == b
    # Nothing missed at either end.
    first = DEFAULT_SCHEDULE.period_for(start - timedelta(microseconds=1))
    expected_first = first if first.notice_at >= start else DEFAULT_SCHEDULE.next_period(first)
    if expected_first.notice_at < end:
        assert got
        assert got[0] == expected_first
    else:
        assert got == []


def test_custom_schedule_with_three_notice_days_cycles_through_them() -> None:
    schedule = ApportionmentSchedule(ScheduleConfig((1, 10, 20), (5, 15, 25), "UTC"))
    got = [
        p.period_id
        for p in schedule.periods_between(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 2, tzinfo=UTC))
    ]
    assert got == [20240101, 20240110, 20240120, 20240201]
    assert schedule.period(20240201).window_start == datetime(2024, 1, 20, tzinfo=UTC)


def test_period_for_rejects_naive_datetime() -> None:
    with pytest.raises(ScheduleError, match="timezone-aware"):
        period_for(datetime(2024, 3, 7))


def test_periods_between_rejects_naive_datetime() -> None:
    with pytest.raises(ScheduleError, match="timezone-aware"):
        list(periods_between(datetime(2024, 3, 7, tzinfo=UTC), datetime(2024, 4, 7)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"notice_days": (7, 29), "debit_days": (14, 28)}, "1..28"),
        ({"notice_days": (0,), "debit_days": (14,)}, "1..28"),
        ({"notice_days": (21, 7), "debit_days": (28, 14)}, "strictly increasing"),
        ({"notice_days": (7, 21), "debit_days": (7, 28)}, "must come after"),
        ({"notice_days": (7, 21), "debit_days": (14,)}, "equal length"),
        ({"notice_days": (), "debit_days": ()}, "non-empty"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
    ],
)
def test_schedule_config_rejects_bad_rules(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        ScheduleConfig(**kwargs)


@pytest.mark.parametrize("period_id", [20240308, 20241307, 20240007, -1, 19690107])
def test_period_by_id_rejects_non_notice_days(period_id: int) -> None:
    with pytest.raises(ScheduleError) as info:
        DEFAULT_SCHEDULE.period(period_id)
    assert info.value.code == "SCHEDULE_INVALID"
