"""Golden vectors: our StandardMerkleTree reproduces @openzeppelin/merkle-tree's output exactly.

tests/vectors/merkle_standard.json holds the JS library's own output (see its "derivation").
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from proofs_support import VECTORS

from backend.proofs.errors import TreeDumpInvalid
from backend.proofs.hexstr import from_hex, to_hex
from backend.proofs.leaves import values_from_json
from backend.proofs.merkle import (
    MerkleTree,
    process_multiproof,
    root_from_leaf_hashes,
    verify_proof,
)
from backend.proofs.standard_tree import StandardMerkleTree

DOC = json.loads((VECTORS / "merkle_standard.json").read_text(encoding="utf-8"))
CASES = DOC["cases"]


def _tree(case: dict[str, Any]) -> StandardMerkleTree:
    values = [values_from_json(case["leafTypes"], v) for v in case["values"]]
    return StandardMerkleTree.of(values, case["leafTypes"], sort_leaves=case["sortLeaves"])


def test_vector_file_records_its_derivation_and_covers_the_shapes() -> None:
    assert "merkle-tree 1.0.8" in DOC["library"]
    assert "derivation" in DOC
    sizes = {len(c["values"]) for c in CASES}
    assert {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33} <= sizes
    assert any(not c["sortLeaves"] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_of_reproduces_library_root_tree_and_indices(case: dict[str, Any]) -> None:
    tree = _tree(case)
    assert to_hex(tree.root) == case["root"]
    assert [to_hex(n) for n in tree.tree.nodes()] == case["tree"]
    assert [tree.tree_index(i) for i in range(len(tree))] == case["treeIndices"]
    assert [to_hex(tree.leaf_hash(v)) for v in tree.values] == case["leafHashes"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_proof_reproduces_library_proofs_by_index_and_by_value(case: dict[str, Any]) -> None:
    tree = _tree(case)
    for i, expected in enumerate(case["proofs"]):
        assert [to_hex(p) for p in tree.proof(i)] == expected
        by_value = tree.proof(tree.values[i])
        # A value present twice resolves to its last occurrence, as in the library.
        last = max(j for j, v in enumerate(case["values"]) if v == case["values"][i])
        assert [to_hex(p) for p in by_value] == case["proofs"][last]
        assert verify_proof(from_hex(case["root"]), from_hex(case["leafHashes"][i]), [from_hex(p) for p in expected])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_multiproof_reproduces_library_multiproofs(case: dict[str, Any]) -> None:
    tree = _tree(case)
    for mp in case["multiproofs"]:
        ours = tree.multiproof(mp["indices"])
        assert [to_hex(p) for p in ours.proof] == mp["proof"]
        assert ours.proof_flags == mp["proofFlags"]
        assert [list(v) for v in (values_from_json(case["leafTypes"], x) for x in mp["leaves"])] == [
            list(v) for v in ours.leaves
        ]
        assert tree.verify_multiproof(ours)
        hashes = [tree.leaf_hash(v) for v in ours.leaves]
        assert process_multiproof(hashes, ours.proof, ours.proof_flags) == tree.root


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_dump_equals_library_dump_and_load_round_trips(case: dict[str, Any]) -> None:
    tree = _tree(case)
    dump = tree.dump()
    assert dump["format"] == case["dump"]["format"] == "standard-v1"
    assert dump["tree"] == case["dump"]["tree"]
    assert [v["treeIndex"] for v in dump["values"]] == [v["treeIndex"] for v in case["dump"]["values"]]
    # The JS dump (its own value spelling) loads here and gives the same tree.
    loaded = StandardMerkleTree.load(case["dump"])
    assert loaded.root == tree.root
    assert StandardMerkleTree.load(json.loads(json.dumps(dump))).dump() == dump


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_hash_level_tree_matches_library_given_its_leaf_hashes(case: dict[str, Any]) -> None:
    leaf_hashes = [from_hex(h) for h in case["leafHashes"]]
    tree = MerkleTree.from_leaf_hashes(leaf_hashes, sort_leaves=case["sortLeaves"])
    assert [to_hex(n) for n in tree.nodes()] == case["tree"]
    assert root_from_leaf_hashes(leaf_hashes, sort_leaves=case["sortLeaves"]) == from_hex(case["root"])
    assert root_from_leaf_hashes(b"".join(leaf_hashes), sort_leaves=case["sortLeaves"]) == from_hex(case["root"])


def test_load_rejects_dump_with_altered_node() -> None:
    dump = json.loads(json.dumps(CASES[4]["dump"]))
    dump["tree"][1] = "0x" + "00" * 32
    with pytest.raises(TreeDumpInvalid, match="Merkle tree is invalid"):
        StandardMerkleTree.load(dump)


def test_load_rejects_dump_with_altered_value() -> None:
    case = next(c for c in CASES if c["name"] == "evidence-5")
    dump = json.loads(json.dumps(case["dump"]))
    dump["values"][2]["value"][2] = dump["values"][2]["value"][2][:-2] + "00"
    with pytest.raises(TreeDumpInvalid, match="does not contain the expected value"):
        StandardMerkleTree.load(dump)


def test_load_rejects_dump_with_missing_value_or_unknown_format() -> None:
    case = next(c for c in CASES if c["name"] == "evidence-5")
    dump = json.loads(json.dumps(case["dump"]))
    dump["values"].pop()
    with pytest.raises(TreeDumpInvalid, match="expected 5 values"):
        StandardMerkleTree.load(dump)
    with pytest.raises(TreeDumpInvalid, match="Unknown format"):
        StandardMerkleTree.load({**case["dump"], "format": "simple-v1"})


def test_load_rejects_value_pointing_at_inner_node() -> None:
    case = next(c for c in CASES if c["name"] == "evidence-5")
    dump = json.loads(json.dumps(case["dump"]))
    dump["values"][0]["treeIndex"] = 1
    with pytest.raises(TreeDumpInvalid, match="not a distinct leaf index"):
        StandardMerkleTree.load(dump)
