"""Per-device sign-in sessions: each sign-in is a session named in its token (``sid``); signing out
ends that session only, "sign out everywhere" ends them all, and an owner lists their sessions and
ends another device's. A session ended is refused on the next request; no one ends another
account's session; no address is kept. A token, even expired, is refreshed into a new token of its
session until the session ends by age (``HUBAO_SESSION_MAX_AGE``) or is signed out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
import sqlalchemy as sa

from backend.db.models import Account, AuthSession
from backend.runtime import Runtime
from backend.services.auth import LAST_SEEN_RESOLUTION, SESSION_MAX_AGE, describe_device, issue_token
from tests.accounts.support import PASSWORD, Api, make_account

pytestmark = pytest.mark.xdist_group(name="accounts-sessions")

PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
SHARED_PC = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def _sign_in(api: Api, username: str, user_agent: str | None = None) -> str:
    headers = {"User-Agent": user_agent} if user_agent else {}
    response = api.post("/auth/token", data={"username": username, "password": PASSWORD}, headers=headers)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _sid(runtime: Runtime, token: str) -> str:
    return str(jwt.decode(token, runtime.jwt_secret, algorithms=["HS256"])["sid"])


def _refused(api: Api, token: str) -> str:
    response = api.get("/auth/me", token)
    assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")
    return str(response.json()["message"])


def test_logout_ends_this_device_only(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    phone = _sign_in(api, account.username, PHONE)
    shared_pc = _sign_in(api, account.username, SHARED_PC)

    assert api.post("/auth/logout", shared_pc).status_code == 204

    assert "signed out" in _refused(api, shared_pc)
    assert api.get("/auth/me", phone).json()["username"] == account.username
    listed = api.get("/auth/sessions", phone).json()
    assert [(s["device"], s["current"]) for s in listed] == [("Chrome on Android", True)]


def test_sessions_list_names_devices_and_keeps_no_address(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "reviewer")
    api = Api(plan_runtime)
    phone = _sign_in(api, account.username, PHONE)
    _sign_in(api, account.username, SHARED_PC)
    _sign_in(api, account.username, "curl/8.5.0")

    response = api.get("/auth/sessions", phone)
    assert response.status_code == 200
    listed = response.json()
    assert sorted(s["device"] for s in listed) == ["Chrome on Android", "Firefox on Windows", "curl"]
    assert [s["current"] for s in listed].count(True) == 1
    mine = next(s for s in listed if s["current"])
    assert mine["id"] == _sid(plan_runtime, phone)
    assert set(mine) == {"id", "device", "createdAt", "lastSeenAt", "expiresAt", "current"}
    # Neither the answer nor the table holds the client's address or its whole User-Agent.
    assert "127.0.0.1" not in response.text
    assert "Pixel 8" not in response.text
    assert {c.name for c in AuthSession.__table__.columns} == {
        "id",
        "account_id",
        "device",
        "created_at",
        "last_seen_at",
        "expires_at",
        "revoked_at",
        "generation",
        "rotated_at",
    }


def test_owner_ends_another_devices_session(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    phone = _sign_in(api, account.username, PHONE)
    forgotten = _sign_in(api, account.username, SHARED_PC)

    assert api.request("DELETE", f"/auth/sessions/{_sid(plan_runtime, forgotten)}", phone).status_code == 204

    _refused(api, forgotten)
    assert api.get("/auth/me", phone).status_code == 200
    assert [s["current"] for s in api.get("/auth/sessions", phone).json()] == [True]
    # Ending it again is harmless.
    assert api.request("DELETE", f"/auth/sessions/{_sid(plan_runtime, forgotten)}", phone).status_code == 204


def test_logout_all_ends_every_session_and_signing_in_again_works(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "juror")
    api = Api(plan_runtime)
    tokens = [_sign_in(api, account.username, agent) for agent in (PHONE, SHARED_PC, None)]

    assert api.post("/auth/logout-all", tokens[0]).status_code == 204

    for token in tokens:
        _refused(api, token)
    fresh = _sign_in(api, account.username)
    assert [s["current"] for s in api.get("/auth/sessions", fresh).json()] == [True]


def test_other_account_cannot_end_or_see_my_session(plan_runtime: Runtime) -> None:
    me = make_account(plan_runtime, "member")
    mallory = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    mine = _sign_in(api, me.username, PHONE)
    theirs = _sign_in(api, mallory.username, SHARED_PC)

    refused = api.request("DELETE", f"/auth/sessions/{_sid(plan_runtime, mine)}", theirs)
    nonexistent = api.request("DELETE", f"/auth/sessions/{'0' * 32}", theirs)

    assert (refused.status_code, refused.json()["code"]) == (404, "SESSION_NOT_FOUND")
    assert refused.json() == nonexistent.json()  # the same answer as for no session at all
    assert api.get("/auth/me", mine).status_code == 200
    assert [s["id"] for s in api.get("/auth/sessions", theirs).json()] == [_sid(plan_runtime, theirs)]


def test_tokens_without_a_session_of_their_account_are_refused(plan_runtime: Runtime) -> None:
    me = make_account(plan_runtime, "operator")
    other = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    mine = jwt.decode(_sign_in(api, me.username), plan_runtime.jwt_secret, algorithms=["HS256"])
    other_sid = _sid(plan_runtime, _sign_in(api, other.username))
    without_sid = {k: v for k, v in mine.items() if k != "sid"}
    borrowed_sid = {**mine, "sid": other_sid}  # another account's live session under my account id

    for claims in (without_sid, borrowed_sid, {**mine, "sid": "0" * 32}):
        assert "invalid or expired" in _refused(api, jwt.encode(claims, plan_runtime.jwt_secret, algorithm="HS256"))


def test_an_expired_token_is_told_to_sign_in_again(plan_runtime: Runtime) -> None:
    """A claimant scripting with curl 30 minutes later read "invalid or expired token" (found by the
    QA walk-through): an expired token now says it expired, and what to do."""
    account = make_account(plan_runtime, "member")
    with plan_runtime.sessions.begin() as session:
        fresh = session.get(Account, account.id)
        assert fresh is not None
        old = issue_token(session, fresh, plan_runtime.jwt_secret, now=datetime.now(UTC) - timedelta(hours=1))
    message = _refused(Api(plan_runtime), old)
    assert message == (
        "your token expired (tokens last 30 minutes): POST /auth/refresh with it for a new one while its "
        "sign-in lasts, or sign in again"
    )


def test_operator_revocation_ends_the_listed_sessions(plan_runtime: Runtime) -> None:
    operator = make_account(plan_runtime, "operator")
    member = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    staff = _sign_in(api, operator.username)
    tokens = [_sign_in(api, member.username, agent) for agent in (PHONE, SHARED_PC)]

    assert api.post(f"/accounts/{member.id}/revoke-tokens", staff).status_code == 200

    for token in tokens:
        _refused(api, token)
    with plan_runtime.sessions() as session:
        open_rows = session.scalars(
            sa.select(AuthSession).where(AuthSession.account_id == member.id, AuthSession.revoked_at.is_(None))
        ).all()
    assert open_rows == []


def test_expired_sessions_leave_the_list_and_are_deleted_at_a_later_sign_in(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "auditor")
    api = Api(plan_runtime)
    old = _sign_in(api, account.username, PHONE)
    with plan_runtime.sessions.begin() as session:
        row = session.get(AuthSession, _sid(plan_runtime, old))
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    current = _sign_in(api, account.username, SHARED_PC)  # deletes the expired row on the way

    assert [s["device"] for s in api.get("/auth/sessions", current).json()] == ["Firefox on Windows"]
    with plan_runtime.sessions() as session:
        assert session.get(AuthSession, _sid(plan_runtime, old)) is None


def test_last_seen_moves_once_per_resolution(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    token = _sign_in(api, account.username)
    sid = _sid(plan_runtime, token)
    earlier = datetime.now(UTC) - LAST_SEEN_RESOLUTION - timedelta(seconds=5)
    with plan_runtime.sessions.begin() as session:
        row = session.get(AuthSession, sid)
        assert row is not None
        row.last_seen_at = earlier

    assert api.get("/auth/me", token).status_code == 200

    with plan_runtime.sessions() as session:
        row = session.get(AuthSession, sid)
        assert row is not None
        assert row.last_seen_at > earlier + LAST_SEEN_RESOLUTION


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (PHONE, "Chrome on Android"),
        (SHARED_PC, "Firefox on Windows"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0", "Edge on Windows"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0 Safari/537.36", "Chrome on Linux"),
        ("python-httpx/0.28.1", "python-httpx"),
        ("", "unknown device"),
        (None, "unknown device"),
        ("   ", "unknown device"),
    ],
)
def test_describe_device_names_browser_and_system_only(user_agent: str | None, device: str) -> None:
    assert describe_device(user_agent) == device


# --- refresh -------------------------------------------------------------------------------------


def _issued(runtime: Runtime, account: Account, ago: timedelta, max_age: timedelta = SESSION_MAX_AGE) -> str:
    """A token of a session signed in ``ago`` (its 30-minute token expired unless ``ago`` is shorter)."""
    with runtime.sessions.begin() as session:
        fresh = session.get(Account, account.id)
        assert fresh is not None
        return issue_token(session, fresh, runtime.jwt_secret, now=datetime.now(UTC) - ago, max_age=max_age)


def _refresh(api: Api, token: str | None) -> dict[str, object]:
    response = api.post("/auth/refresh", token)
    body: dict[str, object] = response.json()
    body["status"] = response.status_code
    return body


def test_refresh_gives_a_new_token_of_the_same_session(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "reviewer")
    api = Api(plan_runtime)
    signed_in = api.post("/auth/token", data={"username": account.username, "password": PASSWORD}).json()
    assert 1790 <= signed_in["expires_in"] <= 1800
    old = signed_in["access_token"]
    refreshed = _refresh(api, old)
    assert (refreshed["status"], refreshed["token_type"], refreshed["role"]) == (200, "bearer", "reviewer")
    new = str(refreshed["access_token"])
    assert _sid(plan_runtime, new) == _sid(plan_runtime, old)
    assert api.get("/auth/me", new).json()["username"] == account.username
    assert [s["current"] for s in api.get("/auth/sessions", new).json()] == [True]  # one session, not two
    # The session lasts HUBAO_SESSION_MAX_AGE (12 h by default) from sign-in.
    listed = api.get("/auth/sessions", new).json()[0]
    lasts = datetime.fromisoformat(listed["expiresAt"]) - datetime.fromisoformat(listed["createdAt"])
    assert lasts == timedelta(seconds=plan_runtime.settings.session_max_age) == SESSION_MAX_AGE


def test_refresh_takes_an_expired_token_while_its_session_lasts(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    expired = _issued(plan_runtime, account, timedelta(hours=2))
    assert "POST /auth/refresh" in _refused(api, expired)
    refreshed = _refresh(api, expired)
    assert refreshed["status"] == 200
    assert api.get("/auth/me", str(refreshed["access_token"])).status_code == 200


def test_refresh_never_reaches_past_the_sessions_end(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    # Ten minutes of the session left: the new token ends with it, not 30 minutes from now.
    ending = _issued(plan_runtime, account, SESSION_MAX_AGE - timedelta(minutes=10))
    refreshed = _refresh(api, ending)
    assert refreshed["status"] == 200
    assert 590 <= int(str(refreshed["expires_in"])) <= 600
    ended = _issued(plan_runtime, account, SESSION_MAX_AGE + timedelta(minutes=1))
    assert _refresh(api, ended) == {
        "status": 401,
        "code": "UNAUTHORIZED",
        "message": "this session has ended (a sign-in lasts a limited time): sign in again",
    }
    short = _issued(plan_runtime, account, timedelta(minutes=40), max_age=timedelta(minutes=35))
    assert _refresh(api, short)["status"] == 401  # a shorter HUBAO_SESSION_MAX_AGE bounds it the same way


def test_refresh_refuses_signed_out_sessions_and_tokens_not_ours(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    phone, laptop, tablet = (_sign_in(api, account.username, agent) for agent in (PHONE, SHARED_PC, None))
    expired = _issued(plan_runtime, account, timedelta(hours=1))

    assert api.post("/auth/logout", phone).status_code == 204
    signed_out = _refresh(api, phone)
    assert (signed_out["status"], signed_out["message"]) == (401, "this session was signed out: sign in again")
    assert _refresh(api, laptop)["status"] == 200  # the other devices go on

    assert api.post("/auth/logout-all", laptop).status_code == 204
    for token in (laptop, tablet, expired):
        assert (_refresh(api, token)["status"], _refresh(api, token)["code"]) == (401, "UNAUTHORIZED")

    claims = jwt.decode(_sign_in(api, account.username), plan_runtime.jwt_secret, algorithms=["HS256"])
    forged = jwt.encode(claims, "another secret of at least 32 bytes!", algorithm="HS256")
    assert _refresh(api, forged)["message"] == "invalid token: sign in again"
    assert _refresh(api, None)["status"] == 401


def test_refresh_refuses_a_disabled_account(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    token = _sign_in(api, account.username)
    with plan_runtime.sessions.begin() as session:
        row = session.get(Account, account.id)
        assert row is not None
        row.disabled = True
    assert _refresh(api, token)["status"] == 401


def _age_rotation(runtime: Runtime, token: str, by: timedelta) -> None:
    """Move the session's last rotation ``by`` into the past (the grace then has run out)."""
    with runtime.sessions.begin() as session:
        row = session.get(AuthSession, _sid(runtime, token))
        assert row is not None
        assert row.rotated_at is not None
        row.rotated_at = row.rotated_at - by


def test_refresh_rotates_and_a_replayed_token_ends_the_session(plan_runtime: Runtime) -> None:
    """Each refresh moves the session on a generation; the replaced token, refreshed again after
    REFRESH_GRACE (its owner and someone who copied it both hold it), ends the session for both."""
    from backend.services.auth import REFRESH_GRACE

    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    first = _sign_in(api, account.username)
    second = str(_refresh(api, first)["access_token"])
    third = str(_refresh(api, second)["access_token"])
    generations = [jwt.decode(t, options={"verify_signature": False})["gen"] for t in (first, second, third)]
    assert generations == [0, 1, 2]
    _age_rotation(plan_runtime, third, REFRESH_GRACE + timedelta(seconds=1))
    replayed = _refresh(api, second)
    assert (replayed["status"], replayed["code"]) == (401, "SESSION_REPLAYED")
    # The session is over: the newest token is refused too, on requests and on refresh.
    assert api.get("/auth/me", third).status_code == 401
    assert _refresh(api, third)["status"] == 401
    with plan_runtime.sessions() as session:
        row = session.get(AuthSession, _sid(plan_runtime, third))
        assert row is not None
        assert row.revoked_at is not None
    # A token two generations old is a replay even within the grace of the last rotation.
    again = _sign_in(api, account.username)
    newer = str(_refresh(api, again)["access_token"])
    _refresh(api, newer)
    assert _refresh(api, again)["code"] == "SESSION_REPLAYED"


def test_a_second_tab_refreshing_the_same_token_within_the_grace_keeps_the_session(plan_runtime: Runtime) -> None:
    account = make_account(plan_runtime, "member")
    api = Api(plan_runtime)
    shared = _sign_in(api, account.username)
    one = _refresh(api, shared)
    other = _refresh(api, shared)  # the other tab, a moment later
    assert (one["status"], other["status"]) == (200, 200)
    gens = {jwt.decode(str(t["access_token"]), options={"verify_signature": False})["gen"] for t in (one, other)}
    assert gens == {1}  # both hold the current generation; the session moved once
    assert api.get("/auth/me", str(other["access_token"])).status_code == 200
    assert _refresh(api, str(other["access_token"]))["status"] == 200  # and it goes on rotating
