"""Deterministic builders and the JS-oracle runner shared by the proofs tests and make_vectors.py."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"
ORACLE = REPO / "scripts" / "merkle_oracle.mjs"


def det_bytes(label: str, n: int = 32) -> bytes:
    """``n`` bytes derived from ``label`` (SHA-256 in counter mode): reproducible test data."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return out[:n]


def cid_v0(label: str) -> bytes:
    """A binary CIDv0: sha2-256 multihash (0x12 0x20 + digest)."""
    return b"\x12\x20" + det_bytes(label)


def cid_v1_raw(label: str) -> bytes:
    """A binary CIDv1, raw codec (0x55), sha2-256."""
    return b"\x01\x55\x12\x20" + det_bytes(label)


def cid_v1_dag_pb(label: str) -> bytes:
    """A binary CIDv1, dag-pb codec (0x70), sha2-256."""
    return b"\x01\x70\x12\x20" + det_bytes(label)


def evidence_values(label: str, n: int) -> list[tuple[bytes, bytes, bytes]]:
    """``n`` evidence leaves (claimRef, contentCommitment, cid) alternating CID kinds."""
    makers = (cid_v0, cid_v1_raw, cid_v1_dag_pb)
    return [
        (det_bytes(f"{label}/claim/{i // 3}"), det_bytes(f"{label}/commit/{i}"), makers[i % 3](f"{label}/cid/{i}"))
        for i in range(n)
    ]


def run_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run scripts/merkle_oracle.mjs (@openzeppelin/merkle-tree under node) on ``requests``."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is required: the JS library is the independent oracle")
    proc = subprocess.run(
        [node, str(ORACLE)],
        input=json.dumps({"requests": requests}),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"merkle oracle failed: {proc.stderr[-2000:]}")
    responses: list[dict[str, Any]] = json.loads(proc.stdout)["responses"]
    return responses


class LedgerLookup:
    """An in-memory EvidenceNotary: the reference ``BatchLookup`` + ``AnchorTxLookup``.

    ``verify`` is what the contract's ``verify(batchId, leaf, proof)`` does —
    ``MerkleProof.verify(proof, root[batchId], leaf)`` — written with backend.proofs.merkle.
    """

    def __init__(self, chain: dict[str, Any]) -> None:
        from backend.proofs.receipts import AnchoredBatch, AnchorTransaction

        self.chain_id: int = chain["chainId"]
        self.contract: str = chain["contract"]
        self.batches = {
            b["batchId"]: AnchoredBatch(
                bytes.fromhex(b["root"][2:]), bytes.fromhex(b["prevRoot"][2:]), b["leafCount"], b["block"]
            )
            for b in chain["batches"]
        }
        self.transactions = {
            bytes.fromhex(t["txHash"][2:]): AnchorTransaction(
                t["contract"], t["batchId"], bytes.fromhex(t["root"][2:]), t["block"]
            )
            for t in chain["anchorTransactions"]
        }
        self.history_pruned = False

    def batch(self, batch_id: int) -> Any:
        return self.batches.get(batch_id)

    def verify(self, batch_id: int, leaf_hash: bytes, proof: Any) -> bool:
        from backend.proofs.merkle import verify_proof

        found = self.batches.get(batch_id)
        return found is not None and verify_proof(found.root, leaf_hash, proof)

    def anchor_transaction(self, tx_hash: bytes) -> Any:
        from backend.proofs.errors import HistoryUnavailable

        if self.history_pruned:
            raise HistoryUnavailable("receipts before the pruning point are gone")
        return self.transactions.get(tx_hash)


def apply_mutation(receipt: dict[str, Any], mutation: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``receipt`` with ``mutation["set"]`` (dotted paths) and ``["delete"]`` applied."""
    doc: dict[str, Any] = json.loads(json.dumps(receipt))
    for path, value in mutation.get("set", {}).items():
        target = doc
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        target[last] = value
    for path in mutation.get("delete", []):
        del doc[path]
    return doc
