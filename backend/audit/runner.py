"""Running the checklist: read the chain once (pinned to the head block), run every registered step.

Sources, and how far each is trusted:

* the **chain** (JSON-RPC URL) — the only authority;
* the **deployment record** (``deployment.json``: chain id, genesis hash, contract addresses and
  deployment blocks) — published data, itself checked by step 1;
* the **evidence store** — content-addressed, so every byte read is re-hashed against its CID;
* optionally the operator's **database** — never trusted: it only says which items to look for,
  and step 7 checks that it agrees with the chain and the store.

A checkpoint makes the audit incremental (``since_checkpoint``): only blocks after it are read,
and step 2 first checks that the chain still extends it. A passing audit proposes the next
checkpoint (``AuditReport.checkpoint``), chained to the previous one.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.audit.anchors import AnchorHistory, check_anchor_chain
from backend.audit.chain import ZERO32, AnchorEvent, ChainBatch, RpcReader
from backend.audit.checkpoint import Checkpoint
from backend.audit.claim_mirror import check_claim_mirror
from backend.audit.claims import (
    BlockInfo,
    ClaimsVerdict,
    check_claims,
    decode_stored_claim,
    domain_separator,
    recorded_verdict,
    recover_recorded,
    rule_set_documents,
    states_count,
)
from backend.audit.database import (
    DbBatch,
    count_claim_rows,
    load_batches,
    load_rule_set_texts,
    orphan_evidence_ids,
    stream_items,
)
from backend.audit.errors import ApportionmentInvalid, BytecodeMismatch
from backend.audit.evidence import ChainLookups, EvidenceVerdict, StoreCheck, check_evidence_and_mirror
from backend.audit.ledger_events import CONFIG_EVENTS, TOPIC_OF, LedgerLog, decode_logs
from backend.audit.report import AuditReport, StepResult, StepStatus
from backend.audit.steps import STEPS, StepSpec, register_step, registered_steps
from backend.chain.claims import OnchainClaim
from backend.chain.client import http_web3
from backend.chain.compiler import ContractsLayout, load_artifact
from backend.chain.deploy import DeploymentRecord, runtime_code_matches
from backend.errors import CompileError
from backend.proofs.hexstr import to_hex
from backend.proofs.keccak import keccak256

__all__ = ["AuditSources", "Progress", "audit_runtime", "run_audit", "store_check_for"]

NOTARY = "EvidenceNotary"
LEDGER = "ClaimLedger"
APPORTIONMENT = "Apportionment"
_SEL_CLAIM = keccak256(b"claim(bytes32)")[:4]
_CLAIM_ID_CHUNK = 100  # claim ids per eth_getLogs topic filter (incremental audits)
_LOG_PARTS = 8  # block ranges a full audit reads ClaimLedger's logs in (decoded and checked as they come)

Progress = Callable[[str, int, int | None], None]
"""``progress(task, advance, total)``: ``advance`` units of ``task`` done (``total`` when known)."""


@dataclass
class AuditSources:
    """What to audit and with what. ``sessions``/``store`` are optional (steps 5 and 7 need them)."""

    rpc_url: str
    deployment: DeploymentRecord
    sessions: sessionmaker[Session] | None = None
    store: Any = None  # evidence_store.EvidenceStore
    checkpoint: Checkpoint | None = None
    since_checkpoint: bool = False
    layout: ContractsLayout | None = None
    progress: Progress | None = None
    rpc_timeout: float = 30.0
    # Rule-set documents (canonical JSON). Self-authenticating: only a text whose keccak256 is an
    # anchored rule-set hash is used, so they may come from anywhere; the database's rule_sets
    # table is added when a database is given.
    rule_sets: Sequence[str] = ()
    schedule: Any = None  # backend.apportionment.schedule.ApportionmentSchedule (default schedule)


@dataclass
class AuditContext:
    """Everything the steps share; chain reads are made once and pinned to ``head``."""

    sources: AuditSources
    rpc: RpcReader
    head: int
    cache: dict[str, Any] = field(default_factory=dict)

    def progress(self, task: str, advance: int, total: int | None = None) -> None:
        if self.sources.progress is not None:
            self.sources.progress(task, advance, total)

    @property
    def notary(self) -> str:
        return self.sources.deployment.address(NOTARY)

    @property
    def incremental(self) -> bool:
        return self.sources.since_checkpoint and self.sources.checkpoint is not None

    @cached_property
    def start_id(self) -> int:
        cp = self.sources.checkpoint
        return cp.batch_count + 1 if self.incremental and cp is not None else 1

    @cached_property
    def from_block(self) -> int:
        cp = self.sources.checkpoint
        if self.incremental and cp is not None:
            return cp.block_number + 1
        return self.sources.deployment.contracts[NOTARY].block

    @cached_property
    def batch_count(self) -> int:
        return self.rpc.batch_count(self.notary, self.head)

    @cached_property
    def head_root(self) -> bytes:
        return self.rpc.head_root(self.notary, self.head)

    @cached_property
    def storage(self) -> dict[int, ChainBatch]:
        """``batch(id)`` for the audited range, plus the batch just before it (the link's anchor)."""
        first = max(1, self.start_id - 1)
        ids = list(range(first, self.batch_count + 1))
        out: dict[int, ChainBatch] = {}
        for start in range(0, len(ids), 2000):
            chunk = ids[start : start + 2000]
            out.update({b.batch_id: b for b in self.rpc.batches(self.notary, chunk, self.head)})
            self.progress("reading batches", len(chunk), len(ids))
        return out

    @cached_property
    def events(self) -> list[AnchorEvent]:
        return self.rpc.anchor_events(self.notary, self.from_block, self.head)

    @cached_property
    def history(self) -> AnchorHistory:
        storage = self.storage
        base = ZERO32
        if self.start_id > 1:
            before = storage.get(self.start_id - 1)
            cp = self.sources.checkpoint
            base = before.root if before is not None else (cp.head_root if cp is not None else ZERO32)
        in_scope = {n: b for n, b in storage.items() if n >= self.start_id}
        return AnchorHistory(self.batch_count, self.head_root, self.start_id, base, in_scope, self.events)

    @cached_property
    def db_batches(self) -> list[DbBatch] | None:
        if self.sources.sessions is None:
            return None
        return load_batches(self.sources.sessions, after_batch=self.start_id - 1)

    def batch_id_of(self, root: bytes) -> int:
        known: dict[bytes, int] = self.cache.setdefault("batch_id_of", {})
        if root not in known:
            known[root] = self.rpc.batch_ids_of(self.notary, [root], self.head)[0]
        return known[root]

    def block_hash(self, number: int) -> bytes | None:
        known: dict[int, bytes | None] = self.cache.setdefault("block_hash", {})
        if number not in known:
            known[number] = self.rpc.block_hashes([number])[number]
        return known[number]

    def evidence_verdict(self) -> EvidenceVerdict:
        if "evidence" not in self.cache:
            sessions = self.sources.sessions
            assert sessions is not None
            assert self.db_batches is not None
            history = self.history
            lookups = ChainLookups(
                storage=dict(history.storage),
                events={e.batch_id: e for e in history.events},
                batch_id_of=self.batch_id_of,
                block_hash=self.block_hash,
                start_id=self.start_id,
            )
            batch_ids = None if not self.incremental else [b.id for b in self.db_batches]
            total = sum(s.leaf_count for s in history.storage.values())
            self.cache["evidence"] = check_evidence_and_mirror(
                lookups,
                self.db_batches,
                stream_items(sessions, batch_ids),
                store_check=None if self.sources.store is None else store_check_for(self.sources.store),
                orphans=None if self.incremental else orphan_evidence_ids(sessions),
                progress=lambda n: self.progress("checking evidence", n, total),
            )
        verdict: EvidenceVerdict = self.cache["evidence"]
        return verdict

    # -- ClaimLedger (steps 3, 4, 7) ---------------------------------------------------------------

    @property
    def ledger(self) -> str | None:
        contracts = self.sources.deployment.contracts
        return contracts[LEDGER].address if LEDGER in contracts else None

    @cached_property
    def ledger_history_pruned(self) -> bool:
        """True when the node no longer serves ClaimLedger's first block (its logs are gone)."""
        return not self.rpc.history_available(self.sources.deployment.contracts[LEDGER].block)

    @cached_property
    def ledger_logs(self) -> tuple[list[LedgerLog], set[bytes] | None]:
        """ClaimLedger logs to replay, and the claims in scope (None: all of them).

        Full audit: every log since the deployment. Incremental: the logs after the checkpoint,
        plus the earlier logs of the claims they touch and every roster, conflict and rule-set
        log (few), so each touched claim is replayed from its filing.
        """
        ledger = self.ledger
        assert ledger is not None
        first = self.sources.deployment.contracts[LEDGER].block
        if not self.incremental or self.from_block <= first:
            return self._read_full_history(ledger, first), None
        new = decode_logs(self.rpc.logs(ledger, self.from_block, self.head))
        touched = sorted({log.claim for log in new if log.claim is not None})
        before = self.from_block - 1
        config_topics = ["0x" + TOPIC_OF[name].hex() for name in sorted(CONFIG_EVENTS)]
        raw = self.rpc.logs(ledger, first, before, [config_topics])
        for start in range(0, len(touched), _CLAIM_ID_CHUNK):
            chunk = ["0x" + c.hex() for c in touched[start : start + _CLAIM_ID_CHUNK]]
            raw.extend(self.rpc.logs(ledger, first, before, [None, chunk]))
        scope = set(touched)
        earlier = [log for log in decode_logs(raw) if log.claim is None or log.claim in scope]
        return sorted([*earlier, *new], key=lambda e: e.position), scope

    @cached_property
    def separator(self) -> bytes:
        """ClaimLedger's EIP-712 domain separator (this chain, this deployment)."""
        ledger = self.ledger
        assert ledger is not None
        return domain_separator(self.sources.deployment.chain_id, ledger)

    def _read_full_history(self, ledger: str, first: int) -> list[LedgerLog]:
        """Every ClaimLedger log since ``first``, with what step 3 needs besides (``cache["claim_reads"]``).

        The node's work and the auditor's overlap: one thread reads the logs block range after
        block range, then the storage of the claims each range filed, while this thread decodes
        each range as it arrives and two worker processes rebuild its verdicts' digests and
        recover their signers (libsecp256k1: the bulk of step 3's own work; in threads it would
        wait on the GIL behind the decoding). The storage reads and the recoveries may still be
        running when this returns: the replay waits for them only after its event-by-event pass.
        """
        step = max(1, -(-(self.head - first + 1) // _LOG_PARTS))
        ranges = [(start, min(self.head, start + step - 1)) for start in range(first, self.head + 1, step)]
        logs: list[LedgerLog] = []
        reads = _ClaimReads()
        recoverer = _recovery_pool()  # forked before the reader thread starts
        reader = ThreadPoolExecutor(1)
        failed = True
        try:
            parts = deque(reader.submit(self.rpc.logs, ledger, start, end) for start, end in ranges)
            while parts:  # each range's raw JSON is dropped once decoded
                decoded = decode_logs(parts.popleft().result())
                logs.extend(decoded)  # ranges in order, each sorted: the whole is in chain order
                filed = sorted({log.claim for log in decoded if log.name == "ClaimFiled" and log.claim is not None})
                calls = [_SEL_CLAIM + cid for cid in filed]
                reads.storage_reads.append((filed, reader.submit(self.rpc.eth_calls, ledger, calls, self.head)))
                verdicts = [log for log in decoded if log.name == "VerdictRecorded" and not log.malformed]
                for half in (verdicts[: len(verdicts) // 2], verdicts[len(verdicts) // 2 :]):
                    recovering = recoverer.submit(
                        recover_recorded, self.separator, [recorded_verdict(log) for log in half]
                    )
                    reads.recoveries.append(([log.position for log in half], recovering))
            # The replay needs the headers first: read here, next to the storage reads.
            reads.headers = self.rpc.block_headers(sorted({log.block for log in logs if log.claim is not None}))
            failed = False
        finally:
            # On success the queued reads and recoveries still run (their futures stay valid).
            reader.shutdown(wait=False, cancel_futures=failed)
            recoverer.shutdown(wait=False, cancel_futures=failed)
        self.cache["claim_reads"] = reads
        return logs

    def _claim_reads(self, logs: Sequence[LedgerLog], scope: set[bytes] | None) -> _ClaimReads:
        """What step 3 reads besides the logs: made while the logs were read (full audit), or now."""
        reads: _ClaimReads | None = self.cache.pop("claim_reads", None)
        if reads is not None:
            return reads
        ledger = self.ledger
        assert ledger is not None
        claim_logs = [log for log in logs if log.claim is not None]
        ids = sorted(
            {log.claim for log in claim_logs if log.claim is not None and (scope is None or log.claim in scope)}
        )
        reads = _ClaimReads()
        with ThreadPoolExecutor(1) as pool:  # storage reads in flight while the headers arrive
            raw = pool.submit(self.rpc.eth_calls, ledger, [_SEL_CLAIM + cid for cid in ids], self.head)
            reads.headers = self.rpc.block_headers(sorted({log.block for log in claim_logs}))
            raw.result()
        reads.storage_reads.append((ids, raw))
        return reads

    def rule_set_texts(self) -> list[str]:
        texts = list(self.sources.rule_sets)
        if self.sources.sessions is not None:
            texts.extend(load_rule_set_texts(self.sources.sessions))
        return texts

    def claims_verdict(self) -> ClaimsVerdict:
        if "claims" not in self.cache:
            with _gc_paused():
                logs, scope = self.ledger_logs
                self.progress("reading claim blocks and storage", 0, None)
                reads = self._claim_reads(logs, scope)
                blocks = {
                    n: (None if h is None else BlockInfo(int(h["timestamp"], 16), bytes.fromhex(h["parentHash"][2:])))
                    for n, h in reads.headers.items()
                }
                self.cache["claims"] = check_claims(
                    logs,
                    domain_separator=self.separator,
                    blocks=blocks,
                    storage=reads.storage,
                    documents=rule_set_documents(self.rule_set_texts()),
                    head=self.head,
                    full=scope is None,
                    in_scope=None if scope is None else scope.__contains__,
                    signers=reads.signers,
                )
        verdict: ClaimsVerdict = self.cache["claims"]
        return verdict


@contextmanager
def _gc_paused() -> Iterator[None]:
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


def _recovery_pool() -> Executor:
    """Two worker processes for signature recovery, forked (fast, and they need nothing but the
    code already loaded) right away, before the audit starts threads of its own; threads where
    ``fork`` is not available."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return ThreadPoolExecutor(2)
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
    pool.submit(int)  # the first submit forks every worker
    return pool


@dataclass
class _ClaimReads:
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


def store_check_for(store: Any) -> StoreCheck:
    """``StoreCheck`` over an evidence store: fetch every block of the file (each re-hashed by the store)."""
    from evidence_store.errors import (
        EvidenceStoreError,
        IntegrityError,
        InvalidCid,
        InvalidData,
        NotFound,
    )
    from evidence_store.multiformats import CID

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


# -- step 1 --------------------------------------------------------------------------------------


def _step_bytecode(spec: StepSpec, ctx: AuditContext) -> StepResult:
    record = ctx.sources.deployment
    rpc = ctx.rpc
    findings: list[BytecodeMismatch] = []
    chain_id = rpc.chain_id()
    if chain_id != record.chain_id:
        findings.append(
            BytecodeMismatch(
                f"the chain's id is {chain_id}, the deployment record's {record.chain_id}", reason="chain_id"
            )
        )
    genesis = rpc.block(0)
    genesis_hash = to_hex(bytes.fromhex(genesis["hash"][2:])) if genesis else None
    if genesis_hash is not None and genesis_hash != record.genesis_hash:
        findings.append(
            BytecodeMismatch(
                f"the chain's genesis block is {genesis_hash[:10]}…, "
                f"the deployment record's {record.genesis_hash[:10]}…: a different or reset chain",
                reason="genesis",
            )
        )
    w3 = http_web3(ctx.sources.rpc_url, ctx.sources.rpc_timeout)
    unverified_tx = 0
    for name in sorted(record.contracts):
        deployed = record.contracts[name]
        try:
            artifact = load_artifact(name, ctx.sources.layout)
        except CompileError:
            findings.append(
                BytecodeMismatch(
                    f"{name}: no committed artifact to compare with", reason="artifact_missing", contract=name
                )
            )
            continue
        code = rpc.code(deployed.address, ctx.head)
        if not code:
            findings.append(
                BytecodeMismatch(f"{name}: no code at {deployed.address.lower()}", reason="no_code", contract=name)
            )
            continue
        if not runtime_code_matches(w3, deployed.address, artifact):
            findings.append(
                BytecodeMismatch(
                    f"{name}: the code at {deployed.address.lower()} is not the committed artifact's runtime code",
                    reason="code_mismatch",
                    contract=name,
                )
            )
        receipt = rpc.call("eth_getTransactionReceipt", [deployed.tx])
        if receipt is None:
            if rpc.history_available(deployed.block):
                findings.append(
                    BytecodeMismatch(
                        f"{name}: the deployment transaction in the record is not in block {deployed.block}",
                        reason="deployment_tx",
                        contract=name,
                    )
                )
            else:
                unverified_tx += 1
        elif (str(receipt.get("contractAddress") or "").lower(), int(receipt["blockNumber"], 16)) != (
            deployed.address.lower(),
            deployed.block,
        ):
            findings.append(
                BytecodeMismatch(
                    f"{name}: the record's deployment transaction did not create {deployed.address.lower()} in block "
                    f"{deployed.block}",
                    reason="deployment_tx",
                    contract=name,
                )
            )
    detail = f"{len(record.contracts)} contracts compared with contracts/artifacts"
    if unverified_tx:
        detail += f"; {unverified_tx} deployment transaction(s) pruned by the node (code checked from state)"
    status = StepStatus.FAILED if findings else StepStatus.PASSED
    return spec.result(status, detail, checked={"contracts": len(record.contracts)}, findings=list(findings))


# -- step 2 --------------------------------------------------------------------------------------


def _step_anchor_chain(spec: StepSpec, ctx: AuditContext) -> StepResult:
    cp = ctx.sources.checkpoint
    cp_hash = ctx.block_hash(cp.block_number) if cp is not None and cp.block_number <= ctx.head else None
    verdict = check_anchor_chain(
        ctx.history,
        history_available=ctx.rpc.history_available,
        checkpoint=cp,
        checkpoint_block_hash=cp_hash,
        db_batches=ctx.db_batches,
    )
    first, last = ctx.start_id, ctx.batch_count
    span = f"batches {first}..{last}" if last >= first else "no new batches"
    if verdict.findings:
        status, detail = StepStatus.FAILED, f"{span}: {len(verdict.findings)} broken link(s)"
    elif verdict.history_unavailable:
        status = StepStatus.HISTORY_UNAVAILABLE
        detail = (
            f"{span}: the node has pruned the events of {len(verdict.history_unavailable)} batch(es) "
            f"({verdict.history_unavailable[0]}..{verdict.history_unavailable[-1]}); only the storage hash chain "
            "could be checked — the replay did not run"
        )
    else:
        status, detail = StepStatus.PASSED, f"{span}: replayed from block {ctx.from_block}, events = storage"
    if ctx.db_batches is not None:
        detail += "; operator's view checked"
    return spec.result(status, detail, checked=verdict.checked, findings=list(verdict.findings))


# -- steps 3 and 4 ---------------------------------------------------------------------------------

_NOT_PUBLIC = (
    "not checkable from public data: eligibility at joining, the waiting period and which age band applies "
    "(birth, join and diagnosis dates are off chain; a claim's member commitment is unlinkable to a membership)"
)


def _claims_unavailable(spec: StepSpec, ctx: AuditContext) -> StepResult | None:
    if ctx.ledger is None:
        return spec.result(StepStatus.SKIPPED, "the deployment record has no ClaimLedger")
    if ctx.ledger_history_pruned:
        first = ctx.sources.deployment.contracts[LEDGER].block
        return spec.result(
            StepStatus.HISTORY_UNAVAILABLE,
            f"the node has pruned ClaimLedger's history (block {first} and after): the claims cannot be replayed",
        )
    return None


def _step_claim_history(spec: StepSpec, ctx: AuditContext) -> StepResult:
    blocked = _claims_unavailable(spec, ctx)
    if blocked is not None:
        return blocked
    verdict = ctx.claims_verdict()
    c = verdict.history_checked
    states = ", ".join(f"{n} {s}" for s, n in sorted(states_count(verdict.states).items()))
    detail = (
        f"{c['claims']} claims replayed ({states or 'none'}): {c['events']} events, {c['signatures']} verdict "
        f"signatures recovered, {c['reveals']} reveals opened"
    )
    if verdict.history:
        status = StepStatus.FAILED
    elif verdict.unverifiable:
        status = StepStatus.HISTORY_UNAVAILABLE
        detail += f"; {verdict.unverifiable} block(s) of claim events no longer served by the node"
    else:
        status = StepStatus.PASSED
    checked = {**c, **{f"state{s.title().replace('_', '')}": n for s, n in states_count(verdict.states).items()}}
    return spec.result(status, detail, checked=checked, findings=list(verdict.history))


def _step_claim_rules(spec: StepSpec, ctx: AuditContext) -> StepResult:
    blocked = _claims_unavailable(spec, ctx)
    if blocked is not None:
        return blocked
    verdict = ctx.claims_verdict()
    c = verdict.rules_checked
    detail = f"{c['claims']} claims under {c['ruleSets']} rule set(s); {_NOT_PUBLIC}"
    if verdict.rules:
        status = StepStatus.FAILED
    elif verdict.missing_documents:
        status = StepStatus.SKIPPED
        detail = (
            f"{c['withoutDocument']} of {c['claims']} claims are under rule sets whose document was not given "
            f"({', '.join(verdict.missing_documents)}): payout bands and parameters not checked; {_NOT_PUBLIC}"
        )
    else:
        status = StepStatus.PASSED
    return spec.result(status, detail, checked=c, findings=list(verdict.rules))


# -- step 6 ----------------------------------------------------------------------------------------


def _step_apportionment(spec: StepSpec, ctx: AuditContext) -> StepResult:
    from backend.apportionment.audit import audit_period
    from backend.apportionment.schedule import DEFAULT_SCHEDULE
    from backend.chain.apportionment import ApportionmentClient
    from backend.chain.client import contract_at
    from evidence_store.errors import EvidenceStoreError

    record = ctx.sources.deployment
    if APPORTIONMENT not in record.contracts or LEDGER not in record.contracts:
        return spec.result(StepStatus.SKIPPED, "the deployment record has no Apportionment")
    if ctx.sources.store is None:
        return spec.result(StepStatus.SKIPPED, "no evidence store: the period ledger files cannot be fetched")
    w3 = http_web3(ctx.sources.rpc_url, ctx.sources.rpc_timeout)
    layout = ctx.sources.layout
    client = ApportionmentClient(
        w3, contract_at(w3, record.address(APPORTIONMENT), load_artifact(APPORTIONMENT, layout))
    )
    ledger = contract_at(w3, record.address(LEDGER), load_artifact(LEDGER, layout))
    first = record.contracts[APPORTIONMENT].block
    if not ctx.rpc.history_available(first):
        return spec.result(
            StepStatus.HISTORY_UNAVAILABLE, f"the node has pruned Apportionment's history (block {first} and after)"
        )
    events = [e for e in client.published_events(from_block=first, to_block=ctx.head)]
    if ctx.incremental:
        events = [e for e in events if e.block_number >= ctx.from_block]
    findings: list[ApportionmentInvalid] = []
    schedule = ctx.sources.schedule or DEFAULT_SCHEDULE
    for event in events:
        pid = event.record.period_id
        ctx.progress("re-deriving periods", 1, len(events))
        try:
            audit = audit_period(
                w3,
                ledger,
                client,
                ctx.sources.store,
                pid,
                schedule=schedule,
                from_block=record.contracts[LEDGER].block,
                at_block=ctx.head,
            )
        except EvidenceStoreError as exc:
            findings.append(
                ApportionmentInvalid(
                    f"period {pid} (block {event.block_number}): a ledger file could not be fetched and re-hashed "
                    f"from the evidence store ({exc.code})",
                    reason="ledger_file",
                    period=pid,
                    block=event.block_number,
                )
            )
            continue
        for check in audit.checks:
            if not check.ok:
                findings.append(
                    ApportionmentInvalid(
                        f"period {pid} (block {event.block_number}): {check.name}: {check.detail}",
                        reason=check.name,
                        period=pid,
                        block=event.block_number,
                    )
                )
    status = StepStatus.FAILED if findings else StepStatus.PASSED
    detail = f"{len(events)} period(s) re-derived from ClaimLedger and their ledger files"
    return spec.result(status, detail, checked={"periods": len(events)}, findings=list(findings))


# -- steps 5 and 7 ---------------------------------------------------------------------------------


def _step_evidence(spec: StepSpec, ctx: AuditContext) -> StepResult:
    if ctx.sources.sessions is None:
        return spec.result(
            StepStatus.SKIPPED, "no list of evidence items: give the operator's database (--database-url)"
        )
    verdict = ctx.evidence_verdict()
    if ctx.sources.store is None:
        return spec.result(
            StepStatus.SKIPPED,
            "no evidence store: leaves were checked against the chain but no item was fetched",
            checked=verdict.evidence_checked,
            findings=list(verdict.evidence),
        )
    status = StepStatus.FAILED if verdict.evidence else StepStatus.PASSED
    c = verdict.evidence_checked
    detail = f"{c['items']} items: {c['fetched']} fetched and re-hashed, {c['pending']} not anchored yet"
    return spec.result(status, detail, checked=c, findings=list(verdict.evidence))


def _step_mirror(spec: StepSpec, ctx: AuditContext) -> StepResult:
    if ctx.sources.sessions is None:
        return spec.result(StepStatus.SKIPPED, "no database given (--database-url)")
    verdict = ctx.evidence_verdict()
    findings: list[Any] = list(verdict.mirror)
    checked = dict(verdict.mirror_checked)
    if ctx.ledger is not None and not ctx.ledger_history_pruned:
        logs, scope = ctx.ledger_logs
        claims = check_claim_mirror(
            ctx.sources.sessions,
            logs,
            ctx.claims_verdict().states,
            in_scope=scope,
        )
        findings.extend(claims.findings)
        checked.update(claims.checked)
    unchecked = 0
    if ctx.ledger is not None and ctx.ledger_history_pruned:
        unchecked = count_claim_rows(ctx.sources.sessions)
    status = StepStatus.FAILED if findings else StepStatus.HISTORY_UNAVAILABLE if unchecked else StepStatus.PASSED
    rows = ", ".join(f"{n} {t}" for t, n in sorted(checked.items()))
    detail = f"rows checked: {rows}"
    if unchecked:
        detail += f"; {unchecked} claim table row(s) not compared: the node has pruned ClaimLedger's history"
    return spec.result(status, detail, checked=checked, findings=findings)


for _number, _run in (
    (1, _step_bytecode),
    (2, _step_anchor_chain),
    (3, _step_claim_history),
    (4, _step_claim_rules),
    (5, _step_evidence),
    (6, _step_apportionment),
    (7, _step_mirror),
):
    _old = STEPS[_number]
    register_step(StepSpec(_old.number, _old.name, _old.title, _old.error, _run, _old.pending_note))


# -- the audit -------------------------------------------------------------------------------------


def run_audit(sources: AuditSources) -> AuditReport:
    """Run every registered step and return the report (``report.ok`` decides the exit code).

    Raises ``ChainUnavailable`` / ``ChainError`` when the chain cannot be read at all.
    """
    with RpcReader(sources.rpc_url, timeout=sources.rpc_timeout) as rpc:
        ctx = AuditContext(sources, rpc, rpc.block_number())
        results: list[StepResult] = []
        for spec in registered_steps():
            if spec.run is None:
                results.append(spec.result(StepStatus.NOT_IMPLEMENTED, spec.pending_note))
                continue
            ctx.progress(f"step {spec.number} {spec.name}", 0, None)
            results.append(spec.run(spec, ctx))
        report = AuditReport(subject=_subject(ctx), steps=results)
        if report.ok:
            head_hash = ctx.block_hash(ctx.head) or ZERO32
            proposed = Checkpoint(
                chain_id=sources.deployment.chain_id,
                contract=ctx.notary.lower(),
                block_number=ctx.head,
                block_hash=head_hash,
                batch_count=ctx.batch_count,
                head_root=ctx.head_root,
            )
            if sources.checkpoint is not None:
                proposed = sources.checkpoint.following(proposed)
            report.checkpoint = proposed.to_json()
        return report


def _subject(ctx: AuditContext) -> dict[str, Any]:
    record = ctx.sources.deployment
    return {
        "chainId": record.chain_id,
        "genesisHash": record.genesis_hash,
        "contracts": {name: record.contracts[name].address.lower() for name in sorted(record.contracts)},
        "mode": "incremental" if ctx.incremental else "full",
        "fromBlock": ctx.from_block,
        "toBlock": ctx.head,
        "fromBatch": ctx.start_id,
        "batchCount": ctx.batch_count,
        "headRoot": to_hex(ctx.head_root),
        "database": ctx.sources.sessions is not None,
        "evidenceStore": ctx.sources.store is not None,
    }


def audit_runtime(runtime: Any) -> AuditReport:
    """A full audit with the backend's own resources (``backend.runtime.Runtime``): chain, DB, store."""
    from backend.apportionment.scheduler import plan_schedule

    settings = runtime.settings
    return run_audit(
        AuditSources(
            rpc_url=settings.chain_url,
            deployment=runtime.deployment,
            sessions=runtime.sessions,
            store=runtime.store,
            rpc_timeout=settings.rpc_timeout,
            schedule=plan_schedule(settings),
        )
    )
