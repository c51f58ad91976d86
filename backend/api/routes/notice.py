"""The public notice (redacted) and objections."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep, SessionDep
from backend.api.schemas import ApiModel
from backend.services import notice as service
from backend.services.claims import ledger

router = APIRouter(prefix="/notice", tags=["notice"])


class NoticeOut(ApiModel):
    notice_id: str = Field(description="the claim's id on ClaimLedger")
    illness_code: str
    age_band: str
    payout_fen: int
    report_hashes: list[str]
    notice_ends: int = Field(description="block timestamp when the objection window closes")
    rule_set_hash: str
    chain_mismatch: list[str] = Field(
        default_factory=list, description="fields whose database copy disagrees with ClaimLedger (the chain's shown)"
    )


class ObjectionIn(ApiModel):
    reason: str = Field(min_length=1, max_length=500, description="kept off chain")


class ObjectionOut(ApiModel):
    notice_id: str
    status: str
    at: datetime


@router.get("", response_model=list[NoticeOut], summary="Claims in public notice (redacted)")
def notice(
    runtime: RuntimeDep,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,  # beyond SQLite INTEGER: a 500
) -> list[NoticeOut]:
    entries = service.public_notice(session, principal, limit=limit, offset=offset, chain=ledger(runtime))
    return [NoticeOut.of(e) for e in entries]


@router.post(
    "/{notice_id}/objections",
    status_code=201,
    response_model=ObjectionOut,
    summary="Object to a claim in notice (once per member); the claim goes to a jury",
    responses={409: {"description": "already objected, own claim, or window closed"}},
)
def object_(notice_id: str, body: ObjectionIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> ObjectionOut:
    return ObjectionOut.of(service.object_to_claim(runtime, principal, notice_id, body.reason))
