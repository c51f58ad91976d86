"""Strict JSON for verification documents (receipts): duplicate keys and NaN/Infinity are refused.

Verification-critical: a receipt with two values for one key could be read differently by two
verifiers, so such a document is not JSON for us.
"""

from __future__ import annotations

import json
from typing import Any


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
