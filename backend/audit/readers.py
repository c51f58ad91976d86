"""How the audit reads what it checks: ClaimLedger's logs and claim storage from the node, the
evidence from the store — overlapped with its own work, in threads and worker processes.

Nothing here decides anything; it returns what the chain and the store say. The full-history
read (:func:`read_ledger_history`) is built for speed (``benchmarks/bench_audit_claims.py``: the
audit of 10,000 claims within 3× the bare fetch of its logs): one thread reads the log ranges and
the claims' storage while the caller's thread decodes each range as it arrives and two worker
processes recover the verdicts' signers. The operator's database is read by
``backend.audit.database``.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from backend.audit.chain import RpcReader
from backend.audit.claim_record import decode_stored_claim
from backend.audit.evidence_run import StoreCheck
from backend.audit.ledger_events import CONFIG_EVENTS, TOPIC_OF, LedgerLog, decode_logs
from backend.audit.signatures import recorded_verdict, recover_recorded
from backend.chain.ledger_types import OnchainClaim
from backend.proofs.keccak import keccak256
from evidence_store.errors import EvidenceStoreError, IntegrityError, InvalidCid, InvalidData, NotFound
from evidence_store.multiformats import CID

__all__ = [
    "ClaimReads",
    "first_log_block",
    "gc_paused",
    "read_claim_reads",
    "read_ledger_history",
    "read_ledger_logs_since",
    "recovery_pool",
    "store_check_for",
]

_SEL_CLAIM = keccak256(b"claim(bytes32)")[:4]
_CLAIM_ID_CHUNK = 100  # claim ids per eth_getLogs topic filter (incremental audits)
_LOG_PARTS = 8  # block ranges a full audit reads ClaimLedger's logs in (decoded and checked as they come)


@dataclass
class ClaimReads:
    """Step 3's chain reads besides the logs: block headers, then (possibly still arriving)
    ``claim(id)`` at the head and the verdicts' rebuilt digests and recovered signers."""

    headers: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    storage_reads: list[tuple[list[bytes], Future[list[bytes]]]] = field(default_factory=list)
    recoveries: list[tuple[list[tuple[int, int]], Future[list[tuple[bytes, str | None]]]]] = field(default_factory=list)

    def storage(self) -> dict[bytes, OnchainClaim | None]:
        return {
            cid: decode_stored_claim(data)
            for ids, answer in self.storage_reads
            for cid, data in zip(ids, answer.result(), strict=True)
        }

    def signers(self) -> dict[tuple[int, int], tuple[bytes, str | None]]:
        return {
            position: found
            for positions, answer in self.recoveries
            for position, found in zip(positions, answer.result(), strict=True)
        }


@contextmanager
def gc_paused() -> Iterator[None]:
    """CPython's cyclic garbage collector paused (if it ran): the replay of a full history builds
    ~10 long-lived objects a claim, none in a cycle, and each full collection over them cost
    ~0.2 s — three of them in a 10,000-claim audit, a third of its own CPU time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def recovery_pool() -> Executor:
    """Two worker processes for signature recovery, forked (fast, and they need nothing but the
    code already loaded) right away, before the audit starts threads of its own; threads where
    ``fork`` is not available."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return ThreadPoolExecutor(2)
    # The workers inherit the whole loaded program; a collection in them would walk (and so copy,
    # page by page) every inherited object. Frozen objects are never collected, and the workers
    # make no cycles: they run without the collector.
    gc.freeze()
    try:
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"), initializer=gc.disable)
        pool.submit(int)  # the first submit forks every worker
    finally:
        gc.unfreeze()
    return pool


def read_ledger_history(
    rpc: RpcReader, ledger: str, first: int, head: int, separator: bytes
) -> tuple[list[LedgerLog], ClaimReads]:
    """Every ClaimLedger log in ``[first, head]``, with what step 3 needs besides.

    The node's work and the auditor's overlap: one thread reads the logs block range after
    block range, then the storage of the claims each range filed, while this thread decodes
    each range as it arrives and two worker processes rebuild its verdicts' digests and
    recover their signers (libsecp256k1: the bulk of step 3's own work; in threads it would
    wait on the GIL behind the decoding). The storage reads and the recoveries may still be
    running when this returns: the replay waits for them only after its event-by-event pass.
    """
    step = max(1, -(-(head - first + 1) // _LOG_PARTS))
    ranges = [(start, min(head, start + step - 1)) for start in range(first, head + 1, step)]
    logs: list[LedgerLog] = []
    reads = ClaimReads()
    recoverer = recovery_pool()  # forked before the reader thread starts
    reader = ThreadPoolExecutor(1)
    failed = True
    try:
        parts = deque(reader.submit(rpc.logs, ledger, start, end) for start, end in ranges)
        while parts:  # each range's raw JSON is dropped once decoded
            decoded = decode_logs(parts.popleft().result())
            logs.extend(decoded)  # ranges in order, each sorted: the whole is in chain order
            filed = sorted({log.claim for log in decoded if log.name == "ClaimFiled" and log.claim is not None})
            calls = [_SEL_CLAIM + cid for cid in filed]
            reads.storage_reads.append((filed, reader.submit(rpc.eth_calls, ledger, calls, head)))
            verdicts = [log for log in decoded if log.name == "VerdictRecorded" and not log.malformed]
            for half in (verdicts[: len(verdicts) // 2], verdicts[len(verdicts) // 2 :]):
                recovering = recoverer.submit(recover_recorded, separator, [recorded_verdict(log) for log in half])
                reads.recoveries.append(([log.position for log in half], recovering))
        # The replay needs the headers first: read here, next to the storage reads.
        reads.headers = rpc.block_headers(header_blocks(logs))
        failed = False
    finally:
        # On success the queued reads and recoveries still run (their futures stay valid).
        reader.shutdown(wait=False, cancel_futures=failed)
        recoverer.shutdown(wait=False, cancel_futures=failed)
    return logs, reads


def read_ledger_logs_since(
    rpc: RpcReader, ledger: str, first: int, from_block: int, head: int
) -> tuple[list[LedgerLog], set[bytes]]:
    """An incremental audit's ClaimLedger logs, and the claims they touch (its scope).

    The logs in ``[from_block, head]``, plus the earlier logs of the claims they touch and every
    roster, conflict and rule-set log (few), so each touched claim is replayed from its filing.
    """
    new = decode_logs(rpc.logs(ledger, from_block, head))
    touched = sorted({log.claim for log in new if log.claim is not None})
    before = from_block - 1
    config_topics = ["0x" + TOPIC_OF[name].hex() for name in sorted(CONFIG_EVENTS)]
    raw = rpc.logs(ledger, first, before, [config_topics])
    for start in range(0, len(touched), _CLAIM_ID_CHUNK):
        chunk = ["0x" + c.hex() for c in touched[start : start + _CLAIM_ID_CHUNK]]
        raw.extend(rpc.logs(ledger, first, before, [None, chunk]))
    scope = set(touched)
    earlier = [log for log in decode_logs(raw) if log.claim is None or log.claim in scope]
    return sorted([*earlier, *new], key=lambda e: e.position), scope


def first_log_block(rpc: RpcReader, address: str, event: str, first: int, head: int) -> int | None:
    """The block of ``address``'s first ``event`` log in ``[first, head]`` (None: there is none),
    read range by range from ``first`` so an early one costs one ``eth_getLogs``."""
    topic = "0x" + TOPIC_OF[event].hex()
    start = first
    while start <= head:
        end = min(head, start + max(1, rpc.log_range) - 1)
        found = rpc.logs(address, start, end, [[topic]])
        if found:
            return min(int(entry["blockNumber"], 16) for entry in found)
        start = end + 1
    return None


def header_blocks(logs: Sequence[LedgerLog]) -> list[int]:
    """The blocks whose headers step 3 needs: every claim event's (its time, its parent) and every
    scheduled draw's seed block (its hash seeds the on-chain jury draw)."""
    blocks = {log.block for log in logs if log.claim is not None}
    blocks.update(log.fields["drawBlock"] for log in logs if log.name == "JuryDrawScheduled" and not log.malformed)
    return sorted(blocks)


def read_claim_reads(
    rpc: RpcReader, ledger: str, logs: Sequence[LedgerLog], scope: set[bytes] | None, head: int
) -> ClaimReads:
    """What step 3 reads besides the logs, when they were not read with them (incremental audit)."""
    claim_logs = [log for log in logs if log.claim is not None]
    ids = sorted({log.claim for log in claim_logs if log.claim is not None and (scope is None or log.claim in scope)})
    reads = ClaimReads()
    with ThreadPoolExecutor(1) as pool:  # storage reads in flight while the headers arrive
        raw = pool.submit(rpc.eth_calls, ledger, [_SEL_CLAIM + cid for cid in ids], head)
        reads.headers = rpc.block_headers(header_blocks(claim_logs))
        raw.result()
    reads.storage_reads.append((ids, raw))
    return reads


def store_check_for(store: Any) -> StoreCheck:
    """``StoreCheck`` over an evidence store: fetch every block of the file (each re-hashed by the store)."""

    def check(cid_bytes: bytes) -> tuple[str, str] | None:
        try:
            cid = CID.parse(cid_bytes)
        except InvalidCid:
            return ("invalid_cid", "its cid is not a valid binary CID")
        try:
            for _chunk in store.cat(cid):
                pass
        except NotFound:
            return ("not_found", f"the evidence store does not have its ciphertext {cid} (or a block of it)")
        except (IntegrityError, InvalidData):
            return ("corrupt", f"a block of its ciphertext {cid} does not re-hash to its CID")
        except EvidenceStoreError as exc:
            return ("unavailable", f"the evidence store could not serve {cid} ({exc.code})")
        return None

    return check
