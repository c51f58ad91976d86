"""Wind-down of the plan (DESIGN.md "Plan rules" → Wind-down): the operator stops sharing.

Service edge. ``begin_wind_down(ctx, now)`` records the decision on chain
(``Apportionment.beginWindDown``, irreversible: every period published afterwards must carry
``windDown = true``, so members pay nothing and the operator pays every base) and locally in the
apportionment index (``windDown``: since when, the last period shared by members, and until when
claims diagnosed before the stop may still be filed). Idempotent: a second call returns the state
recorded by the first. Joins stop too: ``membership.join`` refuses with ``PLAN_WINDING_DOWN``
(it reads the chain's flag). Claims: ``check_claim_filing`` is the rule that a claim may still be
filed during wind-down only when diagnosed before the stop and filed within
``late_filing_days_after_wind_down`` (180) days of it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from backend.apportionment.publish import active_rule_set
from backend.apportionment.published import CONTRACT_NAME, apportionment_client, published_ledgers
from backend.apportionment.service_errors import ClaimFilingClosed
from backend.chain.transactions import ContractReverted
from backend.errors import NotFound
from backend.services.context import ServiceContext
from backend.services.rules import DEFAULT_RULES, RuleSet

__all__ = [
    "ClaimFilingClosed",
    "WindDownGate",
    "WindDownState",
    "begin_wind_down",
    "check_claim_filing",
    "wind_down_state",
]


@dataclass(frozen=True, slots=True)
class WindDownState:
    """Whether the plan is winding down, and since when."""

    active: bool
    since: datetime | None = None
    last_shared_period_id: int | None = None
    late_filing_until: datetime | None = None
    tx_hash: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "windDown": self.active,
            "since": None if self.since is None else self.since.isoformat(),
            "lastSharedPeriodId": self.last_shared_period_id,
            "lateFilingUntil": None if self.late_filing_until is None else self.late_filing_until.isoformat(),
            "tx": None if self.tx_hash is None else "0x" + self.tx_hash.hex(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> WindDownState:
        def when(key: str) -> datetime | None:
            value = doc.get(key)
            return None if value is None else datetime.fromisoformat(str(value))

        tx = doc.get("tx")
        return cls(
            active=bool(doc.get("windDown")),
            since=when("since"),
            last_shared_period_id=doc.get("lastSharedPeriodId"),
            late_filing_until=when("lateFilingUntil"),
            tx_hash=None if tx is None else bytes.fromhex(str(tx).removeprefix("0x")),
        )


def wind_down_state(ctx: ServiceContext) -> WindDownState:
    """The plan's state: the chain decides whether it is winding down; the index adds the details.

    A replica that did not begin the wind-down itself reads the details from the chain once
    (``WindDownBegan``: its block time is the stop) and records them in its own index.
    """
    active = apportionment_client(ctx).wind_down()
    if not active:
        return WindDownState(active=False)
    files = published_ledgers(ctx)
    recorded = files.read_index().get("windDown")
    if isinstance(recorded, dict):
        return WindDownState.from_json(recorded)
    state = _state_from_chain(ctx, None)
    files.update_index("windDown", state.to_json())
    return state


def _state_from_chain(ctx: ServiceContext, rules: RuleSet | None) -> WindDownState:
    """The wind-down as the chain records it: the ``WindDownBegan`` event's block time and period."""
    contract = ctx.contracts[CONTRACT_NAME]
    deployed = ctx.deployment.contracts.get(CONTRACT_NAME)
    logs = contract.events.WindDownBegan().get_logs(from_block=deployed.block if deployed is not None else 0)
    if not logs:
        return WindDownState(active=True)
    first = min(logs, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"])))
    since = datetime.fromtimestamp(int(ctx.w3.eth.get_block(int(first["blockNumber"]))["timestamp"]), UTC)
    if rules is None:
        try:
            with ctx.sessions() as session:
                rules = active_rule_set(session)
        except NotFound:
            rules = DEFAULT_RULES
    last = int(first["args"]["lastPeriodId"])
    return WindDownState(
        active=True,
        since=since,
        last_shared_period_id=last or None,
        late_filing_until=since + timedelta(days=rules.late_filing_days_after_wind_down),
        tx_hash=bytes(first["transactionHash"]),
    )


class WindDownGate:
    """``wind_down_state`` for hot paths (claim filing), as the claims service's
    :class:`~backend.services.context.ClaimFilingGate`: kept for good once active (wind-down is
    irreversible), re-read after ``max_age`` seconds while not; inactive without Apportionment."""

    def __init__(self, ctx: ServiceContext, *, max_age: float = 2.0) -> None:
        self._ctx = ctx
        self._max_age = max_age
        self._state: WindDownState | None = None
        self._read_at = 0.0
        self._reading = threading.Lock()

    def state(self) -> WindDownState:
        now = time.monotonic()
        state = self._state
        if state is not None and (state.active or now - self._read_at < self._max_age):
            return state
        # One reader at a time: a burst of filings when the kept state expires makes one chain call,
        # the others go on with the state kept (at most ``max_age`` plus one call old).
        if not self._reading.acquire(blocking=state is None):
            assert state is not None
            return state
        try:
            ctx = self._ctx
            state = wind_down_state(ctx) if CONTRACT_NAME in ctx.contracts else WindDownState(active=False)
            self._state, self._read_at = state, time.monotonic()
            return state
        finally:
            self._reading.release()

    def forget(self) -> None:
        """Drop the kept state (this process has just begun the wind-down)."""
        self._state = None

    def check_claim_filing(self, diagnosis_date: date, now: datetime) -> None:
        """:func:`check_claim_filing` against the current state."""
        check_claim_filing(self.state(), diagnosis_date, now)


def begin_wind_down(ctx: ServiceContext, now: datetime, *, rules: RuleSet | None = None) -> WindDownState:
    """Put the plan into wind-down (on chain, then locally); returns the recorded state.

    ``since`` is the block time of the chain's ``WindDownBegan`` (the same on every replica);
    ``now`` is kept for the call shape.
    """
    del now
    client = apportionment_client(ctx)
    files = published_ledgers(ctx)
    recorded = files.read_index().get("windDown")
    tx_hash: bytes | None = None
    if not client.wind_down():
        try:
            receipt = ctx.operator.transact(client.begin_wind_down_tx())
            tx_hash = bytes(receipt["transactionHash"])
        except ContractReverted as exc:
            if exc.error != "ApportionmentWindDownActive":  # another replica was first
                raise
    elif isinstance(recorded, dict):
        return WindDownState.from_json(recorded)
    if rules is None:
        with ctx.sessions() as session:
            rules = active_rule_set(session)
    state = _state_from_chain(ctx, rules)  # the stop is the block time of WindDownBegan
    if tx_hash is not None:
        state = replace(state, tx_hash=tx_hash)
    files.update_index("windDown", state.to_json())
    gate = ctx.claim_filing_gate
    if isinstance(gate, WindDownGate):
        gate.forget()
    return state


def check_claim_filing(state: WindDownState, diagnosis_date: date, now: datetime) -> None:
    """DESIGN.md Wind-down: after the stop, only illnesses diagnosed before it, filed within the window.

    No-op while the plan is not winding down. Raises ``ClaimFilingClosed`` with code
    ``DIAGNOSED_AFTER_WIND_DOWN`` (diagnosis on or after the stop's calendar day, UTC) or
    ``WIND_DOWN_FILING_CLOSED`` (``now`` past ``late_filing_until``).
    """
    if not state.active:
        return
    if state.since is not None and diagnosis_date >= state.since.astimezone(UTC).date():
        raise ClaimFilingClosed(
            "the plan is winding down: only illnesses diagnosed before the stop can be claimed",
            code="DIAGNOSED_AFTER_WIND_DOWN",
        )
    if state.late_filing_until is not None and now >= state.late_filing_until:
        raise ClaimFilingClosed(
            f"the plan wound down; claims could be filed until {state.late_filing_until.isoformat()}",
            code="WIND_DOWN_FILING_CLOSED",
        )
