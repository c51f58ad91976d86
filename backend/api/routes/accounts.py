"""Accounts: staff accounts and relations (operator), self-service member registration (public)."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import ConfigDict, Field

from backend.api.deps import RuntimeDep, role_dependency
from backend.api.schemas import ApiModel, Hex, OnChainRoleOut
from backend.errors import TooManyRequests
from backend.services import accounts as service
from backend.services.accounts import MIN_PASSWORD, USERNAME_RE
from backend.services.auth import Principal

router = APIRouter(prefix="/accounts", tags=["accounts"])

Operator = Annotated[Principal, role_dependency("operator")]

# Self-service registration quota per client address (RELIABILITY.md D13). Kept per process: behind
# several replicas the effective quota is multiplied by their number.
REGISTRATIONS_PER_WINDOW = 10
REGISTRATION_WINDOW_SECONDS = 3600.0
MAX_PAGE = 100


class SlidingWindowQuota:
    """At most ``limit`` events per ``window`` seconds per key (thread-safe, monotonic clock)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Count one event for ``key`` or raise TooManyRequests with the seconds until a slot frees."""
        now = time.monotonic()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                retry_after = int(events[0] + self.window - now) + 1
                raise TooManyRequests(
                    "too many registrations from this address: try again later", retry_after=retry_after
                )
            events.append(now)


_quota_lock = threading.Lock()


def registration_quota(request: Request) -> SlidingWindowQuota:
    """The app's registration quota (one per app instance)."""
    with _quota_lock:
        quota: SlidingWindowQuota | None = getattr(request.app.state, "registration_quota", None)
        if quota is None:
            quota = SlidingWindowQuota(REGISTRATIONS_PER_WINDOW, REGISTRATION_WINDOW_SECONDS)
            request.app.state.registration_quota = quota
        return quota


class StaffAccountCreate(ApiModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64, json_schema_extra={"pattern": USERNAME_RE.pattern})
    # The schema shows the service's rules (INVALID_USERNAME, WEAK_PASSWORD); the service enforces them.
    password: str = Field(min_length=1, max_length=256, json_schema_extra={"minLength": MIN_PASSWORD})
    role: Literal["reviewer", "juror", "auditor", "operator"]


class Registration(ApiModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64, json_schema_extra={"pattern": USERNAME_RE.pattern})
    # The schema shows the service's rules (INVALID_USERNAME, WEAK_PASSWORD); the service enforces them.
    password: str = Field(min_length=1, max_length=256, json_schema_extra={"minLength": MIN_PASSWORD})


class AccountOut(ApiModel):
    """Public view of an account: never the password hash or the sealed signing key."""

    id: str
    username: str
    role: str
    signing_address: str | None = Field(None, description="EIP-712 signer of reviewers and jurors")
    disabled: bool
    created_at: datetime
    on_chain_role: OnChainRoleOut | None = Field(
        None, description="the signing address's roster role (reviewers and jurors with an address; list only)"
    )


class RelationCreate(ApiModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")


class RelationOut(ApiModel):
    account_id: str
    member_id: str
    tx_hash: Hex | None = Field(None, description="declareConflict transaction (null when already on chain)")


@router.post(
    "",
    status_code=201,
    response_model=AccountOut,
    summary="Create a staff account (reviewers and jurors get a signing key and their on-chain role)",
)
def create_staff_account(body: StaffAccountCreate, runtime: RuntimeDep, _operator: Operator) -> AccountOut:
    return AccountOut.of(service.create_staff_account(runtime, body.username, body.password, body.role))


@router.get("", response_model=list[AccountOut], summary="List accounts (operator), at most 100 per page")
def list_accounts(
    runtime: RuntimeDep,
    _operator: Operator,
    role: Annotated[Literal["member", "reviewer", "juror", "auditor", "operator"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AccountOut]:
    return [AccountOut.of(a) for a in service.account_views(runtime, role=role, limit=limit, offset=offset)]


@router.post(
    "/register",
    status_code=201,
    response_model=AccountOut,
    summary="Create a member login (public; joining the plan is POST /members/join)",
    responses={429: {"description": "registration quota of this address used up"}},
)
def register(body: Registration, request: Request, runtime: RuntimeDep) -> AccountOut:
    registration_quota(request).take(request.client.host if request.client else "unknown")
    return AccountOut.of(service.sign_up(runtime.sessions, body.username, body.password))


@router.post(
    "/{account_id}/revoke-tokens",
    response_model=AccountOut,
    summary="Invalidate every token issued so far to this account",
)
def revoke_tokens(account_id: str, runtime: RuntimeDep, _operator: Operator) -> AccountOut:
    return AccountOut.of(service.revoke_all_tokens(runtime.sessions, account_id))


@router.post(
    "/{account_id}/relations",
    status_code=201,
    response_model=RelationOut,
    summary="Declare a reviewer/juror related to a member (stored, and declareConflict on chain)",
)
def declare_relation(account_id: str, body: RelationCreate, runtime: RuntimeDep, _operator: Operator) -> RelationOut:
    return RelationOut.of(service.declare_relation(runtime, account_id, body.member_id))
