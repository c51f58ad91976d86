"""The share ledger of a period: one row per sharing member, streamed; its Merkle root; the file.

Verification-critical (DESIGN.md "Exact formats" 2 and "Plan rules" → Apportionment): the root
goes on chain, the file goes to the evidence store (its CID on chain), and every member's share
receipt proves its row under the root. Pinned by ``tests/vectors/apportionment.json`` (roots and
proofs from ``@openzeppelin/merkle-tree``, file digest from an independent encoder).

Trees (OpenZeppelin StandardMerkleTree, ``backend.proofs.merkle``; listed for ``contracts/README.md``):

* **Share ledger** — leaf ``(bytes32 memberCommitment, uint64 shareFen, uint64 subsidyFen,
  uint64 yearToDateFen)``; ``abi.encode`` is four 32-byte words, so
  ``leaf = keccak256(keccak256(commitment ‖ uint256(share) ‖ uint256(subsidy) ‖ uint256(ytd)))``
  (``encode_share_leaf`` writes it directly; tests compare it with the generic encoder).
* **Membership snapshot** — leaf ``(bytes32 memberCommitment)``: the set of members under
  protection at the notice instant, with ``member_count`` beside the root. Only the commitment:
  a join date next to each commitment would publish when every member joined, and what the
  snapshot must prove is membership at one instant, which the period's ``notice_at`` already says.

An empty population (N = 0, possible only when nothing is due) has the all-zero root.

Streaming: members arrive as ``(member_commitment: bytes32, paid_this_year_fen: int)`` rows in
chunks (``ShareLedgerBuilder.add_chunk``); for each the builder computes the row, writes it, and
keeps only its 32-byte leaf hash, appended to one of 256 flat buckets (``share_tree.LeafBuckets``:
320 MB at 10 M members, no Python object per member); at the end the buckets are sorted one at a
time and the tree is hashed level by level over flat buffers (``share_tree``), optionally into the
period's node file for receipts. By default commitments must be **strictly ascending** (the
caller's ``ORDER BY member_commitment``): a duplicate member is then caught in O(1) per row, the
file is canonical (same inputs → same bytes → same CID, whoever builds it), and a member's row
is found by binary search. The root itself does not depend on the order (the tree sorts its leaves).

Share-ledger file, format ``hubao-share-ledger`` version 1 (all integers big-endian; amounts fen)::

    header   116 bytes
      magic            8   b"HUBAO-SL"
      version          2   uint16 = 1
      flags            2   uint16: bit 0 wind-down, bit 1 rows in strictly ascending commitment order
      periodId         8   uint64
      ruleSetHash     32   bytes32
      claimCount       8   uint64
      payoutsFen       8   uint64   P
      feeBps           8   uint64
      surplusInFen     8   uint64   S_in
      memberCount      8   uint64   N
      perCaseCapFen    8   uint64
      annualCapFen     8   uint64
    rows     N × 56 bytes, in input order
      memberCommitment 32  bytes32
      shareFen          8  uint64
      subsidyFen        8  uint64
      yearToDateFen     8  uint64   paid this year before the period + share
    trailer  96 bytes
      magic            8   b"HUBAO-SE"
      rowCount         8   uint64 (= N)
      feeFen           8   uint64
      dueFen           8   int64    D (≤ 0 when the surplus covers the period)
      baseFen          8   uint64
      shareTotalFen    8   uint64
      subsidyTotalFen  8   uint64
      surplusOutFen    8   uint64   S_out
      shareRoot       32   bytes32  root of the share-ledger tree (zero when N = 0)

A reader recomputes everything (``verify_share_ledger``): each row's share from the header and
``paid = yearToDate − share``, the totals, the root; any difference is ``ShareLedgerInvalid``
naming the row or field. That a member's ``paid`` is right is a cross-period fact, checked
against the previous ledger of the same year by ``check_year_to_date_continuity``.

This module is the ledger's one import path; the code lives in three modules along its seams:
``ledger_format`` (leaves, snapshot, header/row/trailer layout), ``ledger_builder`` (streaming a
period into a file and its roots) and ``ledger_reader`` (reading and verifying a file).
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
