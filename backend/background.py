"""The background loops of a server process: the anchoring relay and the workflow clock.

Both run in every replica; a database lease lets exactly one of them act at a time. They only
call services — the loops hold no domain rule of their own:

* **anchoring** — :class:`~backend.services.anchoring.AnchoringWorker` notarizes evidence batches
  in ``EvidenceNotary`` and, a second relay of the same code, the membership log's joins and exits
  in ``MembershipLog`` (:func:`anchoring_worker` builds either from the settings, with the
  crash-test fault hook :func:`crash_at`);
* **workflow clock** — every few seconds, under the ``workflow`` lease: make current a rule version
  the chain now has in force (:func:`~backend.services.rule_sets.activate_due`), execute the
  announced reviewer/juror roster changes whose public delay has passed
  (:meth:`~backend.chain.roster.RosterClient.execute_due`), queue filings left
  ``FILED`` (:func:`~backend.services.filing.resume_pending_filings`), finalize notices and draw,
  tally and redraw juries as chain time passes their windows
  (:func:`~backend.services.workflow.advance`), end memberships at the age limit once a chain day
  (:func:`~backend.services.membership.end_at_age_limit`: each exit goes to the membership log), and
  publish every apportionment period the chain's clock has closed
  (:func:`~backend.apportionment.scheduler.publish_due_periods`).

The filing relay thread is per process too; it is built and closed with the context by
:mod:`backend.runtime` because requests use it whether or not these loops run.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

from backend.apportionment.schedule import ApportionmentSchedule
from backend.apportionment.scheduler import plan_schedule, publish_due_periods
from backend.chain.notary import NotaryClient
from backend.chain.roster import ScheduleScan
from backend.db.lease import Lease
from backend.logs import cause_of
from backend.services.anchoring import EVIDENCE, MEMBERSHIP, AnchoringWorker, Outbox
from backend.services.context import ServiceContext
from backend.services.filing import resume_pending_filings
from backend.services.membership import end_at_age_limit
from backend.services.rule_sets import activate_due, roster_for
from backend.services.workflow import advance

__all__ = ["BackgroundLoops", "anchoring_worker", "crash_at"]

log = logging.getLogger(__name__)

CLOCK_PERIOD = 5.0  # seconds between workflow clock cycles


def crash_at(point: str) -> Callable[[str], None]:
    """Fault hook for crash tests (RELIABILITY.md A9): SIGKILL this process at ``point``."""

    def hook(reached: str) -> None:
        if reached == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


# The contract each outbox anchors into (its name in the deployment, backend.chain.deploy.SUITE).
ANCHORED_IN = {EVIDENCE.name: "EvidenceNotary", MEMBERSHIP.name: "MembershipLog"}


def anchoring_worker(ctx: ServiceContext, holder: str | None = None, outbox: Outbox = EVIDENCE) -> AnchoringWorker:
    """The anchoring relay of ``outbox`` configured by the settings (one per process and outbox;
    the outbox's lease elects a leader)."""
    s = ctx.settings
    return AnchoringWorker(
        ctx.sessions,
        ctx.w3,
        NotaryClient(ctx.w3, ctx.contracts[ANCHORED_IN[outbox.name]]),
        ctx.notary,
        confirmations=s.confirmations,
        max_batch=s.batch_max_size,
        max_wait=s.batch_max_wait,
        holder=holder or f"{socket.gethostname()}:{os.getpid()}",
        reorg_policy=s.reorg_policy,
        fault=crash_at(s.fault_inject) if s.fault_inject else None,
        outbox=outbox,
    )


class BackgroundLoops:
    """The anchoring relay and the workflow clock in two daemon threads, from :meth:`start` to
    :meth:`stop`."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._stop = threading.Event()
        self._worker = anchoring_worker(ctx)
        self._membership_worker = anchoring_worker(ctx, self._worker.lease.holder, MEMBERSHIP)
        # A bad calendar stops start-up here, not in the clock thread.
        self._schedule: ApportionmentSchedule | None = (
            plan_schedule(ctx.settings) if ctx.settings.apportionment_auto else None
        )
        # Periods the service refused, logged once per process and reason (the clock retries).
        self._warned: set[tuple[int, str]] = set()
        self._swept: date | None = None  # the chain's last day the age-limit sweep ran for
        self._threads = [
            threading.Thread(target=fn, name=fn.__name__.lstrip("_"), daemon=True)
            for fn in (self._anchoring, self._membership_anchoring, self._workflow_clock)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def _anchoring(self) -> None:
        try:
            self._worker.run_forever(self._stop)
        except Exception as exc:  # DeepReorg or a bug: the relay stops, /health shows the backlog
            log.exception("anchoring relay stopped", extra={"cause": cause_of(exc)})

    def _membership_anchoring(self) -> None:
        try:
            self._membership_worker.run_forever(self._stop)
        except Exception as exc:  # DeepReorg or a bug: the relay stops, the audit names unanchored joins
            log.exception("membership anchoring relay stopped", extra={"cause": cause_of(exc)})

    def _workflow_clock(self) -> None:
        ctx = self._ctx
        lease = Lease(ctx.sessions, "workflow", self._worker.lease.holder)
        last_cause: str | None = None
        roster_scan: ScheduleScan | None = None  # the timelock's logs read so far: each cycle reads new blocks only
        while not self._stop.wait(CLOCK_PERIOD):
            try:
                if lease.acquire():
                    activate_due(ctx)  # a published rule version is current once the chain has it in force
                    roster = roster_for(ctx)
                    if roster_scan is None:
                        roster_scan = ScheduleScan(roster.from_block)
                    roster.execute_due(roster_scan)  # announced reviewer/juror changes whose delay has passed
                    resume_pending_filings(ctx)
                    advance(ctx)
                    today = datetime.fromtimestamp(int(ctx.w3.eth.get_block("latest")["timestamp"]), UTC).date()
                    if today != self._swept:  # memberships end at 60 before a period counts them
                        end_at_age_limit(ctx, today)
                        self._swept = today
                    if self._schedule is not None:
                        publish_due_periods(ctx, schedule=self._schedule, lease=lease, warned=self._warned)
                last_cause = None
            except Exception as exc:
                last_cause = _log_failure("workflow clock cycle failed; retrying", exc, last_cause)
        lease.release()


def _log_failure(message: str, exc: Exception, last_cause: str | None) -> str:
    """Log a loop's failure with its cause (both log formats, :mod:`backend.logs`): with the
    traceback when the cause is new, as one line when the same failure repeats. Returns the cause."""
    cause = cause_of(exc)
    if cause != last_cause:
        log.exception(message, extra={"cause": cause})
    else:
        log.warning(message, extra={"cause": cause, "repeated": True})
    return cause
