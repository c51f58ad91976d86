"""D10: slowloris against a real uvicorn server (``hubao serve``) on loopback.

Fifty connections send a request head one byte a second. A normal client still gets /health
(200, within a 10 s client timeout), and the server closes every slow connection once its
request-head deadline passes (``backend.api.server.HEAD_DEADLINE_SECONDS``).
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from backend.api.server import HEAD_DEADLINE_SECONDS
from tests.security.served import Served, connect, start_served

pytestmark = pytest.mark.xdist_group(name="security-slowloris")

SLOW_CONNECTIONS = 50
HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from start_served(tmp_path_factory.mktemp("served-slowloris"))


def _closed_by_server(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    with contextlib.suppress(OSError):
        sock.recv(4096)
    return True  # EOF, a reset or an error answer: the server gave up on this connection


def test_slow_request_heads_neither_block_health_nor_outlive_the_deadline(served: Served) -> None:
    slow = [connect(served.port) for _ in range(SLOW_CONNECTIONS)]
    closed: set[int] = set()
    try:
        health_status: int | None = None
        # Drip one byte a second on every slow connection, past the deadline plus two seconds.
        for second in range(int(HEAD_DEADLINE_SECONDS) + 3):
            for i, sock in enumerate(slow):
                if i in closed:
                    continue
                if _closed_by_server(sock):
                    closed.add(i)
                    continue
                try:
                    sock.send(HEAD[second : second + 1])
                except OSError:
                    closed.add(i)
            if second == 2:
                response = httpx.get(f"{served.url}/health", timeout=10)
                health_status = response.status_code
            time.sleep(1)
        for i, sock in enumerate(slow):
            if i not in closed and _closed_by_server(sock):
                closed.add(i)
    finally:
        for sock in slow:
            with contextlib.suppress(OSError):
                sock.close()
    assert health_status == 200
    assert len(closed) == SLOW_CONNECTIONS, f"{SLOW_CONNECTIONS - len(closed)} slow connections still open"
