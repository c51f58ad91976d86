"""RELIABILITY F2: tampered Merkle proofs are rejected — by us and by the JS library.

Mutation classes after transparency-dev/merkle's inclusion-proof tests, adapted to OpenZeppelin's
format: bit flips in the proof, the leaf and the root; another leaf of the tree; truncated,
extended, prepended, reordered and emptied proofs; another tree's root; and garbage bytes before
or after a proof node, the root or the leaf hash. (A wrong leaf *index* or tree *size* are not
inputs of ``MerkleProof.verify`` — commutative node hashing carries no position — so the index
class does not apply (receipts carry no index) and the size class is covered where the size
lives: ``leafCount`` in the receipt tests.)

Figure to reach: happy path 100 % accepted, 100 % of mutations rejected, by
``backend.proofs.merkle`` and by @openzeppelin/merkle-tree (``StandardMerkleTree.verify`` on
values, ``SimpleMerkleTree.verify`` on leaf hashes) as an independent check.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from proofs_support import evidence_values, run_oracle

from backend.proofs.hexstr import to_hex
from backend.proofs.leaves import EVIDENCE_LEAF_TYPES, values_to_json
from backend.proofs.merkle import verify_proof
from backend.proofs.standard_tree import StandardMerkleTree

SEED = 62
SIZES = (1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 64, 100)


@dataclass
class Case:
    kind: str  # "happy" or the mutation class
    root: bytes
    value: tuple[bytes, bytes, bytes] | None  # value-level case (None: hash-level only)
    leaf_hash: bytes
    proof: list[bytes]


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    bit = rng.randrange(8 * len(out))
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _cases() -> list[Case]:
    rng = random.Random(SEED)
    trees = [StandardMerkleTree.of(evidence_values(f"f2/{n}", n), EVIDENCE_LEAF_TYPES) for n in SIZES]
    cases: list[Case] = []
    for k, tree in enumerate(trees):
        n = len(tree)
        other_root = trees[(k + 1) % len(trees)].root
        picks = range(n) if n <= 33 else sorted(rng.sample(range(n), 12))
        for i in picks:
            value = tree.values[i]
            leaf = tree.leaf_hash(value)
            proof = tree.proof(i)
            root = tree.root
            cases.append(Case("happy", root, value, leaf, proof))

            def add(
                kind: str, *, root: bytes = root, value: Any = value, leaf: bytes = leaf, proof: list[bytes] = proof
            ) -> None:
                cases.append(Case(kind, root, value, leaf, proof))

            for j in range(len(proof)):
                add("proof-bit-flip", proof=[*proof[:j], _flip(proof[j], rng), *proof[j + 1 :]])
            for field in range(3):
                mutated = list(value)
                mutated[field] = _flip(mutated[field], rng)
                bad = (mutated[0], mutated[1], mutated[2])
                add("leaf-value-bit-flip", value=bad, leaf=tree.leaf_hash(bad))
            add("leaf-hash-bit-flip", value=None, leaf=_flip(leaf, rng))
            add("root-bit-flip", root=_flip(root, rng))
            add("wrong-root", root=other_root)
            if n > 1:
                other = tree.values[(i + 1 + rng.randrange(n - 1)) % n]
                add("wrong-leaf", value=other, leaf=tree.leaf_hash(other))
            if proof:
                add("proof-truncated-end", proof=proof[:-1])
                add("proof-truncated-start", proof=proof[1:])
                add("proof-empty", proof=[])
                add("proof-node-garbage-after", proof=[proof[0] + b"\x00", *proof[1:]])
                add("proof-node-garbage-before", proof=[b"\x00" + proof[0], *proof[1:]])
            if len(proof) >= 2 and proof[0] != proof[1]:
                add("proof-reordered", proof=[proof[1], proof[0], *proof[2:]])
            add("proof-extended", proof=[*proof, rng.randbytes(32)])
            add("proof-prepended", proof=[rng.randbytes(32), *proof])
            add("proof-extended-with-root", proof=[*proof, root])
            add("root-garbage-after", root=root + b"\x00")
            add("root-garbage-before", root=b"\x00" + root)
            add("leaf-hash-garbage-after", value=None, leaf=leaf + b"\x00")
            add("leaf-hash-truncated", value=None, leaf=leaf[:31])
    return cases


def test_f2_happy_path_accepted_and_every_mutation_rejected_by_us_and_by_js() -> None:
    cases = _cases()
    requests: list[dict[str, Any]] = []
    for c in cases:
        proof_hex = [to_hex(p) for p in c.proof]
        requests.append(
            {"op": "verifyHash", "root": to_hex(c.root), "leafHash": to_hex(c.leaf_hash), "proof": proof_hex}
        )
        if c.value is not None:
            requests.append(
                {
                    "op": "verify",
                    "root": to_hex(c.root),
                    "leafTypes": list(EVIDENCE_LEAF_TYPES),
                    "leaf": values_to_json(EVIDENCE_LEAF_TYPES, c.value),
                    "proof": proof_hex,
                }
            )
    answers = iter(run_oracle(requests))

    accepted: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for c in cases:
        ours = [verify_proof(c.root, c.leaf_hash, c.proof)]
        js = [next(answers)["valid"]]
        if c.value is not None:
            ours.append(StandardMerkleTree.verify_value(c.root, EVIDENCE_LEAF_TYPES, c.value, c.proof))
            js.append(next(answers)["valid"])
        for verdict in (*ours, *js):
            total[c.kind] += 1
            accepted[c.kind] += verdict is True
        expected = c.kind == "happy"
        assert ours == [expected] * len(ours), (c.kind, "ours")
        assert js == [expected] * len(js), (c.kind, "js")

    assert accepted["happy"] == total["happy"] > 0
    mutation_kinds = set(total) - {"happy"}
    assert len(mutation_kinds) >= 18
    assert sum(accepted[k] for k in mutation_kinds) == 0
    assert sum(total[k] for k in mutation_kinds) > 5000
