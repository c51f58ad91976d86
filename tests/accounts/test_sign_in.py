"""Sign-in (issue 17 item 2): failed passwords throttled per account and per client (429 with
Retry-After, the right password included), usernames case-insensitive after NFKC, argon2id hashes
with legacy scrypt hashes upgraded at the next sign-in, and pre-existing case duplicates that keep
signing in under their own spelling after migration 0006."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.chain.anvil import AnvilNode, rpc_call
from backend.db.engine import make_engine, migrate, session_factory
from backend.db.models import Account
from backend.errors import ConfigError, TooManyRequests
from backend.runtime import Runtime
from backend.services.auth import find_account, verify_password
from backend.services.login_throttle import LoginThrottle
from tests.accounts.support import PASSWORD, Api, make_account, new_name

pytestmark = pytest.mark.xdist_group(name="accounts-sign-in")


def _login(api: Api, username: str, password: str) -> tuple[int, dict[str, str], dict[str, object]]:
    response = api.post("/auth/token", data={"username": username, "password": password})
    return response.status_code, dict(response.headers), response.json()


def test_sign_in_locks_an_account_after_repeated_failures(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "reviewer")
    api = Api(plan_runtime)
    limit = plan_runtime.login_throttle.per_account.amount
    for _ in range(limit):
        status, _, body = _login(api, account.username, "wrong password!")
        assert (status, body["code"]) == (401, "UNAUTHORIZED")
    status, headers, body = _login(api, account.username, PASSWORD)  # the right one: still refused
    assert (status, body["code"]) == (429, "LOGIN_RATE_LIMITED")
    assert 1 <= int(headers["retry-after"]) <= 15 * 60
    assert "try again in" in str(body["message"])
    # Another spelling of the same username counts against the same account.
    status, _, _ = _login(api, account.username.upper(), PASSWORD)
    assert status == 429
    # Another account from the same client is not locked by this one's failures.
    other = make_account(plan_runtime, "member")
    assert _login(api, other.username, PASSWORD)[0] == 200


def test_sign_in_limits_one_client_spraying_many_accounts(
    plan_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_runtime, "login_throttle", LoginThrottle.from_config("memory://", "100/hour", "5/hour"))
    api = Api(plan_runtime)
    for i in range(5):
        assert _login(api, new_name(f"nobody{i}"), "wrong password!")[0] == 401
    target = make_account(plan_runtime, "member")
    status, headers, body = _login(api, target.username, PASSWORD)
    assert (status, body["code"]) == (429, "LOGIN_RATE_LIMITED")
    assert int(headers["retry-after"]) >= 1


def test_success_clears_the_account_count(plan_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_runtime, "login_throttle", LoginThrottle.from_config("memory://", "3/hour", "100/hour"))
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    for _ in range(2):
        assert _login(api, account.username, "wrong password!")[0] == 401
        assert _login(api, account.username, PASSWORD)[0] == 200  # a typo then the right one, all day long


def test_usernames_are_case_insensitive(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    name = new_name("Alice")
    created = api.post("/accounts/register", json={"username": name, "password": PASSWORD})
    assert created.status_code == 201, created.text
    for spelling in (name.lower(), name.upper()):
        twin = api.post("/accounts/register", json={"username": spelling, "password": PASSWORD})
        assert (twin.status_code, twin.json()["code"]) == (409, "USERNAME_TAKEN")
    # Fullwidth letters normalise (NFKC) to the same name.
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    assert api.post("/accounts/register", json={"username": fullwidth, "password": PASSWORD}).status_code == 409
    status, _, body = _login(api, name.upper(), PASSWORD)
    assert status == 200, body


def test_legacy_scrypt_hash_is_upgraded_to_argon2id_at_sign_in(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    legacy = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    with plan_runtime.sessions.begin() as session:
        row = session.get(Account, account.id)
        assert row is not None
        row.password_hash = legacy
    assert _login(Api(plan_runtime), account.username, PASSWORD)[0] == 200
    with plan_runtime.sessions() as session:
        upgraded = session.get(Account, account.id)
        assert upgraded is not None
        assert upgraded.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert verify_password(PASSWORD, upgraded.password_hash)
        assert not verify_password("wrong password!", upgraded.password_hash)


def test_migration_keeps_case_duplicates_signing_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    migrate(url, "0005")
    engine = make_engine(url)
    with engine.begin() as conn:
        for i, name in enumerate(("Carol", "carol", "CAROL")):
            conn.execute(
                sa.text(
                    "INSERT INTO accounts (id, username, password_hash, role, token_version, disabled, created_at)"
                    " VALUES (:id, :name, 'x', 'member', 0, 0, :at)"
                ),
                {"id": f"acct{i}", "name": name, "at": f"2026-01-0{i + 1} 00:00:00"},
            )
    migrate(url)
    sessions = session_factory(engine)
    with sessions() as session:
        keys = dict(session.execute(sa.select(Account.username, Account.username_key)).all())
        assert keys == {"Carol": "carol", "carol": "carol#acct1", "CAROL": "carol#acct2"}
        for name in ("Carol", "carol", "CAROL"):
            found = find_account(session, name)
            assert found is not None
            assert found.username == name  # each keeps its own account
        found = find_account(session, "cArOl")
        assert found is not None
        assert found.username == "Carol"  # another spelling: the first registered
    engine.dispose()


def test_logout_revokes_the_token_and_api_answers_are_not_stored(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    signed = api.post("/auth/token", data={"username": account.username, "password": PASSWORD})
    assert signed.status_code == 200
    for response in (signed, api.get("/auth/me", signed.json()["access_token"])):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
    token = signed.json()["access_token"]
    assert api.post("/auth/logout", token).status_code == 204
    after = api.get("/auth/me", token)
    assert (after.status_code, after.json()["code"]) == (401, "UNAUTHORIZED")
    assert after.headers["cache-control"] == "no-store"
    assert api.post("/auth/logout", None).status_code == 401


def test_redis_storage_shares_counts_between_workers() -> None:
    """HUBAO_RATE_LIMIT_STORAGE=redis://…: two API workers (two throttles) count one account's failures together."""
    redis_url = "redis://127.0.0.1:6379/15"
    try:
        first = LoginThrottle.from_config(redis_url, "3/minute", "100/minute")
        if not first.limiter.storage.check():
            pytest.skip("no Redis server on 127.0.0.1:6379")
    except Exception as exc:  # no server (or no client library): nothing to test here
        pytest.skip(f"no Redis on 127.0.0.1:6379: {exc.__class__.__name__}")
    second = LoginThrottle.from_config(redis_url, "3/minute", "100/minute")
    name = f"redis-{secrets.token_hex(4)}"
    first.failed(name, None)
    second.failed(name.upper(), None)
    first.failed(name, None)
    with pytest.raises(TooManyRequests) as refused:
        second.check(name, None)
    assert refused.value.code == "LOGIN_RATE_LIMITED"
    first.succeeded(name)
    second.check(name, None)


DEAD_REDIS = "redis://:hunter2@127.0.0.1:9/0"  # the discard port: nothing answers Redis there


def test_an_unreachable_counter_store_stops_start_up_before_anything(
    runtime_factory: Callable[..., Runtime], anvil: AnvilNode
) -> None:
    """HUBAO_RATE_LIMIT_STORAGE naming a Redis that does not answer: the host started, said it was
    up, and answered every sign-in 500 (found by the QA walk-through). Now one line at start-up,
    before anything is deployed, without the password."""
    with pytest.raises(ConfigError) as refused:
        runtime_factory(anvil, rate_limit_storage=DEAD_REDIS)
    assert refused.value.code == "RATE_LIMIT_STORAGE_UNREACHABLE"
    assert "redis://***@127.0.0.1:9/0 does not answer" in refused.value.message
    assert "hunter2" not in refused.value.message
    assert rpc_call(anvil.url, "eth_blockNumber") == "0x0"  # nothing deployed


def test_a_counter_store_lost_while_serving_is_503_not_500(
    plan_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account(plan_runtime, "member")
    monkeypatch.setattr(plan_runtime, "login_throttle", LoginThrottle.from_config(DEAD_REDIS, "10/minute", "50/minute"))
    status, headers, body = _login(Api(plan_runtime), account.username, PASSWORD)
    assert (status, body["code"]) == (503, "RATE_LIMIT_STORAGE_UNAVAILABLE")
    assert headers["retry-after"] == "5"
