"""Dependency aliases: every router takes its resources from here, built once in the lifespan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from backend.errors import Unauthorized
from backend.runtime import Runtime
from backend.services.auth import Principal, principal_from_token, require_role

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def get_runtime(request: Request) -> Runtime:
    # async: no I/O here, and FastAPI runs a plain ``def`` dependency in the thread pool — a
    # thread hop on every request for an attribute read.
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]


def current_principal(
    runtime: Annotated[Runtime, Depends(get_runtime)],
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    if not token:
        raise Unauthorized("sign in first: send Authorization: Bearer <token>")
    return principal_from_token(runtime.sessions, token, runtime.jwt_secret)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
# The bearer token as sent, unchecked (POST /auth/refresh takes an expired one).
BearerToken = Annotated[str | None, Depends(oauth2_scheme)]


def role_dependency(*roles: str) -> object:
    """``Depends`` that admits only the given roles (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Principal:
        require_role(principal, *roles)
        return principal

    return Depends(check)
