"""The chain's clock, as every window (notice, jury commit and reveal, periods) is judged: the
latest block's timestamp. On the local development chain only, it can be moved forward so that a
demo can walk a claim through windows that last days (anvil's ``evm_increaseTime`` + ``evm_mine``).

    Forbidden (403)   CLOCK_FIXED   not a development anvil (HUBAO_ENV=production or another chain id)

:func:`queue_time` stamps work queued against a deadline the audit judges on the chain's clock
(evidence anchoring): the later of the wall clock and the chain's, so a development chain moved
days ahead does not make every later upload look anchored days late.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.config import ANVIL_CHAIN_ID
from backend.errors import Forbidden
from backend.services.context import ServiceContext

MAX_ADVANCE_SECONDS = 90 * 86_400
# How long a reading of the chain's lead over the wall clock is reused (blocks come every ~1-12 s).
OFFSET_TTL_SECONDS = 1.0

_offsets: dict[int, tuple[float, float]] = {}  # id(w3) -> (monotonic time read, chain - wall seconds)
_offsets_lock = threading.Lock()


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
    with _offsets_lock:  # the chain's lead just changed: the next queue_time reads it again
        _offsets.pop(id(ctx.w3), None)
    return chain_clock(ctx)


def queue_time(ctx: ServiceContext) -> datetime:
    """Now, on the clock the audit's anchoring deadline uses: the wall clock, or the chain's when
    the chain is ahead of it (a development chain whose clock was advanced).

    The chain's lead is read from the latest block at most once a second (one ``eth_getBlock`` per
    second of uploads, not per upload). An unreachable node leaves the last reading (or none) in
    force: queueing never waits on the chain. Never earlier than the wall clock, so an item is
    never stamped as queued before it was.
    """
    key = id(ctx.w3)
    now = time.monotonic()
    with _offsets_lock:
        cached = _offsets.get(key)
    if cached is None or now - cached[0] > OFFSET_TTL_SECONDS:
        try:
            latest = int(ctx.w3.eth.get_block("latest")["timestamp"])
            cached = (now, latest - time.time())
        except Exception:  # the node is down: keep the last reading; the upload must not fail for it
            cached = (now, cached[1] if cached is not None else 0.0)
        with _offsets_lock:
            _offsets[key] = cached
    return datetime.now(UTC) + timedelta(seconds=max(0.0, cached[1]))


def block_times(ctx: ServiceContext) -> Callable[[int], datetime | None]:
    """A reader of blocks' timestamps (the chain's clock at each block), each block read once per
    reader; None for a block the node cannot give now (a view must not fail for it)."""
    seen: dict[int, datetime | None] = {}

    def read(number: int) -> datetime | None:
        if number not in seen:
            try:
                seen[number] = datetime.fromtimestamp(int(ctx.w3.eth.get_block(number)["timestamp"]), UTC)
            except Exception:  # the node is down or pruned: the view shows the server's time alone
                seen[number] = None
        return seen[number]

    return read
