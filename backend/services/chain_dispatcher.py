"""The elected sender of one key: assigns nonces, signs, broadcasts and records outcomes of the
``chain_outbox`` rows that hosts queued (issue 18 item 1; the callers' side is
:mod:`backend.services.chain_outbox`).

Every host runs a :class:`Dispatcher` per key it signs with; only the holder of the key's lease
(``sender:<chain id>:<address>``, :class:`~backend.db.lease.Lease`) acts. As leader it:

1. **settles** first, after every takeover (and whenever a broadcast's fate is in doubt): the
   ``signed`` rows of earlier leaders, in nonce order, are checked against the node: mined ones are
   recorded, ones the node still holds are left, the one at the node's next nonce is rebroadcast
   with its stored raw bytes (never re-signed: a transaction that may already exist is never
   created twice), and one whose nonce the chain has used for something else, or that would leave
   a gap, is ``failed`` as :class:`~backend.chain.transactions.TransactionDropped` (the caller's
   ``wait`` raises it, as a lost transaction always did);
2. **dispatches** ``queued`` rows in id order, in runs: the nonces continue the node's pending
   count (read again for every run, never cached: after an anvil crash the chain's count can go
   backwards); a run starts with any row and goes on with rows that carry their gas, so a row whose
   gas is estimated is estimated against the state after every earlier row was broadcast (a revert
   fails the row with the error's name, args and revert data: the caller raises the same
   :class:`~backend.chain.transactions.ContractReverted`). In ONE database transaction that first
   re-checks the lease's fencing token (:meth:`~backend.db.lease.Lease.fence`) the nonces, hashes
   and raw bytes of the run are stored; only then are they broadcast, in nonce order. A leader whose token was
   superseded writes nothing, so it cannot assign a nonce; a leader that dies after that commit
   leaves bytes the next leader rebroadcasts. A nonce an outside sender took meanwhile
   (``NonceTooLow`` at the first broadcast, no receipt) is re-signed, :data:`NONCE_RETRIES` times;
3. **watches** rows signed more than :data:`WATCH_AFTER` seconds ago, every :data:`WATCH_EVERY`
   seconds: outcomes are recorded (``mined`` / ``reverted`` with the block), and a transaction the
   node has forgotten (mempool drop, chain state lost) is failed as dropped, not silently re-sent.

Callers on this host are told directly (``notify``) when their row is signed or failed; callers on
other hosts read the row. Rows this host commits are also handed over in memory (``hint``), so the
round they wake signs them without reading the outbox; the outbox is still read at least every
``poll`` seconds (other hosts' rows, rows an earlier tenure left), before any hinted row once a run
went back to the queue, and a hinted row that is no longer ``queued`` cannot be signed (the fenced
write of its run rolls back). Between rounds the host's pending outcomes are written
(``between_rounds``).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from web3.types import TxParams, TxReceipt

from backend.chain.transactions import (
    NONCE_RETRIES,
    AlreadyKnown,
    ContractReverted,
    NonceTooLow,
    ReplacementUnderpriced,
    SentTransaction,
    TransactionDropped,
    TransactionSender,
    revert_data,
)
from backend.db.lease import Lease
from backend.db.models import ChainOutboxRow, utcnow
from backend.errors import ChainError, ChainUnavailable, TransactionFailed
from backend.logs import cause_of

log = logging.getLogger(__name__)

WATCH_EVERY = 1.0  # seconds between two passes of the outcome watcher
WATCH_AFTER = 2.0  # a signed row younger than this is left to its caller's wait
BATCH = 64  # queued rows read per round
HINTS_REMEMBERED = 1024  # rows lately signed or failed here: a late hint of one of them is dropped

# What a caller learns when its row leaves "queued": the signed transaction or why it was not sent.
Outcome = SentTransaction | ChainError


class Fenced(Exception):
    """The lease's fencing token was superseded: this dispatcher is no longer the key's sender."""


class _Cancelled(Exception):
    """A row left ``queued`` while its batch was being signed."""


class Crash(BaseException):
    """Raised by a test's fault hook: the dispatcher thread ends where it is, as if the host were
    killed (nothing released, nothing recorded)."""


def lease_name(chain_id: int, address: str) -> str:
    return f"sender:{chain_id}:{address.lower()}"


def tx_of(row: ChainOutboxRow) -> TxParams:
    tx: dict[str, Any] = {"data": bytes(row.data), "value": int(row.value), "chainId": int(row.chain_id)}
    if row.to is not None:
        tx["to"] = row.to
    if row.gas is not None:
        tx["gas"] = int(row.gas)
    return tx  # type: ignore[return-value]


def jsonable(value: Any) -> Any:
    """Revert args as JSON can hold them: bytes as 0x-hex, tuples as lists."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def error_fields(exc: ChainError) -> dict[str, Any]:
    """The columns that record why a row was not sent (see ``chain_outbox.error_of``)."""
    name = exc.error if isinstance(exc, ContractReverted) else exc.__class__.__name__
    args = exc.args_ if isinstance(exc, ContractReverted) else ()
    cause = exc.__cause__
    return {
        "error_code": exc.code[:64],
        "error_name": name[:128],
        "error_args": json.dumps(jsonable(args)),
        "revert_data": revert_data(cause) if isinstance(exc, ContractReverted) and cause is not None else None,
    }


class Dispatcher:
    """The sender of one key on this host (module docstring); :meth:`start` runs it in a thread,
    :meth:`step` and :meth:`settle` are one round each (tests drive them directly)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sender: TransactionSender,
        chain_id: int,
        holder: str,
        *,
        notify: Callable[[int, Outcome], None],
        ttl: float = 5.0,
        poll: float = 0.05,
        idle_exit: float | None = None,
        fault: Callable[[str], None] | None = None,
        between_rounds: Callable[[], object] | None = None,
    ) -> None:
        self.sessions = sessions
        self.sender = sender
        self.chain_id = chain_id
        self.address = sender.address
        self.lease = Lease(sessions, lease_name(chain_id, self.address), holder, ttl)
        self.notify = notify
        self.ttl = ttl
        self.poll = poll
        self.idle_exit = idle_exit
        self.fault = fault or (lambda _point: None)
        self.between_rounds: Callable[[], object] = between_rounds or (lambda: None)
        self.wake = threading.Event()
        # Rows this host committed, handed over in memory (``hint``) so that the round they wake
        # need not read the outbox to find them; the database stays the truth (module docstring).
        self._hints: dict[int, TxParams] = {}
        self._hints_lock = threading.Lock()
        self._done: collections.deque[int] = collections.deque(maxlen=HINTS_REMEMBERED)
        self._last_read = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._settled = False
        self._last_watch = 0.0
        self._retries: dict[int, int] = {}
        # Held while a run of rows is in hand (signing to broadcast); a test holds it to make the
        # key busy, as a long transaction of the key would.
        self.busy = threading.Lock()

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"chain-sender-{self.address[:10]}", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the row in hand, stop and free the lease for another host."""
        self._stop.set()
        self.wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self.lease.token is not None:
            with contextlib.suppress(SQLAlchemyError):  # else it expires on its own
                self.lease.release()

    def _run(self) -> None:
        next_acquire = 0.0
        idle_since = time.monotonic()
        delay = wait = 0.0
        while not self._stop.is_set():
            woken = self.wake.wait(wait)
            self.wake.clear()  # before the round: a send during it wakes the next one
            if self._stop.is_set():
                break
            try:
                now = time.monotonic()
                # Followers retry the lease every ttl/3, or at once when a local send woke them.
                if now >= next_acquire or (woken and self.lease.token is None):
                    self.acquire()
                    next_acquire = now + self.ttl / 3
                if self.lease.token is None:
                    self._drop_hints()  # the leader elsewhere reads those rows from the outbox
                elif self.step():
                    idle_since = now
                self.between_rounds()
                if self.idle_exit is not None and now - idle_since > self.idle_exit:
                    if not self._has_work():
                        break
                    idle_since = now
                delay = self.poll
            except Crash:
                return  # as if killed: no release
            except Exception as exc:  # the thread must outlive any round: it is the key's only sender here
                delay = min(5.0, max(self.poll, delay) * 2)
                code = exc.code if isinstance(exc, ChainError) else exc.__class__.__name__
                log.warning(
                    "chain sender round failed; retrying",
                    extra={"code": code, "cause": cause_of(exc), "delay": delay},
                    exc_info=not isinstance(exc, ChainError | SQLAlchemyError),
                )
            wait = delay if self.lease.token is not None else max(delay, self.ttl / 3)
        self._stop.set()
        if self.lease.token is not None:
            with contextlib.suppress(SQLAlchemyError):
                self.lease.release()

    def acquire(self) -> bool:
        """Take or renew the key's lease; a new tenure settles the earlier leaders' rows first."""
        before = self.lease.token
        held = self.lease.acquire()
        if not held or self.lease.token != before:
            self._settled = False
            self._drop_hints()
        return held

    # -- one round -------------------------------------------------------------------------------

    def step(self) -> bool:
        """As leader: settle if needed, send every queued row, watch outcomes. True if there was
        work (rows queued, or signed rows of an earlier leader to settle)."""
        try:
            if not self._settled and not self.settle(takeover=True):
                return True
            worked = False
            for _ in range(4):  # a few reads, then the watcher gets its turn
                rows = self._next_rows()
                if not rows:
                    break
                worked = True
                start = 0
                while start < len(rows):
                    # One signing transaction per run of rows: the first may need gas estimated
                    # (against the state after every earlier row was broadcast), the rest carry it.
                    end = start + 1
                    while end < len(rows) and rows[end][1].get("gas") is not None:
                        end += 1
                    with self.busy:
                        complete = self._dispatch(rows[start:end])
                    if not complete:
                        # Rows went back to the queue: read it again, in id order (no hinted
                        # later row may pass them).
                        self._last_read = float("-inf")
                        break
                    start = end
            if time.monotonic() - self._last_watch >= WATCH_EVERY:
                self._last_watch = time.monotonic()
                self.settle(takeover=False)
            return worked
        except Fenced:
            log.warning("chain sender lease taken over; rows left to the new sender", extra={"key": self.address})
            self.lease.token = None
            self._settled = False
            self._drop_hints()
            return True

    def hint(self, row_id: int, tx: TxParams) -> None:
        """A row this host has just committed (``queued``): the next round may sign it without
        reading the outbox. Ignored unless this dispatcher leads (the leader reads the outbox)."""
        if self.lease.token is None:
            return
        with self._hints_lock:
            self._hints[row_id] = tx

    def _drop_hints(self) -> None:
        with self._hints_lock:
            self._hints.clear()
        self._last_read = float("-inf")  # a new tenure starts with a read of the whole queue

    def _next_rows(self) -> list[tuple[int, TxParams]]:
        """The queued rows to send next, in id order: this host's hinted rows as they are, when the
        outbox was read less than ``poll`` ago (other hosts' rows wait at most that long, as they
        would for the poll); otherwise the outbox read (which holds every hinted row: a hint comes
        after its commit). A hinted row that left ``queued`` meanwhile makes its run's fenced write
        roll back (:meth:`_store_signed`), and the outbox is read again."""
        with self._hints_lock:
            hinted = sorted(self._hints.items())
            self._hints.clear()
        done = set(self._done)
        hinted = [(row_id, tx) for row_id, tx in hinted if row_id not in done]
        now = time.monotonic()
        if hinted and now - self._last_read < self.poll:
            return hinted
        self._last_read = now
        return self._queued()

    def _queued(self) -> list[tuple[int, TxParams]]:
        with self.sessions() as session:
            rows = session.scalars(
                select(ChainOutboxRow)
                .where(*self._key(), ChainOutboxRow.status == "queued")
                .order_by(ChainOutboxRow.id)
                .limit(BATCH)
            )
            return [(row.id, tx_of(row)) for row in rows]

    def _has_work(self) -> bool:
        with self.sessions() as session:
            return (
                session.scalar(
                    select(ChainOutboxRow.id)
                    .where(*self._key(), ChainOutboxRow.status.in_(("queued", "signed")))
                    .limit(1)
                )
                is not None
            )

    def _key(self) -> tuple[Any, ...]:
        return (ChainOutboxRow.chain_id == self.chain_id, ChainOutboxRow.sender == self.address)

    def _dispatch(self, rows: list[tuple[int, TxParams]]) -> bool:
        """Sign ``rows`` with consecutive nonces from the node's pending count, store them in one
        fenced transaction, then broadcast them in order. False when some went back to the queue
        (a nonce taken by an outside sender, a row cancelled meanwhile): no later row may pass them."""
        nonce = self.sender.pending_nonce()
        signed: list[tuple[int, bytes, SentTransaction]] = []
        for row_id, tx in rows:
            try:
                raw, sent = self.sender.sign(tx, nonce)
            except TransactionFailed as exc:  # a revert at estimation, funds, a node refusal
                self._fail(row_id, exc, "queued")
                continue
            sent.outbox_id = row_id
            signed.append((row_id, raw, sent))
            nonce += 1
        if not signed:
            return True
        if not self._store_signed(signed):
            return False
        self.fault("after_sign")
        for index, (row_id, raw, sent) in enumerate(signed):
            try:
                self.sender.broadcast(raw)
            except AlreadyKnown:
                pass
            except (NonceTooLow, ReplacementUnderpriced) as exc:
                if self.sender.receipt(sent.tx_hash, light=True) is None:
                    # An outside sender took the nonce: this row and the later ones (never
                    # broadcast) are signed again next round, this one at most NONCE_RETRIES times.
                    self._retries[row_id] = self._retries.get(row_id, 0) + 1
                    if self._retries[row_id] > NONCE_RETRIES:
                        self._fail(row_id, exc, "signed")
                        index += 1
                    self._requeue([r for r, _raw, _sent in signed[index:]])
                    return False
            except ChainUnavailable:
                self._settled = False  # did the node get them? settle before signing anything else
                raise
            except TransactionFailed as exc:
                self._fail(row_id, exc, "signed")
                self._requeue([r for r, _raw, _sent in signed[index + 1 :]])
                return index + 1 == len(signed)
            self._retries.pop(row_id, None)
            self._done.append(row_id)
            self.notify(row_id, sent)
        self.fault("after_send")
        return True

    def _store_signed(self, signed: list[tuple[int, bytes, SentTransaction]]) -> bool:
        """Write the signed rows under the fencing token, all or none (a row its caller cancelled
        meanwhile would leave a nonce gap: then nothing is written and the next round starts over).
        Raises :class:`Fenced` when the lease is gone."""
        try:
            with self.sessions.begin() as session:
                if not self.lease.fence(session):
                    raise Fenced
                now = utcnow()
                for row_id, raw, sent in signed:
                    result = session.execute(
                        update(ChainOutboxRow)
                        .where(ChainOutboxRow.id == row_id, ChainOutboxRow.status == "queued")
                        .values(
                            status="signed",
                            nonce=sent.nonce,
                            tx_hash=sent.tx_hash,
                            raw_tx=raw,
                            fencing_token=self.lease.token,
                            signed_at=now,
                        )
                    )
                    assert isinstance(result, CursorResult)
                    if result.rowcount != 1:
                        raise _Cancelled  # rolls the whole transaction back
        except _Cancelled:
            return False
        return True

    def _requeue(self, row_ids: list[int]) -> None:
        if not row_ids:
            return
        with self.sessions.begin() as session:
            if not self.lease.fence(session):
                raise Fenced
            session.execute(
                update(ChainOutboxRow)
                .where(ChainOutboxRow.id.in_(row_ids), ChainOutboxRow.status == "signed")
                .values(status="queued", nonce=None, tx_hash=None, raw_tx=None, fencing_token=None, signed_at=None)
            )

    # -- settling and watching -------------------------------------------------------------------

    def settle(self, *, takeover: bool) -> bool:
        """Reconcile the key's signed rows with the node (module docstring, steps 1 and 3).

        ``takeover``: every signed row, and the one at the node's next nonce is rebroadcast.
        Otherwise only rows older than :data:`WATCH_AFTER`, and none is rebroadcast (this leader
        broadcast them itself; one the node forgot was dropped). True when settled."""
        with self.sessions() as session:
            query = select(ChainOutboxRow).where(*self._key(), ChainOutboxRow.status == "signed")
            if not takeover:
                query = query.where(ChainOutboxRow.signed_at < utcnow() - timedelta(seconds=WATCH_AFTER))
            rows = list(session.scalars(query.order_by(ChainOutboxRow.nonce).limit(4 * BATCH)))
        if not rows:
            self._settled = self._settled or takeover
            return True
        count = self.sender.pending_nonce()
        for row in rows:
            assert row.tx_hash is not None
            assert row.nonce is not None
            assert row.raw_tx is not None
            sent = SentTransaction(bytes(row.tx_hash), int(row.nonce), row.id)
            receipt = self.sender.receipt(sent.tx_hash, light=True)
            if receipt is not None:
                self._record(row.id, sent.tx_hash, receipt)
            elif sent.nonce < count:
                if not self._known(sent.tx_hash) and not self._mined_now(sent):
                    self._fail(row.id, TransactionDropped("its nonce was used by another transaction"), "signed")
            elif sent.nonce == count and takeover:
                try:
                    self.sender.broadcast(bytes(row.raw_tx))
                except AlreadyKnown:
                    pass
                except (NonceTooLow, ReplacementUnderpriced) as exc:
                    if not self._mined_now(sent):
                        self._fail(row.id, exc, "signed")
                        continue
                except TransactionFailed as exc:
                    self._fail(row.id, exc, "signed")
                    continue
                count += 1
                self.notify(row.id, sent)
            elif not self._known(sent.tx_hash):
                self._fail(row.id, TransactionDropped("the node no longer has it"), "signed")
        if takeover:
            self._settled = True
        return True

    def _known(self, tx_hash: bytes) -> bool:
        try:
            self.sender.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except Exception as exc:
            if "not found" in str(exc).lower() or exc.__class__.__name__ == "TransactionNotFound":
                return False
            raise ChainUnavailable(f"eth_getTransactionByHash failed: {exc.__class__.__name__}") from exc
        return True

    def _mined_now(self, sent: SentTransaction) -> bool:
        receipt = self.sender.receipt(sent.tx_hash, light=True)
        if receipt is None:
            return False
        assert sent.outbox_id is not None
        self._record(sent.outbox_id, sent.tx_hash, receipt)
        return True

    def _record(self, row_id: int, tx_hash: bytes, receipt: TxReceipt) -> None:
        record_outcome(self.sessions, row_id, tx_hash, receipt)

    # -- fenced writes -----------------------------------------------------------------------------

    def _write(self, row_id: int, expected: str, **values: Any) -> bool:
        """Update the row from ``expected`` status under the fencing token; False when the row has
        left that status (its caller cancelled it). Raises :class:`Fenced` when the lease is gone."""
        with self.sessions.begin() as session:
            if not self.lease.fence(session):
                raise Fenced
            result = session.execute(
                update(ChainOutboxRow)
                .where(ChainOutboxRow.id == row_id, ChainOutboxRow.status == expected)
                .values(**values)
            )
            assert isinstance(result, CursorResult)
            return int(result.rowcount) == 1

    def _fail(self, row_id: int, exc: ChainError, expected: str) -> None:
        self._done.append(row_id)
        if self._write(row_id, expected, status="failed", finished_at=utcnow(), **error_fields(exc)):
            # The error's name only: revert args can carry claim ids and commitments.
            name = exc.error if isinstance(exc, ContractReverted) else exc.__class__.__name__
            # A revert is an answer the caller handles (already anchored, wrong state); the rest is not.
            level = logging.INFO if isinstance(exc, ContractReverted) else logging.WARNING
            log.log(level, "chain outbox row not sent", extra={"row": row_id, "code": exc.code, "error": name})
            self.notify(row_id, exc)


def record_outcome(sessions: sessionmaker[Session], row_id: int, tx_hash: bytes, receipt: TxReceipt) -> None:
    """Write a mined transaction's outcome (``mined`` / ``reverted``, its block) into its row."""
    record_outcomes(sessions, [(row_id, tx_hash, receipt)])


def record_outcomes(sessions: sessionmaker[Session], outcomes: list[tuple[int, bytes, TxReceipt]]) -> None:
    """:func:`record_outcome` for several rows, in one transaction. Unfenced: any host may write
    what the chain says; only a row still ``signed`` with that hash changes."""
    now = utcnow()
    with sessions.begin() as session:
        for row_id, tx_hash, receipt in outcomes:
            session.execute(
                update(ChainOutboxRow)
                .where(
                    ChainOutboxRow.id == row_id, ChainOutboxRow.status == "signed", ChainOutboxRow.tx_hash == tx_hash
                )
                .values(
                    status="mined" if receipt["status"] == 1 else "reverted",
                    block_number=int(receipt["blockNumber"]),
                    finished_at=now,
                )
            )
