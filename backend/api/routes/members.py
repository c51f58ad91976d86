"""Plan membership of the signed-in member: join, view, exit."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import ConfigDict, Field

from backend.api.deps import RuntimeDep, SessionDep, role_dependency
from backend.api.schemas import ApiModel, Hex
from backend.services import membership, membership_log
from backend.services.auth import Principal
from backend.services.chain_clock import queue_time

router = APIRouter(prefix="/members", tags=["members"])

MemberPrincipal = Annotated[Principal, role_dependency("member")]


class JoinRequest(ApiModel):
    """The applicant's declarations; everything else (status, dates, commitment) is the server's."""

    model_config = ConfigDict(extra="forbid")

    birth_date: date
    credit_score: int = Field(ge=0, le=1000)
    health_answers: list[bool] = Field(
        min_length=1, max_length=50, description="one answer per question of GET /rules/current, true = 'yes'"
    )


class MemberOut(ApiModel):
    """The member's own view: never the commitment's salt."""

    id: str
    status: str
    joined_at: datetime
    waiting_ends_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    rule_set_hash: Hex
    commitment: Hex = Field(description="the member's salted identity on chain")


@router.post(
    "/join",
    status_code=201,
    response_model=MemberOut,
    summary="Join the plan under the rule set in force",
    responses={
        409: {"description": "ALREADY_A_MEMBER, MEMBERSHIP_ENDED or PLAN_WINDING_DOWN"},
        422: {"description": "NOT_ELIGIBLE_AGE, NOT_ELIGIBLE_CREDIT, NOT_ELIGIBLE_HEALTH, HEALTH_ANSWERS_MISMATCH"},
    },
)
def join(body: JoinRequest, runtime: RuntimeDep, principal: MemberPrincipal) -> MemberOut:
    # On the chain's clock (the later of it and the wall clock): the membership log's anchoring
    # deadline and the periods' snapshots are judged by block time, and on a development chain moved
    # days ahead a wall-clock join looked anchored late and left out of a period already published.
    member = membership.join_plan(
        runtime, principal.account_id, body.birth_date, body.credit_score, body.health_answers, queue_time(runtime)
    )
    return MemberOut.of(member)


@router.get("/me", response_model=MemberOut, summary="The signed-in member's membership")
def me(session: SessionDep, principal: MemberPrincipal) -> MemberOut:
    return MemberOut.of(membership.member_of(session, principal.account_id))


@router.get(
    "/me/join-receipt",
    summary="Version-1 join receipt: the member's leaf in the anchored membership log, its proof and batch",
    responses={
        404: {"description": "NOT_A_MEMBER"},
        409: {"description": "JOIN_NOT_ANCHORED: queued, its batch not yet confirmed on chain"},
    },
)
def my_join_receipt(runtime: RuntimeDep, session: SessionDep, principal: MemberPrincipal) -> dict[str, Any]:
    """The public copy (no salt; ``leaf.memberCommitment`` is the ``commitment`` of ``GET /members/me``);
    verify it with ``hubao shares verify FILE --rpc URL --apportionment ADDRESS``."""
    return membership_log.my_join_receipt(runtime, session, principal.account_id).to_json()


@router.post("/me/exit", response_model=MemberOut, summary="Leave the plan now")
def exit_plan(runtime: RuntimeDep, principal: MemberPrincipal) -> MemberOut:
    return MemberOut.of(membership.leave_plan(runtime.sessions, principal.account_id, queue_time(runtime)))
