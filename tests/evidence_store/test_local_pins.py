"""The embedded blockstore's pin database: semantics, pins.json migration, several writers on one
root (threads, store objects, processes), GC racing writers, and crashes mid-write."""

from __future__ import annotations

import fcntl
import gc
import json
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import pytest

from evidence_store import CID, LocalBlockstore, PinType
from evidence_store.errors import EvidenceStoreError, InvalidData, NotPinned
from evidence_store.multiformats import b32decode

SPAWN = multiprocessing.get_context("spawn")
JOIN_S = 120  # a hang guard, not a timing assertion


def _content(tag: str, size: int = 300_000) -> bytes:
    seed = tag.encode()
    return (seed * (size // len(seed) + 1))[:size]


def _block_files(root: Path) -> set[str]:
    return {p.name for p in (root / "blocks").glob("*/*")}


def _pins_in_db(root: Path) -> dict[str, str]:
    with sqlite3.connect(root / "pins.sqlite") as conn:
        return dict(conn.execute("SELECT cid, kind FROM pins").fetchall())


# --- semantics --------------------------------------------------------------------------------


def test_pin_recursive_replaces_direct_pin(tmp_path: Path) -> None:
    store = LocalBlockstore(tmp_path)
    root = store.add([_content("a")], pin=False)
    store.pin_add(root, recursive=False)
    assert store.pin_ls(PinType.DIRECT) == {root: PinType.DIRECT}
    store.pin_add(root)
    assert store.pin_ls(PinType.DIRECT) == {}
    assert store.pin_ls(PinType.RECURSIVE) == {root: PinType.RECURSIVE}
    assert _pins_in_db(tmp_path) == {str(root): "recursive"}


def test_pin_direct_of_recursive_pin_raises_already_pinned(tmp_path: Path) -> None:
    store = LocalBlockstore(tmp_path)
    root = store.add([_content("a")])
    with pytest.raises(EvidenceStoreError, match="already pinned recursively") as caught:
        store.pin_add(root, recursive=False)
    assert caught.value.code == "EVIDENCE_ALREADY_PINNED"
    assert store.pin_ls(PinType.RECURSIVE) == {root: PinType.RECURSIVE}


def test_pin_rm_direct_of_recursive_pin_raises_not_pinned(tmp_path: Path) -> None:
    store = LocalBlockstore(tmp_path)
    root = store.add([_content("a")])
    with pytest.raises(NotPinned, match="is pinned recursively"):
        store.pin_rm(root, recursive=False)
    assert root in store.pin_ls(PinType.RECURSIVE)
    store.pin_rm(root)
    with pytest.raises(NotPinned, match="not pinned"):
        store.pin_rm(root)
    assert store.pin_ls() == {}


def test_pins_survive_close_and_a_new_store_object(tmp_path: Path) -> None:
    store = LocalBlockstore(tmp_path)
    root = store.add([_content("a")])
    direct = store.block_put(b"direct block", pin=True)
    store.close()
    assert store.pin_ls(PinType.RECURSIVE) == {root: PinType.RECURSIVE}  # reopens after close
    again = LocalBlockstore(tmp_path)
    assert again.pin_ls(PinType.DIRECT) == {direct: PinType.DIRECT}
    assert again.pin_ls(PinType.RECURSIVE) == {root: PinType.RECURSIVE}
    store.close()
    again.close()


def test_add_recreates_a_shard_directory_that_vanished(tmp_path: Path) -> None:
    store = LocalBlockstore(tmp_path)
    first = store.block_put(b"first block")
    shard = store.block_path(first).parent
    store.block_rm(first)
    shard.rmdir()  # the store remembers this shard; the next block there must still land
    again = store.block_put(b"first block", pin=True)
    assert store.block_get(again) == b"first block"


def test_add_of_a_file_repeating_a_chunk_stores_it_once_and_reports_every_block(tmp_path: Path) -> None:
    store = LocalBlockstore(tmp_path)
    chunk = _content("same chunk", 262_144)
    reported: list[CID] = []
    root = store.add([chunk * 4], cid_version=1, on_block=reported.append)
    assert len(reported) == 5  # four (identical) leaves and the root, as the builder emits them
    assert len(set(reported)) == 2
    assert len(_block_files(tmp_path)) == 2
    assert list((tmp_path / "tmp").iterdir()) == []
    assert b"".join(store.cat(root)) == chunk * 4


def test_store_objects_dropped_without_close_leave_no_descriptor_open(tmp_path: Path) -> None:
    LocalBlockstore(tmp_path).add([_content("warm-up")])  # imports, pools: what stays open anyway
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    for i in range(20):
        LocalBlockstore(tmp_path).add([_content(f"dropped {i}")])
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before


# --- migration from pins.json -----------------------------------------------------------------


def _legacy_root(root: Path) -> tuple[CID, CID, CID, bytes]:
    """A store in the earlier layout: blocks on disk, pins only in pins.json; (pinned root,
    directly pinned block, unpinned root, pins.json bytes)."""
    store = LocalBlockstore(root)
    pinned = store.add([_content("pinned")], cid_version=1, pin=False)
    direct = store.block_put(b"directly pinned")
    loose = store.add([_content("loose")], pin=False)
    store.close()
    for leftover in root.glob("pins.sqlite*"):
        leftover.unlink()
    # both lists may name one CID (never written so, but recursive must win as pin_add does)
    raw = json.dumps({"recursive": [str(pinned)], "direct": [str(direct), str(pinned)]}, sort_keys=True).encode()
    (root / "pins.json").write_bytes(raw)
    return pinned, direct, loose, raw


def test_open_imports_pins_json_and_keeps_it_renamed(tmp_path: Path) -> None:
    pinned, direct, loose, raw = _legacy_root(tmp_path)
    store = LocalBlockstore(tmp_path)
    assert not (tmp_path / "pins.json").exists()
    assert (tmp_path / "pins.json.migrated").read_bytes() == raw
    assert store.pin_ls(PinType.RECURSIVE) == {pinned: PinType.RECURSIVE}
    assert store.pin_ls(PinType.DIRECT) == {direct: PinType.DIRECT}
    removed = store.gc()
    assert loose.multihash in {cid.multihash for cid in removed}
    assert b"".join(store.cat(pinned)) == _content("pinned")
    assert store.block_get(direct) == b"directly pinned"
    store.pin_rm(pinned)
    assert pinned not in LocalBlockstore(tmp_path).pin_ls()  # nothing imported a second time


def test_migration_interrupted_before_rename_does_not_import_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pinned, direct, _loose, _raw = _legacy_root(tmp_path)
    real_replace = Path.replace

    def crash_on_rename(self: Path, target: Any) -> Path:
        if self.name == "pins.json":
            raise OSError("simulated crash after the import committed")
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", crash_on_rename)
    with pytest.raises(OSError, match="simulated crash"):
        LocalBlockstore(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "pins.json").exists()
    # Pins changed after the import (as another writer would): the next open must not undo that.
    with sqlite3.connect(tmp_path / "pins.sqlite") as conn:
        conn.execute("DELETE FROM pins WHERE cid = ?", (str(pinned),))
    store = LocalBlockstore(tmp_path)
    assert not (tmp_path / "pins.json").exists()
    assert (tmp_path / "pins.json.migrated").exists()
    assert store.pin_ls(PinType.RECURSIVE) == {}
    assert store.pin_ls(PinType.DIRECT) == {direct: PinType.DIRECT}


def test_open_waits_for_another_opener_of_the_pin_database(tmp_path: Path) -> None:
    # Two processes turning a fresh pins.sqlite into WAL at once can get "database is locked"
    # without SQLite's busy handler: openers take turns on pins.lock.
    tmp_path.mkdir(exist_ok=True)
    opened: list[LocalBlockstore] = []
    with (tmp_path / "pins.lock").open("a+b") as other_opener:
        fcntl.flock(other_opener, fcntl.LOCK_EX)
        thread = threading.Thread(target=lambda: opened.append(LocalBlockstore(tmp_path)), daemon=True)
        thread.start()
        while _blocked_flock_waiters(tmp_path / "pins.lock") == 0 and thread.is_alive():
            time.sleep(0.01)
        assert opened == []
    thread.join(JOIN_S)
    assert len(opened) == 1
    opened[0].add([_content("a")])
    opened[0].close()


def test_open_refuses_unreadable_pins_json_and_keeps_it(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "pins.json").write_text('{"recursive": ["not a cid"]}')
    with pytest.raises(InvalidData, match="not a pin list the store can import"):
        LocalBlockstore(tmp_path)
    assert (tmp_path / "pins.json").exists()
    assert _pins_in_db(tmp_path) == {}


def _add_in_forked_child(store: LocalBlockstore, results: Queue[Any]) -> None:
    results.put(str(store.add([_content("from the child")])))
    store.close()


def test_store_object_inherited_by_a_forked_child_opens_its_own_handles(tmp_path: Path) -> None:
    store = LocalBlockstore(tmp_path)
    before = store.add([_content("before the fork")])
    fork = multiprocessing.get_context("fork")
    results: Queue[Any] = fork.Queue()
    child = fork.Process(target=_add_in_forked_child, args=(store, results))
    child.start()
    from_child = CID.parse(results.get(timeout=JOIN_S))
    child.join(JOIN_S)
    assert child.exitcode == 0
    after = store.add([_content("after the fork")])  # the parent's handles still work
    assert set(store.pin_ls(PinType.RECURSIVE)) == {before, from_child, after}
    assert store.gc() == []
    assert b"".join(store.cat(from_child)) == _content("from the child")
    store.close()


# --- several writers on one root --------------------------------------------------------------


def test_threads_on_two_store_objects_pin_concurrently_without_losing_a_pin(tmp_path: Path) -> None:
    stores = [LocalBlockstore(tmp_path), LocalBlockstore(tmp_path)]
    acknowledged: list[CID] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(store: LocalBlockstore, tag: str) -> None:
        try:
            start.wait()
            for i in range(8):
                acknowledged.append(store.add([_content(f"{tag}-{i}", 70_000)]))
                store.block_put(f"scratch {tag} {i}".encode())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(stores[i % 2], f"t{i}")) for i in range(5)]
    for thread in threads:
        thread.start()
    start.wait()
    removed_while_writing = stores[0].gc()  # GC on one of the shared objects, while they write
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(acknowledged) == 40
    assert not {cid.multihash for cid in acknowledged} & {cid.multihash for cid in removed_while_writing}
    fresh = LocalBlockstore(tmp_path)
    assert set(fresh.pin_ls(PinType.RECURSIVE)) == set(acknowledged)
    removed = fresh.gc()
    assert len(removed) + len(removed_while_writing) == 40  # the scratch blocks, whenever GC met them
    for i, cid in enumerate(acknowledged):
        assert fresh.has(cid), i
    for store in stores:
        store.close()


def _add_files(root: str, tag: str, count: int, go: Any, results: Queue[Any]) -> None:
    go.wait()
    store = LocalBlockstore(Path(root))  # the writers open the fresh root at the same time
    for i in range(count):
        cid = store.add([_content(f"{tag}-{i}", 100_000)], cid_version=1)
        store.block_put(f"scratch {tag} {i}".encode())
        results.put(str(cid))  # acknowledged: must survive any GC from now on
    store.close()
    results.put(None)


def test_processes_pin_concurrently_while_gc_runs_and_every_acknowledged_pin_survives(tmp_path: Path) -> None:
    writers, per_writer = 3, 10
    go = SPAWN.Event()
    results: Queue[Any] = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_add_files, args=(str(tmp_path), f"p{n}", per_writer, go, results)) for n in range(writers)
    ]
    for proc in procs:
        proc.start()
    go.set()
    store = LocalBlockstore(tmp_path)
    acknowledged: set[CID] = set()
    done = 0
    while done < writers:
        item = results.get(timeout=JOIN_S)
        if item is None:
            done += 1
        else:
            acknowledged.add(CID.parse(item))
        store.gc()  # one GC per acknowledgement, racing the writers' next adds and scratch blocks
        assert all(b"".join(store.cat(cid)) for cid in acknowledged)  # acknowledged before this GC: intact
    for proc in procs:
        proc.join(JOIN_S)
        assert proc.exitcode == 0
    assert len(acknowledged) == writers * per_writer
    assert set(store.pin_ls(PinType.RECURSIVE)) == acknowledged
    store.gc()
    contents = {b"".join(store.cat(cid)) for cid in acknowledged}
    assert contents == {_content(f"p{n}-{i}", 100_000) for n in range(writers) for i in range(per_writer)}
    assert len(_block_files(tmp_path)) == writers * per_writer  # one leaf per file; scratch collected
    store.close()


def _blocked_flock_waiters(lock_file: Path) -> int:
    """Processes' blocked flock requests on ``lock_file`` (Linux /proc/locks: "-> FLOCK ... maj:min:inode")."""
    inode = f":{lock_file.stat().st_ino} "
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(" -> FLOCK " in line and inode in line for line in lines)


def _gc_behind_writer(
    root: Path,
    writer: LocalBlockstore,
    gc_store: str,
    gc: Callable[[], None],
    half_written: threading.Event,
    outcome: dict[str, Any],
) -> None:
    """With an add half-written: a second add from another thread, then a GC that must queue."""
    assert half_written.wait(JOIN_S)
    # Another thread of the writer's process adds a whole file meanwhile: its unlock must not
    # release the lock the half-written add still holds.
    outcome["quick"] = writer.add([_content("quick")])
    gc_thread = threading.Thread(target=gc, daemon=True)
    gc_thread.start()
    outcome["gc_thread"] = gc_thread
    if gc_store == "same object":
        handles = writer._open()
        while handles.gc_lock._exclusive_waiting == 0 and gc_thread.is_alive():  # GC queued in-process
            time.sleep(0.01)
    else:
        while _blocked_flock_waiters(root / "gc.lock") == 0 and gc_thread.is_alive():  # LOCK_EX blocked
            time.sleep(0.01)
    assert "removed" not in outcome


@pytest.mark.parametrize("gc_store", ["same object", "second object"])
def test_gc_waiting_for_a_writer_keeps_the_dag_pinned_meanwhile(tmp_path: Path, gc_store: str) -> None:
    writer = LocalBlockstore(tmp_path)
    collector = writer if gc_store == "same object" else LocalBlockstore(tmp_path)
    half_written = threading.Event()
    finish = threading.Event()
    outcome: dict[str, Any] = {}

    def chunks() -> Iterator[bytes]:
        yield _content("first half", 600_000)  # two full leaves stored, the writer holds gc.lock
        half_written.set()
        finish.wait()
        yield _content("second half", 600_000)

    def add() -> None:
        outcome["root"] = writer.add(chunks(), cid_version=1)

    def gc() -> None:
        outcome["removed"] = collector.gc()

    add_thread = threading.Thread(target=add, daemon=True)
    add_thread.start()
    try:
        _gc_behind_writer(tmp_path, writer, gc_store, gc, half_written, outcome)
    finally:
        finish.set()  # a failed check must not leave the writer hanging
    add_thread.join(JOIN_S)
    outcome["gc_thread"].join(JOIN_S)
    assert outcome["removed"] == []
    assert b"".join(writer.cat(outcome["quick"])) == _content("quick")
    assert b"".join(writer.cat(outcome["root"])) == _content("first half", 600_000) + _content("second half", 600_000)


# --- crashes ----------------------------------------------------------------------------------


def _add_then_hang_mid_add(root: str, results: Queue[Any]) -> None:
    store = LocalBlockstore(Path(root))
    for i in range(3):
        results.put(str(store.add([_content(f"kept-{i}")])))

    def chunks() -> Iterator[bytes]:
        yield _content("never acknowledged", 800_000)
        results.put("mid-add")
        threading.Event().wait()  # until killed
        yield b""

    store.add(chunks())


def _add_then_hang_mid_pin_transaction(root: str, results: Queue[Any]) -> None:
    store = LocalBlockstore(Path(root))
    for i in range(3):
        results.put(str(store.add([_content(f"kept-{i}")])))
    scratch = store.add([_content("scratch")], pin=False)
    conn = sqlite3.connect(Path(root) / "pins.sqlite", isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO pins (cid, kind) VALUES (?, 'recursive')", (str(scratch),))
    results.put("mid-transaction")
    threading.Event().wait()  # until killed, holding the write lock


@pytest.mark.parametrize("interrupted", ["add", "pin transaction"])
def test_sigkill_mid_write_loses_no_committed_pin(tmp_path: Path, interrupted: str) -> None:
    target = _add_then_hang_mid_add if interrupted == "add" else _add_then_hang_mid_pin_transaction
    results: Queue[Any] = SPAWN.Queue()
    proc = SPAWN.Process(target=target, args=(str(tmp_path), results))
    proc.start()
    kept = [CID.parse(results.get(timeout=JOIN_S)) for _ in range(3)]
    assert results.get(timeout=JOIN_S) in ("mid-add", "mid-transaction")
    os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
    proc.join(JOIN_S)
    wal = tmp_path / "pins.sqlite-wal"
    assert wal.stat().st_size > 0  # the killed process left its WAL for recovery
    # A torn append after the last commit (a frame header and part of a page)
    with wal.open("ab") as fh:
        fh.write(os.urandom(3000))
    store = LocalBlockstore(tmp_path)
    assert set(store.pin_ls(PinType.RECURSIVE)) == set(kept)
    later = store.add([_content("after the crash")])  # the dead writer's locks are gone
    store.gc()
    for i, cid in enumerate(kept):
        assert b"".join(store.cat(cid)) == _content(f"kept-{i}")
    assert set(store.pin_ls(PinType.RECURSIVE)) == {*kept, later}
    assert list((tmp_path / "tmp").iterdir()) == []
    assert {b32decode(name) for name in _block_files(tmp_path)} == {cid.multihash for cid in store.pin_ls()}
    store.close()
