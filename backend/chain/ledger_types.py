"""The values ClaimLedger's client returns: claim states, decoded events, stored claims and rule sets.

Plain data, no chain access: the services, the audit and the CLI read these without the client
(:mod:`backend.chain.claims`), which builds them from calls, receipts and logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from hexbytes import HexBytes


class ClaimState(IntEnum):
    """``IClaimLedger.ClaimState``."""

    NONE = 0
    FILED = 1
    UNDER_REVIEW = 2
    REJECTED = 3
    IN_NOTICE = 4
    DISPUTED = 5
    APPROVED = 6
    PAID = 7
    WITHDRAWN = 8


@dataclass(frozen=True)
class LedgerEvent:
    """One decoded ClaimLedger event; ``args`` keep web3's decoded values (bytes, ints, addresses)."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: bytes
    log_index: int

    def to_json(self) -> dict[str, Any]:
        """Hex for bytes, plain ints for enums, lists for arrays."""
        return {key: _jsonable(value) for key, value in self.args.items()}


@dataclass(frozen=True)
class LedgerTx:
    """A mined ClaimLedger transaction and the events it emitted."""

    tx_hash: bytes
    block_number: int
    events: tuple[LedgerEvent, ...]

    def event(self, name: str) -> LedgerEvent | None:
        return next((e for e in self.events if e.name == name), None)


@dataclass(frozen=True)
class OnchainClaim:
    """``IClaimLedger.Claim`` as stored."""

    member_commitment: bytes
    evidence_root: bytes
    rule_set_hash: bytes
    objector_commitment: bytes
    payment_ref: bytes
    payout_fen: int
    filed_at: int
    notice_ends: int
    commit_ends: int
    reveal_ends: int
    state: ClaimState
    review_approvals: int
    review_rejections: int
    appealed: bool
    jury_round: int
    committed_votes: int
    revealed_votes: int
    jury_approvals: int
    #: Block whose hash seeds the next draw (0 when none is scheduled).
    draw_block: int = 0
    # The claimant's key for this claim (the struct's last field): signs its withdrawal and appeal.
    claimant_key: str = ""


@dataclass(frozen=True)
class ClaimFiling:
    """``IClaimLedger.ClaimFiling``: one claim of a :meth:`ClaimLedgerClient.file_for_review` batch."""

    claim_id: bytes
    member_commitment: bytes
    evidence_root: bytes
    rule_set_hash: bytes
    payout_fen: int
    claimant_key: str

    def as_abi_tuple(self) -> tuple[bytes, bytes, bytes, bytes, int, bytes]:
        """The struct's values; the claimant key as its 20 bytes (eth_abi and web3 take them as
        an ``address`` with no checksum to compute: a relay round encodes up to 64)."""
        key = self.claimant_key
        if len(key) != 42 or key[:2] not in ("0x", "0X"):
            raise ValueError(f"not a hex address: {key!r}")
        return (
            self.claim_id,
            self.member_commitment,
            self.evidence_root,
            self.rule_set_hash,
            self.payout_fen,
            bytes.fromhex(key[2:]),
        )


@dataclass(frozen=True)
class OnchainRuleSet:
    notice_seconds: int
    review_quorum: int
    jury_size: int
    min_turnout: int
    commit_seconds: int
    reveal_seconds: int
    retired: bool


@dataclass(frozen=True)
class Ballot:
    commitment: bytes
    drawn: bool
    revealed: bool
    approve: bool


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | HexBytes):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    return str(value)
