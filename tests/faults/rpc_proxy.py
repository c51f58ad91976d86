"""A JSON-RPC fault proxy on 127.0.0.1 between the backend and anvil (RELIABILITY.md A10, A11).

Faults act at the transport (connection reset without a response, stalls, half-closed sockets)
and at the protocol (a node that has pruned history: ``eth_getLogs`` answers nothing below a block
and receipts of old transactions are gone). The schedule is seeded so a failing run replays.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass
class FaultSchedule:
    seed: int = 0
    reset_rate: float = 0.0  # close the connection without answering
    stall_rate: float = 0.0  # hold the request for ``stall_seconds`` before forwarding
    stall_seconds: float = 5.0
    half_close_rate: float = 0.0  # send half a response, then close
    prune_below: int | None = None  # pruned history: logs and receipts of blocks < this are gone
    counts: dict[str, int] = field(default_factory=lambda: {"reset": 0, "stall": 0, "half_close": 0, "ok": 0})

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self) -> str:
        with self._lock:
            roll = self._rng.random()
        if roll < self.reset_rate:
            return "reset"
        roll -= self.reset_rate
        if roll < self.stall_rate:
            return "stall"
        roll -= self.stall_rate
        if roll < self.half_close_rate:
            return "half_close"
        return "ok"


class RpcFaultProxy:
    """``with RpcFaultProxy(upstream, schedule) as proxy: proxy.url``."""

    def __init__(self, upstream: str, schedule: FaultSchedule | None = None) -> None:
        self.upstream = upstream
        self.schedule = schedule or FaultSchedule()
        self.enabled = True
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fault = proxy.schedule.draw() if proxy.enabled else "ok"
                proxy.schedule.counts[fault] = proxy.schedule.counts.get(fault, 0) + 1
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    self.close_connection = True
                    return
                if fault == "stall":
                    time.sleep(proxy.schedule.stall_seconds)
                payload = proxy.forward(body)
                if fault == "half_close":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_WR)
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.client = httpx.Client(timeout=30)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def forward(self, body: bytes) -> bytes:
        request = json.loads(body)
        response = self.client.post(self.upstream, content=body, headers={"Content-Type": "application/json"})
        if self.schedule.prune_below is None:
            return response.content
        return json.dumps(self._prune(request, response.json())).encode()

    def _prune(self, request: Any, response: Any) -> Any:
        if isinstance(request, list):
            return [self._prune(req, resp) for req, resp in zip(request, response, strict=False)]
        limit = self.schedule.prune_below
        assert limit is not None
        method = request.get("method")
        if method == "eth_getLogs" and isinstance(response.get("result"), list):
            response["result"] = [log for log in response["result"] if int(log["blockNumber"], 16) >= limit]
        elif method in ("eth_getTransactionReceipt", "eth_getTransactionByHash"):
            result = response.get("result")
            if isinstance(result, dict) and result.get("blockNumber") and int(result["blockNumber"], 16) < limit:
                response["result"] = None
        elif method == "eth_getBlockByNumber":
            result = response.get("result")
            if isinstance(result, dict) and int(result["number"], 16) < limit:
                response["result"] = None
        return response

    def __enter__(self) -> RpcFaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()
