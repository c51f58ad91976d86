"""D10: slowloris against a real uvicorn server (``hubao serve``) on loopback.

Fifty connections send a request head one byte a second. A normal client still gets /health
(200, within a 10 s client timeout), and the server closes every slow connection once its
request-head deadline passes (``backend.api.server.HEAD_DEADLINE_SECONDS``). Then the same with
request bodies: complete heads, bodies at 1 byte/s (and one that stalls), cut off with 408 by the
body deadlines (``HUBAO_BODY_MIN_RATE`` after ``HUBAO_BODY_MIN_RATE_GRACE``,
``HUBAO_BODY_IDLE_TIMEOUT``) while /health and a 1 MiB upload succeed.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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


# --- slow request bodies ------------------------------------------------------------------------

SLOW_BODY_SECONDS = 20  # RELIABILITY D10: 1 byte/s for 20 s
DECLARED_BODY = 100_000
PDF = b"%PDF-1.7\n"


def _evidence_head(token: str, length: int) -> bytes:
    return (
        f"POST /evidence?claim_ref=0x{secrets.token_hex(32)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/pdf\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sent before closing (it closes right after a 408)."""
    sock.settimeout(5)
    answer = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def _normal_traffic(served: Served, stop: threading.Event) -> dict[str, list[int]]:
    """/health every second and one 1 MiB evidence upload, while the slow bodies drip."""
    seen: dict[str, list[int]] = {"health": [], "upload": []}
    upload = PDF + secrets.token_bytes(1024 * 1024 - len(PDF))
    with httpx.Client(base_url=served.url, timeout=10) as client:
        first = True
        while not stop.is_set():
            seen["health"].append(client.get("/health").status_code)
            if first:
                response = client.post(
                    "/evidence",
                    params={"claim_ref": "0x" + secrets.token_hex(32)},
                    content=upload,
                    headers={"Authorization": f"Bearer {served.token}", "Content-Type": "application/pdf"},
                )
                seen["upload"].append(response.status_code)
                first = False
            stop.wait(1)
    return seen


def test_slow_request_bodies_are_cut_off_while_normal_requests_succeed(served: Served) -> None:
    """Fifty uploads drip their body at 1 byte/s and one stalls after 50 kB; normal traffic goes on.

    Every slow body is answered ``408 REQUEST_TIMEOUT`` and closed before its 20 s of dripping is
    over (the minimum-rate check cuts the drips, the idle timeout the stalled one), while /health
    answers 200 throughout and a 1 MiB upload succeeds; afterwards the server still answers.
    """
    slow = [connect(served.port) for _ in range(SLOW_CONNECTIONS)]
    stalled = connect(served.port)
    answers: dict[int, bytes] = {}
    stop = threading.Event()
    try:
        for sock in slow:
            sock.sendall(_evidence_head(served.token, DECLARED_BODY))
        stalled.sendall(_evidence_head(served.token, DECLARED_BODY) + PDF + b"\0" * (50_000 - len(PDF)))
        with ThreadPoolExecutor(max_workers=1) as pool:
            traffic = pool.submit(_normal_traffic, served, stop)
            for second in range(SLOW_BODY_SECONDS):
                for i, sock in enumerate(slow):
                    if i in answers:
                        continue
                    if select.select([sock], [], [], 0)[0]:
                        answers[i] = _answer(sock)
                        continue
                    try:
                        sock.send(PDF[second % len(PDF) : second % len(PDF) + 1])
                    except OSError:
                        answers[i] = b""
                if len(answers) == SLOW_CONNECTIONS and select.select([stalled], [], [], 0)[0]:
                    break
                time.sleep(1)
            stalled_answer = _answer(stalled) if select.select([stalled], [], [], 0)[0] else None
            stop.set()
            seen = traffic.result()
    finally:
        stop.set()
        for sock in [*slow, stalled]:
            with contextlib.suppress(OSError):
                sock.close()
    assert len(answers) == SLOW_CONNECTIONS, f"{SLOW_CONNECTIONS - len(answers)} slow bodies still open after 20 s"
    for raw in [*answers.values(), stalled_answer]:
        assert raw is not None
        assert raw.startswith(b"HTTP/1.1 408 "), raw
        assert json.loads(raw.partition(b"\r\n\r\n")[2])["code"] == "REQUEST_TIMEOUT"
    assert seen["health"], seen
    assert set(seen["health"]) == {200}, seen
    assert seen["upload"] == [201], seen
    assert httpx.get(f"{served.url}/health", timeout=10).status_code == 200
