"""Issue 18 runs several API hosts on one PostgreSQL database: a session ended through one host is
refused by every other on its next request (the check reads the database, no per-host cache)."""

from __future__ import annotations

from collections.abc import Callable

import jwt

from backend.runtime import Runtime
from backend.services.bootstrap import bootstrap
from tests.accounts.support import PASSWORD, Api, make_account
from tests.stacks import node_of, runtime_factory

__all__ = ["runtime_factory"]

SECRET = "s" * 40  # HUBAO_JWT_SECRET, the same on both hosts


def _sign_in(api: Api, username: str) -> str:
    response = api.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_session_ended_on_one_host_is_refused_on_the_other(
    runtime_factory: Callable[..., Runtime], postgres_url: str, tmp_path: object
) -> None:
    host_a = runtime_factory(database_url=postgres_url, jwt_secret=SECRET)
    bootstrap(host_a)
    host_b = runtime_factory(
        node_of(host_a), database_url=postgres_url, jwt_secret=SECRET, keys_dir=host_a.settings.data_dir / "keys"
    )
    api_a, api_b = Api(host_a), Api(host_b)
    account = make_account(host_a, "member")
    phone = _sign_in(api_a, account.username)
    laptop = _sign_in(api_b, account.username)
    assert api_b.get("/auth/me", phone).status_code == 200  # a token from A is good on B
    assert api_a.get("/auth/me", phone).status_code == 200  # and B has just seen it

    # Signed out on host B: host A refuses that token at once, and keeps the other session.
    assert api_b.post("/auth/logout", phone).status_code == 204
    assert api_a.get("/auth/me", phone).status_code == 401
    assert api_a.get("/auth/me", laptop).status_code == 200

    # Another device's session ended on host A, refused on host B.
    tablet = _sign_in(api_b, account.username)
    sid = jwt.decode(tablet, SECRET.encode(), algorithms=["HS256"])["sid"]
    assert api_a.request("DELETE", f"/auth/sessions/{sid}", laptop).status_code == 204
    assert api_b.get("/auth/me", tablet).status_code == 401

    # Everywhere, from host A: host B refuses every token of the account.
    assert api_a.post("/auth/logout-all", laptop).status_code == 204
    assert api_b.get("/auth/me", laptop).status_code == 401
