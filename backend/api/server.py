"""How the API is served: uvicorn's HTTP/1.1 protocol with request-head and request-body deadlines (D10).

uvicorn bounds idle keep-alive connections but not a client that sends its request slowly
(slowloris): every byte received cancels the keep-alive timer and nothing else is armed.

- **Head**: a connection that is waiting for a request head — a fresh one, or a kept-alive one
  after a response — gets ``head_timeout`` seconds to deliver the whole head, or is closed.
- **Body**: once the head is in, the body must keep moving. It is cut off when no byte arrives
  for ``body_idle_timeout`` seconds, or when, after ``body_min_rate_grace`` seconds, it has
  averaged fewer than ``body_min_rate`` bytes a second. Time the *server* holds the body up (the
  app has not read its buffer, so reading is paused, or a ``100-continue`` is not sent yet) does
  not count against the client. The client gets ``408 REQUEST_TIMEOUT`` when no response has
  started yet, then the connection is closed; the app sees a disconnect.

The limits are settings (``HUBAO_HEAD_TIMEOUT``, ``HUBAO_BODY_IDLE_TIMEOUT``,
``HUBAO_BODY_MIN_RATE``, ``HUBAO_BODY_MIN_RATE_GRACE``); :func:`protocol_class` binds them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import FrameType
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from backend.config import Settings

log = logging.getLogger(__name__)

HEAD_DEADLINE_SECONDS = Settings.model_fields["head_timeout"].default
# uvicorn options that go with it: idle keep-alive bounded.
UVICORN_OPTIONS: dict[str, Any] = {"timeout_keep_alive": 5}
# The product sheds load itself (``backend.api.overload``: HUBAO_API_MAX_IN_FLIGHT requests, then
# 503 OVERLOADED with Retry-After). uvicorn's cap on connections + tasks stays as a last resort,
# this many times higher, for what that limit does not count: a flood of (exempt) health checks or
# of open connections (it counts idle keep-alive ones too, hence the floor). Only then does a
# client get uvicorn's bare text/plain 503.
BACKSTOP_FACTOR = 4
BACKSTOP_FLOOR = 1000


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """``UVICORN_OPTIONS``, the backstop concurrency cap, and whose forwarding headers to believe:
    only the configured reverse proxies' (``HUBAO_TRUSTED_PROXIES``), so that a client cannot name
    another client's address."""
    proxies = ",".join(settings.trusted_proxies)
    return {
        **UVICORN_OPTIONS,
        "limit_concurrency": max(BACKSTOP_FACTOR * settings.api_max_in_flight, BACKSTOP_FLOOR),
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
    }


# How often a request body's progress is looked at.
BODY_CHECK_INTERVAL = 1.0

_TIMEOUT_BODY = json.dumps(
    {"code": "REQUEST_TIMEOUT", "message": "the request body arrived too slowly; the connection is closed"}
).encode()
REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class DeadlineH11Protocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose request head or body is too slow."""

    head_deadline: float = HEAD_DEADLINE_SECONDS
    body_idle_timeout: float = Settings.model_fields["body_idle_timeout"].default
    body_min_rate: float = Settings.model_fields["body_min_rate"].default
    body_min_rate_grace: float = Settings.model_fields["body_min_rate_grace"].default

    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _body_bytes = 0
    _body_started = 0.0
    _body_last_progress = 0.0
    _body_last_check = 0.0
    _body_held_by_server = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        in_body = self.conn.their_state is h11.SEND_BODY
        super().data_received(data)
        if in_body:
            self._body_bytes += len(data)
            self._body_last_progress = self.loop.time()
        if self.conn.their_state is not h11.IDLE:  # the head is in: the request is the app's now
            self._disarm_head_deadline()
            if not in_body and self.conn.their_state is h11.SEND_BODY:
                self._start_body_watch()  # a new body (also the next one on a kept-alive connection)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_head_deadline()  # kept alive: the next head has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        self._stop_body_watch()
        super().connection_lost(exc)

    # --- head ------------------------------------------------------------------------------------

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

    # --- body ------------------------------------------------------------------------------------

    def _start_body_watch(self) -> None:
        self._stop_body_watch()
        now = self.loop.time()
        self._body_bytes = 0
        self._body_started = self._body_last_progress = self._body_last_check = now
        self._body_held_by_server = 0.0
        self._body_timer = self.loop.call_later(BODY_CHECK_INTERVAL, self._check_body)

    def _stop_body_watch(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _server_holds_body(self) -> bool:
        cycle = self.cycle
        return bool(self.flow.read_paused or (cycle is not None and cycle.waiting_for_100_continue))

    def _check_body(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return  # the body is complete (or the connection is going): nothing left to watch
        now = self.loop.time()
        if self._server_holds_body():
            self._body_held_by_server += now - self._body_last_check
            self._body_last_progress = now
        self._body_last_check = now
        idle = now - self._body_last_progress
        active = now - self._body_started - self._body_held_by_server
        if idle > self.body_idle_timeout:
            self._abort_slow_body(f"no body byte for {idle:.0f} s")
        elif active > self.body_min_rate_grace and self._body_bytes / active < self.body_min_rate:
            self._abort_slow_body(f"body averaged {self._body_bytes / active:.0f} B/s over {active:.0f} s")
        else:
            self._body_timer = self.loop.call_later(BODY_CHECK_INTERVAL, self._check_body)

    def _abort_slow_body(self, why: str) -> None:
        cycle = self.cycle
        log.warning("request body too slow (%s): %s %s closed", why, self.scope["method"], self.scope["path"])
        if cycle is not None and not cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        if cycle is not None:
            # The app's next receive() answers http.disconnect and its sends are dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


class GracefulServer(uvicorn.Server):
    """uvicorn's server, for which every SIGINT/SIGTERM means "stop gracefully", and which does not
    re-raise the signal once stopped: the caller decides what a stop means.

    Stock uvicorn takes a second signal for a forced exit (the app's shutdown cancelled, a
    traceback on the console — a terminal's Ctrl-C pressed twice, or reaching a process both
    directly and through its group) and re-raises the first one after it has stopped (with
    SIGTERM's default action that ends the process before any ``finally``). API worker processes
    (``backend.api.workers``) and the single-process server (``backend.cli.serve``) both run it.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.should_exit = True


def protocol_class(settings: Settings) -> type[DeadlineH11Protocol]:
    """The protocol class with the deadlines of ``settings``."""
    return type(
        "ConfiguredDeadlineH11Protocol",
        (DeadlineH11Protocol,),
        {
            "head_deadline": settings.head_timeout,
            "body_idle_timeout": settings.body_idle_timeout,
            "body_min_rate": settings.body_min_rate,
            "body_min_rate_grace": settings.body_min_rate_grace,
        },
    )
