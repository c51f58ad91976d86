from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from backend.api.deps import CurrentPrincipal, RuntimeDep
from backend.api.schemas import ApiModel
from backend.services.accounts import revoke_all_tokens
from backend.services.auth import issue_token
from backend.services.login_throttle import sign_in

router = APIRouter(tags=["auth"])


# RFC 6749 §5.1 names the token answer's fields (access_token, token_type): the one JSON body that is
# not camelCase, so that OAuth2 clients (Swagger UI's "Authorize" among them) read it.
class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    role: str


class Me(ApiModel):
    id: str
    username: str
    role: str


@router.post(
    "/auth/token",
    response_model=Token,
    summary="OAuth2 password flow: a short-lived bearer token (usernames are case-insensitive)",
    responses={429: {"description": "too many failed sign-ins for this account or client (Retry-After)"}},
)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, runtime: RuntimeDep) -> Token:
    client = request.client.host if request.client else None
    account = sign_in(runtime.sessions, runtime.login_throttle, form.username, form.password, client)
    return Token(access_token=issue_token(account, runtime.jwt_secret), role=account.role)


@router.get("/auth/me", response_model=Me, summary="The signed-in account")
def me(principal: CurrentPrincipal) -> Me:
    return Me(id=principal.account_id, username=principal.username, role=principal.role)


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    summary="Sign out: every token issued so far to this account stops working (on every device)",
)
def logout(principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    revoke_all_tokens(runtime.sessions, principal.account_id)
    return Response(status_code=204)
