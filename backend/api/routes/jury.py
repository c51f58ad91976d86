"""Juror endpoints: assignments, the case, and the relay of votes signed on the juror's own device.

* ``GET /jury/claims/{id}`` — the case, with ``vote``: the seat's address, round, on-chain
  commitment and the VoteSalt document the device derives the salt from (never sent back).
* ``POST /jury/claims/{id}/commit`` ``{commitment, signature}`` — the VoteCommit signed on the
  device; relayed to ``ClaimLedger.commitVoteBySig``. The server never sees the vote or the salt.
* ``POST /jury/claims/{id}/reveal`` ``{approve, salt}`` — the opening, sent by the device in the
  reveal window; relayed to ``revealVote``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep, SessionDep
from backend.api.schemas import ApiModel
from backend.errors import InvalidInput
from backend.services import jury as service

router = APIRouter(prefix="/jury", tags=["jury"])

BYTES32 = r"^0x[0-9a-fA-F]{64}$"
SIGNATURE = r"^0x[0-9a-fA-F]{130}$"


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
    vote: bool | None = Field(description="my vote, once revealed on chain (never stored before)")


class VoteOut(ApiModel):
    juror: str | None = Field(description="the address holding my seat (my registered key)")
    claim_id: str
    round: int
    commitment: str | None = Field(description="my commitment on chain, or null")
    salt_typed_data: dict[str, Any] = Field(
        description="VoteSalt: my device signs it and hashes the signature into the salt; never send it"
    )


class CaseOut(ApiModel):
    assignment: AssignmentOut
    age_band: str
    flags: list[str]
    vote: VoteOut
    verdicts: list[dict[str, Any]]
    objections: list[str]
    appealed: bool


class CommitIn(ApiModel):
    commitment: str = Field(pattern=BYTES32, description="keccak256(abi.encode(claimId, round, juror, approve, salt))")
    signature: str = Field(pattern=SIGNATURE, description="0x r ‖ s ‖ v of VoteCommit(claimId, round, commitment)")


class RevealIn(ApiModel):
    approve: bool
    salt: str = Field(pattern=BYTES32, description="keccak256 of my VoteSalt signature")


def _hex(value: str, name: str) -> bytes:
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise InvalidInput(f"{name} must be hex", code="INVALID_HEX", field=name) from exc


@router.get("/assignments", response_model=list[AssignmentOut], summary="My jury seats")
def assignments(session: SessionDep, principal: CurrentPrincipal) -> list[AssignmentOut]:
    return [AssignmentOut.of(a) for a in service.jury_assignments(session, principal)]


@router.get("/claims/{claim_pk}", response_model=CaseOut, summary="The case I sit on")
def case(claim_pk: str, runtime: RuntimeDep, session: SessionDep, principal: CurrentPrincipal) -> CaseOut:
    return CaseOut.of(service.jury_case(runtime, session, principal, claim_pk))


@router.post("/claims/{claim_pk}/commit", response_model=AssignmentOut, summary="Relay my device-signed vote commit")
def commit(claim_pk: str, body: CommitIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> AssignmentOut:
    result = service.commit_vote(
        runtime, principal, claim_pk, _hex(body.commitment, "commitment"), _hex(body.signature, "signature")
    )
    return AssignmentOut.of(result)


@router.post("/claims/{claim_pk}/reveal", response_model=AssignmentOut, summary="Relay my vote's opening")
def reveal(claim_pk: str, body: RevealIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> AssignmentOut:
    return AssignmentOut.of(service.reveal_vote(runtime, principal, claim_pk, body.approve, _hex(body.salt, "salt")))
