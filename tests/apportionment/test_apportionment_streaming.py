"""Apportionment in bounded memory (issue 18 item 5): spilled leaves, on-disk levels and the
database stream give the very bytes, roots and proofs of the in-memory reference; what the builder
holds is counted, not timed.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert

from backend.apportionment import chain_inputs
from backend.apportionment.arithmetic import PeriodInputs
from backend.apportionment.chain_inputs import snapshot_sharing_members
from backend.apportionment.errors import MemberOrderError
from backend.apportionment.ledger import (
    ShareLedgerBuilder,
    ShareLedgerReader,
    build_share_ledger,
    membership_snapshot,
    share_leaf_hash,
    write_share_ledger,
)
from backend.apportionment.publish import build_period_ledger
from backend.apportionment.share_tree import LeafBuckets, ShareTreeFile, share_tree_root, write_tree_file
from backend.db.engine import make_engine, migrate, session_factory
from backend.db.models import Account, Member
from backend.proofs.keccak import keccak256
from backend.proofs.merkle import MerkleTree, process_proof
from backend.services import membership as membership_service
from backend.services.rules import DEFAULT_RULES

AT = datetime(2031, 3, 6, 16, tzinfo=UTC)


def _hashes(n: int, seed: int) -> list[bytes]:
    return [keccak256(f"{seed}-{i}".encode()) for i in range(n)]


def _spilling(hashes: list[bytes], tmp: Path, *, sort_bytes: int = 1 << 24) -> LeafBuckets:
    leaves = LeafBuckets(memory_bytes=0, spill_dir=tmp, sort_bytes=sort_bytes)
    for start in range(0, len(hashes), 7):  # chunks of 7, settled after each as the builder does
        for h in hashes[start : start + 7]:
            leaves.add(h)
        leaves.settle()
    return leaves


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9, 31, 33, 256, 257, 600])
@pytest.mark.parametrize("sort_bytes", [64, 1 << 24])  # 64: every run is split again by its next byte
def test_spilled_tree_file_equals_the_reference_tree(tmp_path: Path, n: int, sort_bytes: int) -> None:
    hashes = _hashes(n, n)
    if n > 2:
        hashes[1] = bytes([hashes[0][0]]) + hashes[1][1:]  # two leaves sharing a first byte
    reference = MerkleTree.from_leaf_hashes(hashes)
    spilled = _spilling(hashes, tmp_path, sort_bytes=sort_bytes)
    assert spilled.spilled
    in_memory = LeafBuckets()
    in_memory.extend_flat(b"".join(hashes))
    assert not in_memory.spilled
    path, memory_path = tmp_path / "s.tree", tmp_path / "m.tree"
    assert write_tree_file(path, spilled, 7) == write_tree_file(memory_path, in_memory, 7) == reference.root
    assert path.read_bytes() == memory_path.read_bytes()
    assert share_tree_root(_spilling(hashes, tmp_path, sort_bytes=sort_bytes)) == reference.root
    with ShareTreeFile(path) as tree:
        for i, h in enumerate(hashes):
            index = tree.find_leaf(h)
            assert index == reference.tree_index(i)
            assert tree.proof(index) == reference.proof(i)
            assert process_proof(h, tree.proof(index)) == reference.root
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tree", "s.tree"]  # no run file left


def _inputs(n: int) -> PeriodInputs:
    return PeriodInputs.from_payouts([30_000] * 40, period_id=20310307, member_count=n, rule_set_hash=b"\x02" * 32)


def _rows(n: int, seed: int) -> list[tuple[bytes, int]]:
    rng = random.Random(seed)
    commitments = sorted({rng.randbytes(32) for _ in range(n)})
    return [(c, rng.choice((0, 0, 5, 18_795, 18_800, rng.randrange(19_000)))) for c in commitments]


@pytest.mark.parametrize("seed", range(4))
def test_spilled_builder_writes_the_reference_bytes(tmp_path: Path, seed: int) -> None:
    rows = _rows(random.Random(seed).randrange(1, 3_000), seed)
    inputs = _inputs(len(rows))
    reference = build_share_ledger(inputs, rows, keep_tree=True, snapshot=True)
    assert reference.tree is not None
    assert reference.membership is not None
    results = []
    for name, memory in (("memory", 1 << 26), ("spilled", 32 * 50)):
        directory = tmp_path / name
        directory.mkdir()
        results.append(
            write_share_ledger(
                directory / "p.hsl",
                inputs,
                iter(rows),
                snapshot=True,
                tree_file=directory / "p.tree",
                memory_bytes=memory,
            )
        )
        assert sorted(p.name for p in directory.iterdir()) == ["p.hsl", "p.tree"]  # runs removed
    assert (tmp_path / "memory" / "p.hsl").read_bytes() == (tmp_path / "spilled" / "p.hsl").read_bytes()
    assert (tmp_path / "memory" / "p.tree").read_bytes() == (tmp_path / "spilled" / "p.tree").read_bytes()
    for result in results:
        assert result.share_root == reference.share_root
        assert result.membership == reference.membership
        assert result.totals == reference.totals
    assert membership_snapshot((c for c, _ in rows), memory_bytes=64).root == reference.membership.root
    with ShareLedgerReader(tmp_path / "spilled" / "p.hsl") as reader:
        rebuilt = tmp_path / "rebuilt.tree"
        assert reader.write_tree_file(rebuilt) == reference.share_root
        assert rebuilt.read_bytes() == (tmp_path / "spilled" / "p.tree").read_bytes()


def test_builder_holds_one_chunk_of_rows_and_a_fixed_number_of_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fed by a generator, the builder never pulls a row more than one chunk ahead of the file, and
    its in-memory leaves never exceed the threshold plus one chunk per tree: counted at every row."""
    n, chunk, memory = 20_000, 500, 32 * 2_000
    rows = _rows(n, 11)
    made: list[LeafBuckets] = []
    original_init = LeafBuckets.__init__

    def tracking_init(self: LeafBuckets, **kwargs: object) -> None:
        original_init(self, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(LeafBuckets, "__init__", tracking_init)

    class CountingWriter:
        bytes_written = 0

        def write(self, data: bytes) -> int:
            self.bytes_written += len(data)
            return len(data)

    writer = CountingWriter()
    most_ahead = most_buffered = 0
    pulled = 0

    def members() -> Iterator[tuple[bytes, int]]:
        nonlocal pulled, most_ahead, most_buffered
        for row in rows:
            written_rows = max(0, writer.bytes_written - 116) // 56
            most_ahead = max(most_ahead, pulled - written_rows)
            most_buffered = max(most_buffered, max((b.buffered_bytes() for b in made), default=0))
            pulled += 1
            yield row

    result = build_share_ledger(
        _inputs(n), members(), writer, snapshot=True, chunk_rows=chunk, memory_bytes=memory, spill_dir=tmp_path
    )
    assert pulled == n
    assert len(made) == 2  # the share tree's leaves and the membership snapshot's
    assert most_ahead <= chunk
    assert most_buffered <= memory + 32 * chunk
    assert result.share_root == build_share_ledger(_inputs(n), rows, keep_tree=True).share_root
    assert list(tmp_path.iterdir()) == []  # the run files are gone


def test_failed_build_removes_its_run_files(tmp_path: Path) -> None:
    rows = _rows(3_000, 5)
    rows[2_500] = rows[2_499]  # a duplicate member late in the stream, after the leaves spilled
    with pytest.raises(MemberOrderError):
        build_share_ledger(_inputs(len(rows)), rows, chunk_rows=100, memory_bytes=320, spill_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_birth_cutoff_is_exactly_the_age_rule() -> None:
    rules = DEFAULT_RULES
    for at in (
        AT,
        datetime(2032, 2, 28, 16, tzinfo=UTC),
        datetime(2032, 2, 29, 0, tzinfo=UTC),
        datetime(2033, 3, 1, 0, tzinfo=UTC),
        datetime(2033, 2, 28, 23, 59, tzinfo=UTC),
    ):
        cutoff = membership_service._birth_cutoff(at, rules)
        day = cutoff - timedelta(days=800)
        while day < cutoff + timedelta(days=800):
            assert (day >= cutoff) == (membership_service.end_of_membership(day, rules) > at), (at, day)
            day += timedelta(days=1)


def _fill(url: str, n: int, seed: int) -> list[bytes]:
    """``n`` members with random commitments in random insertion order; returns the sharing ones, sorted."""
    migrate(url)
    engine = make_engine(url)
    rng = random.Random(seed)
    accounts, members, sharing = [], [], []
    for i in range(n):
        commitment = rng.randbytes(32)
        kind = i % 10
        joined = AT - timedelta(days=400) if kind != 1 else AT + timedelta(seconds=1)
        birth = date(1980, 5, 5) if kind != 2 else date(1971, 3, 6)  # kind 2: 60 on the snapshot day
        ended = AT - timedelta(days=1) if kind == 3 else None
        account_id = f"a{i:031d}"
        accounts.append({"id": account_id, "username": f"u{i}", "password_hash": "x", "role": "member"})
        members.append(
            {
                "id": f"m{i:031d}",
                "account_id": account_id,
                "commitment": commitment,
                "salt": bytes(32),
                "birth_date": birth,
                "credit_score": 700,
                "joined_at": joined,
                "waiting_ends_at": joined + timedelta(days=90),
                "status": "active" if ended is None else "ended",
                "ended_at": ended,
                "rule_set_hash": bytes(32),
            }
        )
        if kind not in (1, 2, 3):
            sharing.append(commitment)
    with session_factory(engine).begin() as session:
        session.execute(insert(Account), accounts)
        session.execute(insert(Member), members)
    engine.dispose()
    return sorted(sharing)


@pytest.mark.parametrize("seed", [1, 2])
def test_period_from_the_database_equals_the_in_memory_reference(db_url: str, tmp_path: Path, seed: int) -> None:
    """Members streamed from SQLite / PostgreSQL in commitment order into the ledger, the node file
    (spilled, levels on disk) and the snapshot root: the reference's bytes, roots and proofs."""
    sharing = _fill(db_url, random.Random(seed).randrange(200, 1_500), seed)
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            members = tmp_path / "members"
            count = snapshot_sharing_members(session, AT, members)
    finally:
        engine.dispose()
    assert count == len(sharing)
    inputs = _inputs(count)
    previous_rows = [(c, (i * 7_919) % 19_000) for i, c in enumerate(sharing) if i % 3]
    previous = tmp_path / "previous.hsl"
    write_share_ledger(previous, _inputs(len(previous_rows)), [(c, 0) for c, _ in previous_rows])
    with ShareLedgerReader(previous) as reader:
        carried = {row.member_commitment: row.year_to_date_fen for row in reader.rows()}
    rows = [(c, carried.get(c, 0)) for c in sharing]
    reference = build_share_ledger(inputs, rows, keep_tree=True, snapshot=True)
    assert reference.tree is not None
    ledger, tree_path, result = build_period_ledger(tmp_path, inputs, members, previous, memory_bytes=32 * 50)
    assert tree_path is not None
    expected = tmp_path / "expected.hsl"
    write_share_ledger(expected, inputs, rows)
    assert ledger.read_bytes() == expected.read_bytes()
    assert (result.share_root, result.membership) == (reference.share_root, reference.membership)
    with ShareLedgerReader(ledger) as reader, ShareTreeFile(tree_path) as tree:
        assert tree.root == reference.share_root
        for i in range(0, count, max(1, count // 40)):
            row = reader.row(i)
            leaf = share_leaf_hash(row)
            index = tree.find_leaf(leaf)
            assert index == reference.tree.tree_index(i)
            assert tree.proof(index) == reference.tree.proof(i)
            assert process_proof(leaf, tree.proof(index)) == reference.share_root


@pytest.mark.parametrize("seed", range(3))
def test_paged_year_to_date_merge_equals_a_plain_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Blocks of 7 previous rows against pages of 5 members (and against packed blocks of 5, the
    builder's column path): windows of one, two and more blocks."""
    monkeypatch.setattr(chain_inputs, "_PAGE_ROWS", 7)
    rng = random.Random(seed)
    everyone = sorted({rng.randbytes(32) for _ in range(400)})
    previous_members = [c for c in everyone if rng.random() < 0.7]
    current = [c for c in everyone if rng.random() < 0.6]
    previous = tmp_path / "previous.hsl"
    write_share_ledger(
        previous, _inputs(len(previous_members)), [(c, rng.choice((0, 50, 18_000))) for c in previous_members]
    )
    with ShareLedgerReader(previous) as reader:
        carried = {row.member_commitment: row.year_to_date_fen for row in reader.rows()}
        pages = [current[i : i + 5] for i in range(0, len(current), 5)]
        paged = chain_inputs.paid_this_year_pages(iter(pages), reader)
        got = [(c, p) for page, paid in paged for c, p in zip(page, paid, strict=True)]
        assert list(chain_inputs.paid_this_year(iter(current), reader)) == got
    assert got == [(c, carried.get(c, 0)) for c in current]
    blocks = [b"".join(current[i : i + 5]) for i in range(0, len(current), 5)]
    with ShareLedgerReader(previous) as reader:
        by_blocks = list(chain_inputs.paid_this_year_blocks(iter([b"", *blocks]), reader))
    assert [block for block, _ in by_blocks] == blocks  # the empty block is skipped
    assert all(paid.dtype == np.uint64 for _, paid in by_blocks)
    assert [p for _, paid in by_blocks for p in paid.tolist()] == [carried.get(c, 0) for c in current]
    none = list(chain_inputs.paid_this_year_blocks(iter(blocks), None))
    assert [p for _, paid in none for p in paid.tolist()] == [0] * len(current)
    with pytest.raises(MemberOrderError):
        list(chain_inputs.paid_this_year_blocks(iter([blocks[0][:-1]]), None))


def test_columns_and_rows_build_the_same_ledger() -> None:
    rows = _rows(1_000, 3)
    inputs = _inputs(len(rows))
    by_rows, by_columns = io.BytesIO(), io.BytesIO()
    expected = build_share_ledger(inputs, rows, by_rows, snapshot=True, chunk_rows=64)
    builder = ShareLedgerBuilder(inputs, by_columns, snapshot=True)
    for start in range(0, len(rows), 100):
        chunk = rows[start : start + 100]
        builder.add_columns([c for c, _ in chunk], [p for _, p in chunk])
    assert builder.finish() == expected
    assert by_columns.getvalue() == by_rows.getvalue()
    broken = ShareLedgerBuilder(inputs)
    with pytest.raises(MemberOrderError) as caught:
        broken.add_columns([rows[1][0], rows[0][0]], [0, 0])
    assert caught.value.fields.get("index") == 1
