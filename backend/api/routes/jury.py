"""Juror endpoints: assignments, the case, commit and reveal (salts are kept by the server)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.api.deps import CurrentPrincipal, RuntimeDep, SessionDep
from backend.api.schemas import ApiModel
from backend.services import jury as service

router = APIRouter(prefix="/jury", tags=["jury"])


class AssignmentOut(ApiModel):
    id: str
    claim_id: str
    round: int
    status: str
    illness_code: str
    payout_fen: int
    commit_ends: int
    reveal_ends: int
    committed: bool
    revealed: bool
    vote: bool | None


class CaseOut(ApiModel):
    assignment: AssignmentOut
    age_band: str
    flags: list[str]
    verdicts: list[dict[str, Any]]
    objections: list[str]
    appealed: bool


class CommitIn(ApiModel):
    approve: bool


@router.get("/assignments", response_model=list[AssignmentOut], summary="My jury seats")
def assignments(session: SessionDep, principal: CurrentPrincipal) -> list[AssignmentOut]:
    return [AssignmentOut.of(a) for a in service.jury_assignments(session, principal)]


@router.get("/claims/{claim_pk}", response_model=CaseOut, summary="The case I sit on")
def case(claim_pk: str, runtime: RuntimeDep, session: SessionDep, principal: CurrentPrincipal) -> CaseOut:
    return CaseOut.of(service.jury_case(runtime, session, principal, claim_pk))


@router.post("/claims/{claim_pk}/commit", response_model=AssignmentOut, summary="Commit my vote (commit window)")
def commit(claim_pk: str, body: CommitIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> AssignmentOut:
    return AssignmentOut.of(service.commit_vote(runtime, principal, claim_pk, body.approve))


@router.post("/claims/{claim_pk}/reveal", response_model=AssignmentOut, summary="Reveal my vote (reveal window)")
def reveal(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> AssignmentOut:
    return AssignmentOut.of(service.reveal_vote(runtime, principal, claim_pk))
