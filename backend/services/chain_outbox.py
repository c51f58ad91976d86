"""Every chain write of a host goes through the database: :class:`OutboxSender` (issue 18 item 1).

A host never signs a nonce itself. ``send`` inserts a ``chain_outbox`` row (in its own transaction,
or with :meth:`OutboxSender.enqueue` inside the caller's, so that an acknowledged change and its
chain write commit together) and waits until the key's elected sender
(:class:`~backend.services.chain_dispatcher.Dispatcher`, one per key and host, the holder of the
key's database lease acting) has signed it; it returns the same
:class:`~backend.chain.transactions.SentTransaction` a direct send did, and raises the same typed
errors (a revert at gas estimation is the same ``ContractReverted(error=..., args=...)``).
:class:`OutboxSender` is a :class:`~backend.chain.transactions.Sender`, so the chain clients and
services call it as they called the in-process sender.

No file lock, no nonce guessing across hosts: the leader reads the node's pending count under a
fenced database transaction, and a host that dies loses nothing it acknowledged (its rows stay in
the database; signed ones carry the raw bytes the next leader rebroadcasts).

Latency: when this host holds the key's lease, ``send`` hands its committed row to the dispatcher
thread in memory (``Dispatcher.hint``: the round it wakes signs the row without reading the outbox
first) and the dispatcher hands the signed transaction straight back (``threading.Event``); rows
queued on another host are picked up by the leader's poll of the outbox (every ``poll`` seconds,
``HUBAO_CHAIN_SENDER_POLL``, 50 ms by default: one indexed query), and their callers read the row
back. The mined outcome a caller's ``wait`` sees is written into the row by the next dispatcher
round of its host, several in one transaction (:meth:`ChainOutbox.flush_outcomes`), not on the
caller's path: a lone ``transact`` commits once (its row) on the caller's thread and once (the
signing, fenced) on the sender's. A bounded ``sign_timeout`` (``HUBAO_CHAIN_SENDER_TIMEOUT``, 60 s)
ends a wait that no sender answers with a clear error, and cancels the row if it was still queued.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import CursorResult, event, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.types import TxParams, TxReceipt

from backend.chain.transactions import (
    AlreadyKnown,
    ContractReverted,
    InsufficientFunds,
    NonceGap,
    NonceTooLow,
    ReplacementUnderpriced,
    SentTransaction,
    TransactionDropped,
    TransactionSender,
    decode_revert,
)
from backend.db.models import ChainOutboxRow, utcnow
from backend.errors import ChainError, ChainUnavailable, TransactionFailed
from backend.services.chain_dispatcher import Dispatcher, Outcome, lease_name, record_outcomes, tx_of

__all__ = ["ChainOutbox", "OutboxSender", "error_of"]

IDLE_EXIT = 60.0  # a participant key's dispatcher stops after this long without rows
# What a row carries from a transaction dict; the rest is chosen by the sender when it signs (from,
# nonce, chain id, fees: a fee chosen when the row was queued could be stale by then).
_KNOWN_KEYS = frozenset(
    {
        "to",
        "data",
        "value",
        "gas",
        "from",
        "nonce",
        "chainId",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
        "gasPrice",
        "type",
    }
)
_TYPED: dict[str, type[ChainError]] = {
    cls.code: cls
    for cls in (
        NonceTooLow,
        AlreadyKnown,
        ReplacementUnderpriced,
        NonceGap,
        InsufficientFunds,
        TransactionDropped,
        ChainUnavailable,
    )
}


def error_of(row: ChainOutboxRow) -> ChainError:
    """The typed error a failed row stands for, as the caller would have had it from a direct send."""
    code = row.error_code or TransactionFailed.code
    if code == ContractReverted.code:
        name, args = decode_revert(row.revert_data) if row.revert_data is not None else ("Unknown", ())
        if name == "Unknown" and row.error_name and row.error_name != "Unknown":
            # This process does not know the error's ABI: the sender's decoding, args as JSON.
            name, args = row.error_name, tuple(json.loads(row.error_args or "[]"))
        return ContractReverted(f"reverted with {name}{args}", error=name, args=args)
    message = f"chain outbox row {row.id} not sent: {row.error_name or code}"
    cls = _TYPED.get(code)
    return cls(message) if cls is not None else TransactionFailed(message, code=code)


class ChainOutbox:
    """This host's side of the outbox: the dispatchers of the keys it signs with and the callers
    waiting for their rows. One per process (the composition root builds it)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        *,
        holder: str | None = None,
        ttl: float = 5.0,
        poll: float = 0.05,
        sign_timeout: float = 60.0,
        fault: Callable[[str], None] | None = None,
        autostart: bool = True,
        owns_engine: bool = False,
    ) -> None:
        self.sessions = sessions
        self.owns_engine = owns_engine
        self.w3 = w3
        self.chain_id = int(w3.eth.chain_id)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.ttl = ttl
        self.poll = poll
        self.sign_timeout = sign_timeout
        self.fault = fault
        self.autostart = autostart
        self._lock = threading.Lock()
        self._dispatchers: dict[str, Dispatcher] = {}
        self._waiting: dict[int, tuple[threading.Event, list[Outcome]]] = {}
        # Mined outcomes callers saw, written by the next dispatcher round (flush_outcomes).
        self._outcomes: list[tuple[int, bytes, TxReceipt]] = []
        self._closed = False

    def sender(self, signer: LocalAccount, *, resident: bool = True) -> OutboxSender:
        """The sender of ``signer``'s transactions through the outbox. ``resident``: this host's
        dispatcher of the key runs until :meth:`close` (the operator and notary keys); otherwise it
        stops after :data:`IDLE_EXIT` idle seconds and starts again with the next send."""
        self.dispatcher(signer, resident=resident)
        return OutboxSender(self, signer, resident)

    def dispatcher(self, signer: LocalAccount, *, resident: bool = True) -> Dispatcher:
        """This host's dispatcher of ``signer``'s key, (re)started if it is not running."""
        address = str(signer.address)
        with self._lock:
            found = self._dispatchers.get(address)
            if found is not None and (found.alive or not self.autostart):
                return found
            if self._closed:
                raise ChainUnavailable("the chain outbox of this process is closed")
            made = Dispatcher(
                self.sessions,
                TransactionSender(self.w3, signer),
                self.chain_id,
                self.holder,
                notify=self._notify,
                ttl=self.ttl,
                poll=self.poll,
                idle_exit=None if resident else IDLE_EXIT,
                fault=self.fault,
                between_rounds=self.flush_outcomes,
            )
            self._dispatchers[address] = made
            if self.autostart:
                made.start()
            return made

    def close(self) -> None:
        """Stop every dispatcher (each finishes its row in hand and frees its lease)."""
        with self._lock:
            self._closed = True
            dispatchers = list(self._dispatchers.values())
        for dispatcher in dispatchers:
            dispatcher.stop()
        with contextlib.suppress(SQLAlchemyError):  # else the next leader's watcher records them
            self.flush_outcomes()
        bind = self.sessions.kw.get("bind")
        if self.owns_engine and bind is not None:
            bind.dispose()

    # -- callers waiting for their rows ------------------------------------------------------------

    def _register(self, row_id: int) -> None:
        with self._lock:
            self._waiting[row_id] = (threading.Event(), [])

    def _notify(self, row_id: int, outcome: Outcome) -> None:
        with self._lock:
            entry = self._waiting.get(row_id)
        if entry is not None:
            entry[1].append(outcome)
            entry[0].set()

    def signed(self, row_id: int, timeout: float | None = None) -> SentTransaction:
        """Wait until the elected sender has signed row ``row_id``; its typed error if it was not
        sent; :class:`ChainUnavailable` (and the row cancelled) when nobody signed it in time."""
        with self._lock:
            entry = self._waiting.setdefault(row_id, (threading.Event(), []))
        deadline = time.monotonic() + (self.sign_timeout if timeout is None else timeout)
        interval = 0.02
        try:
            while True:
                if entry[0].wait(min(interval, max(0.0, deadline - time.monotonic()))):
                    outcome = entry[1][-1]
                    if isinstance(outcome, ChainError):
                        raise outcome
                    return outcome
                interval = min(0.25, interval * 1.5)
                with self.sessions() as session:
                    row = session.get(ChainOutboxRow, row_id)
                    if row is None:
                        raise ChainUnavailable(f"chain outbox row {row_id} does not exist")
                    if row.status == "failed":
                        raise error_of(row)
                    if row.status != "queued":
                        assert row.tx_hash is not None
                        assert row.nonce is not None
                        return SentTransaction(bytes(row.tx_hash), int(row.nonce), row_id)
                    address = row.sender
                if time.monotonic() >= deadline and self._cancel(row_id):
                    raise ChainUnavailable(
                        f"no sender signed chain outbox row {row_id} of {address} in time: is the chain "
                        f"reachable, and is the host holding lease {lease_name(self.chain_id, address)} alive?",
                        code="CHAIN_SENDER_TIMEOUT",
                    )
        finally:
            with self._lock:
                self._waiting.pop(row_id, None)

    def _cancel(self, row_id: int) -> bool:
        with self.sessions.begin() as session:
            result = session.execute(
                update(ChainOutboxRow)
                .where(ChainOutboxRow.id == row_id, ChainOutboxRow.status == "queued")
                .values(status="failed", error_code="NOT_SENT", error_name="NotSent", finished_at=utcnow())
            )
            assert isinstance(result, CursorResult)
            return int(result.rowcount) == 1

    def record(self, sent: SentTransaction, receipt: TxReceipt) -> None:
        """Have a mined outcome written into its row, off the caller's path: the next round of this
        host's dispatcher writes every outcome handed over since in one transaction
        (:meth:`flush_outcomes`). Should this host die first, the leader's watcher records it."""
        if sent.outbox_id is not None:
            with self._lock:
                self._outcomes.append((sent.outbox_id, sent.tx_hash, receipt))

    def flush_outcomes(self) -> int:
        """Write the outcomes :meth:`record` was handed; how many. On a database error they are
        kept for the next round."""
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return 0
        try:
            record_outcomes(self.sessions, outcomes)
        except BaseException:
            with self._lock:
                self._outcomes[:0] = outcomes
            raise
        return len(outcomes)


class OutboxSender:
    """A :class:`~backend.chain.transactions.Sender` whose transactions go through the outbox."""

    def __init__(self, outbox: ChainOutbox, signer: LocalAccount, resident: bool = True) -> None:
        self.outbox = outbox
        self.signer = signer
        self.w3 = outbox.w3
        self.resident = resident
        self._direct = TransactionSender(outbox.w3, signer)  # receipts and revert replays only

    @property
    def address(self) -> str:
        return str(self.signer.address)

    def enqueue(self, tx: TxParams, session: Session | None = None) -> int:
        """Queue ``tx``; its row id. With ``session`` the row is part of the caller's transaction
        (sent once that commits; :meth:`ChainOutbox.signed` waits for it), else committed here."""
        extra = set(tx) - _KNOWN_KEYS
        if extra:
            raise ValueError(f"the chain outbox does not carry {sorted(extra)}")
        data = bytes(HexBytes(tx.get("data", b"")))
        to = tx.get("to") or None  # web3 builds a contract creation with to=b""
        row = ChainOutboxRow(
            chain_id=self.outbox.chain_id,
            sender=self.address,
            to=None if to is None else Web3.to_checksum_address(str(to)),
            data=data,
            value=str(int(tx.get("value", 0))),
            gas=None if tx.get("gas") is None else int(tx["gas"]),
            label="create" if to is None else ("0x" + data[:4].hex() if data else "transfer"),
            status="queued",
            created_at=utcnow(),
        )
        if session is not None:
            own_url = self.outbox.sessions.kw["bind"].url
            if session.get_bind().engine.url != own_url:
                raise ValueError("the session is not on the chain outbox's database (SQLite keeps it in its own file)")
            session.add(row)
            session.flush()
            row_id, queued = int(row.id), tx_of(row)
            self.outbox._register(row_id)
            event.listen(session, "after_commit", lambda _s: self._wake(row_id, queued), once=True)
            return row_id
        with self.outbox.sessions.begin() as own:
            own.add(row)
            own.flush()
            row_id, queued = int(row.id), tx_of(row)
            self.outbox._register(row_id)  # before the commit: the dispatcher cannot tell us sooner
        self._wake(row_id, queued)
        return row_id

    def _wake(self, row_id: int, tx: TxParams) -> None:
        """The row is committed: hand it to this host's dispatcher (it signs it without reading the
        outbox when it leads) and wake it."""
        dispatcher = self.outbox.dispatcher(self.signer, resident=self.resident)
        dispatcher.hint(row_id, tx)
        dispatcher.wake.set()

    def send(
        self,
        tx: TxParams,
        *,
        nonce: int | None = None,
        trust_nonce: bool = False,
        before_broadcast: Callable[[SentTransaction], None] | None = None,
    ) -> SentTransaction:
        """Queue ``tx`` and return it once signed (the elected sender chooses the nonce: ``nonce``
        and ``trust_nonce`` are not used). ``before_broadcast`` runs with the signed transaction:
        the outbox row already holds its bytes, and it may already be broadcast."""
        sent = self.outbox.signed(self.enqueue(tx))
        if before_broadcast is not None:
            before_broadcast(sent)
        return sent

    def wait(
        self, sent: SentTransaction, timeout: float = 60.0, poll: float = 0.05, *, light: bool = False
    ) -> TxReceipt:
        """The receipt, as :meth:`TransactionSender.wait`; also raises the row's error if the sender
        gave it up (dropped, nonce used elsewhere). The outcome is written into the row after this
        returns (:meth:`ChainOutbox.record`): no database write on the caller's path."""
        deadline = time.monotonic() + timeout
        check_row = time.monotonic() + 0.5
        while True:
            receipt = self._direct.receipt(sent.tx_hash, light=light)
            if receipt is not None:
                self.outbox.record(sent, receipt)
                if receipt["status"] != 1:
                    raise self._direct.mined_revert(sent, int(receipt["blockNumber"]))
                return receipt
            now = time.monotonic()
            if sent.outbox_id is not None and now >= check_row:
                check_row = now + 0.5
                with self.outbox.sessions() as session:
                    row = session.get(ChainOutboxRow, sent.outbox_id)
                    if row is not None and row.status == "failed":
                        raise error_of(row)
            if now > deadline:
                raise TransactionDropped(f"no receipt for {sent.tx_hash.hex()} after {timeout:.0f} s")
            time.sleep(poll)

    def transact(self, tx: TxParams, timeout: float = 60.0) -> TxReceipt:
        """Send and wait for the receipt."""
        return self.wait(self.send(tx), timeout)
