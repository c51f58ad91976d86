"""Issue 18 runs several API hosts on one PostgreSQL database: a session ended through one host is
refused by every other on its next request (the check reads the database, no per-host cache), and
its tokens are refreshed by no host once it ended."""

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


def test_a_session_refreshed_on_either_host_ends_on_both(
    runtime_factory: Callable[..., Runtime], postgres_url: str, tmp_path: object
) -> None:
    host_a = runtime_factory(database_url=postgres_url, jwt_secret=SECRET)
    bootstrap(host_a)
    host_b = runtime_factory(
        node_of(host_a), database_url=postgres_url, jwt_secret=SECRET, keys_dir=host_a.settings.data_dir / "keys"
    )
    api_a, api_b = Api(host_a), Api(host_b)
    account = make_account(host_a, "member")
    first = _sign_in(api_a, account.username)

    # A token from A is refreshed on B, that one on A: one session throughout.
    on_b = api_b.post("/auth/refresh", first)
    assert on_b.status_code == 200, on_b.text
    on_a = api_a.post("/auth/refresh", on_b.json()["access_token"])
    assert on_a.status_code == 200, on_a.text
    latest = on_a.json()["access_token"]
    sid = jwt.decode(latest, SECRET.encode(), algorithms=["HS256"])["sid"]
    assert sid == jwt.decode(first, SECRET.encode(), algorithms=["HS256"])["sid"]
    assert api_b.get("/auth/me", latest).status_code == 200

    # Signed out on A: B refuses to refresh any token of that session.
    assert api_a.post("/auth/logout", latest).status_code == 204
    for token in (first, latest):
        refused = api_b.post("/auth/refresh", token)
        assert (refused.status_code, refused.json()["message"]) == (401, "this session was signed out: sign in again")
