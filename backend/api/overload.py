"""Load shedding: an API process serves at most ``HUBAO_API_MAX_IN_FLIGHT`` HTTP requests at once.

Above the limit a request is answered at once with ``503`` and the product's error body
(``{"code": "OVERLOADED", ...}``), a ``Retry-After`` header and ``Connection: close`` — the
request was not acted on, so a client (or a load balancer) may send it again, here later or to
another host at once. uvicorn's own ``limit_concurrency`` answers a bare ``text/plain`` 503 that
nobody can tell from a crash; it stays only as a higher backstop (``backend.api.server``).

``GET /health`` is exempt: an orchestrator (docker-compose's healthcheck, the multi-host launcher)
asks it whether the process is alive, and a busy host is alive — refusing its health check would
get a loaded host restarted, throwing its work away.

A plain ASGI middleware (like ``backend.api.headers``): nothing is buffered, and the count is kept
on the event loop's thread, so it needs no lock. One counter per app, that is per process.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

# Paths a health probe uses: never refused (see the module docstring).
EXEMPT_PATHS = frozenset({"/health"})
# Seconds a refused client is asked to wait: requests are short, so a slot frees up within one.
RETRY_AFTER_SECONDS = 1
# At most one log line per this many seconds while requests are being refused.
LOG_INTERVAL_SECONDS = 10.0

OVERLOADED_BODY = json.dumps(
    {"code": "OVERLOADED", "message": "the server is handling too many requests; retry later"}
).encode()


class InFlightLimit:
    """Answers ``503 OVERLOADED`` to an HTTP request that arrives while ``limit`` are in flight."""

    def __init__(self, app: ASGIApp, limit: int, *, exempt: frozenset[str] = EXEMPT_PATHS) -> None:
        if limit < 1:
            raise ValueError("the in-flight limit must be at least 1")
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.in_flight = 0
        self.refused = 0  # since the last log line
        self._last_log = float("-inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await self._refuse(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, send: Send) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self._last_log >= LOG_INTERVAL_SECONDS:
            log.warning(
                "over the in-flight limit: %d request(s) answered 503 OVERLOADED",
                self.refused,
                extra={"code": "OVERLOADED", "limit": self.limit},
            )
            self._last_log, self.refused = now, 0
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(OVERLOADED_BODY)).encode()),
                    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                    # The body (if any) is not read: the connection cannot carry another request.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": OVERLOADED_BODY, "more_body": False})
