"""Hypothesis properties of backend.proofs.merkle and its refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.proofs.errors import LeafNotInTree, MerkleError
from backend.proofs.merkle import (
    MerkleTree,
    node_hash,
    process_multiproof,
    proof_length_for_tree_index,
    root_from_leaf_hashes,
    verify_multiproof,
    verify_proof,
)
from backend.proofs.standard_tree import StandardMerkleTree

_hash = st.binary(min_size=32, max_size=32)
_hashes = st.lists(_hash, min_size=1, max_size=200)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(leaves=_hashes, sort_leaves=st.booleans())
def test_packed_proofs_equal_each_leafs_proof_in_input_order(leaves: list[bytes], sort_leaves: bool) -> None:
    tree = MerkleTree.from_leaf_hashes(leaves, sort_leaves=sort_leaves)
    packed = tree.packed_proofs()
    assert len(packed) == len(leaves)
    for i, leaf in enumerate(leaves):
        assert packed[i] == b"".join(tree.proof(i))
        siblings = [packed[i][k : k + 32] for k in range(0, len(packed[i]), 32)]
        assert verify_proof(tree.root, leaf, siblings)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(leaves=_hashes, sort_leaves=st.booleans())
def test_every_proof_verifies_and_has_the_depth_of_its_node(leaves: list[bytes], sort_leaves: bool) -> None:
    tree = MerkleTree.from_leaf_hashes(leaves, sort_leaves=sort_leaves)
    assert tree.leaf_count == len(leaves)
    assert tree.is_valid()
    for i, leaf in enumerate(leaves):
        t = tree.tree_index(i)
        assert tree.node(t) == leaf
        assert len(leaves) - 1 <= t <= 2 * len(leaves) - 2
        proof = tree.proof(i)
        assert len(proof) == proof_length_for_tree_index(t)
        assert verify_proof(tree.root, leaf, proof)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(leaves=_hashes, sort_leaves=st.booleans())
def test_root_from_leaf_hashes_equals_built_tree_root_for_any_input_form(
    leaves: list[bytes], sort_leaves: bool
) -> None:
    root = MerkleTree.from_leaf_hashes(leaves, sort_leaves=sort_leaves).root
    assert root_from_leaf_hashes(iter(leaves), sort_leaves=sort_leaves) == root
    assert root_from_leaf_hashes(bytearray(b"".join(leaves)), sort_leaves=sort_leaves) == root
    assert MerkleTree.from_leaf_hashes(memoryview(b"".join(leaves)), sort_leaves=sort_leaves).root == root


@settings(max_examples=60, deadline=None, derandomize=True)
@given(leaves=_hashes, data=st.data())
def test_sorted_tree_root_does_not_depend_on_input_order(leaves: list[bytes], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(leaves))
    assert root_from_leaf_hashes(shuffled) == root_from_leaf_hashes(leaves)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(leaves=_hashes, data=st.data())
def test_multiproof_of_any_subset_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree.from_leaf_hashes(leaves)
    subset = data.draw(st.sets(st.integers(0, len(leaves) - 1), max_size=len(leaves)))
    mp = tree.multiproof(sorted(subset))
    assert verify_multiproof(tree.root, mp.leaves, mp.proof, mp.proof_flags)
    assert process_multiproof(mp.leaves, mp.proof, mp.proof_flags) == tree.root


@settings(max_examples=40, deadline=None, derandomize=True)
@given(values=st.lists(st.tuples(st.integers(0, 2**256 - 1), st.booleans()), min_size=1, max_size=60))
def test_standard_tree_dump_load_round_trips_and_values_verify(values: list[tuple[int, bool]]) -> None:
    tree = StandardMerkleTree.of(values, ["uint256", "bool"])
    loaded = StandardMerkleTree.load(tree.dump())
    assert loaded.root == tree.root
    assert loaded.values == tree.values
    for i, v in enumerate(values):
        assert tree.verify(i, tree.proof(v))
        assert StandardMerkleTree.verify_value(tree.root, ["uint256", "bool"], v, tree.proof(i))


def test_node_hash_is_commutative() -> None:
    a, b = bytes(range(32)), bytes(range(1, 33))
    assert node_hash(a, b) == node_hash(b, a)


def test_from_leaf_hashes_rejects_empty_and_wrong_lengths() -> None:
    with pytest.raises(MerkleError, match="Expected non-zero number of leaves"):
        MerkleTree.from_leaf_hashes([])
    with pytest.raises(MerkleError, match="32 bytes"):
        MerkleTree.from_leaf_hashes([b"\x00" * 31])
    with pytest.raises(MerkleError, match="multiple of 32"):
        root_from_leaf_hashes(b"\x00" * 33)


def test_proof_rejects_out_of_range_and_inner_indices() -> None:
    tree = MerkleTree.from_leaf_hashes([bytes([i]) * 32 for i in range(5)])
    with pytest.raises(MerkleError, match="Index out of bounds"):
        tree.proof(5)
    with pytest.raises(MerkleError, match="Index is not a leaf"):
        tree.proof_at_tree_index(1)
    with pytest.raises(MerkleError, match="Cannot prove duplicated index"):
        tree.multiproof([1, 1])


def test_standard_tree_proof_of_absent_value_raises_leaf_not_in_tree() -> None:
    tree = StandardMerkleTree.of([(1,), (2,)], ["uint256"])
    with pytest.raises(LeafNotInTree, match="Leaf is not in tree"):
        tree.proof((3,))
    assert tree.at(5) is None
    assert tree.at(-1) == (2,)


def test_process_multiproof_rejects_malformed_input() -> None:
    h = bytes(32)
    with pytest.raises(MerkleError, match="not compatible"):
        process_multiproof([h, h], [h], [True])
    with pytest.raises(MerkleError, match="Invalid multiproof format"):
        process_multiproof([h], [], [False])
    assert not verify_multiproof(h, [h, h], [h], [True])


def test_verify_proof_returns_false_for_malformed_input() -> None:
    h = bytes(32)
    assert not verify_proof(h, h[:31], [])
    assert not verify_proof(h[:31], h, [])
    assert not verify_proof(h, h, [h + b"\x00"])
    assert verify_proof(h, h, [])
