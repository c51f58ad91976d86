"""Operations of the API as ``app.openapi()`` lists them, and a probe that calls each one as a role.

The probe sends no real payload: path parameters are random ids and JSON bodies are ``{}``, so an
admitted call ends in 404 or 422 and changes nothing, while a refused one ends in 401 or 403
(role checks are dependencies, resolved before the body is validated or any object is looked up).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.accounts.support import Api

POLICY_PATH = Path(__file__).with_name("policy.json")
ROLES = ("member", "reviewer", "juror", "auditor", "operator")
METHODS = ("get", "post", "put", "patch", "delete")
# Probed last: admitted, they change plan-wide state that other probes would then see.
PROBE_LAST = frozenset({"POST /plan/wind-down"})


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", lambda _m: secrets.token_hex(16), self.path)

    def body_kwargs(self) -> dict[str, Any]:
        content = self.spec.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            return {"json": {}}
        if "application/x-www-form-urlencoded" in content:
            return {"data": {}}
        if "multipart/form-data" in content:
            return {"files": {"_": ("x", b"")}}
        return {}


def operations(api: Api) -> list[Operation]:
    found = [
        Operation(method, path, spec)
        for path, item in api.app.openapi()["paths"].items()
        for method, spec in item.items()
        if method in METHODS
    ]
    return sorted(found, key=lambda op: (op.key in PROBE_LAST, op.key))


# Operations that end every session of the caller's account (sign-out revokes all its tokens): probed
# with a token of a fresh account of the same role, so the shared role tokens stay valid.
SESSION_ENDING = frozenset({"POST /auth/logout", "POST /auth/logout-all"})


def call(api: Api, op: Operation, token: str | None, headers: dict[str, str] | None = None) -> httpx.Response:
    kwargs = op.body_kwargs()
    if headers:
        kwargs["headers"] = headers
    if op.key in SESSION_ENDING and token is not None:
        token = _throwaway_token(api, token)
    return api.request(op.method.upper(), op.url(), token, **kwargs)


def _throwaway_token(api: Api, token: str) -> str:
    """A token for a new account of ``token``'s role (an unreadable token is passed on as it is)."""
    import jwt

    from tests.accounts.support import make_account, token_for

    try:
        role = jwt.decode(token, options={"verify_signature": False})["role"]
    except (jwt.PyJWTError, KeyError):
        return token
    if role not in ROLES:
        return token
    if api.request("GET", "/auth/me", token).status_code != 200:
        return token  # a bad token stays bad: the 401 probes keep their meaning
    return token_for(api.runtime, make_account(api.runtime, role))


def load_policy() -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(POLICY_PATH.read_text(encoding="utf-8"))
    return policy
