"""StandardMerkleTree roots and node files over flat buffers: no Python object per member.

Verification-critical only in that it must give the roots ``backend.proofs.merkle`` gives (the
OpenZeppelin StandardMerkleTree layout: leaves sorted, placed in reverse at the end of the node
array, inner node ``i`` = commutative keccak of nodes ``2i + 1`` and ``2i + 2``); tests compare
the two on random and edge sizes.

Why a second implementation: ``root_from_leaf_hashes`` holds one ``bytes`` object per leaf and
sorts that list, about 100 bytes per member at 10 M members on top of the hashes themselves. Here:

* ``LeafBuckets`` receives leaf hashes as they are computed and appends each to one of 256
  ``bytearray`` buckets by its first byte (leaf hashes are uniform, so buckets are even);
* ``descending_leaves`` sorts one bucket at a time (only that bucket's ~N/256 slices exist at
  once) into one flat buffer in *descending* order — exactly the leaves' order in the node array;
* ``tree_levels`` hashes level by level over flat buffers (one level kept), handing each level to
  an optional sink: ``share_tree_root`` keeps nothing, ``write_tree_file`` writes every level to a
  node file.

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
import struct
from collections.abc import Callable
from types import TracebackType

from backend.apportionment.errors import ShareLedgerInvalid
from backend.apportionment.files import atomic_output
from backend.proofs.keccak import KECCAK_BACKEND, load_backend

__all__ = [
    "TREE_FILE_VERSION",
    "LeafBuckets",
    "ShareTreeFile",
    "descending_leaves",
    "share_tree_root",
    "tree_levels",
    "write_tree_file",
]

TREE_FILE_VERSION = 1
_MAGIC = b"HUBAO-ST"
_HEADER = struct.Struct(">8sH6xQQ")
EMPTY_ROOT = bytes(32)
_keccak = load_backend(KECCAK_BACKEND)


class LeafBuckets:
    """Leaf hashes in 256 flat buckets by first byte (32 bytes per leaf, no per-leaf object)."""

    __slots__ = ("buckets", "count")

    def __init__(self) -> None:
        self.buckets: list[bytearray] = [bytearray() for _ in range(256)]
        self.count = 0

    def add(self, leaf_hash: bytes) -> None:
        self.buckets[leaf_hash[0]] += leaf_hash
        self.count += 1

    def extend_flat(self, flat: bytes | bytearray) -> None:
        """Add every 32-byte hash of a flat buffer."""
        buckets = self.buckets
        for off in range(0, len(flat), 32):
            buckets[flat[off]] += flat[off : off + 32]
        self.count += len(flat) // 32


def descending_leaves(leaves: LeafBuckets) -> bytearray:
    """All leaf hashes in one flat buffer, strictly descending; empties ``leaves`` as it goes.

    Equal leaf hashes (impossible for distinct rows) are kept, as the JS library keeps them.
    """
    out = bytearray()
    buckets = leaves.buckets
    for first in range(255, -1, -1):
        bucket = buckets[first]
        buckets[first] = bytearray()
        if not bucket:
            continue
        view = bytes(bucket)
        del bucket
        items = [view[i : i + 32] for i in range(0, len(view), 32)]
        del view
        items.sort(reverse=True)
        out += b"".join(items)
        del items
    leaves.count = 0
    return out


def _hash_pairs_flat(level: bytes | bytearray) -> bytearray:
    """Parents of consecutive pairs of a flat level (commutative keccak256)."""
    k = _keccak
    out = bytearray()
    for off in range(0, len(level), 64):
        a = level[off : off + 32]
        b = level[off + 32 : off + 64]
        out += k(a + b) if a <= b else k(b + a)  # type: ignore[arg-type]  # the backend takes any buffer
    return out


LevelSink = Callable[[int, bytes | bytearray], None]


def tree_levels(descending: bytearray, sink: LevelSink | None = None) -> bytes:
    """Root of the tree whose leaves, in tree-index order, are ``descending``; levels to ``sink``.

    ``sink(first_tree_index, flat_nodes)`` gets every level bottom up (the leaf-only bottom level
    first). Mirrors ``backend.proofs.merkle._levels_bottom_up``. ``descending`` is consumed.
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
    level = _hash_pairs_flat(bottom)
    del bottom
    level += descending[: 32 * split]
    descending.clear()
    d = depth - 1
    while True:
        if sink is not None:
            sink((1 << d) - 1, level)
        if d == 0:
            return bytes(level[:32])
        level = _hash_pairs_flat(level)
        d -= 1


def share_tree_root(leaves: LeafBuckets) -> bytes:
    """StandardMerkleTree root over the bucketed leaf hashes (all-zero when there are none)."""
    return tree_levels(descending_leaves(leaves))


def write_tree_file(path: str | os.PathLike[str], leaves: LeafBuckets, period_id: int) -> bytes:
    """Write the node file atomically (temp + fsync + rename); returns the root."""
    n = leaves.count
    if n == 0:
        raise ShareLedgerInvalid("a period without members has no share tree", field="memberCount")
    with atomic_output(path) as fh:
        fh.write(_HEADER.pack(_MAGIC, TREE_FILE_VERSION, n, period_id))
        fh.truncate(_HEADER.size + (2 * n - 1) * 32)

        def sink(first: int, level: bytes | bytearray) -> None:
            fh.seek(_HEADER.size + 32 * first)
            fh.write(level)

        return tree_levels(descending_leaves(leaves), sink)


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
