"""Flat-buffer share trees (backend.apportionment.share_tree) against the reference MerkleTree."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.apportionment.arithmetic import PeriodInputs
from backend.apportionment.errors import ShareLedgerInvalid
from backend.apportionment.ledger import ShareLedgerReader, membership_snapshot, share_leaf_hash, write_share_ledger
from backend.apportionment.receipts import share_receipt_from_proof, verify_share_receipt_offline
from backend.apportionment.share_tree import EMPTY_ROOT, LeafBuckets, ShareTreeFile, share_tree_root, write_tree_file
from backend.proofs.keccak import keccak256
from backend.proofs.merkle import MerkleTree, root_from_leaf_hashes


def _hashes(n: int, seed: int = 0) -> list[bytes]:
    return [keccak256(f"{seed}-{i}".encode()) for i in range(n)]


def _buckets(hashes: list[bytes]) -> LeafBuckets:
    leaves = LeafBuckets()
    for h in hashes:
        leaves.add(h)
    return leaves


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 255, 256, 257, 1000])
def test_tree_file_matches_the_reference_tree_at_edge_sizes(tmp_path: Path, n: int) -> None:
    hashes = _hashes(n, n)
    reference = MerkleTree.from_leaf_hashes(hashes)
    assert share_tree_root(_buckets(hashes)) == reference.root == root_from_leaf_hashes(hashes)
    path = tmp_path / "p.tree"
    assert write_tree_file(path, _buckets(hashes), 20240307) == reference.root
    with ShareTreeFile(path) as tree:
        assert (tree.root, tree.leaf_count, tree.period_id) == (reference.root, n, 20240307)
        for i, h in enumerate(hashes):
            index = tree.find_leaf(h)
            assert index == reference.tree_index(i)
            assert tree.proof(index) == reference.proof(i)
        assert tree.find_leaf(keccak256(b"not a leaf")) is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=300))
def test_bucketed_root_equals_the_reference_for_any_leaves(hashes: list[bytes]) -> None:
    flat = LeafBuckets()
    flat.extend_flat(b"".join(hashes))
    assert share_tree_root(flat) == share_tree_root(_buckets(hashes)) == root_from_leaf_hashes(hashes)


def test_empty_tree_has_the_zero_root_and_no_file(tmp_path: Path) -> None:
    assert share_tree_root(LeafBuckets()) == EMPTY_ROOT
    with pytest.raises(ShareLedgerInvalid):
        write_tree_file(tmp_path / "e.tree", LeafBuckets(), 1)
    assert not (tmp_path / "e.tree").exists()


def test_truncated_tree_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.tree"
    write_tree_file(path, _buckets(_hashes(10)), 1)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ShareLedgerInvalid):
        ShareTreeFile(path)


def test_ledger_writes_its_node_file_and_receipts_come_from_it(tmp_path: Path) -> None:
    members = sorted(keccak256(f"m{i}".encode()) for i in range(50))
    inputs = PeriodInputs.from_payouts(
        [30_000] * 3, period_id=20240307, member_count=len(members), rule_set_hash=b"\x01" * 32
    )
    rows = [(c, (i * 7) % 30) for i, c in enumerate(members)]
    ledger, tree_path = tmp_path / "p.hsl", tmp_path / "p.tree"
    result = write_share_ledger(ledger, inputs, rows, snapshot=True, tree_file=tree_path)
    assert result.membership is not None
    assert result.membership.root == membership_snapshot(members).root
    with ShareLedgerReader(ledger) as reader, ShareTreeFile(tree_path) as tree:
        assert tree.root == result.share_root == reader.share_root
        rebuilt = tmp_path / "rebuilt.tree"
        assert reader.write_tree_file(rebuilt) == result.share_root
        assert rebuilt.read_bytes() == tree_path.read_bytes()
        index, row = reader.find(members[17]) or (0, None)
        assert row is not None
        tree_index = tree.find_leaf(share_leaf_hash(row))
        assert tree_index is not None
        receipt = share_receipt_from_proof(
            ledger_root=tree.root, proof=tree.proof(tree_index), row=row, inputs=reader.inputs, totals=reader.totals
        )
    assert verify_share_receipt_offline(receipt).ok
    assert index == 17


@pytest.mark.parametrize("spill", [False, True])
def test_hashes_that_differ_only_in_zero_or_high_bytes_sort_and_pair_as_bytes(tmp_path: Path, spill: bool) -> None:
    """numpy sorts and compares the leaves as ``S32``, which drops trailing zero bytes when it
    compares: leaves that differ only there, or only in bytes ≥ 0x80, must still sort and pair as
    ``bytes`` do (the reference tree is pure Python)."""
    base = keccak256(b"edge")
    hashes = sorted(
        {base[:k] + bytes([v]) + bytes(31 - k) for k in (0, 1, 5, 30, 31) for v in (0x00, 0x01, 0x7F, 0x80, 0xFF)}
        | {bytes(32), b"\xff" * 32, b"\x00" * 31 + b"\x01", b"\x01" + b"\x00" * 31}
    )
    leaves = LeafBuckets(memory_bytes=0, spill_dir=tmp_path, sort_bytes=64) if spill else LeafBuckets()
    leaves.extend_flat(b"".join(reversed(hashes)))
    reference = MerkleTree.from_leaf_hashes(hashes)
    path = tmp_path / "z.tree"
    assert write_tree_file(path, leaves, 1) == reference.root
    with ShareTreeFile(path) as tree:
        for i, h in enumerate(hashes):
            index = tree.find_leaf(h)
            assert index == reference.tree_index(i)
            assert tree.proof(index) == reference.proof(i)
