"""Published apportionment periods as the chain records them (any signed-in role).

The figures are public on chain already (``Apportionment.PeriodPublished``); the web UI charts them
and compares a member's share receipt with the recorded ledger root.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep
from backend.api.schemas import ApiModel, Hex
from backend.apportionment.published import apportionment_client, published_events
from backend.apportionment.scheduler import plan_schedule
from evidence_store.multiformats import CID

router = APIRouter(tags=["shares"])


class PeriodOut(ApiModel):
    period_id: int = Field(description="YYYYMMDD of the notice day")
    notice_at: str
    chain_id: int
    contract: str = Field(description="the Apportionment contract")
    block_number: int
    tx_hash: Hex
    rule_set_hash: Hex
    claim_count: int
    payouts_fen: int
    fee_bps: int
    fee_fen: int
    surplus_in_fen: int
    member_count: int
    per_case_cap_fen: int
    annual_cap_fen: int
    wind_down: bool
    base_fen: int
    share_total_fen: int
    subsidy_total_fen: int
    surplus_out_fen: int
    ledger_root: Hex
    ledger_cid: str = Field(description="CID of the share-ledger file")
    ledger_cid_hex: Hex = Field(description="the same CID in binary, as 0x hex (as in share receipts)")


@router.get("/periods", response_model=list[PeriodOut], summary="Every published period, from the chain's events")
def periods(_principal: CurrentPrincipal, runtime: RuntimeDep) -> list[PeriodOut]:
    contract = apportionment_client(runtime).address
    chain_id = runtime.deployment.chain_id
    schedule = plan_schedule(runtime.settings)  # the configured calendar (HUBAO_APPORTIONMENT_*)
    out = []
    for event in published_events(runtime):
        r = event.record
        figures = asdict(r)  # the period as the chain records it (bytes become 0x hex)
        out.append(
            PeriodOut.model_validate(
                {
                    **figures,
                    "notice_at": schedule.period(r.period_id).notice_at.isoformat(),
                    "chain_id": chain_id,
                    "contract": contract,
                    "block_number": event.block_number,
                    "tx_hash": event.tx_hash,
                    "ledger_cid": str(CID.from_bytes(r.ledger_cid)),
                    "ledger_cid_hex": r.ledger_cid,
                }
            )
        )
    return out
