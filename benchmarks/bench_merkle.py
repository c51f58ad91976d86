"""Merkle tree throughput (backend.proofs.merkle) with same-run baselines.

Figures (leaves/s, best of ``repeat`` runs):

* ``bare_leaf_hashing`` — only the leaf hashes of N evidence leaves (encode + 2 keccak each): the
  work no tree can avoid; ``build_vs_bare_hashing`` = build time / this time.
* ``tree_from_values`` — ``StandardMerkleTree.of`` on the same N evidence leaves (leaf hashes,
  sort, inner nodes, value index).
* ``tree_from_leaf_hashes`` / ``root_from_leaf_hashes`` — from precomputed leaf hashes (the path
  for 10 M-leaf trees); ``large_tree_from_leaf_hashes`` repeats it at ``large`` leaves.
* ``keccak_calls_per_s`` — each installed keccak backend on 64-byte inputs (one inner node).
* ``js_library`` — @openzeppelin/merkle-tree's ``StandardMerkleTree.of`` on ``js_leaves`` evidence
  leaves, timed inside node; ``python_speedup_vs_js`` = JS time / our time on the same leaves.

``python -m benchmarks`` runs it; ``python -m benchmarks.bench_merkle [N]`` runs it alone.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend.proofs import keccak as keccak_mod
from backend.proofs.leaves import EVIDENCE_LEAF_TYPES, evidence_values_hash
from backend.proofs.merkle import MerkleTree, root_from_leaf_hashes
from backend.proofs.standard_tree import StandardMerkleTree

REPO = Path(__file__).resolve().parents[1]


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _large_build_seconds(leaf_hashes: list[bytes]) -> float:
    t0 = time.perf_counter()
    MerkleTree.from_leaf_hashes(leaf_hashes)
    return time.perf_counter() - t0


def _evidence(n: int, seed: int) -> list[tuple[bytes, bytes, bytes]]:
    rng = random.Random(seed)
    # Binary CIDv1 (raw, sha2-256) as in the evidence store: 36 bytes.
    return [(rng.randbytes(32), rng.randbytes(32), b"\x01\x55\x12\x20" + rng.randbytes(32)) for _ in range(n)]


def _js_build_seconds(values: list[tuple[bytes, bytes, bytes]], repeat: int) -> float | None:
    node = shutil.which("node")
    if node is None:
        return None
    request = {
        "op": "bench",
        "leafTypes": list(EVIDENCE_LEAF_TYPES),
        "values": [["0x" + a.hex(), "0x" + b.hex(), "0x" + c.hex()] for a, b, c in values],
        "repeat": repeat,
    }
    proc = subprocess.run(
        [node, str(REPO / "scripts" / "merkle_oracle.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return float(json.loads(proc.stdout)["seconds"])


def run(n: int = 100_000, js_leaves: int = 20_000, large: int = 1_000_000, repeat: int = 3) -> dict[str, Any]:
    values = _evidence(n, seed=1)

    t_hash = _best(lambda: [evidence_values_hash(v) for v in values], repeat)
    t_of = _best(lambda: StandardMerkleTree.of(values, EVIDENCE_LEAF_TYPES), repeat)
    hashes = [evidence_values_hash(v) for v in values]
    t_from_hashes = _best(lambda: MerkleTree.from_leaf_hashes(hashes), repeat)
    t_root = _best(lambda: root_from_leaf_hashes(hashes), repeat)
    tree = MerkleTree.from_leaf_hashes(hashes)
    proofs = min(n, 10_000)
    t_proofs = _best(lambda: [tree.proof(i) for i in range(proofs)], repeat)

    rng = random.Random(2)
    t_big = _large_build_seconds([rng.randbytes(32) for _ in range(large)])

    keccak_rates = {}
    inputs = [random.Random(3).randbytes(64) for _ in range(200_000)]
    for name in keccak_mod.available_backends():
        fn = keccak_mod.load_backend(name)
        keccak_rates[name] = round(len(inputs) / _best(lambda fn=fn: [fn(x) for x in inputs], repeat))

    js_values = values[:js_leaves]
    t_py_js_size = _best(lambda: StandardMerkleTree.of(js_values, EVIDENCE_LEAF_TYPES), repeat)
    t_js = _js_build_seconds(js_values, repeat)

    return {
        "leaves": n,
        "keccak_backend": keccak_mod.KECCAK_BACKEND,
        "bare_leaf_hashing_leaves_per_s": round(n / t_hash),
        "tree_from_values_leaves_per_s": round(n / t_of),
        "build_vs_bare_hashing": round(t_of / t_hash, 2),
        "tree_from_leaf_hashes_leaves_per_s": round(n / t_from_hashes),
        "root_from_leaf_hashes_leaves_per_s": round(n / t_root),
        "proofs_per_s": round(proofs / t_proofs),
        "large_tree_leaves": large,
        "large_tree_from_leaf_hashes_leaves_per_s": round(large / t_big),
        "large_tree_seconds": round(t_big, 2),
        "keccak_calls_per_s": keccak_rates,
        "js_leaves": js_leaves,
        "python_tree_from_values_seconds_at_js_leaves": round(t_py_js_size, 4),
        "js_library_seconds": None if t_js is None else round(t_js, 4),
        "python_speedup_vs_js": None if t_js is None else round(t_js / t_py_js_size, 2),
    }


if __name__ == "__main__":
    leaves = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(run(n=leaves), indent=2))
