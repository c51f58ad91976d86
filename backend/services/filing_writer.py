"""The per-process filing writer: filings' database writes in shared transactions (group commit).

Every filing commits its claim, evidence, anchoring and timeline rows before it is answered. One
transaction each is ~6 statements and a commit per filing; under a burst most of a filing's database
CPU (and PostgreSQL's WAL flushes) went there. The writer takes every filing waiting — the ones
that arrived while the previous group was being written; no wait timer, so a lone filing is
written at once and groups grow with the load by themselves — and writes them with one statement
per table and one commit (:func:`backend.services.claim_filing.write_filings`, which falls back to
one transaction per filing should the group's fail, so one bad filing fails only itself).

The queue is the filing relay's (:class:`~backend.services.filing_relay.FilingRelay`, its linger
off): one thread, rounds of at most ``MAX_BATCH``, each caller woken with its own outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from backend.services.filing_relay import FiledState, FilingRelay

T = TypeVar("T")


class FilingWriter(Generic[T]):
    """:meth:`write` blocks until ``item`` is committed (or raises the error its write met)."""

    def __init__(self, write_round: Callable[[list[T]], dict[str, BaseException]], key: Callable[[T], str]) -> None:
        self._write_round = write_round
        self._key = key
        self._lock = threading.Lock()
        self._items: dict[str, T] = {}
        self._queue = FilingRelay(self._round, linger=0.0)

    def write(self, item: T) -> None:
        key = self._key(item)
        with self._lock:
            self._items[key] = item
        try:
            self._queue.submit(key).result()
        finally:
            with self._lock:
                self._items.pop(key, None)

    def close(self) -> None:
        self._queue.close()

    def _round(self, keys: list[str], _filed: dict[str, FiledState]) -> dict[str, BaseException]:
        with self._lock:
            batch = [self._items[key] for key in keys if key in self._items]
        return self._write_round(batch)
