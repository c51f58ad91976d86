"""Test support: the golden-vector content generator and an independent reference builder.

The reference builder is a direct, recursive transcription of go-unixfs
``importer/balanced/builder.go`` (``Layout`` / ``fillNodeRec``) with its own hand-written
protobuf bytes; it shares nothing with ``evidence_store.unixfs`` except hashlib. It reproduces
Kubo's CIDv0 vectors and is then used to derive the CIDv1 raw-leaves vectors.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

VECTOR_DIR = Path(__file__).resolve().parent.parent / "vectors"
SHARED_KUBO_VECTORS = Path("/work/shared/vectors/kubo-add-cidv0.json")


def vector_content(size: int, piece: int = 1 << 20) -> Iterator[bytes]:
    """First ``size`` bytes of sha256(b'hubao-vector' + i.to_bytes(8, 'big')) for i = 0, 1, ...,
    streamed in pieces of ``piece`` bytes."""
    counter = 0
    buffer = bytearray()
    remaining = size
    while remaining > 0:
        want = min(piece, remaining)
        while len(buffer) < want:
            buffer += hashlib.sha256(b"hubao-vector" + counter.to_bytes(8, "big")).digest()
            counter += 1
        yield bytes(buffer[:want])
        del buffer[:want]
        remaining -= want


def _uvarint(n: int) -> bytes:
    out = b""
    while True:
        if n < 0x80:
            return out + bytes([n])
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7


def _b58(data: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


class _Node:
    def __init__(self, cid: bytes, size: int) -> None:
        self.cid = cid  # binary CID
        self.size = size  # ipld.Node.Size(): block + links' Tsize


class ReferenceBuilder:
    """go-unixfs balanced layout, recursive, one chunk at a time from a chunk iterator."""

    def __init__(self, data: Iterator[bytes], cid_version: int, chunk_size: int = 262144, max_links: int = 174):
        self.cid_version = cid_version
        self.raw_leaves = cid_version == 1
        self.max_links = max_links
        self.chunk_size = chunk_size
        self._source = data
        self._buf = b""
        self._eof = False
        self._fill()

    def _fill(self) -> None:
        while not self._eof and len(self._buf) < self.chunk_size:
            nxt = next(self._source, None)
            if nxt is None:
                self._eof = True
            else:
                self._buf += nxt

    def done(self) -> bool:
        return self._eof and not self._buf

    def next_chunk(self) -> bytes:
        chunk, self._buf = self._buf[: self.chunk_size], self._buf[self.chunk_size :]
        self._fill()
        return chunk

    def _cid(self, block: bytes, codec: int) -> bytes:
        mh = b"\x12\x20" + hashlib.sha256(block).digest()
        return mh if self.cid_version == 0 else b"\x01" + _uvarint(codec) + mh

    def _pb(self, links: list[tuple[bytes, int]], unixfs: bytes) -> bytes:
        out = b""
        for cid, tsize in links:
            link = b"\x0a" + _uvarint(len(cid)) + cid + b"\x12\x00" + b"\x18" + _uvarint(tsize)
            out += b"\x12" + _uvarint(len(link)) + link
        return out + b"\x0a" + _uvarint(len(unixfs)) + unixfs

    def leaf(self, data: bytes) -> tuple[_Node, int]:
        if self.raw_leaves:
            return _Node(self._cid(data, 0x55), len(data)), len(data)
        unixfs = b"\x08\x02" + (b"\x12" + _uvarint(len(data)) + data if data else b"") + b"\x18" + _uvarint(len(data))
        block = self._pb([], unixfs)
        return _Node(self._cid(block, 0x70), len(block)), len(data)

    def parent(self, children: list[tuple[_Node, int]]) -> tuple[_Node, int]:
        filesize = sum(fs for _, fs in children)
        unixfs = b"\x08\x02" + b"\x18" + _uvarint(filesize) + b"".join(b"\x20" + _uvarint(fs) for _, fs in children)
        block = self._pb([(n.cid, n.size) for n, _ in children], unixfs)
        return _Node(self._cid(block, 0x70), len(block) + sum(n.size for n, _ in children)), filesize

    def fill_node_rec(self, first: tuple[_Node, int] | None, depth: int) -> tuple[_Node, int]:
        children = [first] if first else []
        while len(children) < self.max_links and not self.done():
            if depth == 1:
                children.append(self.leaf(self.next_chunk()))
            else:
                children.append(self.fill_node_rec(None, depth - 1))
        return self.parent(children)

    def layout(self) -> str:
        if self.done():
            root, _ = self.leaf(b"")
        else:
            root_fs = self.leaf(self.next_chunk())
            depth = 1
            while not self.done():
                root_fs = self.fill_node_rec(root_fs, depth)
                depth += 1
            root = root_fs[0]
        if self.cid_version == 0:
            return _b58(root.cid)
        return "b" + base64.b32encode(root.cid).decode().rstrip("=").lower()


def reference_cid(data: Iterator[bytes], cid_version: int, chunk_size: int = 262144, max_links: int = 174) -> str:
    return ReferenceBuilder(data, cid_version, chunk_size, max_links).layout()
