"""The web UI keeps its sign-in alive: a minute before the tab's token expires it asks for a new one of
the same session (``POST /auth/refresh``) — by a timer, and before a request that would carry the
token late — and once the session has ended the refresh's 401 sends the tab back to sign in.

The page is the app's (``/app/``, Debian's chromium); the API here is a stand-in that records what
the page sends (the refresh rules themselves are tested against the real API in
``tests/accounts/test_sessions.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend.api.errors import install_error_handlers
from backend.web import mount_web
from tests.web.browser import require_browser, serve
from tests.web.browser_fixtures import chromium, watched_page

pytestmark = pytest.mark.xdist_group("web-session-refresh")

ENDED = "token-of-an-ended-session"


def _stand_in_api(seen: list[str]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    mount_web(app)

    @app.post("/auth/refresh")
    def refresh(request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        seen.append(f"refresh {token}")
        if token == ENDED:
            body = {"code": "UNAUTHORIZED", "message": "this session has ended: sign in again"}
            return JSONResponse(body, status_code=401)
        return JSONResponse({"access_token": f"{token}+", "token_type": "bearer", "expires_in": 1800, "role": "member"})

    @app.get("/auth/me")
    def me(request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        seen.append(f"me {token}")
        if not token:
            return JSONResponse({"code": "UNAUTHORIZED", "message": "sign in first"}, status_code=401)
        return JSONResponse({"id": "m1", "username": "ann", "role": "member"})

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    require_browser()
    seen: list[str] = []
    with serve(_stand_in_api(seen)) as url:
        yield url, seen


@pytest.fixture
def page(server: tuple[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url, seen = server
    with chromium(tmp_path_factory.mktemp("web-session-refresh")) as context:
        page = watched_page(context)
        page.goto(f"{url}/app/#/signin")
        seen.clear()
        yield page


def _stored(page: Any) -> dict[str, Any] | None:
    raw = page.evaluate("() => sessionStorage.getItem('hubao.session')")
    return None if raw is None else dict(json.loads(raw))


def _sign_in_as(page: Any, token: str, expires_in_ms: int) -> None:
    page.evaluate(
        """([token, inMs]) => sessionStorage.setItem('hubao.session', JSON.stringify(
            { token, expiresAt: Date.now() + inMs, role: 'member', username: 'ann', id: 'm1' }))""",
        [token, expires_in_ms],
    )


def test_a_token_about_to_expire_is_refreshed_before_the_request(page: Any, server: tuple[str, list[str]]) -> None:
    _, seen = server
    _sign_in_as(page, "t1", 30_000)  # inside the last minute
    page.evaluate("async () => { const m = await import('/app/js/api.js'); await m.api('/auth/me'); }")
    assert seen == ["refresh t1", "me t1+"]
    stored = _stored(page)
    assert stored is not None
    assert stored["token"] == "t1+"
    assert page.evaluate("(at) => at - Date.now() > 1_700_000", stored["expiresAt"])
    page.evaluate("async () => { const m = await import('/app/js/api.js'); await m.api('/auth/me'); }")
    assert seen[-1] == "me t1+"  # fresh now: no second refresh
    assert seen.count("refresh t1+") == 0


def test_the_timer_refreshes_a_minute_before_expiry_without_a_request(page: Any, server: tuple[str, list[str]]) -> None:
    _, seen = server
    _sign_in_as(page, "t2", 61_000)
    page.evaluate("async () => (await import('/app/js/api.js')).keepSessionFresh()")
    page.wait_for_function("() => JSON.parse(sessionStorage.getItem('hubao.session')).token === 't2+'")
    assert seen == ["refresh t2"]


def test_an_ended_session_sends_the_tab_back_to_sign_in(page: Any, server: tuple[str, list[str]]) -> None:
    _, seen = server
    _sign_in_as(page, ENDED, -5_000)  # expired; its session has ended too
    page.evaluate(
        "async () => { const m = await import('/app/js/api.js'); await m.api('/auth/me').catch(() => null); }"
    )
    assert seen[0] == f"refresh {ENDED}"
    assert _stored(page) is None
    page.wait_for_function("() => location.hash === '#/signin'")
    assert "Your session ended: please sign in again." in page.inner_text("body")
