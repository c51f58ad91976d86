"""Periods published on their own: the apportionment clock, and every period's status.

Service edge. ``publish_due_periods(ctx)`` is called by the workflow clock
(``backend.background``), which runs in every replica under the ``workflow`` database lease,
so one process at a time publishes. It closes, in schedule order, every period whose notice instant
the **chain's clock** has passed (the latest block's timestamp — the instant the contracts judge
windows by, and the one tests move with ``evm_increaseTime``/``evm_mine``):

* the first period is the one after the last period on chain; with none on chain, the period
  that covers the block in which ``Apportionment`` was deployed (nothing can be approved earlier);
* each is computed and published by ``publish.compute_and_publish_period``, which is idempotent:
  after a crash mid-publish (temp files, or a transaction sent but not seen) the next cycle
  recomputes the same period; when the chain already holds it the recomputation must equal the
  record (else ``PeriodRecordMismatch``), so a period is never published twice — the contract
  refuses duplicates and out-of-order ids as well;
* the membership snapshot is at the notice instant (00:00 on the notice day,
  ``Period.snapshot_at``) whenever the publisher runs: membership rows carry their join and end
  instants, so a later read of the snapshot gives the same set.

While one period is computed (minutes at ten million members) the lease is renewed in the
background; before each further period it must still be held, so a replica that lost it stops.

The schedule is the settings' (``HUBAO_APPORTIONMENT_NOTICE_DAYS``, ``…_DEBIT_DAYS``,
``…_TIMEZONE``; defaults 7/21, 14/28, Asia/Shanghai); ``HUBAO_APPORTIONMENT_AUTO=false`` leaves
publishing to the operator (``hubao shares publish``). ``period_statuses`` lists recent and
upcoming periods for operators (``hubao shares periods``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from backend.apportionment.publish import PublishedPeriod, compute_and_publish_period
from backend.apportionment.published import CONTRACT_NAME, apportionment_client, published_ledgers
from backend.apportionment.schedule import ApportionmentSchedule, Period, ScheduleConfig
from backend.apportionment.service_errors import PeriodRecordMismatch
from backend.errors import DomainError
from backend.logs import cause_of
from backend.services.context import ServiceContext

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.db.lease import Lease

__all__ = [
    "PeriodStatus",
    "chain_time",
    "due_periods",
    "period_statuses",
    "plan_schedule",
    "publish_due_periods",
]

log = logging.getLogger(__name__)


def plan_schedule(settings: Settings) -> ApportionmentSchedule:
    """The apportionment calendar the settings configure (``ScheduleError`` when inconsistent)."""
    return ApportionmentSchedule(
        ScheduleConfig(
            notice_days=tuple(settings.apportionment_notice_days),
            debit_days=tuple(settings.apportionment_debit_days),
            timezone=settings.apportionment_timezone,
        )
    )


def chain_time(ctx: ServiceContext) -> datetime:
    """The latest block's timestamp (UTC)."""
    return datetime.fromtimestamp(int(ctx.w3.eth.get_block("latest")["timestamp"]), UTC)


def _first_period(ctx: ServiceContext, schedule: ApportionmentSchedule) -> Period:
    """With nothing on chain: the period covering the Apportionment deployment block."""
    deployed = ctx.deployment.contracts.get(CONTRACT_NAME)
    block = deployed.block if deployed is not None else 0
    at = datetime.fromtimestamp(int(ctx.w3.eth.get_block(block)["timestamp"]), UTC)
    return schedule.period_for(at)


def _after(schedule: ApportionmentSchedule, period_id: int) -> Period:
    """The first period of ``schedule`` whose notice day is after the day ``period_id`` names."""
    year, month, day = period_id // 10_000, period_id // 100 % 100, period_id % 100
    return schedule.period_for(datetime(year, month, day, tzinfo=ZoneInfo(schedule.config.timezone)))


def due_periods(ctx: ServiceContext, schedule: ApportionmentSchedule, now: datetime) -> list[Period]:
    """Periods not yet on chain whose notice instant is at or before ``now``, in order."""
    last = apportionment_client(ctx).last_period_id()
    period = _after(schedule, last) if last else _first_period(ctx, schedule)
    due = []
    while period.notice_at <= now:
        due.append(period)
        period = schedule.next_period(period)
    return due


@contextmanager
def _kept(lease: Lease | None) -> Iterator[None]:
    """Renew ``lease`` every third of its TTL while the body runs."""
    if lease is None:
        yield
        return
    done = threading.Event()
    interval = lease.ttl.total_seconds() / 3

    def renew() -> None:
        while not done.wait(interval):
            try:
                lease.acquire()
            except Exception as exc:
                log.exception("renewing the apportionment lease failed", extra={"cause": cause_of(exc)})

    thread = threading.Thread(target=renew, name="apportionment-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def publish_due_periods(
    ctx: ServiceContext,
    *,
    schedule: ApportionmentSchedule | None = None,
    lease: Lease | None = None,
    limit: int | None = None,
    warned: set[tuple[int, str]] | None = None,
) -> list[PublishedPeriod]:
    """Publish every due period (at most ``limit``), oldest first; returns what was done.

    Nothing to do (no Apportionment contract, no period closed) costs two or three RPC reads.
    Stops early when ``lease`` is given and no longer held, and at a period the service refuses
    (no rule set in force yet, a chain record that differs from its recomputation — logged once
    per reason and period remembered in ``warned`` (the workflow clock keeps one per process),
    retried on the next cycle).
    """
    if CONTRACT_NAME not in ctx.contracts:
        return []
    schedule = schedule or plan_schedule(ctx.settings)
    now = chain_time(ctx)
    done: list[PublishedPeriod] = []
    due = due_periods(ctx, schedule, now)[:limit]
    if due:
        published_ledgers(ctx).sweep_temporaries()  # what a crash mid-publish left behind
    for period in due:
        if lease is not None and not lease.still_held():
            break
        try:
            with _kept(lease):
                result = compute_and_publish_period(ctx, period, now, schedule=schedule)
        except DomainError as exc:  # e.g. no rule set in force yet: say so once, retry next cycle
            _warn_once(warned if warned is not None else set(), period.period_id, exc)
            break
        log.info(
            "apportionment period published",
            extra={"period_id": period.period_id, "published_now": result.published_now},
        )
        done.append(result)
    return done


def _warn_once(seen: set[tuple[int, str]], period_id: int, exc: DomainError) -> None:
    """Log a refused period once per ``seen`` (the clock's: per process) and reason (the clock
    retries every few seconds)."""
    key = (period_id, exc.code)
    if key not in seen:
        seen.add(key)
        level = logging.ERROR if isinstance(exc, PeriodRecordMismatch) else logging.WARNING  # an alarm
        log.log(level, "apportionment period not published: %s", exc.message, extra={"period_id": period_id})


@dataclass(frozen=True, slots=True)
class PeriodStatus:
    """Where one period stands: ``published``, ``due`` (closed, not on chain) or ``open``."""

    period: Period
    status: str
    record: dict[str, Any] | None
    tx: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "periodId": self.period.period_id,
            "noticeAt": self.period.notice_at.isoformat(),
            "debitAt": self.period.debit_at.isoformat(),
            "windowStart": self.period.window_start.isoformat(),
            "windowEnd": self.period.window_end.isoformat(),
            "status": self.status,
            "record": self.record,
            "tx": self.tx,
        }


def period_statuses(
    ctx: ServiceContext, *, schedule: ApportionmentSchedule | None = None, count: int = 6
) -> list[PeriodStatus]:
    """The last ``count`` closed-or-published periods and the open one, oldest first."""
    schedule = schedule or plan_schedule(ctx.settings)
    client = apportionment_client(ctx)
    files = published_ledgers(ctx)
    now = chain_time(ctx)
    current = schedule.period_for(now)  # the open period: its notice instant is still ahead
    periods = [current]
    for _ in range(count):
        periods.append(schedule.previous_period(periods[-1]))
    periods.reverse()
    last = client.last_period_id()
    first = _after(schedule, last) if last else _first_period(ctx, schedule)
    out = []
    for period in periods:
        record = client.period(period.period_id)
        entry = files.entry(period.period_id) or {}
        if record is not None:
            status = "published"
        elif period.notice_at > now:
            status = "open"
        elif period.notice_at >= first.notice_at:
            status = "due"
        else:
            status = "skipped"  # before the deployment or passed over by the operator
        out.append(
            PeriodStatus(
                period=period,
                status=status,
                record=None if record is None else record.to_json(),
                tx=entry.get("tx") if record is not None else None,
            )
        )
    return out
