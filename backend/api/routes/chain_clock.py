"""The chain's clock: read it (any signed-in role), and move it forward on the development chain (demo)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep
from backend.api.schemas import ApiModel
from backend.services.chain_clock import MAX_ADVANCE_SECONDS, advance_chain_time, chain_clock

router = APIRouter(prefix="/chain", tags=["chain"])


class ChainTimeOut(ApiModel):
    chain_time: int = Field(description="the latest block's timestamp (seconds): every window is judged by it")
    chain_id: int
    can_advance: bool = Field(description="true on the local development chain only (POST /chain/advance)")
    plan_time_zone: str = Field(description="the plan's time zone (IANA name): deadlines are shown in it")


class AdvanceIn(ApiModel):
    seconds: int = Field(ge=1, le=MAX_ADVANCE_SECONDS, description="how far to move the clock forward")


@router.get("/time", response_model=ChainTimeOut, summary="The chain's clock (the latest block's timestamp)")
def get_chain_time(_principal: CurrentPrincipal, runtime: RuntimeDep) -> ChainTimeOut:
    return ChainTimeOut.of(chain_clock(runtime))


@router.post(
    "/advance",
    response_model=ChainTimeOut,
    summary="Demo only: move the development chain's clock forward (anvil evm_increaseTime, then a block)",
    responses={403: {"description": "CLOCK_FIXED: not the local development chain"}},
)
def advance(body: AdvanceIn, _principal: CurrentPrincipal, runtime: RuntimeDep) -> ChainTimeOut:
    return ChainTimeOut.of(advance_chain_time(runtime, body.seconds))
