"""Whose X-Forwarded-For names the client: only the configured reverse proxies' (HUBAO_TRUSTED_PROXIES).

Login throttling and registration quotas count per client address; behind a proxy every request
comes from the proxy, so its forwarding header must be believed, and a client talking to the
server directly must not be able to pick the address it is counted under.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from backend.api.server import uvicorn_options
from backend.config import Settings


def _client_seen(settings: Settings, peer: str, forwarded: str | None) -> str:
    app = FastAPI()

    @app.get("/who")
    def who(request: Request) -> dict[str, Any]:
        return {"client": request.client.host if request.client else None}

    config = uvicorn.Config(app, **uvicorn_options(settings))
    config.load()  # wraps the app as uvicorn serves it (ProxyHeadersMiddleware when headers are trusted)

    async def call() -> str:
        transport = httpx.ASGITransport(app=config.loaded_app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hubao") as client:
            headers = {"X-Forwarded-For": forwarded} if forwarded else {}
            return str((await client.get("/who", headers=headers)).json()["client"])

    return asyncio.run(call())


@pytest.mark.parametrize(
    ("proxies", "peer", "forwarded", "seen"),
    [
        (["127.0.0.1"], "127.0.0.1", "203.0.113.7", "203.0.113.7"),  # the default: a proxy on this host
        (["127.0.0.1"], "198.51.100.2", "203.0.113.7", "198.51.100.2"),  # a direct client cannot pick its address
        (["172.16.0.0/12"], "172.18.0.5", "203.0.113.7", "203.0.113.7"),  # a compose network's proxy
        (["172.16.0.0/12"], "10.0.0.9", "203.0.113.7", "10.0.0.9"),
        ([], "127.0.0.1", "203.0.113.7", "127.0.0.1"),  # trust no header at all
    ],
)
def test_forwarded_client_is_believed_only_from_a_trusted_proxy(
    proxies: list[str], peer: str, forwarded: str, seen: str
) -> None:
    settings = Settings(trusted_proxies=proxies)
    assert _client_seen(settings, peer, forwarded) == seen
