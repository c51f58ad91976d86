"""dag-pb (PBNode / PBLink) and UnixFS ``Data`` protobuf encoding, written out by hand.

VERIFICATION-CRITICAL: the encoded bytes are hashed into CIDs, so they must equal what Kubo
(go-merkledag / go-codec-dagpb, go-unixfs) writes byte for byte:

- PBNode serialises ``Links`` (field 2) *before* ``Data`` (field 1) — the dag-pb spec's canonical
  order, not field-number order.
- Every PBLink carries ``Hash`` (1), ``Name`` (2, the empty string for file chunks) and ``Tsize`` (3).
- UnixFS ``Data`` (proto2): ``Type`` (1), ``Data`` (2, omitted when absent), ``filesize`` (3, always
  set for files), ``blocksizes`` (4, repeated, *unpacked*: one tag per value).

Pinned by tests/vectors/cid-*.json and /work/shared/vectors/kubo-add-cidv0.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from evidence_store.errors import InvalidData
from evidence_store.multiformats import CID, decode_varint, encode_varint

# UnixFS Data.DataType
UNIXFS_RAW: Final = 0
UNIXFS_DIRECTORY: Final = 1
UNIXFS_FILE: Final = 2

_VARINT: Final = 0
_LEN: Final = 2


def _key(field_number: int, wire_type: int) -> bytes:
    return encode_varint(field_number << 3 | wire_type)


def _len_field(field_number: int, payload: bytes) -> bytes:
    return _key(field_number, _LEN) + encode_varint(len(payload)) + payload


def _varint_field(field_number: int, value: int) -> bytes:
    return _key(field_number, _VARINT) + encode_varint(value)


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: CID
    name: str = ""
    tsize: int = 0


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[PBLink, ...] = ()
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class UnixFSData:
    type: int
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = field(default_factory=tuple)


def encode_pbnode(node: PBNode) -> bytes:
    """Canonical dag-pb bytes of ``node`` (links first, then data)."""
    out = bytearray()
    for link in node.links:
        body = (
            _len_field(1, link.cid.to_bytes()) + _len_field(2, link.name.encode("utf-8")) + _varint_field(3, link.tsize)
        )
        out += _len_field(2, body)
    if node.data is not None:
        out += _len_field(1, node.data)
    return bytes(out)


def encode_unixfs(data: UnixFSData) -> bytes:
    out = bytearray(_varint_field(1, data.type))
    if data.data is not None:
        out += _len_field(2, data.data)
    if data.filesize is not None:
        out += _varint_field(3, data.filesize)
    for size in data.blocksizes:
        out += _varint_field(4, size)
    return bytes(out)


def _fields(buf: bytes | memoryview) -> list[tuple[int, int, int | bytes]]:
    """Split a protobuf message into (field number, wire type, value) for varint / length fields."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    try:
        while pos < len(buf):
            key, pos = decode_varint(buf, pos)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise InvalidData("protobuf field number 0")
            if wire == _VARINT:
                value, pos = decode_varint(buf, pos)
                out.append((number, wire, value))
            elif wire == _LEN:
                length, pos = decode_varint(buf, pos)
                if pos + length > len(buf):
                    raise InvalidData("truncated protobuf field")
                out.append((number, wire, bytes(buf[pos : pos + length])))
                pos += length
            else:
                raise InvalidData(f"unsupported protobuf wire type {wire}")
    except ValueError as exc:
        raise InvalidData(f"malformed protobuf: {exc}") from exc
    return out


def decode_pbnode(buf: bytes | memoryview) -> PBNode:
    """Strict dag-pb decoding: only Links (2) then an optional Data (1); anything else is refused."""
    links: list[PBLink] = []
    data: bytes | None = None
    for number, wire, value in _fields(buf):
        if number == 2 and wire == _LEN and data is None:
            assert isinstance(value, bytes)
            links.append(_decode_link(value))
        elif number == 1 and wire == _LEN and data is None:
            assert isinstance(value, bytes)
            data = value
        else:
            raise InvalidData(f"invalid dag-pb node: unexpected field {number} (wire type {wire})")
    return PBNode(tuple(links), data)


def _decode_link(buf: bytes) -> PBLink:
    cid: CID | None = None
    name = ""
    tsize = 0
    last = 0
    for number, wire, value in _fields(buf):
        if number <= last:
            raise InvalidData("invalid dag-pb link: fields out of order or repeated")
        last = number
        if number == 1 and wire == _LEN:
            assert isinstance(value, bytes)
            cid = CID.from_bytes(value)
        elif number == 2 and wire == _LEN:
            assert isinstance(value, bytes)
            name = value.decode("utf-8")
        elif number == 3 and wire == _VARINT:
            assert isinstance(value, int)
            tsize = value
        else:
            raise InvalidData(f"invalid dag-pb link: unexpected field {number}")
    if cid is None:
        raise InvalidData("invalid dag-pb link: no Hash")
    return PBLink(cid, name, tsize)


def decode_unixfs(buf: bytes) -> UnixFSData:
    type_: int | None = None
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = []
    for number, wire, value in _fields(buf):
        if number == 1 and wire == _VARINT:
            assert isinstance(value, int)
            type_ = value
        elif number == 2 and wire == _LEN:
            assert isinstance(value, bytes)
            data = value
        elif number == 3 and wire == _VARINT:
            assert isinstance(value, int)
            filesize = value
        elif number == 4 and wire == _VARINT:
            assert isinstance(value, int)
            blocksizes.append(value)
        elif number == 4 and wire == _LEN:  # packed encoding, accepted on input
            assert isinstance(value, bytes)
            pos = 0
            while pos < len(value):
                size, pos = decode_varint(value, pos)
                blocksizes.append(size)
        # hashType, fanout, mode, mtime: irrelevant for reading file bytes
    if type_ is None:
        raise InvalidData("UnixFS node without Type")
    return UnixFSData(type_, data, filesize, tuple(blocksizes))


__all__ = [
    "UNIXFS_DIRECTORY",
    "UNIXFS_FILE",
    "UNIXFS_RAW",
    "PBLink",
    "PBNode",
    "UnixFSData",
    "decode_pbnode",
    "decode_unixfs",
    "encode_pbnode",
    "encode_unixfs",
]
