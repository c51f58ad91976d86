"""``0x`` hex at the edges, ``bytes`` inside (CONVENTIONS.md), and EIP-55 addresses.

``is_checksum_address`` is verification-critical (receipts name their contract by address): the
EIP-55 rule, pinned against eth-utils by ``tests/proofs/test_proofs_hexstr.py``. Written here
because importing eth-utils costs about 0.2 s, which ``hubao receipt verify`` should not pay.
"""

from __future__ import annotations

import re

from backend.proofs.keccak import keccak256

__all__ = ["from_hex", "is_address_hex", "is_canonical_hex", "is_checksum_address", "to_checksum_address", "to_hex"]

_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
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


def is_address_hex(text: object) -> bool:
    """True when ``text`` is ``0x`` and 40 hex digits (either case)."""
    return isinstance(text, str) and _ADDRESS.fullmatch(text) is not None


def to_checksum_address(text: str) -> str:
    """EIP-55 form of a 20-byte hex address: a letter is upper case where the nibble of
    ``keccak256(ascii(lower-case hex digits))`` at its position is 8 or more."""
    if not is_address_hex(text):
        raise ValueError("expected 0x and 40 hex digits")
    digits = text[2:].lower()
    nibbles = keccak256(digits.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(n, 16) >= 8 else c for c, n in zip(digits, nibbles, strict=False))


def is_checksum_address(text: object) -> bool:
    """True when ``text`` is a 20-byte hex address in exactly its EIP-55 mixed-case form."""
    return isinstance(text, str) and is_address_hex(text) and text == to_checksum_address(text)
