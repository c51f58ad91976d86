"""D10: /health latency while slow clients hold connections, next to the same server idle.

``hubao serve`` (uvicorn with the head and body deadlines of ``backend.api.server``) runs in a
child process on a free 127.0.0.1 port against a spawned anvil (``tests.security.served``, the
server the D5/D10 tests use). The baseline is ``samples``
sequential ``GET /health`` calls on the idle server. Then ``slow`` connections send a request head
at 1 byte/s and ``slow`` more send a complete upload head and its body at 1 byte/s, while the same
``GET /health`` calls are timed again. Reported: p50/p99 of both phases, their ratio, how many
slow connections the server closed, the seconds until the last one was closed, and how many
answered ``408``. The full run uses the default deadlines (10 s); the quick run shortens them.
The dripping bodies are requests in flight, fewer than ``HUBAO_API_MAX_IN_FLIGHT`` (200), and
``/health`` is exempt from that limit (``backend.api.overload``): no call here is shed.
"""

from __future__ import annotations

import contextlib
import secrets
import select
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.security.served import start_served


@dataclass(frozen=True)
class Config:
    slow: int  # connections of each kind (slow head, slow body)
    samples: int  # /health calls per phase
    deadline: float  # HUBAO_HEAD_TIMEOUT, HUBAO_BODY_IDLE_TIMEOUT and HUBAO_BODY_MIN_RATE_GRACE
    drip_seconds: int  # how long the slow clients keep dripping at most


FULL = Config(slow=50, samples=40, deadline=10.0, drip_seconds=20)
QUICK = Config(slow=5, samples=5, deadline=2.0, drip_seconds=6)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timings(url: str, samples: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(samples):
            started = time.perf_counter()
            assert client.get("/health").status_code == 200
            out.append((time.perf_counter() - started) * 1000)
    return out


def _attack(port: int, token: str, config: Config, done: threading.Event) -> dict[str, Any]:
    """Drip on every slow connection until all are closed or ``drip_seconds`` pass."""
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
    body_head = (
        f"POST /evidence?claim_ref=0x{secrets.token_hex(32)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    socks: list[tuple[socket.socket, bytes]] = []
    for _ in range(config.slow):
        socks.append((socket.create_connection(("127.0.0.1", port)), head))
        body = socket.create_connection(("127.0.0.1", port))
        body.sendall(body_head)
        socks.append((body, b"%PDF-1.7\n" * 100))
    started = time.perf_counter()
    closed: dict[int, float] = {}
    answered_408 = 0
    try:
        for second in range(config.drip_seconds):
            for i, (sock, drip) in enumerate(socks):
                if i in closed:
                    continue
                if select.select([sock], [], [], 0)[0]:
                    with contextlib.suppress(OSError):
                        answered_408 += sock.recv(64).startswith(b"HTTP/1.1 408 ")
                    closed[i] = time.perf_counter() - started
                    continue
                try:
                    sock.send(drip[second : second + 1])
                except OSError:
                    closed[i] = time.perf_counter() - started
            if len(closed) == len(socks):
                break
            time.sleep(1)
    finally:
        done.set()
        for sock, _ in socks:
            sock.close()
    return {
        "slow_connections": len(socks),
        "closed_by_server": len(closed),
        "answered_408": answered_408,
        "last_closed_after_s": round(max(closed.values(), default=0.0), 2),
    }


def run(quick: bool = False) -> dict[str, Any]:
    config = QUICK if quick else FULL
    deadline = str(config.deadline)
    deadlines = {
        "HUBAO_HEAD_TIMEOUT": deadline,
        "HUBAO_BODY_IDLE_TIMEOUT": deadline,
        "HUBAO_BODY_MIN_RATE_GRACE": deadline,
    }
    with tempfile.TemporaryDirectory(prefix="bench-slowloris-") as tmp:
        serving = start_served(Path(tmp), {**deadlines, "HUBAO_LOG_LEVEL": "ERROR"})
        served = next(serving)
        try:
            _timings(served.url, 3)  # warm-up
            idle = _timings(served.url, config.samples)
            done = threading.Event()
            attack: dict[str, Any] = {}
            attacker = threading.Thread(target=lambda: attack.update(_attack(served.port, served.token, config, done)))
            attacker.start()
            time.sleep(1.5)  # the slow connections are open and dripping
            loaded = _timings(served.url, config.samples)
            attacker.join()
        finally:
            serving.close()  # stops the server and its anvil
    baseline = {"p50_ms": round(percentile(idle, 0.5), 2), "p99_ms": round(percentile(idle, 0.99), 2)}
    under = {"p50_ms": round(percentile(loaded, 0.5), 2), "p99_ms": round(percentile(loaded, 0.99), 2)}
    return {
        "config": {"slow_per_kind": config.slow, "samples": config.samples, "deadline_s": config.deadline},
        "baseline_idle": baseline,
        "under_slow_clients": under,
        "p50_ratio_vs_idle": round(under["p50_ms"] / baseline["p50_ms"], 2),
        "p99_ratio_vs_idle": round(under["p99_ms"] / baseline["p99_ms"], 2),
        "slow": attack,
    }
