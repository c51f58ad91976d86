"""Request bodies streamed into blocking service code without letting slow clients hold threads (D10).

Upload routes hand the body to synchronous services (encryption, store, chain) that run in a
worker thread and pull the body chunk by chunk. A thread that waits for a slow client is a thread
nobody else gets, so:

- the first ``PREFETCH_BYTES`` (or the whole body, if smaller) are read on the event loop before
  any thread is taken — a client dripping its body never holds one, and the server's body
  deadlines (``backend.api.server``) cut it off;
- upload work runs under its own capacity limiter (``UPLOAD_THREADS``), so uploads that do stall
  mid-body cannot use up the default thread pool that every other (sync) endpoint runs in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.requests import Request

T = TypeVar("T")

PREFETCH_BYTES = 256 * 1024
# As many as anyio's default pool (40): filings that wait on the chain's group commit keep their
# concurrency; the other endpoints keep the default pool to themselves.
UPLOAD_THREADS = anyio.CapacityLimiter(40)


async def run_with_body(request: Request, work: Callable[[Iterator[bytes]], T]) -> T:
    """Run ``work(chunks)`` in an upload thread once the body's first bytes are in, and return its result."""
    body = request.stream()
    head, complete = await _prefetch(body)

    def chunks() -> Iterator[bytes]:
        yield from head
        while not complete:
            try:
                yield anyio.from_thread.run(body.__anext__)
            except StopAsyncIteration:
                return

    return await anyio.to_thread.run_sync(lambda: work(chunks()), limiter=UPLOAD_THREADS)


async def _prefetch(body: AsyncIterator[bytes]) -> tuple[list[bytes], bool]:
    head: list[bytes] = []
    size = 0
    while size < PREFETCH_BYTES:
        try:
            chunk = await body.__anext__()
        except StopAsyncIteration:
            return head, True
        head.append(chunk)
        size += len(chunk)
    return head, False
