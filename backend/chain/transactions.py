"""Sending transactions from one local key: explicit nonces, typed errors, decoded reverts.

Nonces are allocated under a lock from the node's *pending* count at send time, never from a
long-lived cache: after an anvil crash the chain's nonce can go backwards (5 → 3, RELIABILITY.md
A5), and a cached nonce would leave a silent gap that anvil queues forever.

This class signs for one process. Hosts and API workers never share a key through it: they write
their transactions to the database outbox (:mod:`backend.services.chain_outbox`), whose one elected
sender per key uses this class to sign and broadcast. A sender outside this process (a hand-run
tool with the same key) can still take the nonce between the pending count and the broadcast: a
nonce this class chose that the node refuses as too low or as an underpriced replacement is chosen
again (:data:`NONCE_RETRIES` times).

:class:`Sender` is what callers (the chain clients, services) depend on: this class and
:class:`~backend.services.chain_outbox.OutboxSender` both provide it.

Exception tree (all :class:`~backend.errors.ChainError`):

    ChainError
    ├── ChainUnavailable          transport failure / timeout (retry with backoff)
    └── TransactionFailed
        ├── NonceTooLow           nonce already used (resync and re-send)
        ├── AlreadyKnown          this exact transaction is already pending (nothing to do)
        ├── ReplacementUnderpriced same nonce pending with a higher fee (bump ≥ 12.5 % or wait)
        ├── NonceGap              nonce above the pending count (would stall: never sent)
        ├── InsufficientFunds     sender cannot pay gas (operator must fund the key)
        ├── TransactionDropped    no receipt: tx left the mempool or was reorged out (re-send)
        └── ContractReverted      revert; ``error`` names the custom error, ``args`` its values
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    Web3Exception,
    Web3RPCError,
)
from web3.types import RPCEndpoint, TxParams, TxReceipt

from backend.errors import ChainUnavailable, TransactionFailed


class NonceTooLow(TransactionFailed):
    code = "NONCE_TOO_LOW"


class AlreadyKnown(TransactionFailed):
    code = "ALREADY_KNOWN"


class ReplacementUnderpriced(TransactionFailed):
    code = "REPLACEMENT_UNDERPRICED"


class NonceGap(TransactionFailed):
    code = "NONCE_GAP"


class InsufficientFunds(TransactionFailed):
    code = "INSUFFICIENT_FUNDS"


class TransactionDropped(TransactionFailed):
    code = "TRANSACTION_DROPPED"


class ContractReverted(TransactionFailed):
    code = "CONTRACT_REVERTED"

    @property
    def error(self) -> str:
        return str(self.fields.get("error", ""))

    @property
    def args_(self) -> tuple[Any, ...]:
        return tuple(self.fields.get("args", ()))


_ERROR_SELECTORS: dict[bytes, tuple[str, list[str]]] = {}
# Panics and string reverts that can come from any contract.
_ERROR_SELECTORS[keccak(text="Error(string)")[:4]] = ("Error", ["string"])
_ERROR_SELECTORS[keccak(text="Panic(uint256)")[:4]] = ("Panic", ["uint256"])


def register_errors(abis: Iterable[list[dict[str, Any]]]) -> None:
    """Teach the revert decoder the custom errors of these ABIs."""
    for abi in abis:
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [_abi_type(inp) for inp in item.get("inputs", [])]
            signature = f"{item['name']}({','.join(types)})"
            _ERROR_SELECTORS[keccak(text=signature)[:4]] = (item["name"], types)


def _abi_type(inp: dict[str, Any]) -> str:
    kind = str(inp["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in inp["components"])
        return f"({inner}){kind[5:]}"
    return kind


def decode_revert(data: bytes | str | None) -> tuple[str, tuple[Any, ...]]:
    """(error name, decoded args) for revert data; ("Unknown", (data,)) when not registered.

    Empty revert data (``revert()``, a failed ``require`` without message) is ("Unknown", ()).
    """
    if data is None:
        return ("Unknown", ())
    raw = HexBytes(data)
    if not raw:
        return ("Unknown", ())
    selector, payload = bytes(raw[:4]), bytes(raw[4:])
    if selector not in _ERROR_SELECTORS:
        return ("Unknown", (raw.hex(),))
    name, types = _ERROR_SELECTORS[selector]
    try:
        return (name, tuple(abi_decode(types, payload)))
    except Exception:  # malformed payload: keep the name
        return (name, ())


_HEX_ONLY = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_HEX_RUN = re.compile(r"0x[0-9a-fA-F]{8,}")
# Where nodes put the revert data inside an error object, most specific first: anvil/geth
# ``error.data = "0x…"``; hardhat ``error.data = {message, data: "0x…", txHash?}``; ganache's
# estimateGas ``error.data = {result: "0x…", reason, message, programCounter, hash}``.
_DATA_KEYS = ("data", "result", "returnData", "return_data", "output", "error", "originalError", "cause")
_MAX_DEPTH = 6


def revert_data(exc: BaseException) -> bytes | None:
    """The revert data a node reported with ``exc``, whatever shape it used; None when it gave none.

    Shapes handled (recorded from anvil, hardhat 2.22 and ganache 7.9.2 in
    ``tests/chains/fixtures/revert_bodies.json``): a hex string, bytes, an object nesting it under
    ``data`` or ``result`` at any depth, ``"Reverted 0x…"``, and hex inside a message ("reverted
    with an unrecognized custom error (return data: 0x…)") — the latter only when its first four
    bytes are a registered error selector, so that an address or hash in a message is never taken
    for revert data.
    """
    candidates: list[object] = []
    if isinstance(exc, ContractLogicError):
        candidates.append(exc.data)
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, dict):
        candidates.append(response.get("error"))
    candidates.extend(exc.args)
    for candidate in candidates:
        found = _find_revert_data(candidate, 0)
        if found is not None:
            return found
    return None


def _find_revert_data(value: object, depth: int) -> bytes | None:
    if depth > _MAX_DEPTH or value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        text = value.strip()
        if _HEX_ONLY.fullmatch(text):
            return bytes.fromhex(text[2:])
        if text.startswith("Reverted 0x") and _HEX_ONLY.fullmatch(text[9:]):
            return bytes.fromhex(text[11:])
        return _hex_in_message(text)
    if isinstance(value, dict):
        for key in _DATA_KEYS:
            if key in value:
                found = _find_revert_data(value[key], depth + 1)
                if found is not None:
                    return found
        for key in ("message", "reason"):
            if isinstance(value.get(key), str):
                found = _hex_in_message(value[key])
                if found is not None:
                    return found
        return None
    if isinstance(value, list | tuple):
        for item in value:
            found = _find_revert_data(item, depth + 1)
            if found is not None:
                return found
    return None


def _hex_in_message(text: str) -> bytes | None:
    for match in _HEX_RUN.finditer(text):
        digits = match.group(0)[2:]
        if len(digits) % 2:
            continue
        raw = bytes.fromhex(digits)
        if raw[:4] in _ERROR_SELECTORS:
            return raw
    return None


def _reverted(exc: BaseException, prefix: str) -> ContractReverted:
    data = revert_data(exc)
    if data is None and "invalid opcode" in str(exc).lower():
        return ContractReverted(
            f"{prefix}: invalid opcode (the node cannot run this code: an older EVM than the contracts' evmVersion?)",
            error="InvalidOpcode",
            args=(),
        )
    name, args = decode_revert(data)
    return ContractReverted(f"{prefix} with {name}{args}", error=name, args=args)


def classify(exc: BaseException) -> TransactionFailed | ChainUnavailable:
    """Map a web3/transport exception to the typed tree above (reverts decoded: :func:`revert_data`)."""
    if isinstance(exc, ContractCustomError | ContractLogicError):
        return _reverted(exc, "reverted")
    message = str(exc).lower()
    if isinstance(exc, Web3RPCError) or "nonce" in message or "underpriced" in message:
        if "already known" in message or "already imported" in message:
            return AlreadyKnown(f"the same transaction is already in the pool: {exc}")
        if "nonce too low" in message:
            return NonceTooLow(f"nonce too low: {exc}")
        if "underpriced" in message:
            return ReplacementUnderpriced(f"replacement transaction underpriced: {exc}")
        if "nonce too high" in message:
            return NonceGap(f"nonce gap: {exc}")
        if "insufficient funds" in message:
            return InsufficientFunds(f"insufficient funds for gas: {exc}")
        if "revert" in message or "vm exception" in message or "invalid opcode" in message:
            return _reverted(exc, "reverted")
    if isinstance(exc, TimeExhausted):
        return TransactionDropped(f"no receipt in time: {exc}")
    if isinstance(exc, OSError | TimeoutError) or "connection" in message or "timed out" in message:
        return ChainUnavailable(f"chain RPC unavailable: {exc.__class__.__name__}")
    if isinstance(exc, Web3Exception):
        return TransactionFailed(f"transaction failed: {exc}")
    return ChainUnavailable(f"chain RPC failed: {exc.__class__.__name__}: {exc}")


def light_receipt(raw: dict[str, Any]) -> TxReceipt:
    """The fields of a JSON-RPC receipt that the relays read, decoded (see ``TransactionSender.wait``)."""

    def b(text: str) -> bytes:
        return bytes.fromhex(text[2:])

    block = int(raw["blockNumber"], 16)
    tx_hash = b(raw["transactionHash"])
    logs = [
        {
            "address": log["address"],
            "topics": [b(t) for t in log["topics"]],
            "data": b(log["data"]),
            "logIndex": int(log["logIndex"], 16),
            "blockNumber": block,
            "transactionHash": tx_hash,
        }
        for log in raw["logs"]
    ]
    light = {"status": int(raw["status"], 16), "blockNumber": block, "transactionHash": tx_hash, "logs": logs}
    return light  # type: ignore[return-value]


# Re-reads of the pending count when a nonce this sender chose was taken meanwhile.
NONCE_RETRIES = 3


@dataclass
class SentTransaction:
    tx_hash: bytes
    nonce: int
    # The chain_outbox row that carries it, when it went through the database outbox.
    outbox_id: int | None = None


class Sender(Protocol):
    """What callers need from a sender of one key's transactions (module docstring)."""

    w3: Web3
    signer: LocalAccount

    @property
    def address(self) -> str: ...

    def send(
        self,
        tx: TxParams,
        *,
        nonce: int | None = None,
        trust_nonce: bool = False,
        before_broadcast: Callable[[SentTransaction], None] | None = None,
    ) -> SentTransaction: ...

    def wait(
        self, sent: SentTransaction, timeout: float = 60.0, poll: float = 0.05, *, light: bool = False
    ) -> TxReceipt: ...

    def transact(self, tx: TxParams, timeout: float = 60.0) -> TxReceipt: ...


class TransactionSender:
    """Signs and sends transactions for one account from one process; thread-safe nonce
    allocation (module docstring)."""

    def __init__(self, w3: Web3, signer: LocalAccount, gas_margin: float = 1.25) -> None:
        self.w3 = w3
        self.signer = signer
        self.gas_margin = gas_margin
        self._lock = threading.Lock()
        self._fee_cache: tuple[float, int, int] | None = None

    @property
    def address(self) -> str:
        return str(self.signer.address)

    def send(
        self,
        tx: TxParams,
        *,
        nonce: int | None = None,
        trust_nonce: bool = False,
        before_broadcast: Callable[[SentTransaction], None] | None = None,
    ) -> SentTransaction:
        """Sign and broadcast; the nonce is the pending count unless given. Raises the typed tree.

        A given nonce above the pending count raises :class:`NonceGap` (it would stall) — unless
        ``trust_nonce``: the caller counted it locally right after its own previous send, and
        the node's answer to a wrong one (NonceTooLow, a gap that never fills) is its to handle.
        ``before_broadcast`` runs between signing and broadcasting (crash-injection point and
        the place to persist the hash before the transaction can exist on chain); it runs again
        for the re-signed transaction when a nonce this sender chose was taken meanwhile.
        """
        with self._lock:
            for attempt in range(NONCE_RETRIES + 1):
                try:
                    return self._send_once(tx, nonce, trust_nonce, before_broadcast)
                except (NonceTooLow, ReplacementUnderpriced):
                    if nonce is not None or attempt == NONCE_RETRIES:
                        raise  # the caller's nonce, or every re-read lost the race
            raise AssertionError("unreachable")

    def _send_once(
        self,
        tx: TxParams,
        nonce: int | None,
        trust_nonce: bool,
        before_broadcast: Callable[[SentTransaction], None] | None,
    ) -> SentTransaction:
        try:
            if nonce is not None and trust_nonce:
                use_nonce = nonce
            else:
                pending = self.pending_nonce()
                if nonce is not None and nonce > pending:
                    raise NonceGap(f"nonce {nonce} is above the pending count {pending}: it would stall")
                use_nonce = pending if nonce is None else nonce
            raw, sent = self.sign(tx, use_nonce)
            if before_broadcast is not None:
                before_broadcast(sent)
            self.broadcast(raw)
        except (TransactionFailed, ChainUnavailable):
            raise
        except Exception as exc:
            raise classify(exc) from exc
        return sent

    def pending_nonce(self) -> int:
        """The node's pending transaction count of this key: the next nonce it would accept."""
        try:
            return int(self.w3.eth.get_transaction_count(self.signer.address, "pending"))
        except Exception as exc:
            raise classify(exc) from exc

    def sign(self, tx: TxParams, nonce: int) -> tuple[bytes, SentTransaction]:
        """(raw signed bytes, hash and nonce) of ``tx`` at ``nonce``: gas estimated unless given (a
        revert raises :class:`ContractReverted` here, before anything exists), fees filled in."""
        try:
            signed = self.signer.sign_transaction(self._complete(tx, nonce))  # type: ignore[arg-type]
        except (TransactionFailed, ChainUnavailable):
            raise
        except Exception as exc:
            raise classify(exc) from exc
        return bytes(signed.raw_transaction), SentTransaction(bytes(signed.hash), nonce)

    def broadcast(self, raw: bytes) -> None:
        """Hand signed bytes to the node (the typed tree on refusal)."""
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:
            raise classify(exc) from exc

    def receipt(self, tx_hash: bytes, *, light: bool = False) -> TxReceipt | None:
        """The receipt of ``tx_hash``, None while it is not mined (see :meth:`wait` for ``light``)."""
        try:
            if light:
                return self._light_receipt(tx_hash)
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except ChainUnavailable:
            raise
        except Exception as exc:
            if "not found" not in str(exc).lower():
                raise classify(exc) from exc
            return None

    def _fees(self) -> tuple[int, int]:
        """(tip, max fee): twice the latest base fee plus the tip, re-read at most once a second.

        Twice the base fee survives several full blocks of base-fee growth, so a second-old
        reading is as good as a fresh one and saves a round trip per transaction.
        """
        now = time.monotonic()
        if self._fee_cache is None or now - self._fee_cache[0] > 1.0:
            base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
            tip = int(self.w3.to_wei(1, "gwei"))
            self._fee_cache = (now, tip, base * 2 + tip)
        return self._fee_cache[1], self._fee_cache[2]

    def _complete(self, tx: TxParams, nonce: int) -> TxParams:
        full: dict[str, Any] = dict(tx)
        full["from"] = self.signer.address
        full["nonce"] = nonce
        if "chainId" not in full:
            full["chainId"] = self.w3.eth.chain_id
        if "gas" not in full:
            full["gas"] = int(self.w3.eth.estimate_gas(full) * self.gas_margin)  # type: ignore[arg-type]
        if "maxFeePerGas" not in full and "gasPrice" not in full:
            full["maxPriorityFeePerGas"], full["maxFeePerGas"] = self._fees()
        return full  # type: ignore[return-value]

    def wait(
        self, sent: SentTransaction, timeout: float = 60.0, poll: float = 0.05, *, light: bool = False
    ) -> TxReceipt:
        """Receipt of a sent transaction; ContractReverted if status 0, TransactionDropped on timeout.

        ``light``: the node's JSON read without web3's result formatters (10 ms of CPU for a
        100-log receipt, against 0.6 ms) — ``status``, ``blockNumber``, ``transactionHash`` and
        ``logs`` (``address``, ``topics`` and ``data`` as bytes, ``logIndex``, ``blockNumber``,
        ``transactionHash``) only, as :func:`light_receipt` builds them.
        """
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.receipt(sent.tx_hash, light=light)
            if receipt is not None:
                if receipt["status"] != 1:
                    raise self.mined_revert(sent, int(receipt["blockNumber"]))
                return receipt
            if time.monotonic() > deadline:
                raise TransactionDropped(f"no receipt for {sent.tx_hash.hex()} after {timeout:.0f} s")
            time.sleep(poll)

    def mined_revert(self, sent: SentTransaction, block: int) -> ContractReverted:
        """The error a mined transaction reverted with: a receipt carries none, so the call is
        replayed on the state after its block. Nodes that mine in intervals (ganache with a block
        time, hardhat's interval mining) include a transaction whose simulation passed and another
        sender's transaction then made fail (``…AlreadyAnchored``, ``…RuleSetExists``); replayed
        after the block it names that error, which callers treat as "already done". Unknown when the
        replay succeeds (the cause was earlier in the same block) or cannot be made."""
        unknown = ContractReverted(f"transaction {sent.tx_hash.hex()} reverted", error="Unknown", args=())
        try:
            tx = self.w3.eth.get_transaction(HexBytes(sent.tx_hash))
            call: dict[str, Any] = {"from": tx["from"], "data": tx["input"], "value": tx["value"], "gas": tx["gas"]}
            if tx.get("to"):
                call["to"] = tx["to"]
            self.w3.eth.call(call, block_identifier=block)  # type: ignore[arg-type]
        except Exception as exc:
            typed = classify(exc)
            if isinstance(typed, ContractReverted) and typed.error != "Unknown":
                return ContractReverted(
                    f"transaction {sent.tx_hash.hex()} reverted with {typed.error}{typed.args_}",
                    error=typed.error,
                    args=typed.args_,
                )
        return unknown

    def _light_receipt(self, tx_hash: bytes) -> TxReceipt | None:
        response = self.w3.provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), ["0x" + tx_hash.hex()])
        if response.get("error"):
            raise ChainUnavailable(f"eth_getTransactionReceipt failed: {response['error']}")
        result = response.get("result")
        return None if result is None else light_receipt(result)

    def transact(self, tx: TxParams, timeout: float = 60.0) -> TxReceipt:
        """Send and wait for the receipt."""
        return self.wait(self.send(tx), timeout)
