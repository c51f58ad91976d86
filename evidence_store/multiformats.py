"""Multiformats: unsigned varint, multihash (sha2-256), base58btc, base32 and CID v0/v1.

VERIFICATION-CRITICAL: these bytes are what every CID, block key and CAR section is made of.
Pinned by tests/vectors/cid-multiformats.json and the Kubo golden vectors; changing any output
here is a protocol change.

Only what Kubo's ``ipfs add`` produces is supported: sha2-256 multihashes, the ``dag-pb`` (0x70)
and ``raw`` (0x55) codecs, CIDv0 (bare base58btc multihash) and CIDv1 (multibase base32 ``b…``
on output; base32 and base58btc ``z…`` accepted on input).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Final

from evidence_store.errors import InvalidCid

SHA2_256: Final = 0x12
SHA2_256_LENGTH: Final = 32
DAG_PB: Final = 0x70
RAW: Final = 0x55
CODEC_NAMES: Final = {DAG_PB: "dag-pb", RAW: "raw"}
CODECS_BY_NAME: Final = {name: code for code, name in CODEC_NAMES.items()}

_B58_ALPHABET: Final = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58_ALPHABET)}


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128 varint (multiformats unsigned-varint and protobuf share it)."""
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int]:
    """Decode a varint at ``offset``; return ``(value, next_offset)``. Rejects truncation and > 9 bytes."""
    value = 0
    shift = 0
    pos = offset
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and pos - offset > 1:
                raise ValueError("non-minimal varint")
            return value, pos
        shift += 7
        if shift >= 63:
            raise ValueError("varint too long")


def b58encode(data: bytes) -> str:
    """Bitcoin base58 (base58btc), leading zero bytes as '1'."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = bytearray()
    while number:
        number, rem = divmod(number, 58)
        out.append(_B58_ALPHABET[rem])
    out.extend(b"1" * zeros)
    out.reverse()
    return out.decode("ascii")


def b58decode(text: str) -> bytes:
    raw = text.encode("ascii")
    number = 0
    for char in raw:
        if char not in _B58_INDEX:
            raise ValueError(f"invalid base58 character {chr(char)!r}")
        number = number * 58 + _B58_INDEX[char]
    zeros = len(raw) - len(raw.lstrip(b"1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def b32encode(data: bytes) -> str:
    """RFC 4648 base32, lowercase, no padding (multibase ``b`` without the prefix)."""
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def b32decode(text: str) -> bytes:
    padded = text.upper() + "=" * (-len(text) % 8)
    return base64.b32decode(padded)


def sha256_multihash(data: bytes | memoryview) -> bytes:
    """The sha2-256 multihash of ``data``: 0x12 0x20 || sha256(data)."""
    return bytes((SHA2_256, SHA2_256_LENGTH)) + hashlib.sha256(data).digest()


@dataclass(frozen=True, slots=True)
class CID:
    """A content identifier: version, codec and a sha2-256 multihash.

    Blocks are keyed by :attr:`multihash` (like Kubo), so the CIDv0 and CIDv1 of one block name
    the same stored bytes.
    """

    version: int
    codec: int
    multihash: bytes

    def __post_init__(self) -> None:
        if self.version not in (0, 1):
            raise InvalidCid(f"unsupported CID version {self.version}")
        if self.version == 0 and self.codec != DAG_PB:
            raise InvalidCid("CIDv0 is always dag-pb")
        if self.codec not in CODEC_NAMES:
            raise InvalidCid(f"unsupported codec 0x{self.codec:x}")
        if len(self.multihash) != 2 + SHA2_256_LENGTH or self.multihash[:2] != bytes((SHA2_256, SHA2_256_LENGTH)):
            raise InvalidCid("only sha2-256 multihashes are supported")

    @classmethod
    def for_block(cls, data: bytes | memoryview, codec: int, version: int = 1) -> CID:
        """The CID of ``data`` under ``codec`` (sha2-256)."""
        return cls(version, codec, sha256_multihash(data))

    @classmethod
    def parse(cls, value: str | bytes | CID) -> CID:
        """Parse a CID from text (``Qm…``, ``b…``, ``B…``, ``z…``) or binary form."""
        if isinstance(value, CID):
            return value
        if isinstance(value, bytes):
            return cls.from_bytes(value)
        text = value.strip()
        try:
            if len(text) == 46 and text.startswith("Qm"):
                return cls(0, DAG_PB, b58decode(text))
            if text[:1] in ("b", "B"):
                return cls.from_bytes(b32decode(text[1:]))
            if text[:1] == "z":
                return cls.from_bytes(b58decode(text[1:]))
        except (ValueError, UnicodeEncodeError) as exc:
            raise InvalidCid(f"not a CID: {text[:80]!r} ({exc})") from exc
        raise InvalidCid(f"not a CID: {text[:80]!r}")

    @classmethod
    def from_bytes(cls, data: bytes) -> CID:
        cid, end = cls.read_prefix(data)
        if end != len(data):
            raise InvalidCid("trailing bytes after CID")
        return cid

    @classmethod
    def read_prefix(cls, data: bytes | memoryview, offset: int = 0) -> tuple[CID, int]:
        """Decode a binary CID starting at ``offset``; return it and the offset after it (CAR sections)."""
        try:
            if data[offset] == SHA2_256 and offset + 1 < len(data) and data[offset + 1] == SHA2_256_LENGTH:
                end = offset + 2 + SHA2_256_LENGTH
                if end > len(data):
                    raise InvalidCid("truncated CIDv0")
                return cls(0, DAG_PB, bytes(data[offset:end])), end
            version, pos = decode_varint(data, offset)
            if version != 1:
                raise InvalidCid(f"unsupported CID version {version}")
            codec, pos = decode_varint(data, pos)
            _hash_code, pos2 = decode_varint(data, pos)
            length, pos3 = decode_varint(data, pos2)
            end = pos3 + length
            if end > len(data):
                raise InvalidCid("truncated multihash")
            return cls(1, codec, bytes(data[pos:end])), end
        except (ValueError, IndexError) as exc:
            raise InvalidCid(f"malformed binary CID: {exc}") from exc

    def to_bytes(self) -> bytes:
        """Binary CID: the bare multihash for v0, ``varint(1) varint(codec) multihash`` for v1."""
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def encode(self) -> str:
        """Text form as Kubo prints it: base58btc for v0, multibase base32 (``b…``) for v1."""
        if self.version == 0:
            return b58encode(self.multihash)
        return "b" + b32encode(self.to_bytes())

    def __str__(self) -> str:
        return self.encode()

    def __repr__(self) -> str:
        return f"CID({self.encode()!r})"

    @property
    def digest(self) -> bytes:
        return self.multihash[2:]

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES[self.codec]

    def to_v1(self) -> CID:
        return CID(1, self.codec, self.multihash)

    def verify(self, data: bytes | memoryview) -> bool:
        """True when ``data`` hashes to this CID's multihash."""
        return hashlib.sha256(data).digest() == self.digest


__all__ = [
    "CID",
    "CODECS_BY_NAME",
    "CODEC_NAMES",
    "DAG_PB",
    "RAW",
    "SHA2_256",
    "b32decode",
    "b32encode",
    "b58decode",
    "b58encode",
    "decode_varint",
    "encode_varint",
    "sha256_multihash",
]
