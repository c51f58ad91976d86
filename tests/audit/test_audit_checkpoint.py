"""Checkpoint format, signatures and extension: pinned by tests/audit/vectors/audit_checkpoint.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.audit import Checkpoint, CheckpointError, SignedCheckpoint, extension_problems
from backend.audit.checkpoint import generate_key
from backend.proofs.hexstr import from_hex

VECTORS = json.loads((Path(__file__).parent / "vectors" / "audit_checkpoint.json").read_text())


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"batch{c['body']['batchCount']}")
def test_checkpoint_signing_bytes_match_golden_vectors(case: dict[str, object]) -> None:
    key = Ed25519PrivateKey.from_private_bytes(from_hex(VECTORS["privateKeySeed"]))
    cp = Checkpoint.from_json(case["body"])
    assert cp.canonical().decode() == case["canonical"]
    assert "0x" + cp.digest().hex() == case["digest"]
    signed = SignedCheckpoint(cp).sign(key)
    assert signed.signatures[0].to_json() == {"publicKey": case["publicKey"], "signature": case["signature"]}
    assert SignedCheckpoint.parse(signed.to_json_text()) == signed


def test_checkpoint_chain_in_vectors_extends() -> None:
    first, second = (Checkpoint.from_json(c["body"]) for c in VECTORS["cases"])
    assert second.previous == first.digest()
    assert extension_problems(first, second) == []
    assert extension_problems(second, first) == [
        "batchCount went back from 9 to 7",
        "blockNumber went back from 2000 to 1234",
    ]
    unlinked = Checkpoint(
        second.chain_id, second.contract, second.block_number, second.block_hash, 9, second.head_root, b"\x07" * 32
    )
    assert extension_problems(first, unlinked) == ["its 'previous' is not the digest of the older checkpoint"]


def test_cosigned_checkpoint_verifies_and_rejects_a_tampered_body() -> None:
    cp = Checkpoint.from_json(VECTORS["cases"][0]["body"])
    a, b = generate_key(), generate_key()
    signed = SignedCheckpoint(cp).sign(a).sign(b)
    assert len(signed.verify_signatures(minimum=2)) == 2
    with pytest.raises(CheckpointError, match="already signed"):
        signed.sign(a)
    doc = signed.to_json()
    doc["checkpoint"]["batchCount"] = 8
    tampered = SignedCheckpoint.parse(json.dumps(doc))
    with pytest.raises(CheckpointError, match=r"signature 1 \(key 0x.*\) does not verify"):
        tampered.verify_signatures()
    stranger = generate_key().public_key().public_bytes_raw()
    with pytest.raises(CheckpointError, match="0 valid signature"):
        signed.verify_signatures(trusted=[stranger], minimum=1)


def test_checkpoint_parse_rejects_extra_keys() -> None:
    body = dict(VECTORS["cases"][0]["body"])
    body["note"] = "x"
    with pytest.raises(CheckpointError, match="exactly the keys"):
        SignedCheckpoint.parse(json.dumps(body))
