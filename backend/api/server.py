"""How the API is served: uvicorn's HTTP/1.1 protocol with a request-head deadline (D10).

uvicorn bounds idle keep-alive connections but not a client that sends its request head slowly
(slowloris): every byte received cancels the keep-alive timer and nothing else is armed. Here a
connection that is waiting for a request head — a fresh one, or a kept-alive one after a
response — gets ``HEAD_DEADLINE_SECONDS`` to deliver the whole head, or is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_DEADLINE_SECONDS = 10.0
# uvicorn options that go with it: idle keep-alive bounded, and a cap on connections + tasks
# beyond which new requests get 503 instead of queueing.
UVICORN_OPTIONS: dict[str, Any] = {"timeout_keep_alive": 5, "limit_concurrency": 200}


class HeadDeadlineH11Protocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose request head is not complete in time."""

    head_deadline = HEAD_DEADLINE_SECONDS
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in: the request is the app's now
            self._disarm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_head_deadline()  # kept alive: the next head has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_timer = self.loop.call_later(self.head_deadline, self._head_deadline_passed)

    def _disarm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
