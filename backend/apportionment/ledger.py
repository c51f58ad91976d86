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
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, NamedTuple, Protocol

from backend.apportionment.arithmetic import (
    UINT64_MAX,
    BaseCharge,
    PeriodInputs,
    PeriodTotals,
    compute_base,
    share_of_member,
)
from backend.apportionment.errors import (
    ApportionmentError,
    MemberOrderError,
    MemberRowInvalid,
    PeriodInputsInvalid,
    ShareLedgerInvalid,
)
from backend.apportionment.files import atomic_output
from backend.apportionment.share_tree import EMPTY_ROOT, LeafBuckets, share_tree_root, write_tree_file
from backend.proofs.errors import LeafEncodingError
from backend.proofs.keccak import KECCAK_BACKEND, load_backend
from backend.proofs.merkle import MerkleTree

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

SHARE_LEAF_TYPES: tuple[str, str, str, str] = ("bytes32", "uint64", "uint64", "uint64")
MEMBERSHIP_LEAF_TYPES: tuple[str] = ("bytes32",)

FILE_VERSION = 1
_MAGIC = b"HUBAO-SL"
_TRAILER_MAGIC = b"HUBAO-SE"
_FLAG_WIND_DOWN = 1
_FLAG_ASCENDING = 2
_HEADER = struct.Struct(">8sHHQ32sQQQQQQQ")
_ROW_AMOUNTS = struct.Struct(">QQQ")
_TRAILER = struct.Struct(">8sQQqQQQQ32s")
HEADER_SIZE = _HEADER.size
ROW_SIZE = 32 + _ROW_AMOUNTS.size
TRAILER_SIZE = _TRAILER.size

# One level of call instead of two: this runs twice per member (10 M members → 20 M calls).
_keccak = load_backend(KECCAK_BACKEND)


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
    return _keccak(_keccak(encode_share_leaf(*row)))


def membership_leaf_hash(member_commitment: bytes) -> bytes:
    """Standard leaf hash of a membership-snapshot leaf: ``keccak256(keccak256(commitment))``."""
    if type(member_commitment) is not bytes or len(member_commitment) != 32:
        raise LeafEncodingError("memberCommitment must be 32 bytes", path="[0]")
    return _keccak(_keccak(member_commitment))


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


def membership_snapshot(commitments: Iterable[bytes], *, require_ascending: bool = True) -> MembershipSnapshot:
    """Snapshot root over these member commitments (streamed; 32 bytes kept per member)."""
    leaves = LeafBuckets()
    buckets = leaves.buckets
    k = _keccak
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
    leaves.count = count
    return MembershipSnapshot(root=share_tree_root(leaves), member_count=count)


# --- building a ledger -----------------------------------------------------------------------


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


def _header_bytes(inputs: PeriodInputs, ascending: bool) -> bytes:
    flags = (_FLAG_WIND_DOWN if inputs.wind_down else 0) | (_FLAG_ASCENDING if ascending else 0)
    return _HEADER.pack(
        _MAGIC,
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


def _trailer_bytes(totals: PeriodTotals, rows: int, root: bytes) -> bytes:
    try:
        return _TRAILER.pack(
            _TRAILER_MAGIC,
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


class ShareLedgerBuilder:
    """Streams one period's share ledger: feed member rows in chunks, then ``finish``.

    ``writer`` (optional) receives the ledger file: the header at construction, the rows of
    each chunk as it is processed, the trailer at ``finish``. On any error the builder is
    unusable and whatever ``writer`` got is incomplete (``write_share_ledger`` then removes the
    file). With ``snapshot=True`` the membership-snapshot root is computed in the same pass.
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
    ) -> None:
        self._inputs = inputs
        self._base: BaseCharge = compute_base(inputs)
        self._writer = writer
        self._ascending = require_ascending
        self._leaves = LeafBuckets()
        self._flat: bytearray | None = bytearray() if keep_input_order else None
        self._members: LeafBuckets | None = LeafBuckets() if snapshot else None
        self._prev = b""
        self._rows = 0
        self._share_total = 0
        self._subsidy_total = 0
        self._failed = False
        self._finished = False
        if writer is not None:
            writer.write(_header_bytes(inputs, require_ascending))

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
        inputs, base = self._inputs, self._base
        base_fen = base.base_fen
        case_cap = base.case_cap_fen
        annual_cap = inputs.annual_cap_fen
        # Members with paid ≤ threshold pay the full case cap: the common row, precomputed.
        threshold = annual_cap - case_cap
        common_middle = case_cap.to_bytes(32, "big") + (base_fen - case_cap).to_bytes(32, "big")
        common_amounts = (case_cap, base_fen - case_cap)
        limit = inputs.member_count
        ascending = self._ascending
        k = _keccak
        pack = _ROW_AMOUNTS.pack
        leaves = self._leaves.buckets
        flat = self._flat
        members_buf = None if self._members is None else self._members.buckets
        prev = self._prev
        index = self._rows
        share_total = self._share_total
        subsidy_total = self._subsidy_total
        out: list[bytes] = []
        for commitment, paid in members:
            if type(commitment) is not bytes or len(commitment) != 32:
                raise MemberRowInvalid("member_commitment must be 32 bytes", index=index, field="member_commitment")
            if type(paid) is not int or paid < 0:
                raise MemberRowInvalid(
                    "paid_this_year_fen must be a non-negative integer", index=index, field="paid_this_year_fen"
                )
            if ascending:
                if commitment <= prev:
                    raise MemberOrderError(
                        "member commitments must be strictly ascending (a repeat is a duplicate member)", index=index
                    )
                prev = commitment
            if index >= limit:
                raise MemberRowInvalid(
                    f"more member rows than the declared {limit} sharing members", index=index, field="member_count"
                )
            if paid <= threshold:
                share, subsidy = common_amounts
                middle = common_middle
            else:
                share = share_of_member(case_cap_fen=case_cap, annual_cap_fen=annual_cap, paid_this_year_fen=paid)
                subsidy = base_fen - share
                middle = share.to_bytes(32, "big") + subsidy.to_bytes(32, "big")
            ytd = paid + share
            if ytd > UINT64_MAX:
                raise MemberRowInvalid("year-to-date does not fit uint64", index=index, field="paid_this_year_fen")
            h = k(k(commitment + middle + ytd.to_bytes(32, "big")))
            leaves[h[0]] += h
            if flat is not None:
                flat += h
            if members_buf is not None:
                h = k(k(commitment))
                members_buf[h[0]] += h
            out.append(commitment + pack(share, subsidy, ytd))
            share_total += share
            subsidy_total += subsidy
            index += 1
        if self._writer is not None and out:
            self._writer.write(b"".join(out))
        self._prev = prev
        self._rows = index
        self._share_total = share_total
        self._subsidy_total = subsidy_total
        self._failed = False
        return index

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
        totals = PeriodTotals.close(
            self._inputs,
            self._base,
            rows=self._rows,
            share_total_fen=self._share_total,
            subsidy_total_fen=self._subsidy_total,
        )
        leaves = self._leaves
        leaves.count = self._rows
        self._leaves = LeafBuckets()
        tree: MerkleTree | None = None
        if keep_tree and self._flat:
            tree = MerkleTree.from_leaf_hashes(self._flat)
            root = tree.root
        elif tree_file is not None and self._rows:
            root = write_tree_file(tree_file, leaves, self._inputs.period_id)
        else:
            root = share_tree_root(leaves)
        del leaves
        self._flat = None
        membership = None
        if self._members is not None:
            self._members.count = self._rows
            membership = MembershipSnapshot(root=share_tree_root(self._members), member_count=self._rows)
            self._members = None
        if self._writer is not None:
            self._writer.write(_trailer_bytes(totals, self._rows, root))
        self._failed = False
        self._finished = True
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
) -> ShareLedgerResult:
    """Build a whole ledger from an iterable of member rows (fed to the builder in chunks)."""
    builder = ShareLedgerBuilder(
        inputs, writer, require_ascending=require_ascending, snapshot=snapshot, keep_input_order=keep_tree
    )
    it = iter(members)
    while True:
        chunk = [row for _, row in zip(range(chunk_rows), it, strict=False)]
        if not chunk:
            break
        builder.add_chunk(chunk)
    return builder.finish(keep_tree=keep_tree, tree_file=tree_file)


def write_share_ledger(
    path: str | os.PathLike[str],
    inputs: PeriodInputs,
    members: Iterable[tuple[bytes, int]],
    *,
    require_ascending: bool = True,
    snapshot: bool = False,
    keep_tree: bool = False,
    tree_file: str | os.PathLike[str] | None = None,
) -> ShareLedgerResult:
    """Write the ledger file at ``path`` atomically (temp file + fsync + rename); nothing on failure.

    ``tree_file``: also write the share tree's node file there (itself atomic).
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
        )


# --- reading a ledger ------------------------------------------------------------------------


class ShareLedgerReader:
    """Random and sequential access to a share-ledger file; header and trailer parsed on open.

    Opening checks the structure (magics, version, flags, size = header + N rows + trailer,
    row count); it does not recompute anything — ``verify_share_ledger`` does.
    """

    def __init__(self, source: str | os.PathLike[str] | BinaryIO) -> None:
        """Open a ledger file by path, or wrap a seekable binary file object (closed by ``close``)."""
        if isinstance(source, str | os.PathLike):
            self._fh: BinaryIO = open(source, "rb")  # noqa: SIM115 - closed by close()/__exit__
        else:
            self._fh = source
        try:
            self._parse()
        except BaseException:
            self._fh.close()
            raise

    def _parse(self) -> None:
        fh = self._fh
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        if size < HEADER_SIZE + TRAILER_SIZE:
            raise ShareLedgerInvalid("file is shorter than a header and a trailer", field="size")
        raw = fh.read(HEADER_SIZE)
        magic, version, flags, *fields = _HEADER.unpack(raw)
        if magic != _MAGIC:
            raise ShareLedgerInvalid("not a Hubao share-ledger file (bad magic)", field="magic")
        if version != FILE_VERSION:
            raise ShareLedgerInvalid(f"unsupported share-ledger version {version}", field="version")
        if flags & ~(_FLAG_WIND_DOWN | _FLAG_ASCENDING):
            raise ShareLedgerInvalid(f"unknown flags {flags:#x}", field="flags")
        period_id, rule_set_hash, claims, payouts, fee_bps, surplus_in, members, case_cap, annual_cap = fields
        try:
            self.inputs = PeriodInputs(
                period_id=period_id,
                rule_set_hash=rule_set_hash,
                claim_count=claims,
                payouts_fen=payouts,
                fee_bps=fee_bps,
                surplus_in_fen=surplus_in,
                member_count=members,
                per_case_cap_fen=case_cap,
                annual_cap_fen=annual_cap,
                wind_down=bool(flags & _FLAG_WIND_DOWN),
            )
        except PeriodInputsInvalid as exc:
            raise ShareLedgerInvalid(f"header: {exc.message}", field=exc.fields.get("field", "header")) from exc
        self.ascending = bool(flags & _FLAG_ASCENDING)
        if size != HEADER_SIZE + members * ROW_SIZE + TRAILER_SIZE:
            raise ShareLedgerInvalid(
                f"file size {size} is not header + {members} rows + trailer", field="size", size=size
            )
        fh.seek(size - TRAILER_SIZE)
        tmagic, rows, fee, due, base, share_total, subsidy_total, surplus_out, root = _TRAILER.unpack(
            fh.read(TRAILER_SIZE)
        )
        if tmagic != _TRAILER_MAGIC:
            raise ShareLedgerInvalid("bad trailer magic", field="trailer")
        if rows != members:
            raise ShareLedgerInvalid("trailer rowCount differs from header memberCount", field="rowCount")
        self.totals = PeriodTotals(
            period_id=period_id,
            member_count=members,
            fee_fen=fee,
            due_fen=due,
            base_fen=base,
            share_total_fen=share_total,
            subsidy_total_fen=subsidy_total,
            surplus_out_fen=surplus_out,
        )
        self.share_root: bytes = root
        self.row_count: int = rows

    def __enter__(self) -> ShareLedgerReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    def row(self, index: int) -> ShareRow:
        """Row ``index`` (input order)."""
        if type(index) is not int or not 0 <= index < self.row_count:
            raise ShareLedgerInvalid("row index out of range", field="row", row=index)
        self._fh.seek(HEADER_SIZE + index * ROW_SIZE)
        raw = self._fh.read(ROW_SIZE)
        return ShareRow(raw[:32], *_ROW_AMOUNTS.unpack_from(raw, 32))

    def rows(self, *, chunk_rows: int = 65_536) -> Iterator[ShareRow]:
        """All rows in file order, read ``chunk_rows`` at a time."""
        unpack = _ROW_AMOUNTS.unpack_from
        for start in range(0, self.row_count, chunk_rows):
            count = min(chunk_rows, self.row_count - start)
            self._fh.seek(HEADER_SIZE + start * ROW_SIZE)
            buf = self._fh.read(count * ROW_SIZE)
            if len(buf) != count * ROW_SIZE:
                raise ShareLedgerInvalid("file changed while reading", field="size")
            for off in range(0, len(buf), ROW_SIZE):
                yield ShareRow(buf[off : off + 32], *unpack(buf, off + 32))

    def find(self, member_commitment: bytes) -> tuple[int, ShareRow] | None:
        """``(index, row)`` of a member, or None; binary search when the file is in ascending order."""
        if not self.ascending:
            for i, row in enumerate(self.rows()):
                if row.member_commitment == member_commitment:
                    return i, row
            return None
        lo, hi = 0, self.row_count
        while lo < hi:
            mid = (lo + hi) // 2
            row = self.row(mid)
            if row.member_commitment < member_commitment:
                lo = mid + 1
            elif row.member_commitment > member_commitment:
                hi = mid
            else:
                return mid, row
        return None

    def write_tree_file(self, path: str | os.PathLike[str]) -> bytes:
        """Write this ledger's share-tree node file (``share_tree``) at ``path``; returns the root.

        Streams the rows (one leaf hash kept per row, bucketed); for a ledger fetched by CID.
        """
        leaves = LeafBuckets()
        buckets = leaves.buckets
        for row in self.rows():
            h = share_leaf_hash(row)
            buckets[h[0]] += h
        leaves.count = self.row_count
        return write_tree_file(path, leaves, self.inputs.period_id)

    def tree(self) -> MerkleTree | None:
        """The share-ledger tree rebuilt from the rows (None when empty); input index = row index."""
        leaves = bytearray()
        for row in self.rows():
            leaves += share_leaf_hash(row)
        return MerkleTree.from_leaf_hashes(leaves) if leaves else None


class _ComparingWriter:
    """A writer that checks every byte it is given against an existing ledger file, in order."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self._fh = fh
        self._offset = 0
        self.size = size

    @property
    def offset(self) -> int:
        return self._offset

    def write(self, data: bytes, /) -> int:
        expected = self._fh.read(len(data))
        if expected != data:
            first = next(
                (i for i, (a, b) in enumerate(zip(expected, data, strict=False)) if a != b),
                min(len(expected), len(data)),
            )
            at = self._offset + first
            if at < HEADER_SIZE:
                raise ShareLedgerInvalid("header differs from its recomputation", field="header", byte=at)
            if at < self.size - TRAILER_SIZE:
                row, col = divmod(at - HEADER_SIZE, ROW_SIZE)
                name = "memberCommitment" if col < 32 else ("shareFen", "subsidyFen", "yearToDateFen")[(col - 32) // 8]
                raise ShareLedgerInvalid(f"row {row}: {name} differs from its recomputation", field=name, row=row)
            raise ShareLedgerInvalid("trailer (totals or root) differs from its recomputation", field="trailer")
        self._offset += len(data)
        return len(data)


def verify_share_ledger(path: str | os.PathLike[str]) -> ShareLedgerResult:
    """Recompute a ledger file from its own header and rows; it must come out byte-identical.

    Each row's ``paid_this_year = yearToDate − share`` is fed back through the builder with the
    header's inputs; shares, subsidies, year-to-date, totals and root must all match. Raises
    ``ShareLedgerInvalid`` naming the first row or field that differs; returns the result.
    """
    with ShareLedgerReader(path) as reader, open(path, "rb") as fh:
        size = HEADER_SIZE + reader.row_count * ROW_SIZE + TRAILER_SIZE

        def paid_rows() -> Iterator[tuple[bytes, int]]:
            for i, row in enumerate(reader.rows()):
                paid = row.year_to_date_fen - row.share_fen
                if paid < 0:
                    raise ShareLedgerInvalid(f"row {i}: yearToDateFen is below shareFen", field="yearToDateFen", row=i)
                yield row.member_commitment, paid

        writer = _ComparingWriter(fh, size)
        try:
            result = build_share_ledger(reader.inputs, paid_rows(), writer, require_ascending=reader.ascending)
        except ShareLedgerInvalid:
            raise
        except ApportionmentError as exc:
            raise ShareLedgerInvalid(f"ledger does not recompute: {exc.message}", **exc.fields) from exc
        if writer.offset != size:
            raise ShareLedgerInvalid("recomputed ledger is shorter than the file", field="size")
        return result


def check_year_to_date_continuity(previous: ShareLedgerReader | None, current: ShareLedgerReader) -> int:
    """Check what each member of ``current`` paid before the period against ``previous``.

    ``previous`` is the ledger of the period before, when it counts toward the same annual cap
    (same ``Period.year``); pass None for the first period of a year. For every row of
    ``current``, ``yearToDate − share`` must equal the member's ``yearToDate`` in ``previous``,
    or 0 when the member is not in it (joined since). Both files must be in ascending order
    (merge join, streamed). Returns the number of rows checked; raises ``ShareLedgerInvalid``
    naming the first row of ``current`` whose carried-in amount is wrong.

    Limit: a member who left and came back within the year under the same commitment is
    carried from the last period only; an auditor following such a member looks further back.
    """
    if not current.ascending or (previous is not None and not previous.ascending):
        raise ShareLedgerInvalid("continuity needs ledgers in ascending commitment order", field="flags")
    earlier = iter(previous.rows()) if previous is not None else iter(())
    prev_row = next(earlier, None)
    checked = 0
    for i, row in enumerate(current.rows()):
        while prev_row is not None and prev_row.member_commitment < row.member_commitment:
            prev_row = next(earlier, None)
        carried = (
            prev_row.year_to_date_fen
            if prev_row is not None and prev_row.member_commitment == row.member_commitment
            else 0
        )
        if row.year_to_date_fen - row.share_fen != carried:
            raise ShareLedgerInvalid(
                f"row {i}: paid this year before the period is {row.year_to_date_fen - row.share_fen}, "
                f"the previous ledger carries {carried}",
                field="yearToDateFen",
                row=i,
            )
        checked += 1
    return checked
