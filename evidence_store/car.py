"""CAR v1 (Content Addressable aRchive) encoding and streaming decoding, with the tiny dag-cbor
needed for its header.

VERIFICATION-CRITICAL: the byte format ``ipfs dag export`` writes and ``ipfs dag import`` reads.
Pinned by tests/vectors/cid-car.json.

    car     = varint(len(header)) || header || section*
    header  = dag-cbor {"roots": [CID, ...], "version": 1}     (keys in dag-cbor order: length first)
    section = varint(len(cid) + len(block)) || binary CID || block

In dag-cbor a CID is tag 42 around a byte string holding 0x00 (the multibase identity prefix)
followed by the binary CID.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from evidence_store.errors import IntegrityError, InvalidCid, InvalidData
from evidence_store.multiformats import CID, decode_varint, encode_varint

MAX_HEADER: Final = 64 * 1024
MAX_SECTION: Final = 4 * 1024 * 1024  # Kubo refuses blocks over 2 MiB; sections carry one block


# --- dag-cbor, only what a CAR header needs -----------------------------------------------------


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes((major << 5 | value,))
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * width):
            return bytes((major << 5 | info,)) + value.to_bytes(width, "big")
    raise ValueError("integer too large for CBOR")


def _cbor_text(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _cbor_head(3, len(raw)) + raw


def _cbor_cid(cid: CID) -> bytes:
    payload = b"\x00" + cid.to_bytes()
    return _cbor_head(6, 42) + _cbor_head(2, len(payload)) + payload


def encode_header(roots: Iterable[CID]) -> bytes:
    """The dag-cbor CAR v1 header (without its length prefix)."""
    roots = list(roots)
    out = bytearray(_cbor_head(5, 2))
    out += _cbor_text("roots") + _cbor_head(4, len(roots))
    for root in roots:
        out += _cbor_cid(root)
    out += _cbor_text("version") + _cbor_head(0, 1)
    return bytes(out)


class _CborDecoder:
    """Decodes the CBOR subset of CAR headers: uint, bytes, text, array, map, tag 42, simple."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise InvalidData("truncated CAR header")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def _head(self) -> tuple[int, int]:
        first = self._take(1)[0]
        major, info = first >> 5, first & 31
        if info < 24:
            return major, info
        if info in (24, 25, 26, 27):
            return major, int.from_bytes(self._take(1 << (info - 24)), "big")
        raise InvalidData("unsupported CBOR encoding in CAR header")

    def item(self, depth: int = 0) -> object:
        if depth > 8:
            raise InvalidData("CAR header nested too deeply")
        major, value = self._head()
        if major == 0:
            return value
        if major == 2:
            return self._take(value)
        if major == 3:
            return self._take(value).decode("utf-8")
        if major == 4:
            return [self.item(depth + 1) for _ in range(value)]
        if major == 5:
            result: dict[object, object] = {}
            for _ in range(value):
                key = self.item(depth + 1)
                result[key] = self.item(depth + 1)
            return result
        if major == 6 and value == 42:
            payload = self.item(depth + 1)
            if not isinstance(payload, bytes) or not payload.startswith(b"\x00"):
                raise InvalidData("malformed CID in CAR header")
            return CID.from_bytes(payload[1:])
        if major == 7 and value in (20, 21, 22):
            return {20: False, 21: True, 22: None}[value]
        raise InvalidData("unsupported CBOR item in CAR header")


def decode_header(data: bytes) -> list[CID]:
    """Roots of a CAR v1 header; refuses other versions and malformed headers."""
    decoder = _CborDecoder(data)
    try:
        header = decoder.item()
    except (InvalidCid, UnicodeDecodeError) as exc:
        raise InvalidData(f"malformed CAR header: {exc}") from exc
    if decoder.pos != len(data) or not isinstance(header, dict):
        raise InvalidData("malformed CAR header")
    if header.get("version") != 1:
        raise InvalidData(f"unsupported CAR version {header.get('version')!r} (only v1)")
    roots = header.get("roots")
    if not isinstance(roots, list) or not roots or not all(isinstance(r, CID) for r in roots):
        raise InvalidData("CAR header needs a non-empty list of root CIDs")
    return [r for r in roots if isinstance(r, CID)]


# --- streaming ---------------------------------------------------------------------------------


def encode_section(cid: CID, block: bytes) -> bytes:
    raw = cid.to_bytes()
    return encode_varint(len(raw) + len(block)) + raw + block


def car_stream(roots: Iterable[CID], blocks: Iterable[tuple[CID, bytes]]) -> Iterator[bytes]:
    """CAR v1 bytes: the header, then one item per section."""
    header = encode_header(roots)
    yield encode_varint(len(header)) + header
    for cid, block in blocks:
        yield encode_section(cid, block)


class _Reader:
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._source = iter(chunks)
        self._buffer = bytearray()

    def _fill(self, n: int) -> bool:
        while len(self._buffer) < n:
            chunk = next(self._source, None)
            if chunk is None:
                return False
            self._buffer += chunk
        return True

    def at_eof(self) -> bool:
        return not self._fill(1)

    def varint(self) -> int:
        for width in range(1, 10):
            if not self._fill(width):
                raise InvalidData("CAR truncated inside a length prefix")
            if not self._buffer[width - 1] & 0x80:
                try:
                    value, end = decode_varint(self._buffer)
                except ValueError as exc:
                    raise InvalidData(f"malformed CAR length prefix: {exc}") from exc
                del self._buffer[:end]
                return value
        raise InvalidData("CAR length prefix too long")

    def exact(self, n: int) -> bytes:
        if not self._fill(n):
            raise InvalidData("CAR truncated inside a section")
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out


@dataclass
class CarReader:
    """Streaming CAR v1 reader: ``roots`` is read at construction, :meth:`blocks` yields
    ``(cid, block)`` for each section after checking that the block hashes to its CID."""

    roots: list[CID]
    _reader: _Reader

    @classmethod
    def open(cls, chunks: Iterable[bytes]) -> CarReader:
        reader = _Reader(chunks)
        length = reader.varint()
        if not 0 < length <= MAX_HEADER:
            raise InvalidData("CAR header length out of range")
        return cls(decode_header(reader.exact(length)), reader)

    def blocks(self) -> Iterator[tuple[CID, bytes]]:
        while not self._reader.at_eof():
            length = self._reader.varint()
            if not 0 < length <= MAX_SECTION:
                raise InvalidData("CAR section length out of range")
            section = self._reader.exact(length)
            try:
                cid, offset = CID.read_prefix(section)
            except InvalidCid as exc:
                raise InvalidData(f"CAR section with a malformed CID: {exc}") from exc
            block = section[offset:]
            if not cid.verify(block):
                raise IntegrityError(str(cid), f"CAR block {cid}: digest mismatch")
            yield cid, block


__all__ = ["CarReader", "car_stream", "decode_header", "encode_header", "encode_section"]
