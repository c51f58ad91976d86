"""StandardMerkleTree roots and node files in bounded memory: leaves spilled to disk, sorted a run
at a time, levels hashed bottom up through the node file — memory does not grow with the members.

Verification-critical only in that it must give the roots and node files ``backend.proofs.merkle``
gives (the OpenZeppelin StandardMerkleTree layout: leaves sorted, placed in reverse at the end of
the node array, inner node ``i`` = commutative keccak of nodes ``2i + 1`` and ``2i + 2``); tests
compare the two on random and edge sizes, in memory and spilled.

* ``LeafBuckets`` receives leaf hashes as they are computed and appends each to one of 256
  ``bytearray`` buckets by its first byte (leaf hashes are uniform, so buckets are even). The
  caller calls ``settle()`` after each chunk: past ``memory_bytes`` (default 64 MiB, two million
  leaves) the buckets go to 256 run files in a private temporary directory and from then on each
  chunk is appended there, so the builder holds at most ``memory_bytes`` + one chunk of leaves.
* ``descending_chunks`` yields every leaf in *descending* order — exactly the leaves' order in the
  node array — one run at a time: a run file is read and sorted alone when it holds at most
  ``SORT_BYTES`` (16 MiB: 100 M members give runs of ~12 MiB), else it is split again by its next
  byte into 256 smaller runs (any size, any skew: memory stays one run).
* ``write_tree_file`` writes the sorted leaves into the leaf region of the node file, then builds
  each level from the one below in one sequential pass over the file (``_pair_pass``: 2 MiB read,
  1 MiB written at a time); ``share_tree_root`` does the same in a scratch file once spilled (in
  memory below the threshold, ``tree_levels``).

Node file (``<periodId>.tree`` beside the period's ledger), format ``hubao-share-tree`` v1::

    header  32 bytes: magic b"HUBAO-ST", uint16 version = 1, 6 zero bytes, uint64 leafCount,
                      uint64 periodId (all big-endian)
    nodes   (2 × leafCount − 1) × 32 bytes, the node array in tree-index order (root first)

``ShareTreeFile`` serves a proof with O(log N) reads: the leaf is found by binary search in the
(descending) leaf region, its siblings are read bottom up. Memory is constant; the caller checks
the proof against the root the chain recorded, so a damaged file can give no false receipt.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from backend.apportionment.errors import ShareLedgerInvalid
from backend.apportionment.files import atomic_output
from backend.proofs.keccak import KECCAK_BACKEND, load_backend

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "SORT_BYTES",
    "TREE_FILE_VERSION",
    "LeafBuckets",
    "ShareTreeFile",
    "descending_chunks",
    "descending_leaves",
    "share_tree_root",
    "tree_levels",
    "write_tree_file",
]

TREE_FILE_VERSION = 1
_MAGIC = b"HUBAO-ST"
_HEADER = struct.Struct(">8sH6xQQ")
EMPTY_ROOT = bytes(32)
DEFAULT_MEMORY_BYTES = 64 << 20
SORT_BYTES = 16 << 20
_PASS_NODES = 1 << 16  # nodes read per step of a level pass (2 MiB)
_RUN_BUFFER = 32 << 10  # write buffer per run file (256 runs: 8 MiB)
_keccak = load_backend(KECCAK_BACKEND)
# Leaf hashes as numpy byte strings: ``S32`` compares (and sorts) as unsigned bytes, like ``bytes``
# (trailing zero bytes, which ``S`` strips when comparing, cannot reorder two 32-byte strings).
_S32 = np.dtype("S32")
_V64 = np.dtype("V64")  # a pair as one item: ``tolist()`` gives its 64 bytes exactly (``S`` would strip)


class LeafBuckets:
    """Leaf hashes by first byte (32 bytes per leaf, no per-leaf object), spilled past a threshold.

    Producers append to ``buckets[h[0]]`` (or ``add``/``extend_flat``), set ``count``, and call
    ``settle()`` between chunks. ``spill_dir`` is where the run directory is made (default: the
    system's temp directory); ``close()`` removes it (the consumers below do it when they finish).
    """

    __slots__ = ("_files", "_run_dir", "_sort_bytes", "_spill_dir", "buckets", "count", "memory_bytes")

    def __init__(
        self,
        *,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        spill_dir: str | os.PathLike[str] | None = None,
        sort_bytes: int = SORT_BYTES,
    ) -> None:
        self.buckets: list[bytearray] = [bytearray() for _ in range(256)]
        self.count = 0
        self.memory_bytes = memory_bytes
        self._spill_dir = spill_dir
        self._sort_bytes = max(32, sort_bytes)
        self._run_dir: Path | None = None
        self._files: list[BinaryIO] = []

    @property
    def spilled(self) -> bool:
        return self._run_dir is not None

    def buffered_bytes(self) -> int:
        return sum(len(b) for b in self.buckets)

    def add(self, leaf_hash: bytes) -> None:
        self.buckets[leaf_hash[0]] += leaf_hash
        self.count += 1

    def extend_flat(self, flat: bytes | bytearray) -> None:
        """Add every 32-byte hash of a flat buffer (then ``settle``): grouped by first byte in C
        (a stable argsort of the first bytes), one append per non-empty bucket."""
        n = len(flat) // 32
        if n:
            rows = np.frombuffer(flat, dtype=_S32, count=n)
            first = np.frombuffer(flat, dtype=np.uint8, count=32 * n)[::32]
            grouped = rows[np.argsort(first, kind="stable")].tobytes()
            counts = np.bincount(first, minlength=256).tolist()
            buckets = self.buckets
            off = 0
            view = memoryview(grouped)
            for b, c in enumerate(counts):
                if c:
                    end = off + 32 * c
                    buckets[b] += view[off:end]
                    off = end
            self.count += n
        self.settle()

    def settle(self) -> None:
        """Between chunks: once spilled, or past ``memory_bytes``, move the buffered leaves to the runs."""
        if self._run_dir is None:
            if self.buffered_bytes() <= self.memory_bytes:
                return
            self._run_dir = Path(tempfile.mkdtemp(prefix=".hubao-leaves-", dir=self._spill_dir))
            self._files = [open(self._run_dir / f"{b:02x}", "wb", buffering=_RUN_BUFFER) for b in range(256)]  # noqa: SIM115
        buckets, files = self.buckets, self._files
        for b in range(256):
            bucket = buckets[b]
            if bucket:
                files[b].write(bucket)
                buckets[b] = bytearray()

    def close(self) -> None:
        """Drop every leaf and remove the run files."""
        for fh in self._files:
            fh.close()
        self._files = []
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
        self.buckets = [bytearray() for _ in range(256)]
        self.count = 0

    def _finish_runs(self) -> Path | None:
        """Flush and close the run files (spilled) — the runs are then complete on disk."""
        if self._run_dir is None:
            return None
        self.settle()
        for fh in self._files:
            fh.close()
        self._files = []
        return self._run_dir


def _sorted_desc(flat: bytes | bytearray) -> bytes:
    """The 32-byte hashes of ``flat`` in descending order.

    Sorted by their first 8 bytes as a big-endian integer (``argsort`` of a ``uint64`` column,
    then one ``take`` of the 32-byte rows), which orders them as bytes whenever those keys are
    distinct; when two are equal (hashes sharing 64 bits: never in practice, but possible in a
    crafted input) the whole run is sorted as ``S32`` strings instead (``np.sort``, exact).
    """
    n = len(flat) // 32
    keys = np.frombuffer(flat, dtype=">u8", count=4 * n)[::4].astype(np.uint64)
    order = np.argsort(keys)
    ordered = keys[order]
    if n > 1 and bool(np.any(ordered[:-1] == ordered[1:])):
        return np.sort(np.frombuffer(flat, dtype=_S32, count=n))[::-1].tobytes()
    return np.frombuffer(flat, dtype=np.uint64, count=4 * n).reshape(n, 4).take(order[::-1], axis=0).tobytes()


def _split_run(path: Path, depth: int) -> list[Path]:
    """Split a run file by byte ``depth`` of its hashes into 256 runs beside it (path removed)."""
    directory = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    parts = [directory / f"{b:02x}" for b in range(256)]
    files = [open(p, "wb", buffering=_RUN_BUFFER) for p in parts]  # noqa: SIM115
    try:
        with open(path, "rb") as src:
            while block := src.read(32 * _PASS_NODES):
                m = len(block) // 32
                key = np.frombuffer(block, dtype=np.uint8, count=32 * m)[depth::32]
                grouped = np.frombuffer(block, dtype=_S32, count=m)[np.argsort(key, kind="stable")].tobytes()
                off = 0
                for b, c in enumerate(np.bincount(key, minlength=256).tolist()):
                    if c:
                        files[b].write(grouped[off : off + 32 * c])
                        off += 32 * c
    finally:
        for fh in files:
            fh.close()
    path.unlink()
    return parts


def _descending_runs(path: Path, depth: int, sort_bytes: int) -> Iterator[bytes]:
    size = path.stat().st_size
    if size % 32:
        raise ShareLedgerInvalid("a leaf run file is not a whole number of hashes", field="leaves")
    if size <= sort_bytes or depth >= 32:
        with open(path, "rb") as fh:
            data = fh.read()
        path.unlink()
        if data:
            yield _sorted_desc(data)
        return
    parts = _split_run(path, depth)
    for part in reversed(parts):
        yield from _descending_runs(part, depth + 1, sort_bytes)


def descending_chunks(leaves: LeafBuckets) -> Iterator[bytes]:
    """Every leaf hash, in descending order, in chunks of at most one run; empties ``leaves``.

    Equal leaf hashes (impossible for distinct rows) are kept, as the JS library keeps them.
    """
    run_dir = leaves._finish_runs()
    buckets = leaves.buckets
    try:
        for first in range(255, -1, -1):
            if run_dir is None:
                bucket = buckets[first]
                buckets[first] = bytearray()
                if bucket:
                    yield _sorted_desc(bucket)
            else:
                yield from _descending_runs(run_dir / f"{first:02x}", 1, leaves._sort_bytes)
    finally:
        leaves.close()


def descending_leaves(leaves: LeafBuckets) -> bytearray:
    """All leaf hashes in one flat buffer, strictly descending (in memory: small trees, tests)."""
    out = bytearray()
    for chunk in descending_chunks(leaves):
        out += chunk
    return out


_PAIR_BATCH = 2048  # pairs formed and hashed at once (their ``bytes`` reuse the same allocator arenas)


def _hash_pairs_flat(level: bytes | bytearray | memoryview, ordered_from: int | None = None) -> bytes:
    """Parents of consecutive pairs of a flat level (commutative keccak256).

    Pairs from node ``ordered_from`` on (an even index) are two *leaves*, which lie in descending
    order, so their sorted pair is known without comparing (half of all the inner nodes of a
    tree). ``_PAIR_BATCH`` pairs at a time (``_hash_pair_batch``), so that the pairs' short-lived
    ``bytes`` come from the same few allocator arenas instead of fresh pages for a whole level.
    """
    n = len(level) // 32
    if n < 2:
        return b""
    cut = n if ordered_from is None else min(max(ordered_from, 0), n)
    if cut % 2 and cut < n:
        raise ValueError("pairs of leaves start at an even node")
    step = 2 * _PAIR_BATCH
    if n <= step:
        return _hash_pair_batch(level, n, cut)
    view = memoryview(level)
    return b"".join(
        [
            _hash_pair_batch(view[32 * start : 32 * min(start + step, n)], min(step, n - start), cut - start)
            for start in range(0, n - 1, step)
        ]
    )


def _hash_pair_batch(level: bytes | bytearray | memoryview, n: int, cut: int) -> bytes:
    """``_hash_pairs_flat`` of ``n`` nodes, pairs from node ``cut`` on known to be descending leaves.

    The order of the nodes in the sorted pairs is an index column (compare of ``S32`` keys; the
    leaves' pairs reversed), the 64-byte pairs gathered in one ``take`` of 32-byte rows and handed
    to keccak as a list of ``bytes``: keccak is the only per-node Python call.
    """
    cut = min(max(cut, 0), n)
    half = cut // 2
    count = half + (n - cut) // 2
    order = np.empty(2 * count, dtype=np.intp)
    if half:
        keys = np.frombuffer(level, dtype=_S32, count=2 * half)
        swap = keys[0::2] > keys[1::2]
        even = np.arange(0, 2 * half, 2)
        order[0 : 2 * half : 2] = even + swap  # the smaller of the two first
        order[1 : 2 * half : 2] = even + ~swap
    if count > half:
        odd = np.arange(cut + 1, cut + 2 * (count - half), 2)
        order[2 * half :: 2] = odd  # descending leaves: the right one is the smaller
        order[2 * half + 1 :: 2] = odd - 1
    nodes = np.frombuffer(level, dtype=np.uint64, count=4 * n).reshape(n, 4)
    pairs = nodes.take(order, axis=0).reshape(count, 8).view(_V64).ravel()
    return b"".join(map(_keccak, pairs.tolist()))


LevelSink = Callable[[int, bytes | bytearray], None]


def tree_levels(descending: bytearray, sink: LevelSink | None = None) -> bytes:
    """Root of the tree whose leaves, in tree-index order, are ``descending``; levels to ``sink``.

    In memory (a tree below ``LeafBuckets.memory_bytes``). ``sink(first_tree_index, flat_nodes)``
    gets every level bottom up (the leaf-only bottom level first). Mirrors
    ``backend.proofs.merkle._levels_bottom_up``. ``descending`` is consumed.
    """
    n = len(descending) // 32
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        if sink is not None:
            sink(0, descending)
        return bytes(descending[:32])
    depth = (2 * n - 1).bit_length() - 1
    first_bottom = (1 << depth) - 1
    split = first_bottom - (n - 1)
    bottom = descending[32 * split :]
    if sink is not None:
        sink(first_bottom, bottom)
    level = bytearray(_hash_pairs_flat(bottom, 0))
    del bottom
    ordered_from: int | None = len(level) // 32 + len(level) // 32 % 2  # the leaves of this level
    level += descending[: 32 * split]
    descending.clear()
    d = depth - 1
    while True:
        if sink is not None:
            sink((1 << d) - 1, level)
        if d == 0:
            return bytes(level[:32])
        level = bytearray(_hash_pairs_flat(level, ordered_from))
        ordered_from = None
        d -= 1


def _pair_pass(fd: int, base: int, first: int, count: int, parent_first: int, ordered_from: int | None = None) -> None:
    """One level of the node array: ``count`` nodes from tree index ``first`` → their parents.

    A sequential read of the level and a sequential write of its parents, ``_PASS_NODES`` at a
    time; ``ordered_from``: the level's first node (even offset) from which pairs are leaves.
    """
    for start in range(0, count, _PASS_NODES):
        m = min(_PASS_NODES, count - start)
        data = os.pread(fd, 32 * m, base + 32 * (first + start))
        if len(data) != 32 * m:
            raise ShareLedgerInvalid("share-tree file changed while it was built", field="size")
        cut = None if ordered_from is None else ordered_from - start
        os.pwrite(fd, _hash_pairs_flat(data, cut), base + 32 * (parent_first + start // 2))


def _build_nodes(fd: int, base: int, leaves: LeafBuckets) -> bytes:
    """Fill the node array at ``base`` of ``fd`` (leaves sorted into their region, then every level
    bottom up, one pass each); returns the root."""
    n = leaves.count
    offset = base + 32 * (n - 1)
    written = 0
    for chunk in descending_chunks(leaves):
        os.pwrite(fd, chunk, offset)
        offset += len(chunk)
        written += len(chunk) // 32
    if written != n:
        raise ShareLedgerInvalid(f"{written} leaves for a tree of {n}", field="leafCount")
    if n > 1:
        depth = (2 * n - 1).bit_length() - 1
        first_bottom = (1 << depth) - 1
        _pair_pass(fd, base, first_bottom, 2 * n - 1 - first_bottom, (first_bottom - 1) // 2, 0)
        inner = n - (1 << (depth - 1))  # inner nodes of the level above, before its leaves
        for d in range(depth - 1, 0, -1):
            ordered_from = inner + inner % 2 if d == depth - 1 else None
            _pair_pass(fd, base, (1 << d) - 1, 1 << d, (1 << (d - 1)) - 1, ordered_from)
    return os.pread(fd, 32, base)


def share_tree_root(leaves: LeafBuckets) -> bytes:
    """StandardMerkleTree root over the bucketed leaf hashes (all-zero when there are none).

    In memory below the spill threshold; spilled leaves go through a scratch node file.
    """
    if leaves.count == 0:
        leaves.close()
        return EMPTY_ROOT
    if not leaves.spilled:
        return tree_levels(descending_leaves(leaves))
    fd, scratch = tempfile.mkstemp(prefix=".hubao-tree-", dir=leaves._spill_dir)
    try:
        return _build_nodes(fd, 0, leaves)
    finally:
        os.close(fd)
        os.unlink(scratch)
        leaves.close()


def write_tree_file(path: str | os.PathLike[str], leaves: LeafBuckets, period_id: int) -> bytes:
    """Write the node file atomically (temp + fsync + rename); returns the root. Empties ``leaves``."""
    n = leaves.count
    try:
        if n == 0:
            raise ShareLedgerInvalid("a period without members has no share tree", field="memberCount")
        with atomic_output(path) as fh:
            fh.write(_HEADER.pack(_MAGIC, TREE_FILE_VERSION, n, period_id))
            fh.flush()
            fd = fh.fileno()
            os.ftruncate(fd, _HEADER.size + (2 * n - 1) * 32)
            return _build_nodes(fd, _HEADER.size, leaves)
    finally:
        leaves.close()


class ShareTreeFile:
    """Read access to a node file: root, leaf lookup by hash, proofs (``os.pread``; thread-safe)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        try:
            raw = os.pread(self._fd, _HEADER.size, 0)
            if len(raw) != _HEADER.size:
                raise ShareLedgerInvalid("share-tree file is shorter than its header", field="size")
            magic, version, n, period_id = _HEADER.unpack(raw)
            if magic != _MAGIC or version != TREE_FILE_VERSION or n == 0:
                raise ShareLedgerInvalid("not a version-1 Hubao share-tree file", field="magic")
            size = os.fstat(self._fd).st_size
            if size != _HEADER.size + (2 * n - 1) * 32:
                raise ShareLedgerInvalid("share-tree file size does not match its leaf count", field="size")
        except BaseException:
            os.close(self._fd)
            raise
        self.leaf_count: int = n
        self.period_id: int = period_id
        self.root = self.node(0)

    def __enter__(self) -> ShareTreeFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        os.close(self._fd)

    def node(self, tree_index: int) -> bytes:
        return os.pread(self._fd, 32, _HEADER.size + 32 * tree_index)

    def find_leaf(self, leaf_hash: bytes) -> int | None:
        """Tree index of ``leaf_hash`` (binary search over the descending leaf region), or None."""
        n = self.leaf_count
        lo, hi = n - 1, 2 * n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            value = self.node(mid)
            if value > leaf_hash:
                lo = mid + 1
            elif value < leaf_hash:
                hi = mid
            else:
                return mid
        return None

    def proof(self, tree_index: int) -> list[bytes]:
        """Sibling hashes from the node at ``tree_index`` up to the root (``getProof``)."""
        proof = []
        i = tree_index
        while i > 0:
            proof.append(self.node(i + 1 if i % 2 else i - 1))
            i = (i - 1) // 2
        return proof
