"""Regenerate tests/vectors/merkle_standard.json and tests/vectors/receipt_evidence.json.

    .venv/bin/python tests/proofs/make_vectors.py

Every hash in these files is computed by the JS side (scripts/merkle_oracle.mjs running the pinned
@openzeppelin/merkle-tree 1.0.8, @metamask/abi-utils and ethereum-cryptography's keccak under
node), never by backend/proofs — the Python code is what the vectors test. Inputs are
deterministic (SHA-256 counter-mode bytes of fixed labels), so regenerating gives identical
files; a diff after regenerating is a protocol change.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proofs_support import VECTORS, det_bytes, evidence_values, run_oracle

LIBRARY = "@openzeppelin/merkle-tree 1.0.8 (npm), run by scripts/merkle_oracle.mjs under node"
EVIDENCE_TYPES = ["bytes32", "bytes32", "bytes"]
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # anvil's first deployment address
CHAIN_ID = 31337


def hx(data: bytes) -> str:
    return "0x" + data.hex()


def evidence_json(label: str, n: int) -> list[list[str]]:
    return [[hx(a), hx(b), hx(c)] for a, b, c in evidence_values(label, n)]


def merkle_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 33):
        multi = [[0], list(range(n))] + ([[0, n - 1], sorted({1, 2, n // 2 + 1})] if n >= 4 else [])
        cases.append(
            {
                "name": f"evidence-{n}",
                "leafTypes": EVIDENCE_TYPES,
                "values": evidence_json(f"merkle/evidence-{n}", n),
                "multiproofs": multi,
            }
        )
    cases += [
        {
            "name": "library-readme-example",
            "leafTypes": ["address", "uint256"],
            "values": [
                ["0x1111111111111111111111111111111111111111", "5000000000000000000"],
                ["0x2222222222222222222222222222222222222222", "2500000000000000000"],
            ],
        },
        {
            "name": "unsorted-leaves",
            "leafTypes": ["address", "uint256"],
            "sortLeaves": False,
            "values": [["0x" + det_bytes(f"addr/{i}", 20).hex(), str(1000 * i + 7)] for i in range(6)],
            "multiproofs": [[1, 4]],
        },
        {
            "name": "duplicate-values",
            "leafTypes": ["uint256"],
            "values": [["5"], ["5"], ["7"], ["5"], ["9"]],
        },
        {
            "name": "dynamic-and-signed",
            "leafTypes": ["string", "bool", "int8", "bytes"],
            "values": [
                ["", False, "-128", "0x"],
                ["相互宝 mutual aid", True, "127", "0x" + det_bytes("dyn/1", 33).hex()],
                ["x" * 70, True, "0", "0x" + det_bytes("dyn/2", 64).hex()],
            ],
        },
        {
            "name": "tuple-and-arrays",
            "leafTypes": ["(uint256,address)", "uint8[]", "bytes32[2]"],
            "values": [
                [
                    [str(i), "0x" + det_bytes(f"tuple/{i}", 20).hex()],
                    [str(j) for j in range(i)],
                    ["0x" + det_bytes(f"arr/{i}/0").hex(), "0x" + det_bytes(f"arr/{i}/1").hex()],
                ]
                for i in range(4)
            ],
            "multiproofs": [[0, 3]],
        },
    ]
    responses = run_oracle(
        [
            {
                "op": "build",
                "leafTypes": c["leafTypes"],
                "values": c["values"],
                "sortLeaves": c.get("sortLeaves", True),
                "multiproofs": c.get("multiproofs", []),
            }
            for c in cases
        ]
    )
    out = []
    for case, res in zip(cases, responses, strict=True):
        out.append(
            {
                "name": case["name"],
                "leafTypes": case["leafTypes"],
                "sortLeaves": case.get("sortLeaves", True),
                "values": case["values"],
                "root": res["root"],
                "tree": res["tree"],
                "treeIndices": res["treeIndices"],
                "leafHashes": res["leafHashes"],
                "proofs": res["proofs"],
                "multiproofs": [
                    {"indices": idx, **mp}
                    for idx, mp in zip(case.get("multiproofs", []), res["multiproofs"], strict=True)
                ],
                "dump": res["dump"],
            }
        )
    return out


def commitment_vectors() -> dict[str, Any]:
    plaintexts = [b"", b"hello world\n", det_bytes("plaintext/pdf", 1000)]
    salts = [det_bytes(f"salt/{i}") for i in range(len(plaintexts))]
    member_ids = ["m-000001", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "会员-42"]
    claim_ids = ["c-2024-000017", "6fa459ea-ee8a-3ca4-894e-db77e160355e"]
    requests: list[dict[str, Any]] = [
        {"op": "keccak", "data": hx(b"hubao.member-commitment.v1")},
        {"op": "keccak", "data": hx(b"hubao.claim-ref.v1")},
    ]
    requests += [{"op": "sha256", "data": hx(p)} for p in plaintexts]
    domains = run_oracle(requests)
    member_domain, claim_domain = domains[0]["hash"], domains[1]["hash"]
    shas = [r["hash"] for r in domains[2:]]
    second = run_oracle(
        [
            {"op": "keccakAbi", "types": ["bytes32", "bytes32"], "values": [s, hx(salt)]}
            for s, salt in zip(shas, salts, strict=True)
        ]
        + [
            {"op": "keccakAbi", "types": ["bytes32", "bytes32", "string"], "values": [member_domain, hx(salts[0]), m]}
            for m in member_ids
        ]
        + [
            {"op": "keccakAbi", "types": ["bytes32", "bytes32", "string"], "values": [claim_domain, hx(salts[1]), c]}
            for c in claim_ids
        ]
    )
    content = second[: len(plaintexts)]
    member = second[len(plaintexts) : len(plaintexts) + len(member_ids)]
    claim = second[len(plaintexts) + len(member_ids) :]
    return {
        "domains": {"memberCommitment": member_domain, "claimRef": claim_domain},
        "contentCommitment": [
            {"plaintext": hx(p), "plaintextSha256": s, "salt": hx(salt), "commitment": r["hash"]}
            for p, s, salt, r in zip(plaintexts, shas, salts, content, strict=True)
        ],
        "memberCommitment": [
            {"memberId": m, "salt": hx(salts[0]), "commitment": r["hash"]}
            for m, r in zip(member_ids, member, strict=True)
        ],
        "claimRef": [
            {"claimId": c, "salt": hx(salts[1]), "claimRef": r["hash"]} for c, r in zip(claim_ids, claim, strict=True)
        ],
    }


def flip(hex_value: str, byte: int = 0, bit: int = 0) -> str:
    data = bytearray.fromhex(hex_value[2:])
    data[byte] ^= 1 << bit
    return hx(bytes(data))


def receipt_vectors(commitments: dict[str, Any]) -> dict[str, Any]:
    # Batch 3 (the previous batch) and batch 4 (the receipt's batch, 7 leaves).
    prev_values = evidence_json("receipt/batch-3", 5)
    plaintext_entry = commitments["contentCommitment"][1]
    # The claimant's item commits to "hello world\n"; choose the first (label variant, item) whose
    # leaf sits at tree index 9: depth 3, so its proof has 3 nodes, which fits leafCount 8 (leaf
    # depths {3}) but not 3 ({1, 2}) or 16 ({4}) — step 5 cases on both sides and one that only
    # step 10 catches. (Any depth-3 index would do; 9 keeps the hashes of the first generation.)
    prev = run_oracle([{"op": "build", "leafTypes": EVIDENCE_TYPES, "values": prev_values}])[0]
    found = None
    for variant in range(50):
        base = evidence_json(f"receipt/batch-4/{variant}", 7)
        candidates = []
        for c in range(len(base)):
            vals = copy.deepcopy(base)
            vals[c][1] = plaintext_entry["commitment"]
            candidates.append(vals)
        builds = run_oracle([{"op": "build", "leafTypes": EVIDENCE_TYPES, "values": v} for v in candidates])
        hits = [c for c in range(len(base)) if builds[c]["treeIndices"][c] == 9]
        if hits:
            found = (candidates[hits[0]], builds[hits[0]], hits[0])
            break
    assert found is not None
    values, cur, item = found
    tree_index = cur["treeIndices"][item]
    claim_ref, commitment, cid = values[item]
    receipt = {
        "version": 1,
        "kind": "evidence",
        "chainId": CHAIN_ID,
        "contract": CONTRACT,
        "batchId": 4,
        "root": cur["root"],
        "prevRoot": prev["root"],
        "leafCount": len(values),
        "leaf": {"claimRef": claim_ref, "contentCommitment": commitment, "cid": cid},
        "leafHash": cur["leafHashes"][item],
        "proof": cur["proofs"][item],
        "anchorTx": hx(det_bytes("anchor-tx/4")),
        "anchorBlock": 42,
    }
    private = {**receipt, "salt": plaintext_entry["salt"], "plaintextSha256": plaintext_entry["plaintextSha256"]}
    # Parent of the leaf (tree index 4) — an inner node presented as a leaf.
    parent = cur["tree"][(tree_index - 1) // 2]
    chain: dict[str, Any] = {
        "chainId": CHAIN_ID,
        "contract": CONTRACT,
        "batches": [
            {"batchId": 3, "root": prev["root"], "prevRoot": hx(bytes(32)), "leafCount": 5, "block": 40},
            {"batchId": 4, "root": cur["root"], "prevRoot": prev["root"], "leafCount": 7, "block": 42},
        ],
        "anchorTransactions": [
            {
                "txHash": hx(det_bytes("anchor-tx/3")),
                "contract": CONTRACT,
                "batchId": 3,
                "root": prev["root"],
                "block": 40,
            },
            {"txHash": receipt["anchorTx"], "contract": CONTRACT, "batchId": 4, "root": cur["root"], "block": 42},
        ],
    }
    p = receipt["proof"]
    mutations: list[dict[str, Any]] = [
        # path, new value, failing step offline (None: offline verification passes), failing step on chain
        {"name": "version", "set": {"version": 2}, "offline": 1, "onchain": 1},
        {"name": "version-as-string", "set": {"version": "1"}, "offline": 1, "onchain": 1},
        {"name": "kind", "set": {"kind": "decision"}, "offline": 1, "onchain": 1},
        {"name": "chainId", "set": {"chainId": 1}, "offline": None, "onchain": 6},
        {"name": "chainId-bool", "set": {"chainId": True}, "offline": 1, "onchain": 1},
        {
            "name": "contract",
            "set": {"contract": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"},
            "offline": None,
            "onchain": 6,
        },
        {
            "name": "contract-bad-checksum",
            "set": {"contract": "0x5fbDB2315678afecb367f032d93F642f64180aa3"},
            "offline": 1,
            "onchain": 1,
        },
        {"name": "batchId-missing-batch", "set": {"batchId": 5}, "offline": None, "onchain": 7},
        {"name": "batchId-other-batch", "set": {"batchId": 3}, "offline": None, "onchain": 8},
        {"name": "batchId-negative", "set": {"batchId": -1}, "offline": 1, "onchain": 1},
        {"name": "root-bit-flip", "set": {"root": flip(receipt["root"], 31, 7)}, "offline": 3, "onchain": 3},
        {"name": "root-previous-batch", "set": {"root": prev["root"]}, "offline": 3, "onchain": 3},
        {
            "name": "root-upper-case-hex",
            "set": {"root": "0x" + receipt["root"][2:].upper()},
            "offline": 1,
            "onchain": 1,
        },
        {
            "name": "prevRoot-bit-flip",
            "set": {"prevRoot": flip(receipt["prevRoot"], 0, 0)},
            "offline": None,
            "onchain": 9,
        },
        {"name": "leafCount-same-depth", "set": {"leafCount": 8}, "offline": None, "onchain": 10},
        {"name": "leafCount-too-few-for-depth", "set": {"leafCount": 3}, "offline": 5, "onchain": 5},
        {"name": "leafCount-too-many-for-depth", "set": {"leafCount": 16}, "offline": 5, "onchain": 5},
        {"name": "leafCount-zero", "set": {"leafCount": 0}, "offline": 1, "onchain": 1},
        {"name": "leaf.claimRef-bit-flip", "set": {"leaf.claimRef": flip(claim_ref, 5, 3)}, "offline": 2, "onchain": 2},
        {
            "name": "leaf.contentCommitment-bit-flip",
            "set": {"leaf.contentCommitment": flip(commitment, 9, 1)},
            "offline": 2,
            "onchain": 2,
        },
        {
            "name": "leaf.cid-digest-bit-flip",
            "set": {"leaf.cid": flip(cid, len(cid) // 2 - 2, 6)},
            "offline": 2,
            "onchain": 2,
        },
        {"name": "leaf.cid-not-a-cid", "set": {"leaf.cid": "0x" + "ff" * 20}, "offline": 1, "onchain": 1},
        {"name": "leaf.cid-empty", "set": {"leaf.cid": "0x"}, "offline": 1, "onchain": 1},
        {
            "name": "leafHash-bit-flip",
            "set": {"leafHash": flip(receipt["leafHash"], 17, 4)},
            "offline": 2,
            "onchain": 2,
        },
        {"name": "inner-node-as-leaf", "set": {"leafHash": parent, "proof": p[1:]}, "offline": 2, "onchain": 2},
        {"name": "proof-bit-flip-first", "set": {"proof": [flip(p[0], 0, 0), *p[1:]]}, "offline": 3, "onchain": 3},
        {"name": "proof-bit-flip-last", "set": {"proof": [*p[:-1], flip(p[-1], 31, 7)]}, "offline": 3, "onchain": 3},
        {"name": "proof-truncated", "set": {"proof": p[:-1]}, "offline": 3, "onchain": 3},
        {"name": "proof-extended", "set": {"proof": [*p, hx(det_bytes("garbage"))]}, "offline": 3, "onchain": 3},
        {"name": "proof-prepended", "set": {"proof": [hx(det_bytes("garbage")), *p]}, "offline": 3, "onchain": 3},
        {"name": "proof-reordered", "set": {"proof": [p[1], p[0], *p[2:]]}, "offline": 3, "onchain": 3},
        {"name": "proof-empty", "set": {"proof": []}, "offline": 3, "onchain": 3},
        {"name": "proof-node-garbage-after", "set": {"proof": [p[0] + "00", *p[1:]]}, "offline": 1, "onchain": 1},
        {
            "name": "proof-node-garbage-before",
            "set": {"proof": ["0x00" + p[0][2:], *p[1:]]},
            "offline": 1,
            "onchain": 1,
        },
        {
            "name": "anchorTx-bit-flip",
            "set": {"anchorTx": flip(receipt["anchorTx"], 3, 3)},
            "offline": None,
            "onchain": 13,
        },
        {
            "name": "anchorTx-previous-batch",
            "set": {"anchorTx": chain["anchorTransactions"][0]["txHash"]},
            "offline": None,
            "onchain": 13,
        },
        {"name": "anchorBlock", "set": {"anchorBlock": 43}, "offline": None, "onchain": 11},
        {"name": "salt-bit-flip", "set": {"salt": flip(private["salt"], 0, 1)}, "offline": 4, "onchain": 4},
        {
            "name": "plaintextSha256-bit-flip",
            "set": {"plaintextSha256": flip(private["plaintextSha256"], 31, 0)},
            "offline": 4,
            "onchain": 4,
        },
        {"name": "salt-without-plaintextSha256", "delete": ["plaintextSha256"], "offline": 1, "onchain": 1},
        {"name": "unknown-field", "set": {"note": "hi"}, "offline": 1, "onchain": 1},
        # leafIndex was dropped from the format before v1 shipped (unverifiable, see receipts.py).
        {"name": "leafIndex-not-in-format", "set": {"leafIndex": tree_index}, "offline": 1, "onchain": 1},
        {"name": "missing-proof", "delete": ["proof"], "offline": 1, "onchain": 1},
        {"name": "leaf-extra-key", "set": {"leaf.extra": "0x00"}, "offline": 1, "onchain": 1},
    ]
    batch = {"leafTypes": EVIDENCE_TYPES, "values": values, "item": item, "root": cur["root"], "dump": cur["dump"]}
    return {"batch": batch, "receipt": private, "publicReceipt": receipt, "chain": chain, "mutations": mutations}


def main() -> None:
    merkle = {
        "description": "OpenZeppelin StandardMerkleTree golden vectors for backend/proofs/merkle.py.",
        "derivation": (
            "Generated by tests/proofs/make_vectors.py. Inputs are deterministic (SHA-256 counter-mode "
            "bytes of fixed labels; binary CIDs are 0x1220+digest, 0x01551220+digest, 0x01701220+digest). "
            f"root, tree, treeIndices, leafHashes, proofs, multiproofs and dump are the output of {LIBRARY}: "
            "StandardMerkleTree.of(values, leafTypes, {sortLeaves}), getProof(i), getMultiProof(indices), dump(). "
            "Values use the JSON form of backend/proofs/leaves.py (hex bytes, decimal-string integers)."
        ),
        "library": LIBRARY,
        "cases": merkle_cases(),
    }
    commitments = commitment_vectors()
    receipts = {
        "description": "Evidence receipt (version 1), commitments and tamper cases for backend/proofs.",
        "derivation": (
            "Generated by tests/proofs/make_vectors.py. Commitments: sha256 by node:crypto, keccak256 and "
            "abi.encode by ethereum-cryptography and @metamask/abi-utils (scripts/merkle_oracle.mjs ops sha256, "
            f"keccak, keccakAbi). Receipt: root, leafHash and proof from {LIBRARY}; "
            "batch 3 is the previous batch (its root is batch 4's prevRoot); chain lists what the EvidenceNotary "
            "lookup answers. mutations: each alters the private receipt (dotted paths into 'leaf'); 'offline' / "
            "'onchain' are the ReceiptStep numbers that must fail (null: offline verification passes), fixed by "
            "the step order of backend/proofs/receipts.py."
        ),
        "commitments": commitments,
        **receipt_vectors(commitments),
    }
    for name, doc in (("merkle_standard.json", merkle), ("receipt_evidence.json", receipts)):
        path = VECTORS / name
        path.write_text(json.dumps(copy.deepcopy(doc), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(VECTORS.parent.parent)}")


if __name__ == "__main__":
    main()
