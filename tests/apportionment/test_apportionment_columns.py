"""The column-wise (numpy) paths of the apportionment against plain per-row references: packed
chunks into the builder, the year-to-date join by blocks, the snapshot's checks, the batched pairs
of a tree level and the leaf sort — the same bytes, roots and errors, row for row.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend.apportionment import chain_inputs, share_tree
from backend.apportionment.arithmetic import UINT64_MAX, PeriodInputs, PeriodTotals, compute_base, share_of_member
from backend.apportionment.errors import ApportionmentError, MemberOrderError, MemberRowInvalid
from backend.apportionment.ledger import (
    ShareLedgerBuilder,
    ShareRow,
    membership_snapshot,
    share_leaf_hash,
)
from backend.apportionment.ledger_format import ROW_AMOUNTS, header_bytes, trailer_bytes
from backend.proofs.keccak import keccak256
from backend.proofs.merkle import MerkleTree

AT = datetime(2031, 3, 6, 16, tzinfo=UTC)
EDGE_PAID = (0, 1, 5, 18_789, 18_790, 18_795, 18_799, 18_800, 18_801, 10**9, 2**63, UINT64_MAX - 18_800, UINT64_MAX)


def _inputs(n: int, *, wind_down: bool = False, payouts: int = 30_000, cases: int = 40) -> PeriodInputs:
    return PeriodInputs.from_payouts(
        [payouts] * cases, period_id=20310307, member_count=n, rule_set_hash=b"\x02" * 32, wind_down=wind_down
    )


def _reference(inputs: PeriodInputs, rows: list[tuple[bytes, int]]) -> tuple[bytes, bytes, bytes]:
    """(ledger file bytes, share root, membership root), one row at a time in plain Python."""
    base = compute_base(inputs)
    ledger_rows = []
    for commitment, paid in rows:
        share = share_of_member(
            case_cap_fen=base.case_cap_fen, annual_cap_fen=inputs.annual_cap_fen, paid_this_year_fen=paid
        )
        ledger_rows.append(ShareRow(commitment, share, base.base_fen - share, paid + share))
    root = MerkleTree.from_leaf_hashes([share_leaf_hash(r) for r in ledger_rows]).root
    totals = PeriodTotals.close(
        inputs,
        base,
        rows=len(rows),
        share_total_fen=sum(r.share_fen for r in ledger_rows),
        subsidy_total_fen=sum(r.subsidy_fen for r in ledger_rows),
    )
    body = b"".join(r.member_commitment + ROW_AMOUNTS.pack(*r[1:]) for r in ledger_rows)
    file = header_bytes(inputs, True) + body + trailer_bytes(totals, len(rows), root)
    return file, root, membership_snapshot([c for c, _ in rows]).root


def _rows(n: int, seed: int) -> list[tuple[bytes, int]]:
    rng = random.Random(seed)
    commitments = sorted({rng.randbytes(32) for _ in range(n)})
    return [(c, rng.choice((*EDGE_PAID, rng.randrange(19_000)))) for c in commitments]


def _packed(rows: list[tuple[bytes, int]]) -> tuple[bytes, np.ndarray[Any, np.dtype[np.uint64]]]:
    return b"".join(c for c, _ in rows), np.array([p for _, p in rows], dtype=np.uint64)


@pytest.mark.parametrize(
    ("seed", "inputs_kwargs"),
    [(1, {}), (2, {"wind_down": True}), (3, {"payouts": 1, "cases": 1}), (4, {"payouts": 10**12, "cases": 3})],
)
def test_packed_chunks_equal_a_row_by_row_reference(seed: int, inputs_kwargs: dict[str, Any]) -> None:
    """Shares, subsidies, year-to-date, the file bytes and both roots, for any chunking (a chunk
    of one row, chunks across the builder's own batch of hashed rows)."""
    rng = random.Random(seed)
    rows = _rows(rng.randrange(2_000, 5_000), seed)
    inputs = _inputs(len(rows), **inputs_kwargs)
    expected_file, expected_root, expected_members = _reference(inputs, rows)
    out = io.BytesIO()
    builder = ShareLedgerBuilder(inputs, out, snapshot=True)
    start = 0
    while start < len(rows):
        size = rng.choice((1, 2, 7, 2_047, 2_048, 2_049, 3_000))
        builder.add_packed(*_packed(rows[start : start + size]))
        start += size
    result = builder.finish()
    assert out.getvalue() == expected_file
    assert result.share_root == expected_root
    assert result.membership is not None
    assert result.membership.root == expected_members


def test_packed_chunks_and_listed_rows_build_the_same_ledger() -> None:
    rows = _rows(3_000, 9)
    inputs = _inputs(len(rows))
    by_rows, by_packed = io.BytesIO(), io.BytesIO()
    rows_builder = ShareLedgerBuilder(inputs, by_rows, snapshot=True)
    packed_builder = ShareLedgerBuilder(inputs, by_packed, snapshot=True)
    for start in range(0, len(rows), 1_000):
        rows_builder.add_chunk(rows[start : start + 1_000])
        packed_builder.add_packed(*_packed(rows[start : start + 1_000]))
    assert rows_builder.finish() == packed_builder.finish()
    assert by_rows.getvalue() == by_packed.getvalue()


def test_packed_chunk_errors_name_the_first_bad_row() -> None:
    rows = _rows(50, 4)
    inputs = _inputs(len(rows))

    def first_error(chunks: list[list[tuple[bytes, int]]]) -> MemberRowInvalid:
        builder = ShareLedgerBuilder(inputs)
        for chunk in chunks[:-1]:
            builder.add_packed(*_packed(chunk))
        with pytest.raises(MemberRowInvalid) as caught:
            builder.add_packed(*_packed(chunks[-1]))
        with pytest.raises(ApportionmentError):  # unusable after an error
            builder.add_packed(*_packed(rows[:1]))
        return caught.value

    swapped = [*rows[:20], rows[21], rows[20], *rows[22:]]
    error = first_error([swapped[:10], swapped[10:]])
    assert (type(error), error.fields.get("index")) == (MemberOrderError, 21)
    error = first_error([rows[:10], rows[9:]])  # a repeat across two chunks
    assert (type(error), error.fields.get("index")) == (MemberOrderError, 10)
    error = first_error([rows, [(b"\xff" * 32, 0)]])
    assert error.fields.get("field") == "member_count"
    builder = ShareLedgerBuilder(inputs)
    with pytest.raises(ApportionmentError, match="uint64"):
        builder.add_packed(b"".join(c for c, _ in rows[:2]), np.array([0, 0], dtype=np.int64))
    builder = ShareLedgerBuilder(inputs)
    with pytest.raises(ApportionmentError, match="differ in length"):
        builder.add_packed(b"".join(c for c, _ in rows[:2]), np.zeros(3, dtype=np.uint64))


def _fake_pages(pages: list[list[bytes]]) -> Any:
    def fake(session: object, instant: datetime, **kwargs: object) -> Iterator[list[bytes]]:
        yield from pages

    return fake


def test_snapshot_checks_width_and_order_across_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commitments = sorted(keccak256(bytes([i])) for i in range(20))
    path = tmp_path / "members"
    monkeypatch.setattr(chain_inputs, "protected_commitment_pages", _fake_pages([commitments[:8], [], commitments[8:]]))
    assert chain_inputs.snapshot_sharing_members(None, AT, path) == 20  # type: ignore[arg-type]
    assert path.read_bytes() == b"".join(commitments)
    assert list(chain_inputs.packed_member_blocks(path)) == [b"".join(commitments)]
    cases = [
        ([commitments[:8], commitments[7:]], MemberOrderError, 8),  # a repeat across pages
        ([commitments[:8], [commitments[9], commitments[8]]], MemberOrderError, 9),
        ([commitments[:8], [commitments[8], commitments[9][:31]]], MemberRowInvalid, 9),
    ]
    for pages, error, index in cases:
        monkeypatch.setattr(chain_inputs, "protected_commitment_pages", _fake_pages(pages))
        with pytest.raises(error) as caught:
            chain_inputs.snapshot_sharing_members(None, AT, path)  # type: ignore[arg-type]
        assert type(caught.value) is error
        assert caught.value.fields.get("index") == index


def _pairs_reference(level: bytes) -> bytes:
    nodes = [level[i : i + 32] for i in range(0, len(level) - 63, 64)]
    rights = [level[i + 32 : i + 64] for i in range(0, len(level) - 63, 64)]
    return b"".join(keccak256(min(a, b) + max(a, b)) for a, b in zip(nodes, rights, strict=True))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 40, 41])
def test_level_pairs_in_batches_equal_sorted_pairs(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Batches of 2 or 3 pairs against one sorted pair at a time, with the leaves' known order
    (``ordered_from``: descending leaves from there) starting anywhere even."""
    rng = random.Random(n)
    for batch in (2, 3, 1 << 11):
        monkeypatch.setattr(share_tree, "_PAIR_BATCH", batch)
        for ordered_from in {None, 0, n, n + 3, *range(0, n, 2)}:
            cut = n if ordered_from is None else min(ordered_from, n)
            head = [rng.randbytes(32) for _ in range(cut)]
            tail = sorted((rng.randbytes(32) for _ in range(n - cut)), reverse=True)
            level = b"".join(head + tail)
            assert share_tree._hash_pairs_flat(level, ordered_from) == _pairs_reference(level)
            assert share_tree._hash_pairs_flat(bytearray(level), ordered_from) == _pairs_reference(level)
    with pytest.raises(ValueError):
        share_tree._hash_pairs_flat(bytes(32 * 8), 3)


def test_leaf_sort_is_byte_order_even_when_the_first_eight_bytes_tie() -> None:
    rng = random.Random(5)
    distinct = [rng.randbytes(32) for _ in range(500)]
    tied = [bytes(8) + rng.randbytes(24) for _ in range(50)] + [bytes(31) + b"\x01", bytes(32)]
    zero_tails = [rng.randbytes(8) + bytes(24) for _ in range(50)]
    for hashes in (distinct, distinct + tied, zero_tails, distinct[:1], []):
        assert share_tree._sorted_desc(b"".join(hashes)) == b"".join(sorted(hashes, reverse=True))
