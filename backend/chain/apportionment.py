"""Typed access to the deployed ``Apportionment`` contract: period records, publishing, wind-down.

``PeriodRecord`` is the Python twin of ``IApportionment.PeriodRecord`` (field for field, in the
ABI tuple order); ``backend.apportionment.period_record`` converts it to and from the pure core's
``PeriodInputs`` / ``PeriodTotals`` (this module knows the chain, not the share arithmetic). Reads go through
``eth_call`` on contract storage (they survive pruned logs); the publish and wind-down calls are
returned as unsigned transactions for the ``TransactionSender``, which estimates gas first so a
revert surfaces as a decoded ``ContractReverted`` (``Apportionment…`` error names) before anything
is broadcast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams

from backend.chain.transactions import ContractReverted, classify

__all__ = [
    "ApportionmentClient",
    "ApportionmentLookup",
    "PeriodRecord",
    "PublishedPeriodEvent",
]

# Component names of IApportionment.PeriodRecord, in ABI order.
_ABI_FIELDS = (
    "periodId",
    "claimCount",
    "payoutsFen",
    "feeFen",
    "surplusInFen",
    "memberCount",
    "perCaseCapFen",
    "annualCapFen",
    "feeBps",
    "windDown",
    "ruleSetHash",
    "membershipRoot",
    "baseFen",
    "shareTotalFen",
    "subsidyTotalFen",
    "surplusOutFen",
    "ledgerRoot",
    "ledgerCid",
    "windowStart",
    "windowEnd",
)


@dataclass(frozen=True, slots=True)
class PeriodRecord:
    """One period as ``Apportionment.publishPeriod`` takes it and ``period()`` returns it."""

    period_id: int
    claim_count: int
    payouts_fen: int
    fee_fen: int
    surplus_in_fen: int
    member_count: int
    per_case_cap_fen: int
    annual_cap_fen: int
    fee_bps: int
    wind_down: bool
    rule_set_hash: bytes
    membership_root: bytes
    base_fen: int
    share_total_fen: int
    subsidy_total_fen: int
    surplus_out_fen: int
    ledger_root: bytes
    ledger_cid: bytes
    #: ``[window_start, window_end)``: the final approvals shared (Unix seconds); ``window_end`` is
    #: the notice instant, the membership snapshot at which the rule set in force is taken.
    window_start: int = 0
    window_end: int = 0

    @classmethod
    def from_abi(cls, raw: Sequence[Any] | Mapping[str, Any]) -> PeriodRecord:
        """Decode the ABI tuple (web3 returns a tuple from ``period()``, a mapping inside events)."""
        values = [raw[name] for name in _ABI_FIELDS] if isinstance(raw, Mapping) else list(raw)
        if len(values) != len(_ABI_FIELDS):
            raise ValueError(f"a PeriodRecord tuple has {len(_ABI_FIELDS)} fields, got {len(values)}")
        return cls(
            period_id=int(values[0]),
            claim_count=int(values[1]),
            payouts_fen=int(values[2]),
            fee_fen=int(values[3]),
            surplus_in_fen=int(values[4]),
            member_count=int(values[5]),
            per_case_cap_fen=int(values[6]),
            annual_cap_fen=int(values[7]),
            fee_bps=int(values[8]),
            wind_down=bool(values[9]),
            rule_set_hash=bytes(values[10]),
            membership_root=bytes(values[11]),
            base_fen=int(values[12]),
            share_total_fen=int(values[13]),
            subsidy_total_fen=int(values[14]),
            surplus_out_fen=int(values[15]),
            ledger_root=bytes(values[16]),
            ledger_cid=bytes(values[17]),
            window_start=int(values[18]),
            window_end=int(values[19]),
        )

    def as_abi_tuple(self) -> tuple[Any, ...]:
        return (
            self.period_id,
            self.claim_count,
            self.payouts_fen,
            self.fee_fen,
            self.surplus_in_fen,
            self.member_count,
            self.per_case_cap_fen,
            self.annual_cap_fen,
            self.fee_bps,
            self.wind_down,
            self.rule_set_hash,
            self.membership_root,
            self.base_fen,
            self.share_total_fen,
            self.subsidy_total_fen,
            self.surplus_out_fen,
            self.ledger_root,
            self.ledger_cid,
            self.window_start,
            self.window_end,
        )

    @property
    def due_fen(self) -> int:
        """D = P + fee − S_in (derived; the chain checks it, it does not store it)."""
        return self.payouts_fen + self.fee_fen - self.surplus_in_fen

    def to_json(self) -> dict[str, Any]:
        """JSON form: integers as numbers, hashes and the CID as lower-case ``0x`` hex."""
        return {
            "periodId": self.period_id,
            "claimCount": self.claim_count,
            "payoutsFen": self.payouts_fen,
            "feeFen": self.fee_fen,
            "surplusInFen": self.surplus_in_fen,
            "memberCount": self.member_count,
            "perCaseCapFen": self.per_case_cap_fen,
            "annualCapFen": self.annual_cap_fen,
            "feeBps": self.fee_bps,
            "windDown": self.wind_down,
            "ruleSetHash": "0x" + self.rule_set_hash.hex(),
            "membershipRoot": "0x" + self.membership_root.hex(),
            "baseFen": self.base_fen,
            "dueFen": self.due_fen,
            "shareTotalFen": self.share_total_fen,
            "subsidyTotalFen": self.subsidy_total_fen,
            "surplusOutFen": self.surplus_out_fen,
            "ledgerRoot": "0x" + self.ledger_root.hex(),
            "ledgerCid": "0x" + self.ledger_cid.hex(),
            "windowStart": self.window_start,
            "windowEnd": self.window_end,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PeriodRecord:
        def raw(key: str) -> bytes:
            return bytes.fromhex(str(doc[key]).removeprefix("0x"))

        return cls(
            period_id=int(doc["periodId"]),
            claim_count=int(doc["claimCount"]),
            payouts_fen=int(doc["payoutsFen"]),
            fee_fen=int(doc["feeFen"]),
            surplus_in_fen=int(doc["surplusInFen"]),
            member_count=int(doc["memberCount"]),
            per_case_cap_fen=int(doc["perCaseCapFen"]),
            annual_cap_fen=int(doc["annualCapFen"]),
            fee_bps=int(doc["feeBps"]),
            wind_down=bool(doc["windDown"]),
            rule_set_hash=raw("ruleSetHash"),
            membership_root=raw("membershipRoot"),
            base_fen=int(doc["baseFen"]),
            share_total_fen=int(doc["shareTotalFen"]),
            subsidy_total_fen=int(doc["subsidyTotalFen"]),
            surplus_out_fen=int(doc["surplusOutFen"]),
            ledger_root=raw("ledgerRoot"),
            ledger_cid=raw("ledgerCid"),
            window_start=int(doc.get("windowStart", 0)),
            window_end=int(doc.get("windowEnd", 0)),
        )


@dataclass(frozen=True, slots=True)
class PublishedPeriodEvent:
    """One ``PeriodPublished`` event: the record and where it was emitted."""

    record: PeriodRecord
    block_number: int
    tx_hash: bytes
    log_index: int


class ApportionmentClient:
    """Reads and transaction building for one Apportionment deployment."""

    def __init__(self, w3: Web3, contract: Contract) -> None:
        self.w3 = w3
        self.contract = contract

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def _call(self, fn: str, *args: object, block: int | str = "latest") -> Any:
        try:
            return getattr(self.contract.functions, fn)(*args).call(block_identifier=block)
        except Exception as exc:
            raise classify(exc) from exc

    def period(self, period_id: int, *, block: int | str = "latest") -> PeriodRecord | None:
        """The stored record (as of ``block``), or None when the period was not published then."""
        try:
            raw = self._call("period", period_id, block=block)
        except ContractReverted as exc:
            if exc.error == "ApportionmentUnknownPeriod":
                return None
            raise
        return PeriodRecord.from_abi(raw)

    def published_block(self, period_id: int) -> int:
        return int(self._call("publishedBlock", period_id))

    def last_period_id(self) -> int:
        return int(self._call("lastPeriodId"))

    def period_count(self) -> int:
        return int(self._call("periodCount"))

    def wind_down(self) -> bool:
        return bool(self._call("windDown"))

    def verify_share(self, period_id: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bool:
        """``verifyShare``; False for an unknown period as for a bad proof."""
        try:
            return bool(self._call("verifyShare", period_id, leaf_hash, list(proof)))
        except ContractReverted:
            return False

    def share_leaf_hash(self, member_commitment: bytes, share_fen: int, subsidy_fen: int, ytd_fen: int) -> bytes:
        return bytes(self._call("shareLeafHash", member_commitment, share_fen, subsidy_fen, ytd_fen))

    def publish_tx(self, record: PeriodRecord) -> TxParams:
        """The unsigned ``publishPeriod`` call; from/nonce/fees are filled by the TransactionSender."""
        data = self.contract.encode_abi("publishPeriod", args=[record.as_abi_tuple()])
        return {"to": self.contract.address, "data": data}

    def begin_wind_down_tx(self) -> TxParams:
        data = self.contract.encode_abi("beginWindDown", args=[])
        return {"to": self.contract.address, "data": data}

    def published_events(self, from_block: int = 0, to_block: int | str = "latest") -> list[PublishedPeriodEvent]:
        """Every ``PeriodPublished`` event in the block range, in chain order."""
        logs = self.contract.events.PeriodPublished().get_logs(from_block=from_block, to_block=to_block)
        events = [
            PublishedPeriodEvent(
                record=PeriodRecord.from_abi(entry["args"]["record"]),
                block_number=int(entry["blockNumber"]),
                tx_hash=bytes(entry["transactionHash"]),
                log_index=int(entry["logIndex"]),
            )
            for entry in logs
        ]
        return sorted(events, key=lambda e: (e.block_number, e.log_index))


class ApportionmentLookup:
    """``backend.apportionment.onchain.PeriodLookup`` over a deployed Apportionment contract."""

    def __init__(self, client: ApportionmentClient) -> None:
        self.client = client
        self._chain_id = int(client.w3.eth.chain_id)

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def contract(self) -> str:
        return Web3.to_checksum_address(self.client.address)

    def period(self, period_id: int) -> PeriodRecord | None:
        return self.client.period(period_id)

    def verify_share(self, period_id: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bool:
        return self.client.verify_share(period_id, leaf_hash, proof)

    def basis_problem(self, record: PeriodRecord) -> str | None:
        """Why ``record`` is not apportioned under the rule set ClaimLedger had in force at its snapshot
        (``ruleSetInForce(windowEnd)``, its fee and caps); None when it is. The ClaimLedger is the one
        this Apportionment names (``claimLedger()``)."""
        address = str(self.client._call("claimLedger"))
        ledger = self.client.w3.eth.contract(address=Web3.to_checksum_address(address), abi=_RULE_SET_ABI)
        try:
            in_force = bytes(ledger.functions.ruleSetInForce(record.window_end).call())
            if in_force == bytes(32):
                return "no rule set was in force at the period's snapshot"
            if in_force != record.rule_set_hash:
                return f"the rule set in force at the snapshot was 0x{in_force.hex()}, not the record's"
            stored = ledger.functions.ruleSet(in_force).call()
        except Exception as exc:
            raise classify(exc) from exc
        params = (int(stored[7]), int(stored[8]), int(stored[9]))
        if params != (record.fee_bps, record.per_case_cap_fen, record.annual_cap_fen):
            return f"the rule set in force has (feeBps, perCaseCapFen, annualCapFen) = {params}, not the record's"
        return None


def _rule_set_abi() -> list[dict[str, Any]]:
    components = [
        {"name": n, "type": t}
        for n, t in (
            ("noticeSeconds", "uint32"),
            ("reviewQuorum", "uint8"),
            ("jurySize", "uint8"),
            ("minTurnout", "uint8"),
            ("commitSeconds", "uint32"),
            ("revealSeconds", "uint32"),
            ("retired", "bool"),
            ("feeBps", "uint16"),
            ("perCaseCapFen", "uint64"),
            ("annualCapFen", "uint64"),
            ("anchoredAt", "uint64"),
            ("effectiveAt", "uint64"),
        )
    ]
    return [
        {
            "type": "function",
            "name": "ruleSetInForce",
            "stateMutability": "view",
            "inputs": [{"name": "at", "type": "uint64"}],
            "outputs": [{"name": "", "type": "bytes32"}],
        },
        {
            "type": "function",
            "name": "ruleSet",
            "stateMutability": "view",
            "inputs": [{"name": "ruleSetHash", "type": "bytes32"}],
            "outputs": [{"name": "", "type": "tuple", "components": components}],
        },
    ]


# The two ClaimLedger views a share receipt's verifier reads (IClaimLedger), without the whole ABI.
_RULE_SET_ABI = _rule_set_abi()
