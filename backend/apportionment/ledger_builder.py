"""Building a period's share ledger: rows streamed in chunks, the file written, the roots computed.

Verification-critical (the format is ``backend.apportionment.ledger_format``; the whole ledger is
described in ``backend.apportionment.ledger``). The builder writes each chunk's rows as it goes and
hands each member's 32-byte leaf hashes to ``share_tree.LeafBuckets`` (flat buckets, no Python
object per member), which spill to run files past ``memory_bytes``: what the builder holds is
bounded by that threshold and one chunk, whatever the number of members.
"""

from __future__ import annotations

import operator
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Protocol

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

    def close(self) -> None:
        """Give up: drop the leaves kept so far and their run files (idempotent)."""
        self._leaves.close()
        if self._members is not None:
            self._members.close()
        self._flat = None

    def _add_columns(self, commitments: list[bytes], paids: list[int]) -> int:
        """A chunk column by column: bulk checks in C, then list comprehensions (the per-row
        interpreter work is most of what a ledger costs beyond its keccak calls); any failed
        check re-reads the chunk row by row (``_first_problem``) to name the first bad row."""
        index0 = self._rows
        inputs, base = self._inputs, self._base
        base_fen = base.base_fen
        case_cap = base.case_cap_fen
        annual_cap = inputs.annual_cap_fen
        # Members with paid ≤ threshold pay the full case cap: the common row, precomputed.
        threshold = annual_cap - case_cap
        valid = (
            set(map(type, commitments)) == {bytes}
            and set(map(len, commitments)) == {32}
            and set(map(type, paids)) == {int}
            and min(paids) >= 0
            and index0 + len(commitments) <= inputs.member_count
            and (
                not self._ascending
                or (commitments[0] > self._prev and all(map(operator.lt, commitments, islice(commitments, 1, None))))
            )
        )
        shares = [case_cap if p <= threshold else _share(case_cap, annual_cap, p) for p in paids] if valid else []
        ytds = list(map(operator.add, paids, shares))
        if not valid or max(ytds) > UINT64_MAX:
            raise self._first_problem(list(zip(commitments, paids, strict=True)))
        subsidies = [base_fen - s for s in shares]
        k = keccak_raw
        flat = b"".join(map(k, map(k, map(LEAF_INPUT.pack, commitments, shares, subsidies, ytds))))
        self._leaves.extend_flat(flat)
        if self._flat is not None:
            self._flat += flat
        if self._members is not None:
            self._members.extend_flat(b"".join(map(k, map(k, commitments))))
        if self._writer is not None:
            self._writer.write(b"".join(map(ROW.pack, commitments, shares, subsidies, ytds)))
        self._prev = commitments[-1]
        self._rows = index0 + len(commitments)
        self._share_total += sum(shares)
        self._subsidy_total += sum(subsidies)
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
