"""Reading a share-ledger file: structure checked on open, rows by index or streamed, and the two
verifications — the file recomputes from its own header and rows (``verify_share_ledger``), and
each member's year-to-date carries over from the previous ledger of the year
(``check_year_to_date_continuity``).

Verification-critical (format: ``backend.apportionment.ledger_format``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from backend.apportionment.arithmetic import PeriodInputs, PeriodTotals
from backend.apportionment.errors import ApportionmentError, PeriodInputsInvalid, ShareLedgerInvalid
from backend.apportionment.ledger_builder import ShareLedgerResult, build_share_ledger
from backend.apportionment.ledger_format import (
    FILE_VERSION,
    FLAG_ASCENDING,
    FLAG_WIND_DOWN,
    HEADER,
    HEADER_SIZE,
    MAGIC,
    ROW_AMOUNTS,
    ROW_SIZE,
    TRAILER,
    TRAILER_MAGIC,
    TRAILER_SIZE,
    ShareRow,
    encode_share_leaf,
    keccak_raw,
    share_leaf_hash,
)
from backend.apportionment.share_tree import LeafBuckets, write_tree_file
from backend.proofs.merkle import MerkleTree

__all__ = ["ShareLedgerReader", "check_year_to_date_continuity", "verify_share_ledger"]


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
        magic, version, flags, *fields = HEADER.unpack(raw)
        if magic != MAGIC:
            raise ShareLedgerInvalid("not a Hubao share-ledger file (bad magic)", field="magic")
        if version != FILE_VERSION:
            raise ShareLedgerInvalid(f"unsupported share-ledger version {version}", field="version")
        if flags & ~(FLAG_WIND_DOWN | FLAG_ASCENDING):
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
                wind_down=bool(flags & FLAG_WIND_DOWN),
            )
        except PeriodInputsInvalid as exc:
            raise ShareLedgerInvalid(f"header: {exc.message}", field=exc.fields.get("field", "header")) from exc
        self.ascending = bool(flags & FLAG_ASCENDING)
        if size != HEADER_SIZE + members * ROW_SIZE + TRAILER_SIZE:
            raise ShareLedgerInvalid(
                f"file size {size} is not header + {members} rows + trailer", field="size", size=size
            )
        fh.seek(size - TRAILER_SIZE)
        tmagic, rows, fee, due, base, share_total, subsidy_total, surplus_out, root = TRAILER.unpack(
            fh.read(TRAILER_SIZE)
        )
        if tmagic != TRAILER_MAGIC:
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
        return ShareRow(raw[:32], *ROW_AMOUNTS.unpack_from(raw, 32))

    def rows(self, *, chunk_rows: int = 65_536) -> Iterator[ShareRow]:
        """All rows in file order, read ``chunk_rows`` at a time."""
        unpack = ROW_AMOUNTS.unpack_from
        for start in range(0, self.row_count, chunk_rows):
            count = min(chunk_rows, self.row_count - start)
            self._fh.seek(HEADER_SIZE + start * ROW_SIZE)
            buf = self._fh.read(count * ROW_SIZE)
            if len(buf) != count * ROW_SIZE:
                raise ShareLedgerInvalid("file changed while reading", field="size")
            for off in range(0, len(buf), ROW_SIZE):
                yield ShareRow(buf[off : off + 32], *unpack(buf, off + 32))

    def row_blocks(self, *, chunk_rows: int = 65_536) -> Iterator[bytes]:
        """All rows in file order as raw bytes, ``chunk_rows`` rows (× ``ROW_SIZE``) per block."""
        for start in range(0, self.row_count, chunk_rows):
            count = min(chunk_rows, self.row_count - start)
            self._fh.seek(HEADER_SIZE + start * ROW_SIZE)
            buf = self._fh.read(count * ROW_SIZE)
            if len(buf) != count * ROW_SIZE:
                raise ShareLedgerInvalid("file changed while reading", field="size")
            yield buf

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

        Streams the rows; the leaf hashes spill to run files beside ``path`` past the memory
        threshold (bounded memory at any size); for a ledger fetched by CID.
        """
        leaves = LeafBuckets(spill_dir=Path(path).parent)
        buckets = leaves.buckets
        k = keccak_raw
        count = 0
        for row in self.rows():
            h = k(k(encode_share_leaf(*row)))
            buckets[h[0]] += h
            count += 1
            if not count & 0xFFFF:
                leaves.settle()
        leaves.count = count
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
    header's inputs (the same streaming builder as the publisher's: bounded memory, leaf runs
    spilled beside ``path``); shares, subsidies, year-to-date, totals and root must all match. Raises
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
            result = build_share_ledger(
                reader.inputs, paid_rows(), writer, require_ascending=reader.ascending, spill_dir=Path(path).parent
            )
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
