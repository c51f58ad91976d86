"""Published apportionment periods as the chain records them (any signed-in role).

The figures are public on chain already (``Apportionment.PeriodPublished``); the web UI charts them
and compares a member's share receipt with the recorded ledger root.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep
from backend.api.routes.claims import ApiModel
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
    tx_hash: str
    rule_set_hash: str
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
    ledger_root: str
    ledger_cid: str = Field(description="CID of the share-ledger file")
    ledger_cid_hex: str = Field(description="the same CID in binary, as 0x hex (as in share receipts)")


@router.get("/periods", response_model=list[PeriodOut], summary="Every published period, from the chain's events")
def periods(_principal: CurrentPrincipal, runtime: RuntimeDep) -> list[PeriodOut]:
    contract = apportionment_client(runtime).address
    chain_id = runtime.deployment.chain_id
    schedule = plan_schedule(runtime.settings)  # the configured calendar (HUBAO_APPORTIONMENT_*)
    out = []
    for event in published_events(runtime):
        r = event.record
        out.append(
            PeriodOut(
                period_id=r.period_id,
                notice_at=schedule.period(r.period_id).notice_at.isoformat(),
                chain_id=chain_id,
                contract=contract,
                block_number=event.block_number,
                tx_hash="0x" + event.tx_hash.hex(),
                rule_set_hash="0x" + r.rule_set_hash.hex(),
                claim_count=r.claim_count,
                payouts_fen=r.payouts_fen,
                fee_bps=r.fee_bps,
                fee_fen=r.fee_fen,
                surplus_in_fen=r.surplus_in_fen,
                member_count=r.member_count,
                per_case_cap_fen=r.per_case_cap_fen,
                annual_cap_fen=r.annual_cap_fen,
                wind_down=r.wind_down,
                base_fen=r.base_fen,
                share_total_fen=r.share_total_fen,
                subsidy_total_fen=r.subsidy_total_fen,
                surplus_out_fen=r.surplus_out_fen,
                ledger_root="0x" + r.ledger_root.hex(),
                ledger_cid=str(CID.from_bytes(r.ledger_cid)),
                ledger_cid_hex="0x" + r.ledger_cid.hex(),
            )
        )
    return out
