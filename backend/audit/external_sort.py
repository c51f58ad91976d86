"""Fixed-width records sorted as bytes in bounded memory, on disk (the audit's step 6 at any size).

* ``add`` takes records in packed blocks and groups them by their first byte into 256 partition
  buffers (a stable argsort of the first bytes, one append per non-empty partition); past
  ``buffer_bytes`` the buffers go to 256 partition files in a private directory made under
  ``directory``, so adding holds at most ``buffer_bytes`` + one block (plus the bytearrays' slack).
* ``finish`` sorts each partition file alone (``np.sort`` of ``S<width>`` strings: unsigned bytes
  order) when it holds at most ``sort_bytes``, else splits it by its next byte into 256 smaller
  partitions first (any skew: memory stays one partition). A partition still too large at the
  full width holds one record repeated, which is sorted as it is. With ``unique``, a repeated
  record is kept once.
* ``chunks`` reads the sorted partitions back in order, at most ``sort_bytes`` at a time, as often
  as the caller needs (step 6 replays the membership log once per period).

``close`` (or leaving the ``with`` block) removes every file. Nothing here is verification
logic: it only orders bytes, and its readers check the order they rely on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

__all__ = ["BUFFER_BYTES", "SORT_BYTES", "ExternalSort"]

BUFFER_BYTES = 8 << 20
SORT_BYTES = 16 << 20
# Partition files are written unbuffered: each write is a whole partition's share of a flush or a
# block (never a single record), and 256 write buffers would cost as much as the records buffered.
_FILE_BUFFER = 0


class ExternalSort:
    """Records of ``width`` bytes: ``add`` them, ``finish``, then read them sorted with ``chunks``."""

    def __init__(
        self,
        width: int,
        directory: str | os.PathLike[str] | None = None,
        *,
        buffer_bytes: int = BUFFER_BYTES,
        sort_bytes: int = SORT_BYTES,
        unique: bool = False,
    ) -> None:
        if width < 1:
            raise ValueError("width must be positive")
        self.width = width
        self.unique = unique
        self.count = 0  # records added
        self.largest_partition_bytes = 0  # the most any sort or read held at once (for tests and benchmarks)
        self._dtype = np.dtype(f"S{width}")
        self._buffer_bytes = buffer_bytes
        self._sort_bytes = max(width, sort_bytes - sort_bytes % width)
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
        self._root = Path(tempfile.mkdtemp(prefix=".hubao-sort-", dir=directory))
        self._buffers = [bytearray() for _ in range(256)]
        self._buffered = 0
        self._files: list[BinaryIO | None] = [None] * 256
        self._runs: list[Path] | None = None

    def __enter__(self) -> ExternalSort:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def directory(self) -> Path:
        return self._root

    def add(self, packed: bytes | bytearray) -> None:
        """Add the records of a packed block (a whole number of ``width``-byte records)."""
        if self._runs is not None:
            raise RuntimeError("records added after finish")
        width = self.width
        n = len(packed) // width
        if n * width != len(packed):
            raise ValueError(f"a block is not a whole number of {width}-byte records")
        if not n:
            return
        first = np.frombuffer(packed, dtype=np.uint8, count=n * width)[::width]
        ordered = np.frombuffer(packed, dtype=self._dtype, count=n)[np.argsort(first, kind="stable")]
        grouped = ordered.view(np.uint8).data
        buffers = self._buffers
        off = 0
        for b, c in enumerate(np.bincount(first, minlength=256).tolist()):
            if c:
                end = off + width * c
                buffers[b] += grouped[off:end]
                off = end
        self.count += n
        self._buffered += len(packed)
        if self._buffered > self._buffer_bytes:
            self._flush()

    def _flush(self) -> None:
        for b, buffer in enumerate(self._buffers):
            if buffer:
                fh = self._files[b]
                if fh is None:
                    fh = self._files[b] = open(self._root / f"{b:02x}", "wb", buffering=_FILE_BUFFER)  # noqa: SIM115
                fh.write(buffer)
                self._buffers[b] = bytearray()
        self._buffered = 0

    def finish(self) -> None:
        """Write out what is buffered and sort every partition (once; later calls do nothing)."""
        if self._runs is not None:
            return
        self._flush()
        for fh in self._files:
            if fh is not None:
                fh.close()
        self._files = [None] * 256
        runs: list[Path] = []
        for b in range(256):
            path = self._root / f"{b:02x}"
            if path.exists():
                runs.extend(self._sort_partition(path, 1))
        self._runs = runs

    def _sort_partition(self, path: Path, depth: int) -> list[Path]:
        """Sort one partition file whose records share their first ``depth`` bytes; the sorted runs in order."""
        size = path.stat().st_size
        if size <= self._sort_bytes:
            self.largest_partition_bytes = max(self.largest_partition_bytes, size)
            records = np.sort(np.fromfile(path, dtype=self._dtype))
            if self.unique and len(records) > 1:
                keep = np.empty(len(records), dtype=bool)
                keep[0] = True
                np.not_equal(records[1:], records[:-1], out=keep[1:])
                records = records[keep]
            records.tofile(path)
            return [path]
        if depth >= self.width:  # every byte agrees: one record, repeated
            if self.unique:
                with open(path, "r+b") as repeated:
                    repeated.truncate(self.width)
            return [path]
        directory = path.with_name(path.name + ".d")
        directory.mkdir()
        files: dict[int, BinaryIO] = {}  # opened as their first record comes: a skewed split makes few
        try:
            with open(path, "rb") as src:
                while block := src.read(self._sort_bytes):
                    n = len(block) // self.width
                    key = np.frombuffer(block, dtype=np.uint8, count=n * self.width)[depth :: self.width]
                    grouped = np.frombuffer(block, dtype=self._dtype, count=n)[np.argsort(key, kind="stable")]
                    view = grouped.view(np.uint8).data
                    off = 0
                    for b, c in enumerate(np.bincount(key, minlength=256).tolist()):
                        if c:
                            end = off + self.width * c
                            fh = files.get(b)
                            if fh is None:
                                fh = files[b] = open(directory / f"{b:02x}", "wb", buffering=_FILE_BUFFER)  # noqa: SIM115
                            fh.write(view[off:end])
                            off = end
        finally:
            for fh in files.values():
                fh.close()
        path.unlink()
        runs: list[Path] = []
        for b in sorted(files):
            runs.extend(self._sort_partition(directory / f"{b:02x}", depth + 1))
        return runs

    def chunks(self) -> Iterator[bytes]:
        """Every record in ascending byte order, in blocks of at most ``sort_bytes`` (after ``finish``)."""
        if self._runs is None:
            raise RuntimeError("chunks before finish")
        for path in self._runs:
            with open(path, "rb") as fh:
                while block := fh.read(self._sort_bytes):
                    yield block

    def close(self) -> None:
        """Remove every file (the instance cannot be used after)."""
        for fh in self._files:
            if fh is not None:
                fh.close()
        self._files = [None] * 256
        self._buffers = [bytearray() for _ in range(256)]
        self._runs = []
        shutil.rmtree(self._root, ignore_errors=True)
