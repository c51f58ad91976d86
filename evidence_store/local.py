"""The embedded blockstore: blocks as files keyed by multihash, pins, GC, CAR — no daemon.

Layout under ``root``::

    blocks/<XY>/<BASE32-MULTIHASH>   one file per block (XY = the next-to-last two characters,
                                     as Kubo's flatfs shards)
    pins.sqlite (+ -wal, -shm)       recursive and direct pins (:mod:`evidence_store.pin_index`)
    pins.json.migrated               the pin list of the earlier layout, once imported
    tmp/                             writes in flight (temp file, fsync, rename, fsync dir)
    gc.lock, pins.lock               flock files (pins.lock: opening the pin database)

Writers (add, block put, CAR import, pin) hold ``gc.lock`` shared, GC holds it exclusively: GC
never sees a half-added DAG, and a DAG is pinned before its writer lets go. Several processes can
share one root. Every read re-hashes the block (Kubo's ``HashOnRead`` is off by default; here it
is always on).

Durability: when a write returns, each block's bytes were fsynced before the block was renamed
into place, every directory holding a block it stored or relied on (and ``blocks/`` for a shard
directory new to this store object) was fsynced after the renames, and only then was the pin
committed. A write's blocks are fsynced together on a small thread pool — a journaling file
system (ext4 here) folds concurrent fsyncs into one journal commit, so a six-block upload waits
for about three commits (blocks, directories, pin) instead of one per block and directory.
``pin_rm`` takes no lock: a pin removed while GC runs only makes that GC keep more.

Why one module over 500 lines: the durable-write machinery (``_BlockWriter``, the shared flock,
the directory handles) works inside the store's private layout (``_locate``, ``_intact``,
``_ensure_shard``, ``_create_tmp``, ``_fsync_dirs``); in a module of its own that layout and its
locking rules would become an interface that nothing else should call.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from evidence_store.car import CarReader, car_stream
from evidence_store.dagpb import decode_pbnode
from evidence_store.errors import (
    GcAborted,
    IntegrityError,
    InvalidData,
    NotFound,
)
from evidence_store.interface import BlockStat, CidLike, PinType
from evidence_store.multiformats import CID, DAG_PB, RAW, b32decode, b32encode
from evidence_store.pin_index import PinIndex
from evidence_store.unixfs import FileDagBuilder, iter_dag, iter_file

log = logging.getLogger(__name__)

VERSION = "hubao-local/1"
MAX_BLOCK_SIZE = 2 * 1024 * 1024  # Kubo's hard block limit
FSYNC_THREADS = 8
# Blocks written (not yet renamed) before a write operation waits for their fsyncs: bounds the
# open descriptors and unreported blocks of one long add (64 x 256 KiB = 16 MiB).
WRITE_WINDOW = 64

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class _ThreadSharedFlock:
    """``gc.lock`` opened once, flocked per operation by any of this process's threads.

    A flock belongs to the open file description, not to a thread: one thread's ``LOCK_UN`` would
    drop the lock another thread still relies on, and a ``LOCK_EX`` would silently convert it. So
    the threads count themselves in: the first shared holder takes ``LOCK_SH``, the last one
    releases it, and an exclusive holder waits until no thread of this process holds it shared
    (and holds new shared requests back meanwhile, so GC is not starved). Not re-entrant.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self._closer = weakref.finalize(self, os.close, self._fd)  # a store dropped unclosed leaks no fd
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._exclusive_waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._exclusive_waiting:
                self._cond.wait()
            if self._shared == 0:
                # Blocking with the condition held is safe: no thread of this process holds the flock.
                fcntl.flock(self._fd, fcntl.LOCK_SH)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if self._shared == 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._exclusive_waiting += 1
            try:
                while self._exclusive or self._shared:
                    self._cond.wait()
            finally:
                self._exclusive_waiting -= 1
                self._cond.notify_all()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                self._exclusive = False
                self._cond.notify_all()

    def close(self) -> None:
        self._closer()


class _Handles:
    """What a store object keeps open in one process: gc.lock, the pin database, the fsync pool.
    None of them may be used across a fork, so a child opens its own (:meth:`LocalBlockstore._open`)."""

    def __init__(self, root: Path) -> None:
        self.pid = os.getpid()
        self.gc_lock = _ThreadSharedFlock(root / "gc.lock")
        self.pins = PinIndex(root)
        self.fsync_pool = ThreadPoolExecutor(max_workers=FSYNC_THREADS, thread_name_prefix="hubao-fsync")

    def fsync_all(self, fds: list[int]) -> None:
        """fsync every descriptor, concurrently; raise the first failure after all have finished."""
        futures = [self.fsync_pool.submit(os.fsync, fd) for fd in fds[1:]]
        try:
            if fds:
                os.fsync(fds[0])
        finally:
            wait(futures)
        for future in futures:
            future.result()

    def close(self) -> None:
        self.fsync_pool.shutdown(wait=True)
        self.pins.close()
        self.gc_lock.close()


@dataclass(slots=True)
class _Pending:
    cid: CID
    shard: str
    final: str
    tmp: str | None  # None: the block was already stored intact
    fd: int = -1
    synced: Future[None] | None = None


class _BlockWriter:
    """The blocks of one write operation: each written to ``tmp/`` at once with its fsync started
    on the pool; :meth:`flush` waits for the fsyncs, renames the blocks into place, fsyncs each
    directory involved once, and only then reports the blocks (``on_block``). :meth:`abort` leaves
    no temp file behind."""

    def __init__(self, store: LocalBlockstore, handles: _Handles, on_block: Callable[[CID], None] | None) -> None:
        self._store = store
        self._handles = handles
        self._on_block = on_block
        self._pending: list[_Pending] = []
        self._writing: set[str] = set()  # final paths of this batch's temp files

    def put(self, cid: CID, data: bytes) -> None:
        shard, final = self._store._locate(cid.multihash)
        if final in self._writing or self._store._intact(cid, final):
            # Already stored, or written earlier in this batch (a file repeating a chunk): its
            # directory is fsynced all the same.
            self._pending.append(_Pending(cid, shard, final, None))
        else:
            tmp = os.path.join(self._store._tmp, f"{os.path.basename(final)}.{secrets.token_hex(6)}")
            entry = _Pending(cid, shard, final, tmp, self._store._create_tmp(tmp))
            self._pending.append(entry)
            self._writing.add(final)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(entry.fd, view) :]
            except BaseException:
                self.abort()
                raise
            entry.synced = self._handles.fsync_pool.submit(os.fsync, entry.fd)
        if len(self._pending) >= WRITE_WINDOW:
            self.flush()

    def _settle(self, pending: list[_Pending]) -> BaseException | None:
        """Wait for every started fsync and close every descriptor; the first fsync error, if any."""
        wait([p.synced for p in pending if p.synced is not None])
        error: BaseException | None = None
        for p in pending:
            if p.synced is not None and error is None:
                error = p.synced.exception()
            if p.fd >= 0:
                os.close(p.fd)
                p.fd = -1
        return error

    def abort(self) -> None:
        pending, self._pending = self._pending, []
        self._writing.clear()
        self._settle(pending)
        for p in pending:
            if p.tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(p.tmp)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        self._writing.clear()
        error = self._settle(pending)
        store = self._store
        try:
            if error is not None:
                raise error
            parent_changed = False
            for p in pending:
                parent_changed |= store._ensure_shard(p.shard)
                if p.tmp is None:
                    continue
                try:
                    os.replace(p.tmp, p.final)
                except FileNotFoundError:  # the shard directory vanished under us: recreate it
                    parent_changed |= store._ensure_shard(p.shard, recheck=True)
                    os.replace(p.tmp, p.final)
                p.tmp = None
            dirs = {os.path.join(store._blocks_dir, p.shard) for p in pending}
            if parent_changed:
                dirs.add(store._blocks_dir)
            store._fsync_dirs(self._handles, sorted(dirs))
        except BaseException:
            self._pending = pending
            self.abort()
            raise
        if self._on_block is not None:
            for p in pending:
                self._on_block(p.cid)


_INHERITED_HANDLES: list[_Handles] = []


class LocalBlockstore:
    """An :class:`~evidence_store.interface.EvidenceStore` in a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blocks = root / "blocks"
        self._blocks_dir = str(self._blocks)
        self._tmp = str(root / "tmp")
        for path in (self._blocks, root / "tmp"):
            path.mkdir(parents=True, exist_ok=True)
        # Shard directories known to exist with a durable entry in blocks/: those present now
        # (blocks/ is fsynced below), then each one this object creates or first meets.
        self._shards: set[str] = set(os.listdir(self._blocks_dir))
        self._handles: _Handles | None = None
        handles = self._open()  # imports a pins.json of the earlier layout, once
        self._fsync_dirs(handles, [str(root), self._blocks_dir])

    # --- process-local handles and locks --------------------------------------------------------

    def _open(self) -> _Handles:
        handles = self._handles
        if handles is None or handles.pid != os.getpid():
            if handles is not None:
                # Inherited through a fork: never used nor closed here (SQLite forbids carrying a
                # connection across fork; its pool threads do not exist in this process).
                _INHERITED_HANDLES.append(handles)
            handles = self._handles = _Handles(self.root)
        return handles

    @contextlib.contextmanager
    def _writing(self) -> Iterator[_Handles]:
        handles = self._open()
        with handles.gc_lock.shared():
            yield handles

    @contextlib.contextmanager
    def _blocks_of_one_write(
        self, handles: _Handles, on_block: Callable[[CID], None] | None = None
    ) -> Iterator[_BlockWriter]:
        """A :class:`_BlockWriter` flushed when the body ends, aborted when it raises."""
        writer = _BlockWriter(self, handles, on_block)
        try:
            yield writer
            writer.flush()
        except BaseException:
            writer.abort()
            raise

    @staticmethod
    def _fsync_dirs(handles: _Handles, paths: list[str]) -> None:
        fds: list[int] = []
        try:
            for path in paths:
                fds.append(os.open(path, _DIR_FLAGS))
            handles.fsync_all(fds)
        finally:
            for fd in fds:
                os.close(fd)

    # --- blocks ---------------------------------------------------------------------------------

    def _locate(self, multihash: bytes) -> tuple[str, str]:
        """(shard, path) of a block's file."""
        name = b32encode(multihash).upper()
        shard = name[-3:-1]
        return shard, os.path.join(self._blocks_dir, shard, name)

    def _path(self, multihash: bytes) -> Path:
        return Path(self._locate(multihash)[1])

    def _ensure_shard(self, shard: str, *, recheck: bool = False) -> bool:
        """Make sure a shard directory exists; True when blocks/ must be fsynced for it (the first
        time this object uses the shard, whoever created it: its entry may not be durable yet)."""
        if shard in self._shards and not recheck:
            return False
        with contextlib.suppress(FileExistsError):
            os.mkdir(os.path.join(self._blocks_dir, shard))
        self._shards.add(shard)
        return True

    def _create_tmp(self, tmp: str) -> int:
        try:
            return os.open(tmp, _TMP_FLAGS, 0o666)
        except FileNotFoundError:  # tmp/ vanished: recreate it
            os.makedirs(self._tmp, exist_ok=True)
            return os.open(tmp, _TMP_FLAGS, 0o666)

    def _intact(self, cid: CID, path: str) -> bool:
        """The block is stored and hashes to its CID (a corrupt copy is replaced by the writer)."""
        try:
            with open(path, "rb", buffering=0) as fh:
                return cid.verify(fh.readall())
        except OSError:
            return False

    def _read_verified(self, cid: CID) -> bytes:
        try:
            with open(self._locate(cid.multihash)[1], "rb", buffering=0) as fh:
                data = fh.readall()
        except FileNotFoundError:
            raise NotFound(str(cid)) from None
        if not cid.verify(data):
            raise IntegrityError(str(cid))
        return data

    def has(self, cid: CidLike) -> bool:
        return os.path.exists(self._locate(CID.parse(cid).multihash)[1])

    def block_get(self, cid: CidLike) -> bytes:
        return self._read_verified(CID.parse(cid))

    def block_put(self, data: bytes, *, codec: int = RAW, cid_version: int = 1, pin: bool = False) -> CID:
        if len(data) > MAX_BLOCK_SIZE:
            raise InvalidData(f"block of {len(data)} bytes exceeds the {MAX_BLOCK_SIZE}-byte limit")
        if codec == DAG_PB:
            decode_pbnode(data)  # refuse bytes that are not a dag-pb node, as Kubo does
        cid = CID.for_block(data, codec, cid_version)
        with self._writing() as handles:
            with self._blocks_of_one_write(handles) as blocks:
                blocks.put(cid, data)
            if pin:
                handles.pins.record(cid, PinType.DIRECT)
        return cid

    def block_stat(self, cid: CidLike) -> BlockStat:
        parsed = CID.parse(cid)
        return BlockStat(parsed, len(self._read_verified(parsed)))

    def block_rm(self, cid: CidLike) -> None:
        """Delete a block whatever its pins (tests and repair tools; GC is the normal way)."""
        self._path(CID.parse(cid).multihash).unlink(missing_ok=True)

    def block_path(self, cid: CidLike) -> Path:
        """The file holding a block (fault-injection tests corrupt it in place)."""
        return self._path(CID.parse(cid).multihash)

    # --- files ----------------------------------------------------------------------------------

    def add(
        self,
        chunks: Iterable[bytes],
        *,
        cid_version: int = 0,
        pin: bool = True,
        on_block: Callable[[CID], None] | None = None,
    ) -> CID:
        """Chunk, store and (by default) pin a file; ``on_block`` is told each block once it is
        stored (renamed into place, directory fsynced)."""
        with self._writing() as handles:
            with self._blocks_of_one_write(handles, on_block) as blocks:
                builder = FileDagBuilder(cid_version, sink=blocks.put)
                for chunk in chunks:
                    builder.write(chunk)
                root = builder.finish()
            if pin:
                handles.pins.record(root, PinType.RECURSIVE)
        return root

    def cat(self, cid: CidLike) -> Iterator[bytes]:
        root = CID.parse(cid)
        first = self._read_verified(root)  # unknown root fails here, not at the first next()

        def get(c: CID) -> bytes:
            return first if c == root else self._read_verified(c)

        return iter_file(get, root)

    # --- pins -----------------------------------------------------------------------------------

    def pin_add(self, cid: CidLike, *, recursive: bool = True) -> None:
        root = CID.parse(cid)
        with self._writing() as handles:
            if recursive:
                for _ in iter_dag(self._read_verified, root):
                    pass  # every block present and intact before the pin counts
            else:
                self._read_verified(root)
            handles.pins.record(root, PinType.RECURSIVE if recursive else PinType.DIRECT)

    def pin_rm(self, cid: CidLike, *, recursive: bool = True) -> None:
        self._open().pins.remove(str(CID.parse(cid)), recursive=recursive)

    def pin_ls(self, pin_type: PinType | None = None) -> dict[CID, PinType]:
        recursive, direct = self._open().pins.snapshot()
        out: dict[CID, PinType] = {}
        if pin_type in (None, PinType.INDIRECT):
            for text in recursive:
                for cid, _ in iter_dag(self._read_verified, CID.parse(text)):
                    if str(cid) != text:
                        out.setdefault(cid, PinType.INDIRECT)
        if pin_type in (None, PinType.DIRECT):
            for text in direct:
                out[CID.parse(text)] = PinType.DIRECT
        if pin_type in (None, PinType.RECURSIVE):
            for text in recursive:
                out[CID.parse(text)] = PinType.RECURSIVE
        return out

    # --- GC -------------------------------------------------------------------------------------

    def gc(self) -> list[CID]:
        handles = self._open()
        with handles.gc_lock.exclusive():
            # Read after taking the lock: every writer that pinned before it let go is included.
            recursive, direct = handles.pins.snapshot()
            live: set[bytes] = set()
            for text, is_recursive in [(t, True) for t in recursive] + [(t, False) for t in direct]:
                root = CID.parse(text)
                try:
                    if is_recursive:
                        live.update(cid.multihash for cid, _ in iter_dag(self._read_verified, root))
                    else:
                        self._read_verified(root)
                        live.add(root.multihash)
                except (NotFound, IntegrityError, InvalidData) as exc:
                    log.error("gc aborted: a pinned DAG is broken", extra={"error": exc.code})  # no CIDs in logs
                    raise GcAborted(
                        f"gc aborted, nothing removed: pinned DAG {text} is broken ({exc.message})",
                        pin=text,
                        cause=exc.code,
                    ) from exc
            removed: list[CID] = []
            for shard in sorted(self._blocks.iterdir()):
                for path in sorted(shard.iterdir()):
                    try:
                        multihash = b32decode(path.name)
                    except ValueError:
                        continue  # not a block file
                    if multihash not in live:
                        path.unlink()
                        removed.append(CID(1, RAW, multihash))
            for leftover in Path(self._tmp).iterdir():  # no writer runs while GC holds the lock
                leftover.unlink(missing_ok=True)
            return removed

    # --- CAR ------------------------------------------------------------------------------------

    def export_car(self, root: CidLike) -> Iterator[bytes]:
        parsed = CID.parse(root)
        self._read_verified(parsed)
        return car_stream([parsed], iter_dag(self._read_verified, parsed))

    def import_car(self, chunks: Iterable[bytes]) -> list[CID]:
        with self._writing() as handles:
            reader = CarReader.open(chunks)
            with self._blocks_of_one_write(handles) as blocks:
                for cid, block in reader.blocks():
                    blocks.put(cid, block)
            for root in reader.roots:
                for _ in iter_dag(self._read_verified, root):
                    pass
                handles.pins.record(root, PinType.RECURSIVE)
        return reader.roots

    def version(self) -> str:
        return VERSION

    def close(self) -> None:
        """Close this process's handles (a later call opens them again)."""
        handles, self._handles = self._handles, None
        if handles is not None and handles.pid == os.getpid():
            handles.close()


__all__ = ["VERSION", "LocalBlockstore"]
