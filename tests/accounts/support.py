"""Helpers for the accounts/membership/rules tests: a sync API client, accounts, tokens, secret scans."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from datetime import UTC, date, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from backend.api.app import create_app
from backend.db.models import Account, Member
from backend.runtime import Runtime
from backend.services.accounts import create_staff_account, register_member
from backend.services.auth import issue_token

PASSWORD = "correct horse battery"
# Field names that must never appear in any response (RELIABILITY.md D3).
FORBIDDEN_FIELDS = frozenset(
    {
        "salt",
        "password",
        "password_hash",
        "passwordHash",
        "signing_key_encrypted",
        "signingKeyEncrypted",
        "wrapped_dek",
        "wrappedDek",
        "kek_id",
        "kekId",
        "token_version",
    }
)
_names = itertools.count()


def new_name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}-{id(_names) % 9973}"


def forbidden_keys(value: Any, path: str = "$") -> list[str]:
    """JSON paths of forbidden field names anywhere inside ``value``."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in FORBIDDEN_FIELDS:
                found.append(f"{path}.{key}")
            found += forbidden_keys(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += forbidden_keys(inner, f"{path}[{i}]")
    return found


class Api:
    """A synchronous client over the ASGI app (httpx ASGITransport); every JSON response is scanned
    for forbidden fields before the test sees it."""

    def __init__(self, runtime: Runtime, app: FastAPI | None = None) -> None:
        self.runtime = runtime
        self.app = app or create_app(runtime=runtime)
        self.responses = 0

    def request(self, method: str, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hubao.test") as client:
                return await client.request(method, url, headers=headers, **kwargs)

        response = asyncio.run(call())
        self.responses += 1
        if response.headers.get("content-type", "").startswith("application/json") and response.content:
            leaks = forbidden_keys(json.loads(response.content))
            assert leaks == [], f"{method} {url} exposed {leaks}"
        return response

    def get(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, token, **kwargs)

    def post(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, token, **kwargs)


def make_account(
    runtime: Runtime, role: str, username: str | None = None, *, server_key: bool | None = None
) -> Account:
    """A committed account of ``role`` (staff roles through the full path: key, on-chain role).
    ``server_key=True``: a signer whose key the server generated (the legacy custody)."""
    username = username or new_name(role)
    if role == "member":
        with runtime.sessions.begin() as session:
            return register_member(session, username, PASSWORD)
    return create_staff_account(runtime, username, PASSWORD, role, server_key=server_key)


def token_for(runtime: Runtime, account: Account) -> str:
    with runtime.sessions.begin() as session:
        fresh = session.get(Account, account.id)
        assert fresh is not None
        return issue_token(session, fresh, runtime.jwt_secret)


def uploader_token(runtime: Runtime) -> str:
    """A token of a new member past the waiting period, for evidence uploads: a membership row
    only (the runtime need not have a rule set to join under)."""
    now = datetime.now(UTC)
    with runtime.sessions.begin() as session:
        account = register_member(session, new_name("uploader"), PASSWORD)
        session.add(
            Member(
                account_id=account.id,
                commitment=os.urandom(32),
                salt=os.urandom(32),
                birth_date=date(1990, 1, 1),
                credit_score=700,
                joined_at=now,
                waiting_ends_at=now,
                rule_set_hash=bytes(32),
            )
        )
        return issue_token(session, account, runtime.jwt_secret)


def uploader_client(runtime: Runtime) -> httpx.AsyncClient:
    """An async API client signed in as a new member (:func:`uploader_token`); its responses are
    not scanned (an upload's answer carries the commitment's salt, for the uploader only)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime=runtime)),
        base_url="http://hubao.test",
        headers={"Authorization": f"Bearer {uploader_token(runtime)}"},
    )
