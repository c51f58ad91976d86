"""Building a period's share ledger: rows streamed in chunks, the file written, the roots computed.

Verification-critical (the format is ``backend.apportionment.ledger_format``; the whole ledger is
described in ``backend.apportionment.ledger``). The builder writes each chunk's rows as it goes and
hands each member's 32-byte leaf hashes to ``share_tree.LeafBuckets`` (flat buckets, no Python
object per member), which spill to run files past ``memory_bytes``: what the builder holds is
bounded by that threshold and one chunk, whatever the number of members.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from backend.apportionment.arithmetic import (
    UINT64_MAX,
    BaseCharge,
    PeriodInputs,
    PeriodTotals,
    compute_base,
    share_of_member,
)
from backend.apportionment.errors import ApportionmentError, MemberOrderError, MemberRowInvalid
from backend.apportionment.files import atomic_output
from backend.apportionment.ledger_format import (
    MembershipSnapshot,
    header_bytes,
    keccak_raw,
    trailer_bytes,
)
from backend.apportionment.share_tree import DEFAULT_MEMORY_BYTES, LeafBuckets, share_tree_root, write_tree_file
from backend.proofs.merkle import MerkleTree

__all__ = ["ShareLedgerBuilder", "ShareLedgerResult", "SupportsWrite", "build_share_ledger", "write_share_ledger"]


ROW = struct.Struct(">32sQQQ")  # one ledger row: commitment, then ROW_AMOUNTS
# abi.encode(bytes32, uint64, uint64, uint64) of the same four values: each amount in a 32-byte word
LEAF_INPUT = struct.Struct(">32s24xQ24xQ24xQ")
# The same two layouts as numpy records (a chunk is built column-wise, then read row-wise):
# ``_ROW_DTYPE`` is ``ROW``, ``_LEAF_DTYPE`` is ``LEAF_INPUT`` (the padding stays zero).
_ROW_DTYPE = np.dtype([("commitment", "V32"), ("share", ">u8"), ("subsidy", ">u8"), ("ytd", ">u8")])
_LEAF_DTYPE = np.dtype(
    {
        "names": ["commitment", "share", "subsidy", "ytd"],
        "formats": ["V32", ">u8", ">u8", ">u8"],
        "offsets": [0, 56, 88, 120],
        "itemsize": 128,
    }
)
assert _ROW_DTYPE.itemsize == ROW.size
assert _LEAF_DTYPE.itemsize == LEAF_INPUT.size
_S32 = np.dtype("S32")  # compares as unsigned bytes, like ``bytes`` (see ``share_tree``)
_V32 = np.dtype("V32")  # ``tolist()`` of a void item is its bytes, all of them
_V128 = np.dtype("V128")


_HASH_BATCH = 2048  # rows whose keccak inputs exist as ``bytes`` at once (~0.3 MiB: reused, not mapped anew)


def _double_keccak(items: NDArray[np.void]) -> bytes:
    """keccak256(keccak256(item)) of each item of a void column, concatenated.

    ``tolist()`` gives each item's bytes; done ``_HASH_BATCH`` rows at a time so that the
    short-lived ``bytes`` objects come from the same few allocator arenas, chunk after chunk,
    instead of fresh pages (page faults, kernel time) for a whole chunk's worth.
    """
    k = keccak_raw
    if len(items) <= _HASH_BATCH:
        return b"".join(map(k, map(k, items.tolist())))
    return b"".join(
        [b"".join(map(k, map(k, items[i : i + _HASH_BATCH].tolist()))) for i in range(0, len(items), _HASH_BATCH)]
    )


def _share(case_cap: int, annual_cap: int, paid: int) -> int:
    return share_of_member(case_cap_fen=case_cap, annual_cap_fen=annual_cap, paid_this_year_fen=paid)


class SupportsWrite(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True, slots=True)
class ShareLedgerResult:
    """What a finished ledger commits to; ``tree`` only when asked for (``keep_tree``).

    ``tree`` input index ``i`` is row ``i`` of the ledger (input order).
    """

    inputs: PeriodInputs
    totals: PeriodTotals
    share_root: bytes
    membership: MembershipSnapshot | None
    tree: MerkleTree | None


class ShareLedgerBuilder:
    """Streams one period's share ledger: feed member rows in chunks, then ``finish``.

    ``writer`` (optional) receives the ledger file: the header at construction, the rows of
    each chunk as it is processed, the trailer at ``finish``. On any error the builder is
    unusable and whatever ``writer`` got is incomplete (``write_share_ledger`` then removes the
    file). With ``snapshot=True`` the membership-snapshot root is computed in the same pass.

    Memory: each tree's leaf hashes stay in memory up to ``memory_bytes`` (default 64 MiB, two
    million members), then go to run files in a directory made under ``spill_dir`` (default: the
    system's temp directory), removed when the builder finishes or fails.
    """

    __slots__ = (
        "_ascending",
        "_base",
        "_failed",
        "_finished",
        "_flat",
        "_inputs",
        "_leaves",
        "_members",
        "_prev",
        "_rows",
        "_scratch",
        "_share_total",
        "_subsidy_total",
        "_writer",
    )

    def __init__(
        self,
        inputs: PeriodInputs,
        writer: SupportsWrite | None = None,
        *,
        require_ascending: bool = True,
        snapshot: bool = False,
        keep_input_order: bool = False,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        spill_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._inputs = inputs
        self._base: BaseCharge = compute_base(inputs)
        self._writer = writer
        self._ascending = require_ascending
        self._leaves = LeafBuckets(memory_bytes=memory_bytes, spill_dir=spill_dir)
        self._flat: bytearray | None = bytearray() if keep_input_order else None
        self._members: LeafBuckets | None = (
            LeafBuckets(memory_bytes=memory_bytes, spill_dir=spill_dir) if snapshot else None
        )
        self._prev = b""
        self._scratch = np.zeros(0, dtype=_LEAF_DTYPE)
        self._rows = 0
        self._share_total = 0
        self._subsidy_total = 0
        self._failed = False
        self._finished = False
        if writer is not None:
            writer.write(header_bytes(inputs, require_ascending))

    @property
    def base(self) -> BaseCharge:
        return self._base

    @property
    def rows(self) -> int:
        """Rows processed so far."""
        return self._rows

    def add_chunk(self, members: Iterable[tuple[bytes, int]]) -> int:
        """Process ``(member_commitment, paid_this_year_fen)`` rows; returns the total rows so far.

        Raises ``MemberRowInvalid`` (``index`` = row number in the whole ledger) for a malformed
        row, ``MemberOrderError`` for a commitment not above the previous one (when ascending
        order is required), ``MemberCountMismatch`` past the declared member count.
        """
        if self._failed or self._finished:
            raise ApportionmentError("the ledger builder is finished or failed; start a new one")
        self._failed = True  # cleared on success
        try:
            rows = members if isinstance(members, list) else list(members)
            count = self._add_columns([c for c, _ in rows], [p for _, p in rows]) if rows else self._rows
        except BaseException:
            self.close()
            raise
        self._failed = False
        return count

    def add_columns(self, commitments: list[bytes], paid_this_year_fen: list[int]) -> int:
        """``add_chunk`` for rows given as two equal-length columns (what a paged reader has)."""
        if self._failed or self._finished:
            raise ApportionmentError("the ledger builder is finished or failed; start a new one")
        self._failed = True  # cleared on success
        try:
            if len(commitments) != len(paid_this_year_fen):
                raise ApportionmentError("the commitment and paid columns differ in length")
            count = self._add_columns(commitments, paid_this_year_fen) if commitments else self._rows
        except BaseException:
            self.close()
            raise
        self._failed = False
        return count

    def add_packed(self, commitments: bytes | bytearray | memoryview, paid_this_year_fen: NDArray[np.uint64]) -> int:
        """``add_columns`` for a chunk given as packed 32-byte commitments and a ``uint64`` column.

        What the publisher's path reads (``chain_inputs.paid_this_year_blocks`` over the packed
        member snapshot): no Python object per row is made here beyond the keccak inputs.
        """
        if self._failed or self._finished:
            raise ApportionmentError("the ledger builder is finished or failed; start a new one")
        self._failed = True  # cleared on success
        try:
            n, extra = divmod(len(commitments), 32)
            if extra or n != len(paid_this_year_fen):
                raise ApportionmentError("the packed commitments and the paid column differ in length")
            paid = np.asarray(paid_this_year_fen)
            if paid.dtype != np.uint64:
                raise ApportionmentError("the paid column must be uint64")
            count = self._add_packed(commitments, paid) if n else self._rows
        except BaseException:
            self.close()
            raise
        self._failed = False
        return count

    def close(self) -> None:
        """Give up: drop the leaves kept so far and their run files (idempotent)."""
        self._leaves.close()
        if self._members is not None:
            self._members.close()
        self._flat = None

    def _add_columns(self, commitments: list[bytes], paids: list[int]) -> int:
        """A chunk given as lists: checked in bulk (C), packed, then ``_add_packed``; any failed
        check re-reads the chunk row by row (``_first_problem``) to name the first bad row."""
        valid = (
            set(map(type, commitments)) == {bytes}
            and set(map(len, commitments)) == {32}
            and set(map(type, paids)) == {int}
            and min(paids) >= 0
            and max(paids) <= UINT64_MAX
        )
        if not valid:
            raise self._first_problem(list(zip(commitments, paids, strict=True)))
        return self._add_packed(b"".join(commitments), np.array(paids, dtype=np.uint64))

    def _add_packed(self, packed: bytes | bytearray | memoryview, paid: NDArray[np.uint64]) -> int:
        """One chunk column-wise in numpy: order and range checks, shares, subsidies and
        year-to-date as ``uint64`` columns, the leaf encodings and the ledger rows laid out as
        structured arrays (``LEAF_INPUT`` / ``ROW``, byte for byte), so that the keccak calls
        over ``tolist()`` of their rows are the only per-row Python work. Any failed check
        re-reads the chunk row by row (``_first_problem``) to name the first bad row."""
        index0 = self._rows
        n = len(paid)
        inputs, base = self._inputs, self._base
        base_fen, case_cap, annual_cap = base.base_fen, base.case_cap_fen, inputs.annual_cap_fen
        keys = np.frombuffer(packed, dtype=_S32, count=n)
        # A share is min(case cap, annual cap − paid), at least 0: the room left under the annual
        # cap, clipped to the case cap (both in uint64: base ≤ 2^64 − 1, case cap ≤ base).
        shares = np.minimum(np.uint64(annual_cap) - np.minimum(paid, np.uint64(annual_cap)), np.uint64(case_cap))
        valid = (
            index0 + n <= inputs.member_count
            and (not self._ascending or (bytes(packed[:32]) > self._prev and bool(np.all(keys[:-1] < keys[1:]))))
            and not bool(np.any(paid > np.uint64(UINT64_MAX) - shares))
        )
        if not valid:
            commitments = np.frombuffer(packed, dtype=_V32, count=n).tolist()
            raise self._first_problem(list(zip(commitments, paid.tolist(), strict=True)))
        if len(self._scratch) < n:  # one buffer per builder: its padding is zeroed once, never written
            self._scratch = np.zeros(n, dtype=_LEAF_DTYPE)
        leaf = self._scratch[:n]
        leaf["commitment"] = np.frombuffer(packed, dtype=_V32, count=n)
        leaf["share"] = shares
        leaf["subsidy"] = np.uint64(base_fen) - shares
        leaf["ytd"] = paid + shares
        flat = _double_keccak(leaf.view(_V128))
        self._leaves.extend_flat(flat)
        if self._flat is not None:
            self._flat += flat
        if self._members is not None:
            self._members.extend_flat(_double_keccak(np.frombuffer(packed, dtype=_V32, count=n)))
        if self._writer is not None:
            rows = np.empty(n, dtype=_ROW_DTYPE)
            rows["commitment"] = leaf["commitment"]
            rows["share"] = leaf["share"]
            rows["subsidy"] = leaf["subsidy"]
            rows["ytd"] = leaf["ytd"]
            self._writer.write(rows.tobytes())
        self._prev = bytes(packed[-32:])
        self._rows = index0 + n
        # Exact sums: numpy's uint64 sum is exact while n × the largest term fits 64 bits.
        if n * base_fen <= UINT64_MAX:
            self._share_total += int(shares.sum(dtype=np.uint64))
            self._subsidy_total += int(leaf["subsidy"].sum(dtype=np.uint64))
        else:
            self._share_total += sum(shares.tolist())
            self._subsidy_total += sum(leaf["subsidy"].tolist())
        return self._rows

    def _first_problem(self, rows: list[tuple[bytes, int]]) -> ApportionmentError:
        """The error of the first bad row of a chunk, checked in the order a row is read."""
        inputs, case_cap = self._inputs, self._base.case_cap_fen
        prev = self._prev
        for index, (commitment, paid) in enumerate(rows, start=self._rows):
            if type(commitment) is not bytes or len(commitment) != 32:
                return MemberRowInvalid("member_commitment must be 32 bytes", index=index, field="member_commitment")
            if type(paid) is not int or paid < 0:
                return MemberRowInvalid(
                    "paid_this_year_fen must be a non-negative integer", index=index, field="paid_this_year_fen"
                )
            if self._ascending:
                if commitment <= prev:
                    return MemberOrderError(
                        "member commitments must be strictly ascending (a repeat is a duplicate member)", index=index
                    )
                prev = commitment
            if index >= inputs.member_count:
                return MemberRowInvalid(
                    f"more member rows than the declared {inputs.member_count} sharing members",
                    index=index,
                    field="member_count",
                )
            if paid + _share(case_cap, inputs.annual_cap_fen, paid) > UINT64_MAX:
                return MemberRowInvalid("year-to-date does not fit uint64", index=index, field="paid_this_year_fen")
        raise AssertionError("a chunk failed its bulk checks but no row is at fault")

    def finish(self, *, keep_tree: bool = False, tree_file: str | os.PathLike[str] | None = None) -> ShareLedgerResult:
        """Close the period: totals (invariant checked), roots, the trailer written.

        Raises ``MemberCountMismatch`` when the rows are not the declared member count.
        ``keep_tree=True`` (needs ``keep_input_order=True`` at construction) returns the full
        in-memory tree (small ledgers, tests). ``tree_file`` writes the share tree's node file
        there instead (``share_tree.write_tree_file``: 64 bytes per member on disk, none kept).
        """
        if self._failed or self._finished:
            raise ApportionmentError("the ledger builder is finished or failed; start a new one")
        if keep_tree and self._flat is None:
            raise ApportionmentError("keep_tree needs a builder made with keep_input_order=True")
        self._failed = True
        try:
            result = self._finish(keep_tree, tree_file)
        finally:
            self.close()
        self._failed = False
        self._finished = True
        return result

    def _finish(self, keep_tree: bool, tree_file: str | os.PathLike[str] | None) -> ShareLedgerResult:
        totals = PeriodTotals.close(
            self._inputs,
            self._base,
            rows=self._rows,
            share_total_fen=self._share_total,
            subsidy_total_fen=self._subsidy_total,
        )
        leaves = self._leaves
        leaves.count = self._rows
        tree: MerkleTree | None = None
        if keep_tree and self._flat:
            tree = MerkleTree.from_leaf_hashes(self._flat)
            root = tree.root
        elif tree_file is not None and self._rows:
            root = write_tree_file(tree_file, leaves, self._inputs.period_id)
        else:
            root = share_tree_root(leaves)
        self._flat = None
        membership = None
        if self._members is not None:
            self._members.count = self._rows
            membership = MembershipSnapshot(root=share_tree_root(self._members), member_count=self._rows)
        if self._writer is not None:
            self._writer.write(trailer_bytes(totals, self._rows, root))
        return ShareLedgerResult(inputs=self._inputs, totals=totals, share_root=root, membership=membership, tree=tree)


def build_share_ledger(
    inputs: PeriodInputs,
    members: Iterable[tuple[bytes, int]],
    writer: SupportsWrite | None = None,
    *,
    require_ascending: bool = True,
    snapshot: bool = False,
    keep_tree: bool = False,
    tree_file: str | os.PathLike[str] | None = None,
    chunk_rows: int = 65_536,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    spill_dir: str | os.PathLike[str] | None = None,
) -> ShareLedgerResult:
    """Build a whole ledger from an iterable of member rows, pulled ``chunk_rows`` at a time.

    ``members`` may be a generator over a database cursor: at most one chunk of its rows exists
    here at once (``ShareLedgerBuilder`` for what else is kept, and its bound).
    """
    builder = ShareLedgerBuilder(
        inputs,
        writer,
        require_ascending=require_ascending,
        snapshot=snapshot,
        keep_input_order=keep_tree,
        memory_bytes=memory_bytes,
        spill_dir=spill_dir,
    )
    try:
        it = iter(members)
        while True:
            chunk = list(islice(it, chunk_rows))
            if not chunk:
                break
            builder.add_chunk(chunk)
            del chunk
        return builder.finish(keep_tree=keep_tree, tree_file=tree_file)
    finally:
        builder.close()


def write_share_ledger(
    path: str | os.PathLike[str],
    inputs: PeriodInputs,
    members: Iterable[tuple[bytes, int]],
    *,
    require_ascending: bool = True,
    snapshot: bool = False,
    keep_tree: bool = False,
    tree_file: str | os.PathLike[str] | None = None,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    spill_dir: str | os.PathLike[str] | None = None,
) -> ShareLedgerResult:
    """Write the ledger file at ``path`` atomically (temp file + fsync + rename); nothing on failure.

    ``tree_file``: also write the share tree's node file there (itself atomic). Spilled leaves go
    under ``spill_dir``, by default the ledger's own directory.
    """
    with atomic_output(path) as fh:
        return build_share_ledger(
            inputs,
            members,
            fh,
            require_ascending=require_ascending,
            snapshot=snapshot,
            keep_tree=keep_tree,
            tree_file=tree_file,
            memory_bytes=memory_bytes,
            spill_dir=Path(path).parent if spill_dir is None else spill_dir,
        )
