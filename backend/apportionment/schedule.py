"""The apportionment calendar: which period a final approval falls in, and when each period is due.

Verification-critical (DESIGN.md "Plan rules" → Apportionment): a period id is what the chain
records and what every share receipt names; the notice instant fixes who shares. Pinned by the
"schedule" section of ``tests/vectors/apportionment.json``.

Rules, with the defaults (``ScheduleConfig``):

* Each month has notice days (7th and 21st) and, paired with them, debit days (14th and 28th).
  Days are limited to 1–28 so that every month has every one of them.
* Period ``p`` is named by its notice day: ``period_id = YYYYMMDD`` of the notice day as an
  integer (``20240307``) — a uint that sorts like time and reads like a date.
* ``notice_at`` is 00:00 on the notice day in the plan's time zone (``Asia/Shanghai`` by
  default) — precisely, the first instant of that local day, so a DST gap at midnight moves it
  to the first wall-clock time that exists. It is also the **membership snapshot**: the
  sharing members are those under protection at ``notice_at``.
* The period covers the claims whose **final approval** falls in ``[window_start, window_end)``,
  where ``window_end = notice_at`` and ``window_start`` is the previous period's ``notice_at``.
  The windows of consecutive periods tile the time line with no gap and no overlap.
* ``debit_at`` is 00:00 on the paired debit day (same month), when shares are collected.
* ``year`` (the notice day's calendar year) is the year of the annual cap: "paid this year"
  counts the shares of earlier periods with the same ``year``.

All instants are timezone-aware ``datetime`` objects in the plan's zone (they compare correctly
with aware datetimes in any zone, e.g. UTC block times); naive datetimes are refused with
``ScheduleError``. ``notice_timestamp`` is the Unix time for the chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.apportionment.errors import ScheduleError

__all__ = [
    "DEFAULT_SCHEDULE",
    "DEFAULT_TIMEZONE",
    "ApportionmentSchedule",
    "Period",
    "ScheduleConfig",
    "period_for",
    "periods_between",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"
_MIN_YEAR = 1970  # period instants are uint64 Unix times on chain
_MAX_YEAR = 9998  # datetime stops at 9999; the next period of December 9998 must still exist


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """When periods happen. ``debit_days[i]`` is the debit day of ``notice_days[i]`` (same month)."""

    notice_days: tuple[int, ...] = (7, 21)
    debit_days: tuple[int, ...] = (14, 28)
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        notice, debit = self.notice_days, self.debit_days
        if not notice or len(notice) != len(debit):
            raise ScheduleError("notice_days and debit_days must be non-empty and of equal length")
        for day in (*notice, *debit):
            if type(day) is not int or not 1 <= day <= 28:
                raise ScheduleError(f"schedule days must be integers in 1..28, got {day!r}", day=day)
        if any(a >= b for a, b in pairwise(notice)):
            raise ScheduleError("notice_days must be strictly increasing", notice_days=list(notice))
        for n, d in zip(notice, debit, strict=True):
            if d <= n:
                raise ScheduleError(f"debit day {d} must come after its notice day {n}", notice_day=n, debit_day=d)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ScheduleError(f"unknown time zone {self.timezone!r}", timezone=self.timezone) from exc


@dataclass(frozen=True, slots=True)
class Period:
    """One apportionment period (see the module docstring for what each instant means)."""

    period_id: int
    notice_at: datetime
    debit_at: datetime
    window_start: datetime
    window_end: datetime

    @property
    def snapshot_at(self) -> datetime:
        """The membership snapshot instant (= ``notice_at``)."""
        return self.notice_at

    @property
    def year(self) -> int:
        """Calendar year of the notice day: the year whose annual cap this period counts against."""
        return self.period_id // 10_000

    @property
    def notice_timestamp(self) -> int:
        """``notice_at`` as Unix seconds (what the chain records)."""
        return int(self.notice_at.timestamp())

    def covers(self, final_approval_at: datetime) -> bool:
        """True iff a claim final-approved at this instant is shared in this period."""
        _require_aware(final_approval_at, "final_approval_at")
        return self.window_start <= final_approval_at < self.window_end


def _require_aware(instant: datetime, name: str) -> None:
    if not isinstance(instant, datetime):
        raise ScheduleError(f"{name} must be a datetime", field=name)
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ScheduleError(f"{name} must be timezone-aware", field=name)


@dataclass(frozen=True, slots=True)
class _Slot:
    """A notice day: (year, month, index into notice_days)."""

    year: int
    month: int
    index: int


class ApportionmentSchedule:
    """Periods of one ``ScheduleConfig``: lookup by instant, by id, and ranges."""

    __slots__ = ("_tz", "config")

    def __init__(self, config: ScheduleConfig | None = None) -> None:
        self.config = config if config is not None else ScheduleConfig()
        self._tz: tzinfo = ZoneInfo(self.config.timezone)

    # --- slots -----------------------------------------------------------------------------

    def _start_of_day(self, year: int, month: int, day: int) -> datetime:
        # Round-tripping through UTC turns a non-existent local midnight (DST gap) into the
        # first instant of the day; an ambiguous one (fold) keeps the earlier instant (fold=0).
        return datetime(year, month, day, tzinfo=self._tz).astimezone(UTC).astimezone(self._tz)

    def _notice_at(self, slot: _Slot) -> datetime:
        return self._start_of_day(slot.year, slot.month, self.config.notice_days[slot.index])

    def _next(self, slot: _Slot) -> _Slot:
        if slot.index + 1 < len(self.config.notice_days):
            return _Slot(slot.year, slot.month, slot.index + 1)
        if slot.month == 12:
            return _Slot(slot.year + 1, 1, 0)
        return _Slot(slot.year, slot.month + 1, 0)

    def _previous(self, slot: _Slot) -> _Slot:
        if slot.index > 0:
            return _Slot(slot.year, slot.month, slot.index - 1)
        last = len(self.config.notice_days) - 1
        if slot.month == 1:
            return _Slot(slot.year - 1, 12, last)
        return _Slot(slot.year, slot.month - 1, last)

    def _period(self, slot: _Slot) -> Period:
        if not _MIN_YEAR <= slot.year <= _MAX_YEAR:
            raise ScheduleError(f"periods exist only in years {_MIN_YEAR}..{_MAX_YEAR}", year=slot.year)
        notice_day = self.config.notice_days[slot.index]
        notice_at = self._notice_at(slot)
        return Period(
            period_id=slot.year * 10_000 + slot.month * 100 + notice_day,
            notice_at=notice_at,
            debit_at=self._start_of_day(slot.year, slot.month, self.config.debit_days[slot.index]),
            window_start=self._notice_at(self._previous(slot)),
            window_end=notice_at,
        )

    def _slot_of(self, period: Period) -> _Slot:
        pid = period.period_id
        year, month, day = pid // 10_000, pid // 100 % 100, pid % 100
        return _Slot(year, month, self.config.notice_days.index(day))

    # --- public ----------------------------------------------------------------------------

    def period(self, period_id: int) -> Period:
        """The period with this id; ``ScheduleError`` unless it names a notice day of this schedule."""
        if type(period_id) is not int or period_id < 0:
            raise ScheduleError("period_id must be a non-negative integer", period_id=period_id)
        year, month, day = period_id // 10_000, period_id // 100 % 100, period_id % 100
        if not 1 <= month <= 12 or day not in self.config.notice_days:
            raise ScheduleError(f"{period_id} is not a notice day of this schedule", period_id=period_id)
        return self._period(_Slot(year, month, self.config.notice_days.index(day)))

    def period_for(self, instant: datetime) -> Period:
        """The period that covers a final approval at ``instant``: the first with ``notice_at > instant``."""
        _require_aware(instant, "instant")
        local = instant.astimezone(self._tz)
        slot = _Slot(local.year, local.month, 0)
        # Notice instants of earlier months all lie before any instant of this local month, so
        # the answer is this month's first notice after `instant`, or next month's first.
        for index in range(len(self.config.notice_days)):
            slot = _Slot(local.year, local.month, index)
            if self._notice_at(slot) > instant:
                return self._period(slot)
        return self._period(self._next(slot))

    def next_period(self, period: Period) -> Period:
        """The period after ``period``."""
        return self._period(self._next(self._slot_of(period)))

    def previous_period(self, period: Period) -> Period:
        """The period before ``period``."""
        return self._period(self._previous(self._slot_of(period)))

    def periods_between(self, start: datetime, end: datetime) -> Iterator[Period]:
        """Periods whose ``notice_at`` lies in ``[start, end)``, in order (empty when ``end <= start``).

        A period job that last ran at ``start`` and runs now at ``end`` has exactly these
        periods to close.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end <= start:
            return
        period = self.period_for(start)
        earlier = self.previous_period(period)
        if earlier.notice_at >= start:  # start is itself a notice instant
            period = earlier
        while period.notice_at < end:
            yield period
            period = self.next_period(period)


DEFAULT_SCHEDULE = ApportionmentSchedule()


def period_for(instant: datetime, schedule: ApportionmentSchedule = DEFAULT_SCHEDULE) -> Period:
    """``schedule.period_for(instant)`` on the default schedule unless one is given."""
    return schedule.period_for(instant)


def periods_between(
    start: datetime, end: datetime, schedule: ApportionmentSchedule = DEFAULT_SCHEDULE
) -> Iterator[Period]:
    """``schedule.periods_between(start, end)`` on the default schedule unless one is given."""
    return schedule.periods_between(start, end)
