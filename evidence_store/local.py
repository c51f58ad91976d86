"""The embedded blockstore: blocks as files keyed by multihash, pins, GC, CAR — no daemon.

Layout under ``root``::

    blocks/<XY>/<BASE32-MULTIHASH>   one file per block (XY = the next-to-last two characters,
                                     as Kubo's flatfs shards)
    pins.json                        {"recursive": [cid, ...], "direct": [cid, ...]}
    tmp/                             writes in flight (temp file, fsync, rename, fsync dir)
    gc.lock, pins.lock               flock files

Writers (add, block put, CAR import, pin) hold ``gc.lock`` shared, GC holds it exclusively: GC
never sees a half-added DAG, and a DAG is pinned before its writer lets go. Several processes can
share one root. Every read re-hashes the block (Kubo's ``HashOnRead`` is off by default; here it
is always on).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from evidence_store.car import CarReader, car_stream
from evidence_store.dagpb import decode_pbnode
from evidence_store.errors import (
    EvidenceStoreError,
    GcAborted,
    IntegrityError,
    InvalidData,
    NotFound,
    NotPinned,
)
from evidence_store.interface import BlockStat, CidLike, PinType
from evidence_store.multiformats import CID, DAG_PB, RAW, b32decode, b32encode
from evidence_store.unixfs import FileDagBuilder, iter_dag, iter_file

log = logging.getLogger(__name__)

VERSION = "hubao-local/1"
MAX_BLOCK_SIZE = 2 * 1024 * 1024  # Kubo's hard block limit


class LocalBlockstore:
    """An :class:`~evidence_store.interface.EvidenceStore` in a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blocks = root / "blocks"
        self._tmp = root / "tmp"
        for path in (self._blocks, self._tmp):
            path.mkdir(parents=True, exist_ok=True)
        self._pins_path = root / "pins.json"

    # --- locks ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self, name: str, exclusive: bool) -> Iterator[None]:
        with open(self.root / name, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield

    def _writing(self) -> contextlib.AbstractContextManager[None]:
        return self._flock("gc.lock", exclusive=False)

    # --- blocks ---------------------------------------------------------------------------------

    def _path(self, multihash: bytes) -> Path:
        name = b32encode(multihash).upper()
        return self._blocks / name[-3:-1] / name

    def _read_verified(self, cid: CID) -> bytes:
        try:
            data = self._path(cid.multihash).read_bytes()
        except FileNotFoundError:
            raise NotFound(str(cid)) from None
        if not cid.verify(data):
            raise IntegrityError(str(cid))
        return data

    def _write_block(self, cid: CID, data: bytes) -> None:
        path = self._path(cid.multihash)
        if path.exists():
            with contextlib.suppress(OSError):
                if cid.verify(path.read_bytes()):
                    return  # already stored intact; a corrupt copy is replaced below
        path.parent.mkdir(exist_ok=True)
        tmp = self._tmp / f"{path.name}.{secrets.token_hex(6)}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def has(self, cid: CidLike) -> bool:
        return self._path(CID.parse(cid).multihash).exists()

    def block_get(self, cid: CidLike) -> bytes:
        return self._read_verified(CID.parse(cid))

    def block_put(self, data: bytes, *, codec: int = RAW, cid_version: int = 1, pin: bool = False) -> CID:
        if len(data) > MAX_BLOCK_SIZE:
            raise InvalidData(f"block of {len(data)} bytes exceeds the {MAX_BLOCK_SIZE}-byte limit")
        if codec == DAG_PB:
            decode_pbnode(data)  # refuse bytes that are not a dag-pb node, as Kubo does
        cid = CID.for_block(data, codec, cid_version)
        with self._writing():
            self._write_block(cid, data)
            if pin:
                self._record_pin(cid, PinType.DIRECT)
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
        """Chunk, store and (by default) pin a file; ``on_block`` is told each block it stores."""

        def sink(cid: CID, data: bytes) -> None:
            self._write_block(cid, data)
            if on_block is not None:
                on_block(cid)

        with self._writing():
            builder = FileDagBuilder(cid_version, sink=sink)
            for chunk in chunks:
                builder.write(chunk)
            root = builder.finish()
            if pin:
                self._record_pin(root, PinType.RECURSIVE)
        return root

    def cat(self, cid: CidLike) -> Iterator[bytes]:
        root = CID.parse(cid)
        first = self._read_verified(root)  # unknown root fails here, not at the first next()

        def get(c: CID) -> bytes:
            return first if c == root else self._read_verified(c)

        return iter_file(get, root)

    # --- pins -----------------------------------------------------------------------------------

    def _load_pins(self) -> dict[str, list[str]]:
        try:
            raw = json.loads(self._pins_path.read_text())
        except FileNotFoundError:
            return {"recursive": [], "direct": []}
        return {"recursive": list(raw.get("recursive", [])), "direct": list(raw.get("direct", []))}

    def _save_pins(self, pins: dict[str, list[str]]) -> None:
        tmp = self._tmp / f"pins.{secrets.token_hex(6)}"
        with open(tmp, "w") as fh:
            json.dump(pins, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._pins_path)

    def _record_pin(self, cid: CID, kind: PinType) -> None:
        with self._flock("pins.lock", exclusive=True):
            pins = self._load_pins()
            text = str(cid)
            if kind == PinType.RECURSIVE:
                if text in pins["direct"]:
                    pins["direct"].remove(text)
                if text not in pins["recursive"]:
                    pins["recursive"].append(text)
            else:
                if text in pins["recursive"]:
                    raise EvidenceStoreError(f"pin: {cid} already pinned recursively", code="EVIDENCE_ALREADY_PINNED")
                if text not in pins["direct"]:
                    pins["direct"].append(text)
            self._save_pins(pins)

    def pin_add(self, cid: CidLike, *, recursive: bool = True) -> None:
        root = CID.parse(cid)
        with self._writing():
            if recursive:
                for _ in iter_dag(self._read_verified, root):
                    pass  # every block present and intact before the pin counts
            else:
                self._read_verified(root)
            self._record_pin(root, PinType.RECURSIVE if recursive else PinType.DIRECT)

    def pin_rm(self, cid: CidLike, *, recursive: bool = True) -> None:
        text = str(CID.parse(cid))
        with self._flock("pins.lock", exclusive=True):
            pins = self._load_pins()
            if text in pins["recursive"]:
                if not recursive:
                    raise NotPinned(f"{text} is pinned recursively")
                pins["recursive"].remove(text)
            elif text in pins["direct"]:
                pins["direct"].remove(text)
            else:
                raise NotPinned(f"{text}: not pinned or pinned indirectly")
            self._save_pins(pins)

    def pin_ls(self, pin_type: PinType | None = None) -> dict[CID, PinType]:
        with self._flock("pins.lock", exclusive=False):
            pins = self._load_pins()
        out: dict[CID, PinType] = {}
        if pin_type in (None, PinType.INDIRECT):
            for text in pins["recursive"]:
                for cid, _ in iter_dag(self._read_verified, CID.parse(text)):
                    if str(cid) != text:
                        out.setdefault(cid, PinType.INDIRECT)
        if pin_type in (None, PinType.DIRECT):
            for text in pins["direct"]:
                out[CID.parse(text)] = PinType.DIRECT
        if pin_type in (None, PinType.RECURSIVE):
            for text in pins["recursive"]:
                out[CID.parse(text)] = PinType.RECURSIVE
        return out

    # --- GC -------------------------------------------------------------------------------------

    def gc(self) -> list[CID]:
        with self._flock("gc.lock", exclusive=True):
            pins = self._load_pins()
            live: set[bytes] = set()
            for text, recursive in [(t, True) for t in pins["recursive"]] + [(t, False) for t in pins["direct"]]:
                root = CID.parse(text)
                try:
                    if recursive:
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
            for leftover in self._tmp.iterdir():  # no writer runs while GC holds the lock
                leftover.unlink(missing_ok=True)
            return removed

    # --- CAR ------------------------------------------------------------------------------------

    def export_car(self, root: CidLike) -> Iterator[bytes]:
        parsed = CID.parse(root)
        self._read_verified(parsed)
        return car_stream([parsed], iter_dag(self._read_verified, parsed))

    def import_car(self, chunks: Iterable[bytes]) -> list[CID]:
        with self._writing():
            reader = CarReader.open(chunks)
            for cid, block in reader.blocks():
                self._write_block(cid, block)
            for root in reader.roots:
                for _ in iter_dag(self._read_verified, root):
                    pass
                self._record_pin(root, PinType.RECURSIVE)
        return reader.roots

    def version(self) -> str:
        return VERSION

    def close(self) -> None:
        return None


__all__ = ["VERSION", "LocalBlockstore"]
