"""What every step reads: the sources of the audit and the chain read once, pinned to the head block.

Sources, and how far each is trusted:

* the **chain** (JSON-RPC URL) — the only authority;
* the **deployment record** (``deployment.json``: chain id, genesis hash, contract addresses and
  deployment blocks) — published data, itself checked by step 1;
* the **evidence store** — content-addressed, so every byte read is re-hashed against its CID;
* optionally the operator's **database** — never trusted: it only says which items to look for,
  and step 7 checks that it agrees with the chain and the store.

:class:`AuditContext` reads each input once, when the first step asks for it, and keeps it for
the others: the EvidenceNotary batches and events (steps 2, 5, 7), the evidence verdict (steps 5
and 7 share one pass over the items), the ClaimLedger logs and the claims verdict (steps 3, 4 and
7). How the reading is done (block ranges, worker processes, the paused collector) is
``backend.audit.readers``; what is checked is in the step modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.apportionment.schedule import ApportionmentSchedule
from backend.audit.anchors import AnchorHistory
from backend.audit.chain import ZERO32, AnchorEvent, ChainBatch, RpcReader
from backend.audit.checkpoint import Checkpoint
from backend.audit.claim_rules import rule_set_documents
from backend.audit.claims import BlockInfo, ClaimsVerdict, check_claims
from backend.audit.database import DbBatch, load_batches, load_rule_set_texts, orphan_evidence_ids, stream_items
from backend.audit.evidence import ChainLookups, EvidenceVerdict, check_evidence_and_mirror
from backend.audit.ledger_events import LedgerLog
from backend.audit.readers import (
    ClaimReads,
    gc_paused,
    read_claim_reads,
    read_ledger_history,
    read_ledger_logs_since,
    store_check_for,
)
from backend.audit.roster import RosterVerdict, check_roster, decode_timelock_logs
from backend.audit.signatures import domain_separator
from backend.chain.compiler import ContractsLayout
from backend.chain.deploy import DeploymentRecord

__all__ = [
    "APPORTIONMENT",
    "LEDGER",
    "MEMBERSHIP_LOG",
    "NOTARY",
    "SCRATCH_SUBDIR",
    "AuditContext",
    "AuditSources",
    "Progress",
]

NOTARY = "EvidenceNotary"
LEDGER = "ClaimLedger"
APPORTIONMENT = "Apportionment"
MEMBERSHIP_LOG = "MembershipLog"
SCRATCH_SUBDIR = "scratch"  # the audit's scratch directory under the data directory

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
    schedule: ApportionmentSchedule | None = None  # None: the default schedule
    # Deadlines the operator must keep (seconds; None: not checked): evidence anchored within
    # ``evidence_anchoring_seconds`` of being queued (step 5), a filing's review opened on chain
    # within ``review_opening_seconds`` of its ClaimFiled block (step 3).
    evidence_anchoring_seconds: int | None = None
    review_opening_seconds: int | None = None
    # Where step 6 puts its scratch files (fetched ledger files, the membership log sorted on disk),
    # each run in a temporary directory of its own, removed after; None: the system's temp directory.
    scratch_dir: Path | None = None


@dataclass
class AuditContext:
    """Everything the steps share; chain reads are made once and pinned to ``head``."""

    sources: AuditSources
    rpc: RpcReader
    head: int
    _batch_ids: dict[bytes, int] = field(default_factory=dict)
    _block_hashes: dict[int, bytes | None] = field(default_factory=dict)
    _evidence: EvidenceVerdict | None = None
    _claims: ClaimsVerdict | None = None
    _roster: RosterVerdict | None = None
    _claim_reads: ClaimReads | None = None  # made while the full history was read; taken once

    def progress(self, task: str, advance: int, total: int | None = None) -> None:
        if self.sources.progress is not None:
            self.sources.progress(task, advance, total)

    # -- EvidenceNotary (steps 2, 5, 7) --------------------------------------------------------

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
    def head_time(self) -> int:
        """The audited head block's timestamp: the chain's clock for every deadline."""
        block = self.rpc.block(self.head)
        assert block is not None, "the node does not serve its own head block"
        return int(block["timestamp"], 16)

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
        if root not in self._batch_ids:
            self._batch_ids[root] = self.rpc.batch_ids_of(self.notary, [root], self.head)[0]
        return self._batch_ids[root]

    def block_hash(self, number: int) -> bytes | None:
        if number not in self._block_hashes:
            self._block_hashes[number] = self.rpc.block_hashes([number])[number]
        return self._block_hashes[number]

    def evidence_verdict(self) -> EvidenceVerdict:
        """Steps 5 and 7's one pass over the operator's evidence rows (needs the database)."""
        if self._evidence is None:
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
            self._evidence = check_evidence_and_mirror(
                lookups,
                self.db_batches,
                stream_items(sessions, batch_ids),
                store_check=None if self.sources.store is None else store_check_for(self.sources.store),
                orphans=None if self.incremental else orphan_evidence_ids(sessions),
                progress=lambda n: self.progress("checking evidence", n, total),
            )
        return self._evidence

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

        Full audit: every log since the deployment (read with what step 3 needs besides, see
        ``readers.read_ledger_history``). Incremental: the logs after the checkpoint, plus the
        earlier logs of the claims they touch and every roster, conflict and rule-set log.
        """
        ledger = self.ledger
        assert ledger is not None
        first = self.sources.deployment.contracts[LEDGER].block
        if not self.incremental or self.from_block <= first:
            logs, self._claim_reads = read_ledger_history(self.rpc, ledger, first, self.head, self.separator)
            return logs, None
        return read_ledger_logs_since(self.rpc, ledger, first, self.from_block, self.head)

    @cached_property
    def separator(self) -> bytes:
        """ClaimLedger's EIP-712 domain separator (this chain, this deployment)."""
        ledger = self.ledger
        assert ledger is not None
        return domain_separator(self.sources.deployment.chain_id, ledger)

    def rule_set_texts(self) -> list[str]:
        texts = list(self.sources.rule_sets)
        if self.sources.sessions is not None:
            texts.extend(load_rule_set_texts(self.sources.sessions))
        return texts

    def roster_verdict(self) -> RosterVerdict:
        """Step 3's roster record: every reviewer/juror change with its RosterTimelock announcement."""
        if self._roster is None:
            ledger = self.ledger
            assert ledger is not None
            record = self.sources.deployment.contracts.get("RosterTimelock")
            calls = []
            if record is not None:
                calls = decode_timelock_logs(self.rpc.logs(record.address, record.block, self.head))
            logs, _scope = self.ledger_logs
            wanted = sorted(
                {c.block for c in calls} | {log.block for log in logs if log.name in ("RoleGranted", "RoleRevoked")}
            )
            headers = self.rpc.block_headers(wanted)
            times = {n: int(h["timestamp"], 16) for n, h in headers.items() if h is not None}
            self._roster = check_roster(
                logs,
                calls,
                ledger=ledger,
                timelock=None if record is None else record.address,
                block_time=times.get,
            )
        return self._roster

    def claims_verdict(self) -> ClaimsVerdict:
        """Steps 3 and 4's one replay of the ClaimLedger history."""
        if self._claims is None:
            with gc_paused():
                logs, scope = self.ledger_logs
                self.progress("reading claim blocks and storage", 0, None)
                reads, self._claim_reads = self._claim_reads, None
                if reads is None:
                    ledger = self.ledger
                    assert ledger is not None
                    reads = read_claim_reads(self.rpc, ledger, logs, scope, self.head)
                blocks = {
                    n: (
                        None
                        if h is None
                        else BlockInfo(
                            int(h["timestamp"], 16),
                            bytes.fromhex(h["parentHash"][2:]),
                            bytes.fromhex(str(h.get("hash") or "0x")[2:]),
                        )
                    )
                    for n, h in reads.headers.items()
                }
                self._claims = check_claims(
                    logs,
                    domain_separator=self.separator,
                    blocks=blocks,
                    storage=reads.storage,
                    documents=rule_set_documents(self.rule_set_texts()),
                    head=self.head,
                    full=scope is None,
                    in_scope=None if scope is None else scope.__contains__,
                    signers=reads.signers,
                    review_opening_seconds=self.sources.review_opening_seconds,
                    head_time=None if self.sources.review_opening_seconds is None else self.head_time,
                )
        return self._claims
