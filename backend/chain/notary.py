"""Typed access to the deployed ``EvidenceNotary`` contract (reads and the anchor transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams

from backend.chain.transactions import ContractReverted, classify

ZERO_ROOT = b"\x00" * 32


@dataclass(frozen=True)
class OnchainBatch:
    batch_id: int
    root: bytes
    prev_root: bytes
    leaf_count: int
    block_number: int
    timestamp: int


class NotaryClient:
    """Reads and anchor-transaction building for one EvidenceNotary deployment."""

    def __init__(self, w3: Web3, contract: Contract) -> None:
        self.w3 = w3
        self.contract = contract

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def _call(self, fn: str, *args: object) -> Any:
        try:
            return getattr(self.contract.functions, fn)(*args).call()
        except Exception as exc:
            raise classify(exc) from exc

    def head_root(self) -> bytes:
        return bytes(self._call("headRoot"))

    def batch_count(self) -> int:
        return int(self._call("batchCount"))

    def batch_id_of(self, root: bytes) -> int:
        return int(self._call("batchIdOf", root))

    def batch(self, batch_id: int) -> OnchainBatch:
        raw: tuple[Any, ...] = tuple(self._call("batch", batch_id))
        return OnchainBatch(batch_id, bytes(raw[0]), bytes(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]))

    def verify(self, batch_id: int, leaf_hash: bytes, proof: list[bytes]) -> bool:
        try:
            return bool(self._call("verify", batch_id, leaf_hash, proof))
        except ContractReverted:
            return False

    def anchor_tx(self, root: bytes, leaf_count: int, prev_root: bytes) -> TxParams:
        """The unsigned anchor call; from/nonce/fees are filled by the TransactionSender.

        Gas is estimated so that a revert (e.g. ``EvidenceNotaryAlreadyAnchored``) surfaces as a
        decoded :class:`ContractReverted` before anything is broadcast.
        """
        data = self.contract.encode_abi("anchor", args=[root, leaf_count, prev_root])
        return {"to": self.contract.address, "data": data}
