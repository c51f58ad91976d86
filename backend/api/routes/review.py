"""Reviewer endpoints: the queue, claim detail, evidence verification and download, verdicts.

Every per-claim endpoint answers an unassigned caller exactly as it answers a nonexistent id (404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep, SessionDep
from backend.api.downloads import evidence_response
from backend.api.schemas import ApiModel, ClaimOut, VerdictIn, VerdictOut
from backend.errors import NotFound
from backend.services import review as service
from backend.services import review_evidence, review_verdicts

router = APIRouter(prefix="/review", tags=["review"])


class QueueEntryOut(ApiModel):
    id: str
    claim_id: str
    status: str
    illness_code: str
    flags: list[str]
    assigned_at: datetime
    verdict: str | None


class ReviewDetailOut(ApiModel):
    claim: ClaimOut
    member_age_at_diagnosis: int
    waiting_ends_at: datetime
    joined_at: datetime
    verdict: str | None
    reason_code: str | None
    report_hash: str | None


class CheckOut(ApiModel):
    name: str
    status: Literal["pass", "fail", "pending"]
    detail: str


class VerificationOut(ApiModel):
    evidence_id: str
    verified: bool = Field(description="true only when all four checks pass")
    checks: list[CheckOut]


@router.get("/queue", response_model=list[QueueEntryOut], summary="Claims assigned to me")
def queue(
    session: SessionDep, principal: CurrentPrincipal, pending: Annotated[bool, Query()] = False
) -> list[QueueEntryOut]:
    return [QueueEntryOut.of(e) for e in service.review_queue(session, principal, pending_only=pending)]


@router.get("/claims/{claim_pk}", response_model=ReviewDetailOut, summary="An assigned claim")
def detail(claim_pk: str, session: SessionDep, principal: CurrentPrincipal) -> ReviewDetailOut:
    return ReviewDetailOut.of(service.review_detail(session, principal, claim_pk))


@router.get(
    "/claims/{claim_pk}/evidence/{evidence_id}/verification",
    response_model=VerificationOut,
    summary="Decrypt, re-hash, commitment and on-chain inclusion checks of one evidence file",
)
def verification(claim_pk: str, evidence_id: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> VerificationOut:
    return VerificationOut.of(review_evidence.verify_claim_evidence(runtime, principal, claim_pk, evidence_id))


@router.get(
    "/claims/{claim_pk}/evidence/{evidence_id}/content",
    response_class=StreamingResponse,
    summary="The decrypted evidence file (assigned reviewers; every decryption is logged)",
)
def content(claim_pk: str, evidence_id: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> StreamingResponse:
    if principal.role != "reviewer":
        raise NotFound("no such evidence")
    return evidence_response(review_evidence.open_claim_evidence(runtime, principal, claim_pk, evidence_id))


@router.post("/claims/{claim_pk}/verdict", response_model=VerdictOut, summary="Sign and relay my verdict")
def verdict(claim_pk: str, body: VerdictIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> VerdictOut:
    result = review_verdicts.submit_verdict(
        runtime, principal, claim_pk, review_verdicts.VerdictRequest(body.verdict, body.reason_code, body.report)
    )
    return VerdictOut.of(result)
