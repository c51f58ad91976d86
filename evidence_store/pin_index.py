"""The embedded blockstore's pins: one SQLite table, O(log N) per pin, shared by processes.

``pins.sqlite`` in the store root holds ``pins(cid TEXT PRIMARY KEY, kind)`` with ``kind`` either
``recursive`` or ``direct`` (indirect pins are derived by walking recursive DAGs). Every change is
one short ``BEGIN IMMEDIATE`` transaction; the database runs in WAL mode with
``synchronous=FULL``, so a change has reached the disk (WAL fsynced) when the call returns, and a
crash — of a process or of the machine — loses no committed pin and leaves no half-written one
(SQLite checks WAL frames by checksum and drops a torn tail). Processes on one machine share the
file through SQLite's locks and shared-memory WAL index (not over a network file system).

Semantics are those of the former ``pins.json`` (and of Kubo): a recursive pin replaces a direct
pin of the same CID; a direct pin of a recursively pinned CID is refused
(``EVIDENCE_ALREADY_PINNED``); ``remove`` raises :class:`NotPinned` for an unpinned CID and for a
recursive pin removed with ``recursive=False``.

Migration: :meth:`PinIndex.import_legacy` imports a ``pins.json`` written by the earlier layout
once — its sha256 is recorded in the same transaction as its pins, so a crash before the file is
renamed to ``pins.json.migrated`` cannot import it a second time (which would resurrect pins
removed in between).

A connection is opened per store object and process and used under a lock: SQLite serializes
writers anyway, and a transaction is a few statements. Opening (schema, WAL mode, the import)
happens under an exclusive flock on ``pins.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from evidence_store.errors import EvidenceStoreError, InvalidCid, InvalidData, NotPinned
from evidence_store.interface import PinType
from evidence_store.multiformats import CID

# Writers hold the write lock for one short transaction; this only bounds a wait on a stuck peer.
BUSY_TIMEOUT_S = 300.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pins ("
    " cid TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL CHECK (kind IN ('recursive', 'direct')))",
    "CREATE TABLE IF NOT EXISTS imported_pin_files (sha256 TEXT PRIMARY KEY, pins INTEGER NOT NULL)",
)
_PIN_RECURSIVE = (
    "INSERT INTO pins (cid, kind) VALUES (?, 'recursive') ON CONFLICT (cid) DO UPDATE SET kind = 'recursive'"
)
_PIN_DIRECT = "INSERT INTO pins (cid, kind) VALUES (?, 'direct') ON CONFLICT (cid) DO NOTHING"


class PinIndex:
    """Recursive and direct pins of one store root (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.path = root / "pins.sqlite"
        self._lock = threading.Lock()
        # Openers take turns (flock on pins.lock): two processes turning a fresh file into WAL
        # at once can get "database is locked" without SQLite's busy handler being asked.
        with open(root / "pins.lock", "a+b") as opening:
            fcntl.flock(opening, fcntl.LOCK_EX)
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                # journal_mode is kept in the file; setting it again is a no-op after the first open.
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                with self._write() as conn:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                legacy = root / "pins.json"
                if legacy.exists():
                    self.import_legacy(legacy, root / "pins.json.migrated")
            except BaseException:
                self._conn.close()
                raise

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")  # take the write lock first: no read-to-write upgrade to fail
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def record(self, cid: CID, kind: PinType) -> None:
        """Pin ``cid`` recursively or directly (durable on return)."""
        text = str(cid)
        with self._write() as conn:
            if kind == PinType.RECURSIVE:
                conn.execute(_PIN_RECURSIVE, (text,))
                return
            row = conn.execute("SELECT kind FROM pins WHERE cid = ?", (text,)).fetchone()
            if row is not None and row[0] == PinType.RECURSIVE:
                raise EvidenceStoreError(f"pin: {cid} already pinned recursively", code="EVIDENCE_ALREADY_PINNED")
            conn.execute(_PIN_DIRECT, (text,))

    def remove(self, text: str, *, recursive: bool) -> None:
        """Unpin ``text``; :class:`NotPinned` when it is not pinned (or recursively, asked for direct)."""
        with self._write() as conn:
            row = conn.execute("SELECT kind FROM pins WHERE cid = ?", (text,)).fetchone()
            if row is None:
                raise NotPinned(f"{text}: not pinned or pinned indirectly")
            if row[0] == PinType.RECURSIVE and not recursive:
                raise NotPinned(f"{text} is pinned recursively")
            conn.execute("DELETE FROM pins WHERE cid = ?", (text,))

    def snapshot(self) -> tuple[list[str], list[str]]:
        """(recursive, direct) CIDs as text, in the order they were first pinned, from one read."""
        with self._lock:
            rows = self._conn.execute("SELECT cid, kind FROM pins ORDER BY rowid").fetchall()
        recursive = [cid for cid, kind in rows if kind == PinType.RECURSIVE]
        direct = [cid for cid, kind in rows if kind == PinType.DIRECT]
        return recursive, direct

    def import_legacy(self, pins_json: Path, migrated: Path) -> int:
        """Import ``pins_json`` (``{"recursive": [...], "direct": [...]}``) unless already imported,
        then rename it to ``migrated``; return how many pins were imported (0 when done before)."""
        try:
            raw = pins_json.read_bytes()
        except FileNotFoundError:
            return 0  # another process migrated it first
        try:
            parsed = json.loads(raw)
            recursive = [str(CID.parse(text)) for text in parsed.get("recursive", [])]
            direct = [str(CID.parse(text)) for text in parsed.get("direct", [])]
        except (ValueError, AttributeError, TypeError, InvalidCid) as exc:
            raise InvalidData(f"{pins_json}: not a pin list the store can import ({exc})") from exc
        digest = hashlib.sha256(raw).hexdigest()
        imported = 0
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM imported_pin_files WHERE sha256 = ?", (digest,)).fetchone() is None:
                conn.executemany(_PIN_RECURSIVE, ((text,) for text in recursive))
                recursive_set = set(recursive)
                conn.executemany(_PIN_DIRECT, ((text,) for text in direct if text not in recursive_set))
                imported = len(recursive) + len(direct)
                conn.execute("INSERT INTO imported_pin_files (sha256, pins) VALUES (?, ?)", (digest, imported))
        with contextlib.suppress(FileNotFoundError):  # a concurrent opener renamed it already
            pins_json.replace(migrated)
        return imported

    def close(self) -> None:
        with self._lock:
            self._conn.close()


__all__ = ["BUSY_TIMEOUT_S", "PinIndex"]
