"""The anchoring worker: transactional outbox → Merkle batch → ``EvidenceNotary.anchor`` → proofs.

One relay logic, two outboxes (:class:`Outbox`): ``EVIDENCE`` (evidence items → the
``EvidenceNotary`` contract) and ``MEMBERSHIP`` (joins and exits → ``MembershipLog``, a second
EvidenceNotary instance; issue 15 item 4). Each outbox has its own tables and its own lease; both
relays sign with the notary key (in a server through the chain outbox, whose one elected sender
per key assigns the nonces: :mod:`backend.services.chain_outbox`).

Promises (RELIABILITY.md A1–A9):

* **Exactly once.** An item joins exactly one batch (its ``batch_id`` is written once, in the
  same DB transaction that creates the batch). A batch is identified by its Merkle root; re-sending
  it after a crash either anchors it (it was lost) or reverts ``EvidenceNotaryAlreadyAnchored``
  (it was not), which counts as success only when the root on chain equals ours.
* **Nothing is "done" from a hash alone.** A batch is ``confirmed`` only when the contract
  returns its root at a block buried under ``confirmations`` blocks; proofs are stored then.
* **Lost anchors are re-sent.** Each cycle reconciles every unconfirmed batch with the chain: a
  transaction the node no longer knows (mempool dropped, anvil killed and restarted from an older
  state) or an anchor that left the chain (reorg) sends the same batch again.
* **Finality.** A reorg shallower than ``confirmations`` can only touch unconfirmed batches. If a
  *confirmed* batch disappears (a reorg at least ``confirmations`` deep) the worker raises
  :class:`DeepReorg` and stops (``reorg_policy="halt"``, the default), or — for the embedded
  anvil, whose crash is a reorg of unknown depth by design — re-sends it (``"requeue"``).
* **One leader.** Only the holder of the ``anchoring`` DB lease sends transactions; the lease's
  fencing token is re-checked right before broadcasting.
* **Yeti check.** Leaf hashes are recomputed from the rows they stand for (the evidence row; the
  member's commitment) when a batch is formed; a stored hash that disagrees is never anchored (the
  item is reported and left out).

One module of ~500 lines on purpose: :class:`AnchoringWorker` is one state machine whose steps
share the lease, the sender and the batch being formed; split, each promise above would be spread
over several files.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound

from backend.chain.notary import AnchorEvent, NotaryClient
from backend.chain.transactions import (
    AlreadyKnown,
    ContractReverted,
    NonceTooLow,
    ReplacementUnderpriced,
    Sender,
    SentTransaction,
    classify,
)
from backend.db.driver import executemany_driver, fetch_driver_rows
from backend.db.lease import Lease
from backend.db.models import AnchorBatch, AnchorItem, MembershipBatch, MembershipLogEntry, utcnow
from backend.errors import ChainError, ChainUnavailable, TransactionFailed
from backend.logs import cause_of
from backend.proofs.leaves import evidence_leaf_hash
from backend.proofs.membership_log import membership_leaf_hash
from backend.proofs.merkle import MerkleTree

log = logging.getLogger(__name__)

LEASE_NAME = "anchoring"
ANCHOR_GAS_LIMIT = 250_000  # anchor() uses 123,604 gas whatever the batch size (benchmarks/bench_notary)
FAULT_POINTS = ("after_sign", "after_send", "after_receipt")


class DeepReorg(ChainError):
    """A confirmed anchor left the chain: a reorg at least ``confirmations`` deep."""

    code = "DEEP_REORG"


@dataclass
class CycleReport:
    leader: bool = False
    formed: int = 0
    sent: int = 0
    confirmed: int = 0
    resent: int = 0
    rejected_items: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outbox:
    """What one relay anchors: its batch and item tables, the unbatched items in formation order
    with the values their leaf is recomputed from, and the lease that elects its leader.

    ``pending`` selects ``(item id, stored leaf hash, id of the row it stands for, leaf values…)``
    of unbatched items in id order, ``LIMIT {p}``; ``leaf_hash`` hashes the leaf values.
    """

    name: str
    lease: str
    # Typed as the evidence tables: the membership ones have the same columns (BatchColumns and the
    # outbox columns the relay reads: id, leaf_hash, enqueued_at, batch_id, leaf_index, proof).
    batches: type[AnchorBatch]
    items: type[AnchorItem]
    items_table: str
    pending: str
    leaf_hash: Callable[[tuple[Any, ...]], bytes]


EVIDENCE = Outbox(
    "evidence",
    LEASE_NAME,
    AnchorBatch,
    AnchorItem,
    "anchor_items",
    "SELECT i.id, i.leaf_hash, e.id, e.claim_ref, e.commitment, e.cid"
    " FROM anchor_items i JOIN evidence_items e ON e.id = i.ref_id"
    " WHERE i.batch_id IS NULL ORDER BY i.id LIMIT {p}",
    lambda v: evidence_leaf_hash(bytes(v[0]), bytes(v[1]), bytes(v[2])),
)
MEMBERSHIP = Outbox(
    "membership",
    "membership-anchoring",
    cast("type[AnchorBatch]", MembershipBatch),
    cast("type[AnchorItem]", MembershipLogEntry),
    "membership_log",
    # The commitment is the member's own, not the log row's copy: a row that disagrees is refused.
    "SELECT l.id, l.leaf_hash, l.member_id, l.change, m.commitment, l.effective_at"
    " FROM membership_log l JOIN members m ON m.id = l.member_id"
    " WHERE l.batch_id IS NULL ORDER BY l.id LIMIT {p}",
    lambda v: membership_leaf_hash(int(v[0]), bytes(v[1]), int(v[2])),
)


def unpack_proof(packed: bytes | None) -> list[bytes]:
    if not packed:
        return []
    return [packed[i : i + 32] for i in range(0, len(packed), 32)]


class AnchoringWorker:
    """One relay; call :meth:`run_once` in a loop (or :meth:`run_forever`)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        notary: NotaryClient,
        sender: Sender,
        *,
        confirmations: int = 2,
        max_batch: int = 1000,
        max_wait: float = 2.0,
        holder: str = "worker",
        reorg_policy: str = "halt",
        pipeline: int = 4,
        fault: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        outbox: Outbox = EVIDENCE,
    ) -> None:
        if reorg_policy not in ("halt", "requeue"):
            raise ValueError("reorg_policy is 'halt' or 'requeue'")
        self.sessions = sessions
        self.w3 = w3
        self.notary = notary
        self.sender = sender
        self.confirmations = confirmations
        self.max_batch = max_batch
        self.max_wait = timedelta(seconds=max_wait)
        self.reorg_policy = reorg_policy
        self.pipeline = max(1, pipeline)
        self.fault = fault or (lambda _point: None)
        self.clock = clock
        self.outbox = outbox
        self.lease = Lease(sessions, outbox.lease, holder)
        self._in_flight = False
        self._next_nonce: int | None = None
        self._trees: dict[int, tuple[list[int], MerkleTree]] = {}

    # -- the cycle ---------------------------------------------------------------------------

    def run_once(self, *, force: bool = False) -> CycleReport:
        """One relay cycle: reconcile with the chain, form a batch if due, send it.

        ``force`` forms a partial batch without waiting ``max_wait``.
        """
        try:
            return self._cycle(force)
        except (ChainError, SQLAlchemyError):
            raise
        except Exception as exc:  # web3/requests transport errors → the typed tree
            raise classify(exc) from exc

    def _cycle(self, force: bool) -> CycleReport:
        report = CycleReport()
        if not self.lease.acquire(self.clock()):
            return report
        report.leader = True
        self._reconcile(report)
        if self._in_flight:
            return report  # an anchor we cannot see yet is in the mempool: do not fork the chain
        # Several batches per cycle, each chained onto the root sent just before it: the
        # contract still rejects a wrong prevRoot, so a stale local view costs a retry, never
        # a broken chain.
        head: bytes | None = None
        for _ in range(self.pipeline):
            if not self._has_unanchored_batch() and self._form_batch(report, force=force) is None:
                break
            head = self._send_pending(report, head)
            if head is None:
                break
        self._reconcile(report)
        return report

    def run_until_idle(
        self, max_cycles: int = 100, mine: Callable[[], None] | None = None, idle_wait: float = 0.0
    ) -> CycleReport:
        """Cycle until nothing is queued or unconfirmed (tests, benchmarks, ``hubao anchor run --until-idle``).

        ``mine`` advances the chain between cycles (tests on an automining anvil); otherwise
        ``idle_wait`` seconds pass between cycles while confirmations accrue.
        """
        total = CycleReport()
        for _ in range(max_cycles):
            report = self.run_once(force=True)
            total.leader |= report.leader
            total.formed += report.formed
            total.sent += report.sent
            total.confirmed += report.confirmed
            total.resent += report.resent
            total.rejected_items += report.rejected_items
            if self.backlog() == 0 and not self._has_open_batch():
                break
            if mine is not None:
                mine()
            elif idle_wait:
                time.sleep(idle_wait)
        return total

    def run_forever(self, stop: threading.Event, interval: float = 0.5, max_backoff: float = 30.0) -> None:
        """Loop until ``stop`` is set; RPC outages back off exponentially, other chain errors too."""
        delay = interval
        while not stop.is_set():
            try:
                self.run_once()
                delay = interval
            except DeepReorg:
                log.error("deep reorg: a confirmed anchor left the chain; anchoring stopped")
                raise
            except (ChainUnavailable, TransactionFailed) as exc:
                delay = min(max_backoff, delay * 2)
                log.warning(
                    "anchoring cycle failed; retrying",
                    extra={"code": exc.code, "cause": cause_of(exc), "delay": delay},
                )
            stop.wait(delay)
        self.lease.release()

    # -- state queries -------------------------------------------------------------------------

    def backlog(self) -> int:
        with self.sessions() as session:
            return outbox_backlog(session, self.outbox)

    def _has_open_batch(self) -> bool:
        with self.sessions() as session:
            batches = self.outbox.batches
            return session.scalar(select(batches.id).where(batches.status != "confirmed").limit(1)) is not None

    def _has_unanchored_batch(self) -> bool:
        with self.sessions() as session:
            batches = self.outbox.batches
            return session.scalar(select(batches.id).where(batches.status == "built").limit(1)) is not None

    # -- forming batches -----------------------------------------------------------------------

    def _form_batch(self, report: CycleReport, *, force: bool) -> int | None:
        with self.sessions.begin() as session:
            # Straight through the driver: plain tuples, no per-row Row objects (those cost more
            # than the query at 1,000 rows a batch).
            rows = fetch_driver_rows(session, self.outbox.pending, (self.max_batch,))
            items, batches = self.outbox.items, self.outbox.batches
            if not rows:
                return None
            if not force and len(rows) < self.max_batch:
                oldest = session.scalar(select(items.enqueued_at).where(items.id == rows[0][0]))
                # An item stamped ahead of this clock was queued on a chain clock that runs ahead of
                # the wall (chain_clock.queue_time after the demo moved its chain): it is due now,
                # or it would wait until the wall clock caught up with the chain (days).
                if oldest is not None and timedelta(0) <= self.clock() - oldest < self.max_wait:
                    return None
            good: list[tuple[int, bytes]] = []
            for item_id, stored_hash, ref_id, *values in cast(list[_OutboxRow], rows):
                recomputed = self.outbox.leaf_hash(tuple(values))
                if recomputed != stored_hash:
                    # Never anchor a hash that does not follow from the row (CT "Yeti" lesson).
                    if ref_id not in report.rejected_items:
                        report.rejected_items.append(ref_id)
                    log.error(
                        "queued leaf hash disagrees with the row it stands for; not anchored",
                        extra={"outbox": self.outbox.name, "ref_id": ref_id},
                    )
                    continue
                good.append((item_id, recomputed))
            if not good:
                return None
            tree = MerkleTree.from_leaf_hashes([h for _, h in good])
            batch = batches(root=tree.root, prev_root=b"\0" * 32, leaf_count=len(good), status="built")
            session.add(batch)
            session.flush()
            # Kept until the batch is confirmed, so proofs need no second read and rebuild.
            self._trees[batch.id] = ([item_id for item_id, _ in good], tree)
            first, last = good[0][0], good[-1][0]
            if last - first + 1 == len(good):
                # The usual case, a contiguous run of ids: one statement instead of one per item.
                assigned = session.execute(
                    update(items)
                    .where(items.id.between(first, last), items.batch_id.is_(None))
                    .values(batch_id=batch.id, leaf_index=items.id - first)
                    .execution_options(synchronize_session=False)
                )
                if assigned.rowcount != len(good):  # type: ignore[attr-defined]
                    # Only the lease holder assigns items; anything else means another writer.
                    raise ChainError(
                        f"batch {batch.id}: {assigned.rowcount} of {len(good)} items assigned",  # type: ignore[attr-defined]
                        code="OUTBOX_RACE",
                    )
            else:
                executemany_driver(
                    session,
                    f"UPDATE {self.outbox.items_table} SET batch_id = {{p}}, leaf_index = {{p}} WHERE id = {{p}}",  # noqa: S608 (a constant)
                    [(batch.id, index, item_id) for index, (item_id, _h) in enumerate(good)],
                )
            report.formed += 1
            log.info("batch formed", extra={"outbox": self.outbox.name, "batch": batch.id, "leaves": len(good)})
            return int(batch.id)

    # -- sending -------------------------------------------------------------------------------

    def _send_pending(self, report: CycleReport, prev_root: bytes | None) -> bytes | None:
        """Send the oldest built batch chained onto ``prev_root`` (None: read the chain's head).

        Returns the batch's root when it is on its way (or already on chain), None otherwise.
        """
        batches = self.outbox.batches
        with self.sessions() as session:
            batch = session.scalars(
                select(batches).where(batches.status == "built").order_by(batches.id).limit(1)
            ).first()
        if batch is None:
            return None
        chained = prev_root if prev_root is not None else self.notary.head_root()

        def persist(sent: SentTransaction) -> None:
            self.fault("after_sign")
            if not self.lease.still_held():
                raise _LostLease
            with self.sessions.begin() as session:
                session.execute(
                    update(batches)
                    .where(batches.id == batch.id)
                    # "sent" before broadcast: a crash here leaves a batch whose tx the node does
                    # not know, which reconcile re-sends (never "done" from a hash alone).
                    .values(tx_hash=sent.tx_hash, tx_nonce=sent.nonce, prev_root=chained, status="sent")
                )

        tx = self.notary.anchor_tx(batch.root, batch.leaf_count, chained)
        nonce: int | None = None
        if batch.tx_hash is None and prev_root is not None and self._next_nonce is not None:
            # A fresh batch chained onto the one just sent in this cycle: anchor() costs a fixed
            # ~124k gas, so skip the simulation round trip, and its nonce is the next one (the
            # notary key sends nothing else; a wrong guess fails as NonceTooLow and the next
            # cycle re-reads the count). A re-send (possible duplicate after a crash) or the
            # first batch of a cycle is simulated and takes the node's pending count: a revert
            # such as EvidenceNotaryAlreadyAnchored surfaces before anything is broadcast.
            tx = {**tx, "gas": ANCHOR_GAS_LIMIT}
            nonce = self._next_nonce
        self._next_nonce = None
        try:
            sent = self.sender.send(tx, nonce=nonce, trust_nonce=nonce is not None, before_broadcast=persist)
        except _LostLease:
            log.warning("anchoring lease lost before broadcast; batch left for the new leader")
            return None
        except ContractReverted as exc:
            if exc.error == "EvidenceNotaryAlreadyAnchored" and self.notary.batch_id_of(batch.root):
                self._set_status(batch.id, "sent")  # anchored before a crash: reconcile confirms it
                return batch.root
            if exc.error == "EvidenceNotaryPrevRootMismatch":
                log.info("chain head moved; re-reading it next cycle", extra={"batch": batch.id})
                return None
            raise
        except (NonceTooLow, ReplacementUnderpriced, AlreadyKnown) as exc:
            log.warning("anchor not accepted; will resync and retry", extra={"code": exc.code})
            return None
        self.fault("after_send")
        self._next_nonce = sent.nonce + 1
        report.sent += 1
        return batch.root

    def _set_status(self, batch_id: int, status: str) -> None:
        with self.sessions.begin() as session:
            batches = self.outbox.batches
            session.execute(update(batches).where(batches.id == batch_id).values(status=status))

    # -- reconciling with the chain --------------------------------------------------------------

    def _reconcile(self, report: CycleReport) -> None:
        self._in_flight = False
        head = self.w3.eth.block_number
        self._check_confirmed(report)
        batches = self.outbox.batches
        with self.sessions() as session:
            sent = session.scalars(select(batches).where(batches.status == "sent").order_by(batches.id)).all()
        # One log query finds every sent anchor that is on chain (id, prevRoot, block, hash, tx).
        # A node that has pruned its logs returns nothing: those batches fall back to storage reads.
        logged = self.notary.anchored([b.root for b in sent], from_block=self._log_floor()) if sent else {}
        for batch in sent:
            anchor = logged.get(batch.root)
            if anchor is None:
                onchain_id = self.notary.batch_id_of(batch.root)
                if onchain_id == 0:
                    self._lost(batch, report)
                    continue
                onchain = self.notary.batch(onchain_id)
                block_hash = bytes(self.w3.eth.get_block(onchain.block_number)["hash"])
                anchor = AnchorEvent(
                    onchain_id,
                    batch.root,
                    onchain.prev_root,
                    onchain.leaf_count,
                    onchain.block_number,
                    block_hash,
                    None,
                )
            if anchor.leaf_count != batch.leaf_count:
                raise ChainError(
                    f"batch {batch.id}: chain records {anchor.leaf_count} leaves, we built {batch.leaf_count}",
                    code="ANCHOR_MISMATCH",
                )
            if head - anchor.block_number >= self.confirmations:
                self.fault("after_receipt")
                self._confirm(batch.id, anchor)
                report.confirmed += 1

    def _log_floor(self) -> int:
        """Where to start looking for new anchors: the block of the newest confirmed batch."""
        with self.sessions() as session:
            batches = self.outbox.batches
            newest = session.scalar(select(func.max(batches.block_number)).where(batches.status == "confirmed"))
        return int(newest or 0)

    def _check_confirmed(self, report: CycleReport, page: int = 50) -> None:
        """Walk confirmed batches from the newest back until one is still on chain unchanged.

        Block hashes chain the whole history, so when the newest confirmed anchor is still in the
        same block (same hash) every older one is too: a healthy cycle costs two RPC calls, not one
        per batch. Anything newer than the first intact batch has left the chain.
        """
        batches = self.outbox.batches
        while True:
            with self.sessions() as session:
                newest_first = session.scalars(
                    select(batches)
                    .where(batches.status == "confirmed")
                    .order_by(batches.block_number.desc(), batches.id.desc())
                    .limit(page)
                ).all()
            if not newest_first:
                return
            for batch in newest_first:
                if self._intact(batch):
                    return
                self._lost(batch, report)  # DeepReorg under "halt"; re-queued under "requeue"

    def _intact(self, batch: AnchorBatch) -> bool:
        assert batch.block_number is not None
        if self.notary.batch_id_of(batch.root) != batch.onchain_id:
            return False
        try:
            block = self.w3.eth.get_block(batch.block_number)
        except BlockNotFound:
            return False
        return bytes(block["hash"]) == batch.block_hash

    def _lost(self, batch: AnchorBatch, report: CycleReport) -> None:
        if batch.status == "confirmed":
            if self.reorg_policy == "halt":
                raise DeepReorg(
                    f"confirmed batch {batch.onchain_id} (block {batch.block_number}) left the chain; "
                    f"a reorg of at least {self.confirmations} blocks",
                    batch=batch.id,
                )
            log.warning(
                "confirmed anchor left the chain (node restarted from older state); re-sending",
                extra={"batch": batch.id},
            )
        elif batch.tx_hash is not None and self._tx_pending(batch.tx_hash):
            self._in_flight = True
            return  # still in the mempool: wait
        batches, items = self.outbox.batches, self.outbox.items
        with self.sessions.begin() as session:
            session.execute(
                update(batches)
                .where(batches.id == batch.id)
                .values(status="built", onchain_id=None, block_number=None, block_hash=None, confirmed_at=None)
            )
            session.execute(update(items).where(items.batch_id == batch.id).values(proof=None))
        report.resent += 1

    def _tx_pending(self, tx_hash: bytes) -> bool:
        try:
            tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return tx.get("blockNumber") is None

    def _confirm(self, batch_id: int, anchor: AnchorEvent) -> None:
        batches, items_of = self.outbox.batches, self.outbox.items
        with self.sessions.begin() as session:
            cached = self._trees.pop(batch_id, None)
            if cached is not None and cached[1].root == anchor.root:
                item_ids, tree = cached  # built by this worker from the recomputed leaves
            else:  # another worker formed it, or this one restarted: rebuild from the rows
                items = session.execute(
                    select(items_of.id, items_of.leaf_hash)
                    .where(items_of.batch_id == batch_id)
                    .order_by(items_of.leaf_index)
                ).all()
                item_ids = [item_id for item_id, _ in items]
                tree = MerkleTree.from_leaf_hashes([h for _, h in items])
            if tree.root != anchor.root:
                raise ChainError(
                    f"batch {batch_id}: stored leaves no longer give the anchored root", code="ANCHOR_MISMATCH"
                )
            # The transaction that actually anchored the root: after crashes and re-sends it may
            # differ from the last one this worker signed.
            tx_hash = anchor.tx_hash or self.notary.anchoring_tx_hash(anchor.root, anchor.block_number)
            executemany_driver(
                session,
                f"UPDATE {self.outbox.items_table} SET proof = {{p}} WHERE id = {{p}}",  # noqa: S608 (a constant)
                list(zip(tree.packed_proofs(), item_ids, strict=True)),
            )
            session.execute(
                update(batches)
                .where(batches.id == batch_id)
                .values(
                    **({"tx_hash": tx_hash} if tx_hash is not None else {}),
                    status="confirmed",
                    onchain_id=anchor.batch_id,
                    prev_root=anchor.prev_root,
                    block_number=anchor.block_number,
                    block_hash=anchor.block_hash,
                    confirmed_at=utcnow(),
                )
            )
        log.info(
            "batch confirmed", extra={"batch": batch_id, "onchain_id": anchor.batch_id, "block": anchor.block_number}
        )


# (outbox id, stored leaf hash, id of the row it stands for, leaf values…) as the driver returns them.
_OutboxRow = tuple[Any, ...]


class _LostLease(Exception):
    pass


def outbox_backlog(session: Session, outbox: Outbox = EVIDENCE) -> int:
    """How many items of ``outbox`` are waiting for a batch."""
    return int(
        session.scalar(select(func.count()).select_from(outbox.items).where(outbox.items.batch_id.is_(None))) or 0
    )
