"""The chain's clock, as every window (notice, jury commit and reveal, periods) is judged: the
latest block's timestamp. On the local development chain only, it can be moved forward so that a
demo can walk a claim through windows that last days (anvil's ``evm_increaseTime`` + ``evm_mine``).

    Forbidden (403)   CLOCK_FIXED   not a development anvil (HUBAO_ENV=production or another chain id)
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.config import ANVIL_CHAIN_ID
from backend.errors import Forbidden
from backend.services.context import ServiceContext

MAX_ADVANCE_SECONDS = 90 * 86_400


@dataclass(frozen=True)
class ChainClock:
    chain_time: int
    chain_id: int
    can_advance: bool
    plan_time_zone: str  # the plan's calendar (HUBAO_APPORTIONMENT_TIMEZONE): how deadlines are shown


def can_advance(ctx: ServiceContext) -> bool:
    """Only a development anvil's clock may be moved (never production, never another chain)."""
    return ctx.settings.env == "development" and ctx.deployment.chain_id == ANVIL_CHAIN_ID


def chain_clock(ctx: ServiceContext) -> ChainClock:
    latest = ctx.w3.eth.get_block("latest")
    return ChainClock(
        int(latest["timestamp"]), ctx.deployment.chain_id, can_advance(ctx), ctx.settings.apportionment_timezone
    )


def advance_chain_time(ctx: ServiceContext, seconds: int) -> ChainClock:
    """Move the development chain's clock ``seconds`` forward and mine a block at the new time."""
    if not can_advance(ctx):
        raise Forbidden("the chain's clock moves only on the local development chain (anvil)", code="CLOCK_FIXED")
    ctx.w3.provider.make_request("evm_increaseTime", [int(seconds)])  # type: ignore[arg-type]
    ctx.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return chain_clock(ctx)
