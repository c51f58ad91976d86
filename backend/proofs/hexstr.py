"""``0x`` hex at the edges, ``bytes`` inside (CONVENTIONS.md)."""

from __future__ import annotations

import re

__all__ = ["from_hex", "is_canonical_hex", "to_hex"]

_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_CANONICAL_HEX = re.compile(r"0x(?:[0-9a-f]{2})*")


def to_hex(data: bytes | bytearray | memoryview) -> str:
    """Lower-case ``0x``-prefixed hex of ``data`` (the canonical form in JSON documents)."""
    return "0x" + bytes(data).hex()


def is_canonical_hex(text: object, length: int | None = None) -> bool:
    """True when ``text`` is lower-case ``0x`` hex of whole bytes (and ``length`` bytes if given)."""
    if not isinstance(text, str) or _CANONICAL_HEX.fullmatch(text) is None:
        return False
    return length is None or len(text) == 2 + 2 * length


def from_hex(text: str, *, length: int | None = None) -> bytes:
    """Decode ``0x`` hex (either case) to bytes; ``ValueError`` unless it is whole bytes of ``length``."""
    if not isinstance(text, str) or _HEX.fullmatch(text) is None:
        raise ValueError("expected 0x-prefixed hex of whole bytes")
    data = bytes.fromhex(text[2:])
    if length is not None and len(data) != length:
        raise ValueError(f"expected {length} bytes, got {len(data)}")
    return data
