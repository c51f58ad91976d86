from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from backend.api.deps import BearerToken, CurrentPrincipal, RuntimeDep, SessionDep
from backend.api.schemas import ApiModel
from backend.errors import Unauthorized
from backend.services.accounts import revoke_all_tokens
from backend.services.auth import end_session, list_sessions, refresh_token, sign_in_session
from backend.services.login_throttle import sign_in

router = APIRouter(tags=["auth"])


# RFC 6749 §5.1 names the token answer's fields (access_token, token_type): the one JSON body that is
# not camelCase, so that OAuth2 clients (Swagger UI's "Authorize" among them) read it.
class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="seconds until this token expires: refresh it before (POST /auth/refresh)")
    role: str


class Me(ApiModel):
    id: str
    username: str
    role: str


class SessionOut(ApiModel):
    """One signed-in device: a short description of its browser (no address is kept), when it
    signed in and was last seen (to the minute), when the session ends; ``current``: this one."""

    id: str
    device: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime = Field(description="when the session ends (its tokens are refreshed until then)")
    current: bool


@router.post(
    "/auth/token",
    response_model=Token,
    summary="OAuth2 password flow: a short-lived bearer token (usernames are case-insensitive)",
    responses={429: {"description": "too many failed sign-ins for this account or client (Retry-After)"}},
)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, runtime: RuntimeDep) -> Token:
    client = request.client.host if request.client else None
    account = sign_in(runtime.sessions, runtime.login_throttle, form.username, form.password, client)
    issued = sign_in_session(
        runtime.sessions,
        account,
        runtime.jwt_secret,
        user_agent=request.headers.get("user-agent"),
        max_age=timedelta(seconds=runtime.settings.session_max_age),
    )
    return Token(access_token=issued.token, expires_in=issued.expires_in(), role=account.role)


@router.post(
    "/auth/refresh",
    response_model=Token,
    summary="A new token for this session (send the current one, even expired): until the session ends "
    "(HUBAO_SESSION_MAX_AGE after sign-in) or is signed out",
    responses={401: {"description": "the token is not ours, or its session has ended or was signed out"}},
)
def refresh(token: BearerToken, runtime: RuntimeDep) -> Token:
    if not token:
        raise Unauthorized("send the token to refresh: Authorization: Bearer <token>")
    issued = refresh_token(runtime.sessions, token, runtime.jwt_secret)
    return Token(access_token=issued.token, expires_in=issued.expires_in(), role=issued.role)


@router.get("/auth/me", response_model=Me, summary="The signed-in account")
def me(principal: CurrentPrincipal) -> Me:
    return Me(id=principal.account_id, username=principal.username, role=principal.role)


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    summary="Sign out on this device: this token stops working; the account's other sessions go on",
)
def logout(principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    if principal.session_id is not None:  # every token names its session
        end_session(runtime.sessions, principal, principal.session_id)
    return Response(status_code=204)


@router.post(
    "/auth/logout-all",
    status_code=204,
    response_class=Response,
    summary="Sign out everywhere: every token issued so far to this account stops working (every device)",
)
def logout_all(principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    revoke_all_tokens(runtime.sessions, principal.account_id)
    return Response(status_code=204)


@router.get(
    "/auth/sessions",
    response_model=list[SessionOut],
    summary="The signed-in account's open sessions (devices), the most recently seen first",
)
def sessions(principal: CurrentPrincipal, session: SessionDep) -> list[SessionOut]:
    return [SessionOut.of(view) for view in list_sessions(session, principal)]


@router.delete(
    "/auth/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    summary="Sign out one of your own sessions (another device): its token stops working",
    responses={404: {"description": "no session of yours has this id (SESSION_NOT_FOUND)"}},
)
def end_one_session(session_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    end_session(runtime.sessions, principal, session_id)
    return Response(status_code=204)
