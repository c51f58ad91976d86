"""The per-process filing relay thread: a queue of claim ids relayed in rounds (group commit).

What one round does is :func:`backend.services.filing.relay_filings`; this module only queues,
batches and wakes the waiting requests, so it depends on nothing but the round it is given. The
composition root builds one per process (started on the first :meth:`FilingRelay.submit`) and
closes it with the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from backend.logs import cause_of

log = logging.getLogger(__name__)

# Claims per transaction: ~150k gas each (a new claim's storage and two events), so a full batch
# stays far below a 30M-gas block.
MAX_BATCH = 64
# How long a round may wait for filings still streaming in (see FilingRelay.expect): a round costs
# a ClaimLedger transaction and a database transaction whatever its size (~10-20 ms of CPU through
# the chain outbox), so under a burst fuller rounds buy throughput; alone, a filing never waits.
LINGER_SECONDS = 0.1


@dataclass(frozen=True)
class FiledState:
    """What the relay wrote for a claim it moved: the status and the row's new timestamps."""

    status: str
    updated_at: datetime
    final_at: datetime | None


# One round: relay these claims, fill ``filed`` with the state of each moved, return the failures.
RelayRound = Callable[[list[str], dict[str, FiledState]], dict[str, BaseException]]


class FilingRelay:
    """The relay thread (module docstring). :meth:`submit` queues a claim.

    Like PostgreSQL's ``commit_delay`` with ``commit_siblings``, a round waits — at most
    ``linger`` seconds, and only while filings announced with :meth:`expect` are still being
    received — for them to join it, up to ``max_batch``. A lone filing (nothing expected) goes at once.
    """

    def __init__(self, round_: RelayRound, *, max_batch: int = MAX_BATCH, linger: float = LINGER_SECONDS) -> None:
        self._round = round_
        self._max_batch = max_batch
        self._linger = linger
        self._cond = threading.Condition()
        self._queue: dict[str, list[Future[FiledState | None]]] = {}
        self._expected = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def expect(self) -> None:
        """A filing has begun in this process and will be :meth:`submit`-ted with ``expected=True``
        — or :meth:`forget`-ten if it fails or needs no relaying."""
        with self._cond:
            self._expected += 1

    def forget(self) -> None:
        """An expected filing will not come."""
        with self._cond:
            self._expected = max(0, self._expected - 1)
            self._cond.notify_all()

    def submit(self, claim_pk: str, *, expected: bool = False) -> Future[FiledState | None]:
        """Queue ``claim_pk`` (``expected``: announced by :meth:`expect`); the future completes
        once the claim is recorded as relayed — with the state this relay moved it to, or None when
        it was not ``FILED`` any more (another process, an earlier round) — or fails with the error
        its relaying met."""
        future: Future[FiledState | None] = Future()
        with self._cond:
            if expected:
                self._expected = max(0, self._expected - 1)
            if self._closed:
                raise RuntimeError("the filing relay is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="filing-relay", daemon=True)
                self._thread.start()
            self._queue.setdefault(claim_pk, []).append(future)
            self._cond.notify()
        return future

    def file(self, claim_pk: str, timeout: float | None = None) -> None:
        """:meth:`submit` and wait."""
        self.submit(claim_pk).result(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Finish the batch in flight, fail what is still queued, stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                deadline = time.monotonic() + self._linger
                while self._expected and len(self._queue) < self._max_batch and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._closed:
                    left, self._queue = self._queue, {}
                    for futures in left.values():
                        for future in futures:
                            future.set_exception(RuntimeError("the filing relay stopped"))
                    return
                batch = dict(list(self._queue.items())[: self._max_batch])
                for claim_pk in batch:
                    del self._queue[claim_pk]
            filed: dict[str, FiledState] = {}
            try:
                failed = self._round(list(batch), filed)
            except Exception as exc:  # the database is down, or a bug: the claims stay FILED
                log.exception("filing relay round failed", extra={"cause": cause_of(exc)})
                failed = dict.fromkeys(batch, exc)
            for claim_pk, futures in batch.items():
                error = failed.get(claim_pk)
                for future in futures:
                    if error is None:
                        future.set_result(filed.get(claim_pk))
                    else:
                        future.set_exception(error)
