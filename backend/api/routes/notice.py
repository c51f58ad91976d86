"""The public notice (redacted) and objections."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

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
    objector_key: str = Field(
        pattern=r"^0x[0-9a-fA-F]{40}$", description="address of the fresh key your device made for this objection"
    )
    # Seconds, exact in every JSON reader (2^53 - 1): the draft's deadline is years away at most.
    deadline: int = Field(ge=0, le=2**53 - 1, description="the signed Objection's deadline (from the draft)")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="the Objection signed by that key")


class ConsentDraftOut(ApiModel):
    typed_data: dict[str, Any] = Field(description="the EIP-712 document to sign on your device")
    signer: str | None = Field(description="the key that must sign it (none: a fresh key of your device)")


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
    signed = service.SignedObjection(body.objector_key, body.deadline, bytes.fromhex(body.signature[2:]))
    return ObjectionOut.of(service.object_to_claim(runtime, principal, notice_id, body.reason, signed))


@router.post(
    "/{notice_id}/objections/draft",
    response_model=ConsentDraftOut,
    summary="The Objection to sign on your device with a fresh key of its own (then POST the objection)",
    responses={409: {"description": "already objected, own claim, or window closed"}},
)
def objection_draft(notice_id: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ConsentDraftOut:
    return ConsentDraftOut.model_validate(service.objection_draft(runtime, principal, notice_id))
