"""The share ledger of a period: one row per sharing member, streamed; its Merkle root; the file.

Verification-critical (DESIGN.md "Exact formats" 2 and "Plan rules" → Apportionment): the root
goes on chain, the file goes to the evidence store (its CID on chain), and every member's share
receipt proves its row under the root. Pinned by ``tests/vectors/apportionment.json``.

This module is the ledger's one import path; the code lives in three modules along its seams:
``ledger_format`` (the leaves, the membership snapshot and the file layout — the exact format is
documented there), ``ledger_builder`` (streaming a period into a file and its roots) and
``ledger_reader`` (reading and verifying a file, ``verify_share_ledger``).
"""

from backend.apportionment.ledger_builder import (
    ShareLedgerBuilder,
    ShareLedgerResult,
    build_share_ledger,
    write_share_ledger,
)
from backend.apportionment.ledger_format import (
    FILE_VERSION,
    HEADER_SIZE,
    MEMBERSHIP_LEAF_TYPES,
    ROW_SIZE,
    SHARE_LEAF_TYPES,
    TRAILER_SIZE,
    MembershipSnapshot,
    ShareRow,
    encode_share_leaf,
    membership_leaf_hash,
    membership_snapshot,
    share_leaf_hash,
)
from backend.apportionment.ledger_reader import ShareLedgerReader, check_year_to_date_continuity, verify_share_ledger
from backend.apportionment.share_tree import EMPTY_ROOT

__all__ = [
    "EMPTY_ROOT",
    "FILE_VERSION",
    "HEADER_SIZE",
    "MEMBERSHIP_LEAF_TYPES",
    "ROW_SIZE",
    "SHARE_LEAF_TYPES",
    "TRAILER_SIZE",
    "MembershipSnapshot",
    "ShareLedgerBuilder",
    "ShareLedgerReader",
    "ShareLedgerResult",
    "ShareRow",
    "build_share_ledger",
    "check_year_to_date_continuity",
    "encode_share_leaf",
    "membership_leaf_hash",
    "membership_snapshot",
    "share_leaf_hash",
    "verify_share_ledger",
    "write_share_ledger",
]
