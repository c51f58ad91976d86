"""CPU-bound API throughput with ``HUBAO_API_WORKERS`` = 1 and = 2, on the same machine in the same run.

``hubao serve`` runs in a child process on a free 127.0.0.1 port against a spawned anvil
(``tests.security.served``, the server the D5/D10 tests use), once with one API process and
once with two worker processes. ``clients`` threads, each with its own connection, upload
``uploads`` evidence files of ``size`` bytes (``POST /evidence``: hashed, encrypted and stored —
CPU-bound in the server, plus a few fsyncs) after ``warmup`` uploads per client. Reported per
server: uploads/s and MiB/s over the timed uploads, p50/p99 latency, the server's CPU time per
upload and its busy cores (CPU seconds over wall seconds: one process cannot pass 1.0), and the
ratio of two workers' throughput to one process's — at most the cores the machine can give the
server (this machine's two cores are shared with whatever else runs).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.security.served import MiB, start_served


@dataclass(frozen=True)
class Config:
    clients: int  # concurrent uploaders (one connection each)
    uploads: int  # timed uploads in all
    warmup: int  # untimed uploads per client first
    size: int  # bytes per upload


FULL = Config(clients=4, uploads=160, warmup=2, size=1 * MiB)
QUICK = Config(clients=2, uploads=6, warmup=1, size=64 * 1024)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _upload(client: httpx.Client, token: str, body: bytes) -> float:
    started = time.perf_counter()
    response = client.post(
        f"/evidence?claim_ref=0x{secrets.token_hex(32)}",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
    )
    assert response.status_code == 201, response.text
    return time.perf_counter() - started


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of the server: its process and every worker."""
    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def _measure(url: str, token: str, config: Config, pid: int) -> dict[str, Any]:
    bodies = [b"%PDF-1.7\n" + os.urandom(config.size - 9) for _ in range(config.clients)]
    latencies: list[float] = []
    lock = threading.Lock()
    share = [config.uploads // config.clients + (i < config.uploads % config.clients) for i in range(config.clients)]
    ready = threading.Barrier(config.clients + 1)

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for _ in range(config.warmup):
                _upload(http, token, bodies[i])
            ready.wait()
            mine = [_upload(http, token, bodies[i]) for _ in range(share[i])]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(config.clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started, cpu = time.perf_counter(), _cpu_seconds(pid)
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, _cpu_seconds(pid) - cpu
    assert len(latencies) == config.uploads
    return {
        "uploads": config.uploads,
        "seconds": round(elapsed, 3),
        "uploads_per_s": round(config.uploads / elapsed, 2),
        "mib_per_s": round(config.uploads * config.size / MiB / elapsed, 2),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "server_cpu_ms_per_upload": round(cpu / config.uploads * 1000, 1),
        "server_cores_busy": round(cpu / elapsed, 2),
    }


def _served_run(workers: int, config: Config) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-api-workers-{workers}-") as tmp:
        served = start_served(Path(tmp), {"HUBAO_API_WORKERS": str(workers), "HUBAO_LOG_LEVEL": "WARNING"})
        server = next(served)
        try:
            return _measure(server.url, server.token, config, server.proc.pid)
        finally:
            served.close()  # SIGINT, then the anvil is killed


def run(quick: bool = False) -> dict[str, Any]:
    config = QUICK if quick else FULL
    one = _served_run(1, config)
    two = _served_run(2, config)
    return {
        "config": {
            "clients": config.clients,
            "uploads": config.uploads,
            "upload_bytes": config.size,
            "cpus": os.cpu_count(),
        },
        "one_process": one,
        "two_workers": two,
        "throughput_ratio_two_vs_one": round(two["uploads_per_s"] / one["uploads_per_s"], 2),
    }
