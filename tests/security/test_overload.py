"""Load shedding (``backend.api.overload``): above ``HUBAO_API_MAX_IN_FLIGHT`` requests in flight an
API process answers ``503 OVERLOADED`` in the product's error format with ``Retry-After``, and
still answers its health check.

The real server (``hubao serve`` in a subprocess, uvicorn on loopback) runs with a limit of 2; two
uploads whose bodies the client holds back keep two requests in flight.
"""

from __future__ import annotations

import asyncio
import secrets
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from backend.api.overload import OVERLOADED_BODY, InFlightLimit
from backend.api.server import uvicorn_options
from backend.config import Settings
from tests.security.served import Served, connect, start_served

pytestmark = pytest.mark.xdist_group(name="security-overload")

LIMIT = 2


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # Held-back bodies must outlive the test, not the body deadlines.
    settings = {
        "HUBAO_API_MAX_IN_FLIGHT": str(LIMIT),
        "HUBAO_BODY_IDLE_TIMEOUT": "120",
        "HUBAO_BODY_MIN_RATE_GRACE": "120",
    }
    yield from start_served(tmp_path_factory.mktemp("served-overload"), settings)


def _held_upload(served: Served) -> socket.socket:
    """An upload whose head and first body bytes are sent, the rest held back: a request in flight."""
    sock = connect(served.port)
    sock.sendall(
        (
            f"POST /evidence?claim_ref=0x{secrets.token_hex(32)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {served.token}\r\nContent-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        + b"%PDF-1.7\n"
    )
    return sock


def _answered(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def _claims(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/claims", headers={"Authorization": f"Bearer {token}"})


def test_request_over_the_in_flight_limit_gets_overloaded_json_and_health_still_answers(served: Served) -> None:
    held: list[socket.socket] = []
    with httpx.Client(base_url=served.url, timeout=30) as client:
        try:
            # The server sees a held upload's head a moment after it is sent; one that arrived while
            # an earlier request was still finishing was itself refused: replace it. Bounded.
            for _ in range(100):
                for sock in [s for s in held if _answered(s)]:
                    held.remove(sock)
                    sock.close()
                held += [_held_upload(served) for _ in range(LIMIT - len(held))]
                refused = _claims(client, served.token)
                if refused.status_code == 503:
                    break
                time.sleep(0.1)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/json"
            assert refused.json() == {
                "code": "OVERLOADED",
                "message": "the server is handling too many requests; retry later",
            }
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.headers["connection"] == "close"
            assert refused.headers["x-content-type-options"] == "nosniff"  # inside the product's middlewares

            health = client.get("/health")  # the orchestrator's probe is exempt
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
        finally:
            for sock in held:
                sock.close()
        # The held requests end with their connections: the slots are free again. Bounded.
        for _ in range(100):
            answer = _claims(client, served.token)
            if answer.status_code != 503:
                break
            time.sleep(0.1)
        assert answer.status_code == 200, answer.text


# --- the middleware on its own --------------------------------------------------------------------


def _app(gate: asyncio.Event, entered: list[str]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        entered.append(scope["path"])
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def _call(app: Any, path: str) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)
    return sent


def test_in_flight_limit_refuses_only_above_the_limit_exempts_health_and_frees_slots() -> None:
    async def scenario() -> None:
        gate, entered = asyncio.Event(), list[str]()
        limited = InFlightLimit(_app(gate, entered), limit=2)
        first = [asyncio.create_task(_call(limited, f"/slow/{i}")) for i in range(2)]
        await asyncio.sleep(0)
        assert limited.in_flight == 2
        refused = await _call(limited, "/claims")
        assert refused[0]["status"] == 503
        assert dict(refused[0]["headers"])[b"retry-after"] == b"1"
        assert refused[1]["body"] == OVERLOADED_BODY
        health = asyncio.create_task(_call(limited, "/health"))  # exempt, and not counted
        await asyncio.sleep(0)
        assert "/health" in entered
        assert limited.in_flight == 2
        gate.set()
        for done in [*await asyncio.gather(*first), await health]:
            assert done[0]["status"] == 200
        assert limited.in_flight == 0
        with pytest.raises(RuntimeError, match="boom"):
            await _call(limited, "/boom")
        assert limited.in_flight == 0  # a failing request gives its slot back

    asyncio.run(scenario())


def test_in_flight_limit_rejects_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InFlightLimit(_app(asyncio.Event(), []), limit=0)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings(api_max_in_flight=0)


def test_uvicorn_cap_stays_a_backstop_above_the_product_limit() -> None:
    for limit in (1, 200, 5000):
        assert uvicorn_options(Settings(api_max_in_flight=limit))["limit_concurrency"] >= 4 * limit
