"""Strict JSON for verification documents (receipts), and the field readers both receipt kinds share.

Verification-critical: a receipt with two values for one key could be read differently by two
verifiers, so such a document is not JSON for us (duplicate keys and NaN/Infinity are refused).
Evidence receipts (``backend.proofs.receipts``) and share receipts
(``backend.apportionment.receipts``) read their fields with one :class:`ReceiptFields`, each with
its own schema error class, so both refuse the same things with the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from backend.proofs.hexstr import from_hex, is_address_hex, is_canonical_hex, is_checksum_address

__all__ = ["ReceiptFields", "loads_strict"]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key in JSON object")
    return dict(pairs)


def loads_strict(text: str | bytes, error: type[Exception]) -> Any:
    """Parse ``text``; anything that is not strict JSON raises ``error(message, field="$")``."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise error(f"receipt is not valid JSON: {exc}", field="$") from exc  # type: ignore[call-arg]


class ReceiptFields:
    """Readers of a receipt's fields; each refusal raises ``error(message, field=<JSON path>)``."""

    __slots__ = ("error",)

    def __init__(self, error: Callable[..., Exception]) -> None:
        self.error = error

    def loads(self, text: str | bytes) -> Any:
        """Strict JSON (see the module docstring)."""
        return loads_strict(text, self.error)  # type: ignore[arg-type]

    def integer(self, doc: Mapping[str, Any], key: str, lo: int, hi: int, path: str | None = None) -> int:
        """``doc[key]``: a JSON integer (never a boolean) in ``[lo, hi]``."""
        path = path or key
        value = doc[key]
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(f"{path} must be an integer", field=path)
        if not lo <= value <= hi:
            raise self.error(f"{path} out of range [{lo}, {hi}]", field=path)
        return value

    def bytes32(self, doc: Mapping[str, Any], key: str, path: str | None = None) -> bytes:
        """``doc[key]``: 32 bytes as lower-case ``0x`` hex."""
        path = path or key
        value = doc[key]
        if not is_canonical_hex(value, 32):
            raise self.error(f"{path} must be 32 bytes of lower-case 0x hex", field=path)
        return from_hex(value)

    def object(self, value: Any, keys: tuple[str, ...], path: str) -> Mapping[str, Any]:
        """``value``: a JSON object with exactly ``keys`` (the first missing, then unknown, is named)."""
        if not isinstance(value, Mapping):
            raise self.error(f"{path} must be a JSON object", field=path)
        for key in keys:
            if key not in value:
                raise self.error(f"missing field {path}.{key}", field=f"{path}.{key}")
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise self.error(f"unknown field {path}.{unknown[0]}", field=f"{path}.{unknown[0]}")
        return value

    def address(self, value: Any, field: str = "contract") -> str:
        """``value``: ``0x`` and 40 hex digits, all lower case or in their EIP-55 checksum form."""
        if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
            raise self.error(f"{field} must be a 0x-prefixed 20-byte address", field=field)
        if not is_address_hex(value):
            raise self.error(f"{field} must be hex", field=field)
        body = value[2:]
        if body != body.lower() and not is_checksum_address(value):
            raise self.error(f"{field} has a bad EIP-55 checksum", field=field)
        return value
