"""Our StandardMerkleTree against the JS library itself, on seeded random and Hypothesis inputs.

Each test sends its trees to scripts/merkle_oracle.mjs in one node run and compares roots, whole
tree arrays, every proof, multiproofs and dumps — and has each side load the other's dump.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proofs_support import run_oracle

from backend.proofs.hexstr import to_hex
from backend.proofs.leaves import EVIDENCE_LEAF_TYPES, values_from_json, values_to_json
from backend.proofs.merkle import root_from_leaf_hashes
from backend.proofs.standard_tree import StandardMerkleTree

SEED = 20240601


def _random_value(rng: random.Random, types: tuple[str, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for t in types:
        if t == "bytes32":
            out.append(rng.randbytes(32))
        elif t == "bytes":
            out.append(rng.randbytes(rng.choice([0, 1, 31, 32, 33, 34, 36, 64, 100])))
        elif t == "address":
            out.append("0x" + rng.randbytes(20).hex())
        elif t == "uint256":
            out.append(rng.choice([0, 1, 2**256 - 1, rng.getrandbits(rng.randint(1, 256))]))
        elif t == "int64":
            out.append(rng.randint(-(2**63), 2**63 - 1))
        elif t == "bool":
            out.append(rng.random() < 0.5)
        elif t == "string":
            out.append("".join(rng.choice("ab相互宝 ") for _ in range(rng.randint(0, 40))))
        else:
            raise AssertionError(t)
    return tuple(out)


ENCODINGS: list[tuple[str, ...]] = [
    EVIDENCE_LEAF_TYPES,
    ("address", "uint256"),
    ("bytes32",),
    ("string", "bool", "int64", "bytes"),
]


def _compare_with_oracle(trees: list[tuple[tuple[str, ...], list[tuple[Any, ...]], bool, list[list[int]]]]) -> int:
    requests = []
    ours = []
    for types, values, sort_leaves, multis in trees:
        tree = StandardMerkleTree.of(values, types, sort_leaves=sort_leaves)
        ours.append(tree)
        requests.append(
            {
                "op": "build",
                "leafTypes": list(types),
                "values": [values_to_json(types, v) for v in values],
                "sortLeaves": sort_leaves,
                "multiproofs": multis,
            }
        )
    responses = run_oracle(requests)
    # Second round: each side loads the other's dump.
    load_answers = run_oracle([{"op": "load", "dump": t.dump()} for t in ours])
    compared = 0
    for tree, res, loaded, (types, _values, _sort, multis) in zip(ours, responses, load_answers, trees, strict=True):
        assert to_hex(tree.root) == res["root"]
        assert [to_hex(n) for n in tree.tree.nodes()] == res["tree"]
        assert [tree.tree_index(i) for i in range(len(tree))] == res["treeIndices"]
        for i, proof in enumerate(res["proofs"]):
            assert [to_hex(p) for p in tree.proof(i)] == proof
        for indices, mp in zip(multis, res["multiproofs"], strict=True):
            mine = tree.multiproof(indices)
            assert [to_hex(p) for p in mine.proof] == mp["proof"]
            assert mine.proof_flags == mp["proofFlags"]
            assert [values_to_json(types, v) for v in mine.leaves] == mp["leaves"]
        assert loaded == {"valid": True, "error": None, "root": res["root"]}
        assert StandardMerkleTree.load(res["dump"]).root == tree.root
        leaf_hashes = [tree.leaf_hash(v) for v in tree.values]
        assert root_from_leaf_hashes(leaf_hashes, sort_leaves=_sort) == tree.root
        compared += 1
    return compared


def test_of_matches_js_library_on_seeded_random_trees_of_1_to_300_leaves() -> None:
    rng = random.Random(SEED)
    sizes = [*range(1, 21), 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300]
    sizes += [rng.randint(21, 300) for _ in range(8)]
    trees = []
    for k, n in enumerate(sizes):
        types = ENCODINGS[k % len(ENCODINGS)]
        values = [_random_value(rng, types) for _ in range(n)]
        if n > 3 and k % 5 == 0:
            values[rng.randrange(n)] = values[0]  # a duplicate value
        picks = sorted(rng.sample(range(n), min(n, rng.randint(1, 6))))
        trees.append((types, values, k % 7 != 3, [picks]))
    assert _compare_with_oracle(trees) == len(sizes)


_bytes32 = st.binary(min_size=32, max_size=32)
_evidence = st.tuples(_bytes32, _bytes32, st.binary(min_size=0, max_size=80))


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_evidence, min_size=1, max_size=300), sort_leaves=st.booleans(), data=st.data())
def test_of_matches_js_library_on_hypothesis_evidence_batches(
    values: list[tuple[bytes, bytes, bytes]], sort_leaves: bool, data: st.DataObject
) -> None:
    picks = data.draw(st.sets(st.integers(0, len(values) - 1), min_size=1, max_size=5))
    assert _compare_with_oracle([(EVIDENCE_LEAF_TYPES, values, sort_leaves, [sorted(picks)])]) == 1


def test_values_json_round_trip_is_identity_for_random_values() -> None:
    rng = random.Random(SEED + 1)
    for types in ENCODINGS:
        for _ in range(50):
            value = _random_value(rng, types)
            assert values_from_json(types, values_to_json(types, value)) == value
