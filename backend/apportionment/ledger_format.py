"""The share ledger's format: leaves, the membership snapshot, the file's header, rows and trailer.

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
keeps only its 32-byte leaf hash, appended to one of 256 flat buckets (``share_tree.LeafBuckets``,
no Python object per member) which spill to run files past a fixed threshold (64 MiB); at the end
the runs are sorted one at a time and the tree is hashed level by level, one sequential pass per
level through the period's node file (``share_tree``): memory does not grow with the members.
By default commitments must be **strictly ascending** (the caller's ``ORDER BY commitment``): a
duplicate member is then caught in O(1) per row, the file is canonical (same inputs → same bytes →
same CID, whoever builds it), and a member's row is found by binary search. The root itself does
not depend on the order (the tree sorts its leaves).

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
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from backend.apportionment.arithmetic import UINT64_MAX, PeriodInputs, PeriodTotals
from backend.apportionment.errors import MemberOrderError, MemberRowInvalid, PeriodInputsInvalid
from backend.apportionment.share_tree import DEFAULT_MEMORY_BYTES, LeafBuckets, share_tree_root
from backend.proofs.errors import LeafEncodingError
from backend.proofs.keccak import KECCAK_BACKEND, load_backend

__all__ = [
    "FILE_VERSION",
    "FLAG_ASCENDING",
    "FLAG_WIND_DOWN",
    "HEADER",
    "HEADER_SIZE",
    "MAGIC",
    "MEMBERSHIP_LEAF_TYPES",
    "ROW_AMOUNTS",
    "ROW_SIZE",
    "SHARE_LEAF_TYPES",
    "TRAILER",
    "TRAILER_MAGIC",
    "TRAILER_SIZE",
    "MembershipSnapshot",
    "ShareRow",
    "encode_share_leaf",
    "header_bytes",
    "keccak_raw",
    "membership_leaf_hash",
    "membership_snapshot",
    "share_leaf_hash",
    "trailer_bytes",
]

SHARE_LEAF_TYPES: tuple[str, str, str, str] = ("bytes32", "uint64", "uint64", "uint64")
MEMBERSHIP_LEAF_TYPES: tuple[str] = ("bytes32",)

FILE_VERSION = 1
MAGIC = b"HUBAO-SL"
TRAILER_MAGIC = b"HUBAO-SE"
FLAG_WIND_DOWN = 1
FLAG_ASCENDING = 2
HEADER = struct.Struct(">8sHHQ32sQQQQQQQ")
ROW_AMOUNTS = struct.Struct(">QQQ")
TRAILER = struct.Struct(">8sQQqQQQQ32s")
HEADER_SIZE = HEADER.size
ROW_SIZE = 32 + ROW_AMOUNTS.size
TRAILER_SIZE = TRAILER.size

# One level of call instead of two: this runs twice per member (10 M members → 20 M calls).
keccak_raw = load_backend(KECCAK_BACKEND)


class ShareRow(NamedTuple):
    """One row of the share ledger (and the values of its leaf, in ``SHARE_LEAF_TYPES`` order)."""

    member_commitment: bytes
    share_fen: int
    subsidy_fen: int
    year_to_date_fen: int


def encode_share_leaf(member_commitment: bytes, share_fen: int, subsidy_fen: int, year_to_date_fen: int) -> bytes:
    """``abi.encode(bytes32, uint64, uint64, uint64)`` written directly (128 bytes).

    Same bytes and same refusals (``LeafEncodingError``) as ``leaves.abi_encode(SHARE_LEAF_TYPES, …)``.
    """
    if type(member_commitment) is not bytes or len(member_commitment) != 32:
        raise LeafEncodingError("memberCommitment must be 32 bytes", path="[0]")
    for i, value in enumerate((share_fen, subsidy_fen, year_to_date_fen), start=1):
        if type(value) is not int or not 0 <= value <= UINT64_MAX:
            raise LeafEncodingError(f"[{i}]: value does not fit uint64", path=f"[{i}]")
    return b"".join(
        (
            member_commitment,
            share_fen.to_bytes(32, "big"),
            subsidy_fen.to_bytes(32, "big"),
            year_to_date_fen.to_bytes(32, "big"),
        )
    )


def share_leaf_hash(row: ShareRow) -> bytes:
    """Standard leaf hash of a share-ledger row."""
    return keccak_raw(keccak_raw(encode_share_leaf(*row)))


def membership_leaf_hash(member_commitment: bytes) -> bytes:
    """Standard leaf hash of a membership-snapshot leaf: ``keccak256(keccak256(commitment))``."""
    if type(member_commitment) is not bytes or len(member_commitment) != 32:
        raise LeafEncodingError("memberCommitment must be 32 bytes", path="[0]")
    return keccak_raw(keccak_raw(member_commitment))


# --- membership snapshot ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MembershipSnapshot:
    """Root of the membership-snapshot tree and the number of members in it."""

    root: bytes
    member_count: int


def _check_commitment(commitment: object, index: int) -> bytes:
    if type(commitment) is not bytes or len(commitment) != 32:
        raise MemberRowInvalid("member_commitment must be 32 bytes", index=index, field="member_commitment")
    return commitment


def membership_snapshot(
    commitments: Iterable[bytes],
    *,
    require_ascending: bool = True,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    spill_dir: str | os.PathLike[str] | None = None,
) -> MembershipSnapshot:
    """Snapshot root over these member commitments, streamed in bounded memory.

    The leaf hashes go to ``share_tree.LeafBuckets`` (spilled to run files under ``spill_dir``
    past ``memory_bytes``), so any number of members fits; ``commitments`` may be a cursor.
    """
    leaves = LeafBuckets(memory_bytes=memory_bytes, spill_dir=spill_dir)
    try:
        buckets = leaves.buckets
        k = keccak_raw
        prev = b""
        count = 0
        for commitment in commitments:
            _check_commitment(commitment, count)
            if require_ascending:
                if commitment <= prev:
                    raise MemberOrderError("member commitments must be strictly ascending", index=count)
                prev = commitment
            h = k(k(commitment))
            buckets[h[0]] += h
            count += 1
            if not count & 0xFFFF:
                leaves.settle()
        leaves.count = count
        return MembershipSnapshot(root=share_tree_root(leaves), member_count=count)
    finally:
        leaves.close()


def header_bytes(inputs: PeriodInputs, ascending: bool) -> bytes:
    flags = (FLAG_WIND_DOWN if inputs.wind_down else 0) | (FLAG_ASCENDING if ascending else 0)
    return HEADER.pack(
        MAGIC,
        FILE_VERSION,
        flags,
        inputs.period_id,
        inputs.rule_set_hash,
        inputs.claim_count,
        inputs.payouts_fen,
        inputs.fee_bps,
        inputs.surplus_in_fen,
        inputs.member_count,
        inputs.per_case_cap_fen,
        inputs.annual_cap_fen,
    )


def trailer_bytes(totals: PeriodTotals, rows: int, root: bytes) -> bytes:
    try:
        return TRAILER.pack(
            TRAILER_MAGIC,
            rows,
            totals.fee_fen,
            totals.due_fen,
            totals.base_fen,
            totals.share_total_fen,
            totals.subsidy_total_fen,
            totals.surplus_out_fen,
            root,
        )
    except struct.error as exc:
        raise PeriodInputsInvalid(f"period totals do not fit the ledger file: {exc}", field="totals") from exc
