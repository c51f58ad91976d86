"""UnixFS file DAGs exactly as Kubo's ``ipfs add`` builds them, in constant memory.

VERIFICATION-CRITICAL: pinned by the Kubo golden vectors (tests/vectors/cid-kubo-add.json,
/work/shared/vectors/kubo-add-cidv0.json) and tests/vectors/cid-v1-raw-leaves.json.

Layout (go-unixfs ``importer/balanced``): the input is cut into fixed 262,144-byte chunks
(``size-262144``, the last one shorter). Each chunk becomes a leaf — a dag-pb node holding
UnixFS ``Data{Type=File, Data=chunk, filesize=len}`` for CIDv0, a ``raw`` block for CIDv1
(``--cid-version=1`` implies ``--raw-leaves``). Leaves are grouped under dag-pb parents of at most
174 links holding ``Data{Type=File, filesize, blocksizes}``; parents are grouped the same way until
one node remains. A file of one chunk is that leaf itself; an empty file is a leaf with no data.
Link ``Tsize`` is the child's cumulative size (its block plus its children's ``Tsize``).

Grouping bottom-up level by level yields the same tree as go-unixfs' depth-first
``fillNodeRec``: every node is full except along the right-most path. The builder keeps one list
of at most 174 pending links per level, so memory is O(depth) whatever the file size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from evidence_store.dagpb import (
    UNIXFS_FILE,
    UNIXFS_RAW,
    PBLink,
    PBNode,
    UnixFSData,
    decode_pbnode,
    decode_unixfs,
    encode_pbnode,
    encode_unixfs,
)
from evidence_store.errors import InvalidData
from evidence_store.multiformats import CID, DAG_PB, RAW, SHA2_256, encode_varint

CHUNK_SIZE: Final = 262_144
MAX_LINKS: Final = 174

BlockSink = Callable[[CID, bytes], None]
BlockSource = Callable[[CID], bytes]


@dataclass(frozen=True, slots=True)
class _Child:
    cid: CID
    tsize: int  # cumulative size of the child's DAG (block bytes + children's tsizes)
    filesize: int  # file bytes under the child


class FileDagBuilder:
    """Push bytes in with :meth:`write`, get the root CID from :meth:`finish`.

    ``sink(cid, block)`` receives every block (leaves first, root last); pass ``None`` to only
    compute the CID (``ipfs add --only-hash``).
    """

    def __init__(
        self,
        cid_version: int = 0,
        sink: BlockSink | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
        max_links: int = MAX_LINKS,
    ) -> None:
        if cid_version not in (0, 1):
            raise ValueError("cid_version must be 0 or 1")
        self.cid_version = cid_version
        self.raw_leaves = cid_version == 1
        self._sink = sink
        self._chunk_size = chunk_size
        self._max_links = max_links  # only tests change it (small trees with many levels)
        self._buffer = bytearray()
        self._levels: list[list[_Child]] = [[]]
        self._size = 0
        self._root: CID | None = None

    @property
    def size(self) -> int:
        """File bytes received so far."""
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._root is not None:
            raise RuntimeError("builder already finished")
        view = memoryview(data).cast("B")
        self._size += len(view)
        size = self._chunk_size
        if self._buffer:
            need = size - len(self._buffer)
            self._buffer += view[:need]
            view = view[need:]
            if len(self._buffer) < size:
                return
            self._push(0, self._leaf(bytes(self._buffer)))
            self._buffer = bytearray()
        # Chunks depend only on offsets (Kubo's size splitter), so full chunks are cut straight
        # out of the caller's buffer without copying.
        while len(view) >= size:
            self._push(0, self._leaf(view[:size]))
            view = view[size:]
        self._buffer += view

    def finish(self) -> CID:
        """Flush the last chunk and the pending parents; return the root CID."""
        if self._root is not None:
            return self._root
        if self._buffer or not self._levels[0]:
            # The last (short) chunk, or the single empty leaf of an empty file.
            self._push(0, self._leaf(bytes(self._buffer)))
            self._buffer.clear()
        level = 0
        while True:
            pending = self._levels[level]
            if level == len(self._levels) - 1 and len(pending) == 1:
                self._root = pending[0].cid
                return self._root
            parent = self._parent(pending)
            self._levels[level] = []
            self._push(level + 1, parent)
            level += 1

    def _push(self, level: int, child: _Child) -> None:
        if level == len(self._levels):
            self._levels.append([])
        pending = self._levels[level]
        if len(pending) == self._max_links:
            # A full node is closed only once a further sibling exists: if the file ended here
            # this node could still be the root, which must not get a one-link parent.
            self._levels[level] = []
            self._push(level + 1, self._parent(pending))
            pending = self._levels[level]
        pending.append(child)

    def _emit(self, cid: CID, block: bytes) -> None:
        if self._sink is not None:
            self._sink(cid, block)

    def _leaf(self, chunk: bytes | memoryview) -> _Child:
        size = len(chunk)
        if self.raw_leaves:
            cid = CID.for_block(chunk, RAW, 1)
            if self._sink is not None:
                self._sink(cid, bytes(chunk))
            return _Child(cid, size, size)
        # encode_pbnode(PBNode((), encode_unixfs(UnixFSData(FILE, chunk or None, size)))), laid out
        # as head || chunk || tail so the chunk is hashed in place instead of copied twice.
        inner_head = b"\x08\x02" + (b"\x12" + encode_varint(size) if size else b"")
        tail = b"\x18" + encode_varint(size)
        head = b"\x0a" + encode_varint(len(inner_head) + size + len(tail)) + inner_head
        digest = hashlib.sha256(head)
        digest.update(chunk)
        digest.update(tail)
        cid = CID(self.cid_version, DAG_PB, bytes((SHA2_256, 32)) + digest.digest())
        if self._sink is not None:
            self._sink(cid, b"".join((head, chunk, tail)))
        return _Child(cid, len(head) + size + len(tail), size)

    def _parent(self, children: list[_Child]) -> _Child:
        filesize = sum(c.filesize for c in children)
        unixfs = encode_unixfs(UnixFSData(UNIXFS_FILE, None, filesize, tuple(c.filesize for c in children)))
        block = encode_pbnode(PBNode(tuple(PBLink(c.cid, "", c.tsize) for c in children), unixfs))
        cid = CID.for_block(block, DAG_PB, self.cid_version)
        self._emit(cid, block)
        return _Child(cid, len(block) + sum(c.tsize for c in children), filesize)


def compute_cid(chunks: Iterable[bytes], cid_version: int = 0) -> CID:
    """The CID ``ipfs add --only-hash [--cid-version=1]`` prints for the concatenated ``chunks``."""
    builder = FileDagBuilder(cid_version)
    for chunk in chunks:
        builder.write(chunk)
    return builder.finish()


def block_links(cid: CID, block: bytes) -> tuple[CID, ...]:
    """CIDs a block links to (raw blocks have none)."""
    if cid.codec == RAW:
        return ()
    return tuple(link.cid for link in decode_pbnode(block).links)


def iter_dag(get_block: BlockSource, root: CID) -> Iterator[tuple[CID, bytes]]:
    """Every block of the DAG under ``root`` once, depth-first pre-order (the order of ``ipfs dag export``).

    ``get_block`` must return verified bytes (both stores' ``block_get`` do).
    """
    seen: set[bytes] = set()
    stack: list[Iterator[CID]] = [iter((root,))]
    while stack:
        nxt = next(stack[-1], None)
        if nxt is None:
            stack.pop()
            continue
        if nxt.multihash in seen:
            continue
        seen.add(nxt.multihash)
        block = get_block(nxt)
        yield nxt, block
        links = block_links(nxt, block)
        if links:
            stack.append(iter(links))


def iter_file(get_block: BlockSource, root: CID) -> Iterator[bytes]:
    """The file bytes of the UnixFS DAG under ``root``, chunk by chunk, in constant memory."""
    stack: list[Iterator[CID]] = [iter((root,))]
    while stack:
        nxt = next(stack[-1], None)
        if nxt is None:
            stack.pop()
            continue
        block = get_block(nxt)
        if nxt.codec == RAW:
            if block:
                yield block
            continue
        node = decode_pbnode(block)
        if node.data is None:
            raise InvalidData(f"dag-pb node {nxt} has no UnixFS data")
        unixfs = decode_unixfs(node.data)
        if unixfs.type not in (UNIXFS_FILE, UNIXFS_RAW):
            raise InvalidData(f"{nxt} is not a UnixFS file (type {unixfs.type})")
        if unixfs.data:
            yield unixfs.data
        if node.links:
            stack.append(iter(link.cid for link in node.links))


__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "BlockSink",
    "BlockSource",
    "FileDagBuilder",
    "block_links",
    "compute_cid",
    "iter_dag",
    "iter_file",
]
