"""What the auditor reads from the chain: raw JSON-RPC, batched, pinned to one block.

The auditor talks plain JSON-RPC (any EVM node, no anvil-only method) and decodes the few
EvidenceNotary views and the ``BatchAnchored`` event itself, so that it depends on nothing but
the ABI (``contracts/src/IEvidenceNotary.sol``). Storage reads are made ``at`` one block (the
head when the audit started), so a concurrent anchor cannot make two reads disagree.

Calls are sent as JSON-RPC batches (``batch_size`` per HTTP request); ``eth_getLogs`` ranges are
split in half when a node refuses a range as too large.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from backend.errors import ChainError, ChainUnavailable
from backend.proofs.keccak import keccak256

__all__ = [
    "BATCH_ANCHORED_TOPIC",
    "AnchorEvent",
    "ChainBatch",
    "RpcReader",
]

BATCH_ANCHORED_TOPIC = keccak256(b"BatchAnchored(uint256,bytes32,bytes32,uint64)")
_SEL_BATCH = keccak256(b"batch(uint256)")[:4]
_SEL_BATCH_COUNT = keccak256(b"batchCount()")[:4]
_SEL_HEAD_ROOT = keccak256(b"headRoot()")[:4]
_SEL_BATCH_ID_OF = keccak256(b"batchIdOf(bytes32)")[:4]
ZERO32 = bytes(32)


@dataclass(frozen=True, slots=True)
class ChainBatch:
    """``EvidenceNotary.batch(id)`` as stored on chain."""

    batch_id: int
    root: bytes
    prev_root: bytes
    leaf_count: int
    block_number: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class AnchorEvent:
    """One ``BatchAnchored`` log, with where it sits in the chain."""

    batch_id: int
    root: bytes
    prev_root: bytes
    leaf_count: int
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _word(data: bytes, i: int) -> bytes:
    return data[32 * i : 32 * (i + 1)]


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


class RpcReader:
    """A JSON-RPC client for one node URL (``with RpcReader(url) as rpc: ...``)."""

    def __init__(self, url: str, *, timeout: float = 30.0, batch_size: int = 500, log_range: int = 100_000) -> None:
        self.url = url
        self.batch_size = batch_size
        self.log_range = log_range
        self._client = httpx.Client(timeout=timeout)
        self._next_id = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RpcReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def _post(self, body: Any) -> Any:
        try:
            response = self._client.post(self.url, json=body)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainUnavailable(f"cannot read the chain at {self.url} ({exc.__class__.__name__})") from exc

    def call(self, method: str, params: list[Any]) -> Any:
        self._next_id += 1
        payload = self._post({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        if "error" in payload:
            raise ChainError(f"{method} failed: {payload['error'].get('message')}", code="RPC_ERROR")
        return payload.get("result")

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Results of ``calls`` in order (JSON-RPC batches of ``batch_size``)."""
        chunks = [calls[start : start + self.batch_size] for start in range(0, len(calls), self.batch_size)]
        return [result for chunk in chunks for result in self._batch_chunk(chunk)]

    def _batch_chunk(self, chunk: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        body = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params} for i, (method, params) in enumerate(chunk)
        ]
        answers = self._post(body)
        if not isinstance(answers, list):
            raise ChainError("the node does not answer JSON-RPC batches", code="RPC_ERROR")
        by_id = {a.get("id"): a for a in answers}
        results: list[Any] = []
        for i, (method, _params) in enumerate(chunk):
            answer = by_id.get(i)
            if answer is None or "error" in answer:
                message = answer["error"].get("message") if answer else "no answer"
                raise ChainError(f"{method} failed: {message}", code="RPC_ERROR")
            results.append(answer.get("result"))
        return results

    # -- chain -------------------------------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.call("eth_chainId", []), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def block(self, number: int) -> dict[str, Any] | None:
        result = self.call("eth_getBlockByNumber", [hex(number), False])
        return result if isinstance(result, dict) else None

    def block_hashes(self, numbers: Sequence[int]) -> dict[int, bytes | None]:
        """Hash of each block, ``None`` where the node does not serve it (pruned)."""
        unique = sorted(set(numbers))
        blocks = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in unique])
        return {n: (_bytes(b["hash"]) if isinstance(b, dict) else None) for n, b in zip(unique, blocks, strict=True)}

    def history_available(self, number: int) -> bool:
        """True when the node still serves the block ``number`` and its transactions' receipts."""
        block = self.block(number)
        if block is None:
            return False
        txs = block.get("transactions") or []
        if not txs:
            return True
        return self.call("eth_getTransactionReceipt", [txs[0]]) is not None

    def code(self, address: str, at: int) -> bytes:
        return _bytes(self.call("eth_getCode", [address, hex(at)]))

    def _eth_call(self, to: str, data: bytes, at: int) -> bytes:
        return _bytes(self.call("eth_call", [{"to": to, "data": _hex(data)}, hex(at)]))

    # -- EvidenceNotary ------------------------------------------------------------------------

    def batch_count(self, notary: str, at: int) -> int:
        return _int(self._eth_call(notary, _SEL_BATCH_COUNT, at))

    def head_root(self, notary: str, at: int) -> bytes:
        return self._eth_call(notary, _SEL_HEAD_ROOT, at)[:32]

    def batches(self, notary: str, ids: Sequence[int], at: int) -> list[ChainBatch]:
        """``batch(id)`` for each id (storage; survives pruned logs)."""
        calls = [("eth_call", [{"to": notary, "data": _hex(_SEL_BATCH + i.to_bytes(32, "big"))}, hex(at)]) for i in ids]
        out: list[ChainBatch] = []
        for batch_id, raw in zip(ids, self.batch(calls), strict=True):
            data = _bytes(raw)
            out.append(
                ChainBatch(
                    batch_id,
                    _word(data, 0),
                    _word(data, 1),
                    _int(_word(data, 2)),
                    _int(_word(data, 3)),
                    _int(_word(data, 4)),
                )
            )
        return out

    def batch_ids_of(self, notary: str, roots: Sequence[bytes], at: int) -> list[int]:
        """``batchIdOf(root)`` for each root (0 = not anchored)."""
        calls = [("eth_call", [{"to": notary, "data": _hex(_SEL_BATCH_ID_OF + r)}, hex(at)]) for r in roots]
        return [_int(_bytes(raw)) for raw in self.batch(calls)]

    def logs(
        self, address: str, from_block: int, to_block: int, topics: Sequence[Any] | None = None
    ) -> list[dict[str, Any]]:
        """Raw ``eth_getLogs`` entries of ``address`` in ``[from_block, to_block]`` (ranges halved on refusal)."""
        out: list[dict[str, Any]] = []
        start = from_block
        span = self.log_range
        while start <= to_block:
            end = min(to_block, start + span - 1)
            query: dict[str, Any] = {"address": address, "fromBlock": hex(start), "toBlock": hex(end)}
            if topics is not None:
                query["topics"] = list(topics)
            try:
                found = self.call("eth_getLogs", [query])
            except ChainError:
                if span == 1:
                    raise
                span = max(1, span // 2)  # the node refused the range: ask for less
                continue
            out.extend(found or [])
            start = end + 1
        return out

    def anchor_events(self, notary: str, from_block: int, to_block: int) -> list[AnchorEvent]:
        """Every ``BatchAnchored`` log of ``notary`` in ``[from_block, to_block]``, in chain order."""
        events = [
            _decode_event(entry) for entry in self.logs(notary, from_block, to_block, [_hex(BATCH_ANCHORED_TOPIC)])
        ]
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events

    def block_headers(self, numbers: Sequence[int]) -> dict[int, dict[str, Any] | None]:
        """``eth_getBlockByNumber(n, false)`` for each number (``None`` where the node has pruned it)."""
        unique = sorted(set(numbers))
        found = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in unique])
        return {n: (b if isinstance(b, dict) else None) for n, b in zip(unique, found, strict=True)}

    def eth_calls(self, to: str, datas: Sequence[bytes], at: int) -> list[bytes]:
        """``eth_call`` of each calldata on ``to`` at block ``at`` (JSON-RPC batches)."""
        if not datas:
            return []
        calls = [("eth_call", [{"to": to, "data": _hex(d)}, hex(at)]) for d in datas]
        return [_bytes(raw) for raw in self.batch(calls)]


def _decode_event(entry: dict[str, Any]) -> AnchorEvent:
    topics = entry["topics"]
    data = _bytes(entry["data"])
    return AnchorEvent(
        batch_id=_int(_bytes(topics[1])),
        root=_bytes(topics[2]),
        prev_root=_word(data, 0),
        leaf_count=_int(_word(data, 1)),
        block_number=int(entry["blockNumber"], 16),
        block_hash=_bytes(entry["blockHash"]),
        tx_hash=_bytes(entry["transactionHash"]),
        log_index=int(entry["logIndex"], 16),
    )
