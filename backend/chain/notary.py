"""Typed access to the deployed ``EvidenceNotary`` contract (reads and the anchor transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound
from web3.logs import DISCARD
from web3.types import TxParams

from backend.chain.transactions import ContractReverted, classify
from backend.proofs.errors import HistoryUnavailable
from backend.proofs.receipts import AnchoredBatch, AnchorTransaction

ZERO_ROOT = b"\x00" * 32


@dataclass(frozen=True)
class OnchainBatch:
    batch_id: int
    root: bytes
    prev_root: bytes
    leaf_count: int
    block_number: int
    timestamp: int


@dataclass(frozen=True)
class AnchorEvent:
    """A ``BatchAnchored`` event as found on chain (``tx_hash`` None when read from storage)."""

    batch_id: int
    root: bytes
    prev_root: bytes
    leaf_count: int
    block_number: int
    block_hash: bytes
    tx_hash: bytes | None


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

    def anchored(self, roots: Sequence[bytes], from_block: int = 0) -> dict[bytes, AnchorEvent]:
        """The ``BatchAnchored`` events of these roots from ``from_block`` on, by root (one query)."""
        try:
            logs = self.contract.events.BatchAnchored().get_logs(
                from_block=from_block, argument_filters={"root": list(roots)}
            )
        except Exception as exc:
            raise classify(exc) from exc
        found: dict[bytes, AnchorEvent] = {}
        for entry in logs:
            args = entry["args"]
            event = AnchorEvent(
                int(args["batchId"]),
                bytes(args["root"]),
                bytes(args["prevRoot"]),
                int(args["leafCount"]),
                int(entry["blockNumber"]),
                bytes(entry["blockHash"]),
                bytes(entry["transactionHash"]),
            )
            found[event.root] = event
        return found

    def anchoring_tx_hash(self, root: bytes, block_number: int) -> bytes | None:
        """Hash of the transaction whose ``BatchAnchored`` event recorded ``root`` in that block."""
        logs = self.contract.events.BatchAnchored().get_logs(
            from_block=block_number, to_block=block_number, argument_filters={"root": root}
        )
        return bytes(logs[0]["transactionHash"]) if logs else None

    def verify(self, batch_id: int, leaf_hash: bytes, proof: list[bytes]) -> bool:
        try:
            return bool(self._call("verify", batch_id, leaf_hash, proof))
        except ContractReverted:
            return False

    def anchor_tx(self, root: bytes, leaf_count: int, prev_root: bytes) -> TxParams:
        """The unsigned anchor call; from/nonce/fees are filled by the sender.

        Gas is estimated so that a revert (e.g. ``EvidenceNotaryAlreadyAnchored``) surfaces as a
        decoded :class:`ContractReverted` before anything is broadcast.
        """
        data = self.contract.encode_abi("anchor", args=[root, leaf_count, prev_root])
        return {"to": self.contract.address, "data": data}


class NotaryBatchLookup:
    """``backend.proofs.receipts.BatchLookup`` (+ ``AnchorTxLookup``) over a deployed EvidenceNotary.

    Batch data comes from contract storage through ``eth_call`` (it survives pruned logs,
    RELIABILITY.md A11); only the optional anchor-transaction check needs history.
    """

    def __init__(self, client: NotaryClient) -> None:
        self.client = client
        self._chain_id = client.w3.eth.chain_id
        self._last_block: int | None = None

    @property
    def chain_id(self) -> int:
        return int(self._chain_id)

    @property
    def contract(self) -> str:
        return self.client.address

    def batch(self, batch_id: int) -> AnchoredBatch | None:
        try:
            onchain = self.client.batch(batch_id)
        except ContractReverted:
            return None
        if onchain.root == ZERO_ROOT:
            return None
        self._last_block = onchain.block_number
        return AnchoredBatch(onchain.root, onchain.prev_root, onchain.leaf_count, onchain.block_number)

    def verify(self, batch_id: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bool:
        return self.client.verify(batch_id, leaf_hash, list(proof))

    def _block_available(self, number: int | None) -> bool:
        if number is None:
            return False
        try:
            block = self.client.w3.eth.get_block(number)
        except Exception:
            return False
        return block is not None and block.get("transactions") is not None

    def anchor_transaction(self, tx_hash: bytes) -> AnchorTransaction | None:
        w3 = self.client.w3
        try:
            receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            receipt = None
        if receipt is None:
            if self._block_available(self._last_block):
                return None  # the node keeps that block's history: no such transaction there
            # History pruned (EIP-4444): storage still answered steps 7–12, so this step is
            # reported as skipped, never as passed.
            raise HistoryUnavailable("the node has pruned the history of the anchoring block")
        events = self.client.contract.events.BatchAnchored().process_receipt(receipt, errors=DISCARD)
        if not events or receipt["to"] is None:
            return None
        args = events[0]["args"]
        return AnchorTransaction(
            str(receipt["to"]), int(args["batchId"]), bytes(args["root"]), int(receipt["blockNumber"])
        )
