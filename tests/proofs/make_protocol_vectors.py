"""Regenerate tests/vectors/protocol_hashes.json: the protocol hashes outside receipts and Merkle trees.

    .venv/bin/python tests/proofs/make_protocol_vectors.py

Pins ``claim_member_commitment``, ``payment_ref``, ``report_hash`` (backend/proofs/commitments.py)
and ``access_entry_hash`` (backend/proofs/access_log.py). Every hash is computed by the JS side
(scripts/merkle_oracle.mjs: keccak256 and abi.encode by ethereum-cryptography and
@metamask/abi-utils under node), never by backend/proofs. The access-log bodies are written out
here by hand, byte for byte, not by ``json.dumps``: the vector states the canonical JSON itself.
Inputs are deterministic (SHA-256 counter-mode bytes of fixed labels), so regenerating gives an
identical file; a diff after regenerating is a protocol change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proofs_support import VECTORS, det_bytes, run_oracle

TAGS = {
    "memberCommitment": "hubao.member-commitment.v1",
    "claimMemberSalt": "hubao.claim-member-salt.v1",
    "paymentRef": "hubao.payment-ref.v1",
}
MEMBER_IDS = ["m-000001", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "会员-42"]
REFERENCES = ["TX-2026-000117", "招商银行 转账 6225…0042", "r" * 80]
REPORTS = ["", "diagnosis confirmed", "诊断属实。\nPathology report matches the claimed illness.\n", "x" * 300]
# (evidenceId, accountId, purpose, at as isoformat(), the canonical JSON body written out by hand)
ACCESS = [
    (
        "ev-000001",
        "acc-reviewer-1",
        "review",
        "2026-03-01T08:15:30.123456+00:00",
        '{"accountId":"acc-reviewer-1","at":"2026-03-01T08:15:30.123456+00:00",'
        '"evidenceId":"ev-000001","purpose":"review"}',
    ),
    (
        "ev-000001",
        "acc-claimant-7",
        "claimant",
        "2026-03-01T09:00:00+00:00",  # zero microseconds: isoformat() leaves them out
        '{"accountId":"acc-claimant-7","at":"2026-03-01T09:00:00+00:00","evidenceId":"ev-000001","purpose":"claimant"}',
    ),
    (
        "证据-7",
        "acc-😀",
        'a"b\\c',
        "2026-12-31T23:59:59.000001+00:00",
        '{"accountId":"acc-\\ud83d\\ude00","at":"2026-12-31T23:59:59.000001+00:00",'
        '"evidenceId":"\\u8bc1\\u636e-7","purpose":"a\\"b\\\\c"}',
    ),
]


def hx(data: bytes) -> str:
    return "0x" + data.hex()


def domains() -> dict[str, str]:
    answers = run_oracle([{"op": "keccak", "data": hx(tag.encode())} for tag in TAGS.values()])
    return {name: r["hash"] for name, r in zip(TAGS, answers, strict=True)}


def claim_member_commitments(dom: dict[str, str]) -> list[dict[str, str]]:
    inputs = [(m, det_bytes(f"member-salt/{i}"), det_bytes(f"claim-ref/{i}")) for i, m in enumerate(MEMBER_IDS)]
    domain = bytes.fromhex(dom["claimMemberSalt"][2:])
    salts = run_oracle([{"op": "keccak", "data": hx(domain + ms + cr)} for _, ms, cr in inputs])
    types = ["bytes32", "bytes32", "string"]
    commits = run_oracle(
        [
            {"op": "keccakAbi", "types": types, "values": [dom["memberCommitment"], s["hash"], m]}
            for (m, _, _), s in zip(inputs, salts, strict=True)
        ]
    )
    return [
        {"memberId": m, "memberSalt": hx(ms), "claimRef": hx(cr), "claimMemberSalt": s["hash"], "commitment": c["hash"]}
        for (m, ms, cr), s, c in zip(inputs, salts, commits, strict=True)
    ]


def payment_refs(dom: dict[str, str]) -> list[dict[str, str]]:
    salts = [det_bytes(f"payment-salt/{i}") for i in range(len(REFERENCES))]
    answers = run_oracle(
        [
            {"op": "keccakAbi", "types": ["bytes32", "bytes32", "string"], "values": [dom["paymentRef"], hx(s), ref]}
            for ref, s in zip(REFERENCES, salts, strict=True)
        ]
    )
    return [
        {"reference": ref, "salt": hx(s), "paymentRef": a["hash"]}
        for ref, s, a in zip(REFERENCES, salts, answers, strict=True)
    ]


def report_hashes() -> list[dict[str, str]]:
    salts = [det_bytes(f"report-salt/{i}") for i in range(len(REPORTS))]
    inner = run_oracle([{"op": "keccak", "data": hx(r.encode("utf-8"))} for r in REPORTS])
    outer = run_oracle(
        [
            {"op": "keccakAbi", "types": ["bytes32", "bytes32"], "values": [i["hash"], hx(s)]}
            for i, s in zip(inner, salts, strict=True)
        ]
    )
    return [
        {"report": r, "salt": hx(s), "reportKeccak": i["hash"], "reportHash": o["hash"]}
        for r, s, i, o in zip(REPORTS, salts, inner, outer, strict=True)
    ]


def access_chain() -> list[dict[str, str]]:
    """Three entries chained from the genesis (each oracle call needs the hash before it)."""
    prev = b"\x00" * 32
    out = []
    for evidence_id, account_id, purpose, at, body in ACCESS:
        assert body.isascii()
        (answer,) = run_oracle([{"op": "keccak", "data": hx(prev + body.encode("ascii"))}])
        out.append(
            {
                "prevHash": hx(prev),
                "evidenceId": evidence_id,
                "accountId": account_id,
                "purpose": purpose,
                "at": at,
                "body": body,
                "entryHash": answer["hash"],
            }
        )
        prev = bytes.fromhex(answer["hash"][2:])
    return out


def main() -> None:
    dom = domains()
    doc: dict[str, Any] = {
        "description": (
            "Protocol hashes of backend/proofs/commitments.py (claim member commitment, payment reference, "
            "report hash) and backend/proofs/access_log.py (evidence access-log hash chain)."
        ),
        "derivation": (
            "Generated by tests/proofs/make_protocol_vectors.py. keccak256 and abi.encode by ethereum-cryptography "
            "and @metamask/abi-utils (scripts/merkle_oracle.mjs ops keccak, keccakAbi) under node. domains: keccak256 "
            "of the ASCII tags. claimMemberCommitment: claimMemberSalt = keccak256(domain ‖ memberSalt ‖ claimRef), "
            "commitment = keccak256(abi.encode(memberCommitment domain, claimMemberSalt, memberId)). paymentRef: "
            "keccak256(abi.encode(paymentRef domain, salt, reference)). reportHash: keccak256(abi.encode("
            "keccak256(utf8(report)), salt)). accessEntryHash: a chain from 32 zero bytes, entryHash = "
            "keccak256(prevHash ‖ body), body the canonical JSON written out by hand in the generator."
        ),
        "tags": TAGS,
        "domains": dom,
        "claimMemberCommitment": claim_member_commitments(dom),
        "paymentRef": payment_refs(dom),
        "reportHash": report_hashes(),
        "accessEntryHash": access_chain(),
    }
    path = VECTORS / "protocol_hashes.json"
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(VECTORS.parent.parent)}")


if __name__ == "__main__":
    main()
