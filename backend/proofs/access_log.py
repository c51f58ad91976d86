"""The evidence access log's hash chain (RELIABILITY.md E5): one entry per decryption of evidence.

Verification-critical, pure, pinned by ``tests/vectors/protocol_hashes.json`` ("accessEntryHash").
Each entry commits to the one before it, so editing, deleting or reordering a row breaks every
``entry_hash`` after it::

    entry_hash = keccak256(prev_hash ‖ utf8(body))          (raw concatenation, 32 + len(body) bytes)
    body       = {"accountId":…,"at":…,"evidenceId":…,"purpose":…}

``body`` is canonical JSON: keys in that (sorted) order, separators ``,`` and ``:`` with no
whitespace, strings escaped as Python's ``json.dumps`` does with ``ensure_ascii=True`` (every
non-ASCII character as ``\\uXXXX``, UTF-16 surrogate pairs beyond the BMP, lower-case hex), so
``body`` is pure ASCII. ``at`` is ``datetime.isoformat()`` of the access time: timezone-aware UTC
in the log, ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (the ``.ffffff`` part absent when the
microseconds are zero). The first entry's ``prev_hash`` is ``ACCESS_LOG_GENESIS`` (32 zero bytes).
"""

from __future__ import annotations

import json
from datetime import datetime

from backend.proofs.keccak import keccak256

__all__ = ["ACCESS_LOG_GENESIS", "access_entry_body", "access_entry_hash"]

ACCESS_LOG_GENESIS = b"\x00" * 32


def access_entry_body(evidence_id: str, account_id: str, purpose: str, at: datetime) -> bytes:
    """The canonical JSON body of one access-log entry (ASCII bytes; format in the module docstring)."""
    body = json.dumps(
        {"accountId": account_id, "at": at.isoformat(), "evidenceId": evidence_id, "purpose": purpose},
        sort_keys=True,
        separators=(",", ":"),
    )
    return body.encode()


def access_entry_hash(prev_hash: bytes, evidence_id: str, account_id: str, purpose: str, at: datetime) -> bytes:
    """``keccak256(prev_hash ‖ body)``: the ``entry_hash`` of one access-log entry."""
    return keccak256(prev_hash + access_entry_body(evidence_id, account_id, purpose, at))
