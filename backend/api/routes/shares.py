"""Member shares and the plan's wind-down: thin routes over ``backend.apportionment`` services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep, SessionDep, role_dependency
from backend.api.schemas import ApiModel
from backend.apportionment.member_shares import share_history, share_receipt
from backend.apportionment.wind_down import begin_wind_down, wind_down_state
from backend.services.auth import Principal

router = APIRouter(tags=["shares"])

MemberOnly = Annotated[Principal, role_dependency("member")]
OperatorOnly = Annotated[Principal, role_dependency("operator")]


class ShareEntry(ApiModel):
    """One period's charge for the signed-in member (integer fen)."""

    period_id: int = Field(description="YYYYMMDD of the notice day")
    notice_at: str
    debit_at: str
    share_fen: int = Field(description="what the member pays")
    subsidy_fen: int = Field(description="what the operator pays for the member")
    year_to_date_fen: int
    base_fen: int
    wind_down: bool
    ledger_cid: str = Field(description="CID of the period's share-ledger file")


class ShareHistory(ApiModel):
    shares: list[ShareEntry]


class WindDown(ApiModel):
    wind_down: bool
    since: str | None = None
    last_shared_period_id: int | None = None
    late_filing_until: str | None = None
    tx: str | None = None


@router.get(
    "/me/shares",
    response_model=ShareHistory,
    summary="The signed-in member's share in every published period",
    responses={404: {"description": "the account has no membership"}},
)
def my_shares(principal: MemberOnly, runtime: RuntimeDep, session: SessionDep) -> ShareHistory:
    entries = share_history(runtime, session, principal.account_id)
    return ShareHistory(shares=[ShareEntry.model_validate(e.to_json()) for e in entries])


@router.get(
    "/me/shares/{period_id}/receipt",
    summary="Version-1 share receipt: the member's ledger row, its proof and the period's figures",
    responses={404: {"description": "period not published, or the member did not share in it"}},
)
def my_share_receipt(
    period_id: Annotated[int, Path(ge=1, le=2**64 - 1, description="YYYYMMDD of the notice day")],
    principal: MemberOnly,
    runtime: RuntimeDep,
    session: SessionDep,
) -> dict[str, Any]:
    return share_receipt(runtime, session, principal.account_id, period_id).to_json()


@router.get("/plan/wind-down", response_model=WindDown, summary="Wind-down state")
def get_wind_down(_principal: CurrentPrincipal, runtime: RuntimeDep) -> WindDown:
    return WindDown.model_validate(wind_down_state(runtime).to_json())


@router.post(
    "/plan/wind-down",
    response_model=WindDown,
    summary="Put the plan into wind-down (operator): members stop paying, final periods are subsidised",
)
def post_wind_down(_principal: OperatorOnly, runtime: RuntimeDep) -> WindDown:
    return WindDown.model_validate(begin_wind_down(runtime, datetime.now(UTC)).to_json())
