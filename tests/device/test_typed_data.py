"""backend/chain/typed_data.py: the server's and the CLI's view of a participant-signed document."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_keys.constants import SECPK1_N
from eth_utils.crypto import keccak

from backend.chain import typed_data
from backend.errors import InvalidInput

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "eip712_verdict.json").read_text())
VERDICT_FIELDS = [
    {"name": "claimId", "type": "bytes32"},
    {"name": "verdict", "type": "uint8"},
    {"name": "reasonCode", "type": "uint16"},
    {"name": "reportHash", "type": "bytes32"},
    {"name": "ruleSetHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


def _doc(vector: dict[str, Any]) -> dict[str, Any]:
    raw = {"types": {"Verdict": VERDICT_FIELDS}, "primaryType": "Verdict", "domain": vector["domain"]}
    return typed_data.load_document(copy.deepcopy(raw | {"message": vector["verdict"]}))


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_digest_sign_and_recover_match_the_vectors(vector: dict[str, Any]) -> None:
    doc = typed_data.check_hubao_document(_doc(vector), primary_type="Verdict")
    assert doc["types"]["EIP712Domain"] == typed_data.domain_fields(vector["domain"])
    assert "0x" + typed_data.digest(doc).hex() == vector["digest"]
    signature = typed_data.sign(doc, bytes.fromhex(vector["privateKey"][2:]))
    assert "0x" + signature.hex() == vector["signature"]
    assert typed_data.recover_signer(doc, signature) == vector["signer"]


def test_recover_signer_refuses_the_high_s_twin_and_bad_v() -> None:
    vector = VECTORS["vectors"][0]
    doc = _doc(vector)
    signature = bytes.fromhex(vector["signature"][2:])
    s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (SECPK1_N - s).to_bytes(32, "big") + bytes([signature[64] ^ 1])
    with pytest.raises(InvalidInput, match="high-s"):
        typed_data.recover_signer(doc, twin)
    with pytest.raises(InvalidInput, match="v must be 27 or 28"):
        typed_data.recover_signer(doc, signature[:64] + b"\x01")
    with pytest.raises(InvalidInput, match="65 bytes"):
        typed_data.recover_signer(doc, signature[:64])


def test_a_signature_over_another_document_recovers_to_someone_else() -> None:
    vector = VECTORS["vectors"][0]
    doc = _doc(vector)
    other = copy.deepcopy(doc)
    other["message"]["verdict"] = 2
    signature = bytes.fromhex(vector["signature"][2:])
    assert typed_data.recover_signer(other, signature) != vector["signer"]


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"primary_type": "KeyRegistration"}, "expected a KeyRegistration"),
        ({"chain_id": 1}, "another chain"),
        ({"verifying_contract": "0x" + "11" * 20}, "another contract"),
    ],
)
def test_check_hubao_document_refuses_another_kind_chain_or_contract(expect: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        typed_data.check_hubao_document(_doc(VECTORS["vectors"][0]), **expect)


def test_load_document_refuses_incomplete_documents() -> None:
    with pytest.raises(InvalidInput, match="types, primaryType, domain and message"):
        typed_data.load_document({"types": {}, "domain": {}})
    with pytest.raises(InvalidInput, match="primaryType must name one of the types"):
        typed_data.load_document({"types": {}, "primaryType": "Verdict", "domain": {}, "message": {}})


def test_key_registration_document_is_signed_and_recovered() -> None:
    key = keccak(text="registration")
    address = Account.from_key(key).address
    doc = typed_data.key_registration_document(
        VECTORS["vectors"][0]["domain"], account="rev-1", key=address.lower(), challenge=b"\x07" * 32, expires_at=5
    )
    assert doc["message"]["key"] == address
    assert doc["message"]["purpose"] == typed_data.KEY_REGISTRATION_PURPOSE
    assert typed_data.recover_signer(doc, typed_data.sign(doc, key)) == address
    assert "KeyRegistration for Hubao v2" in typed_data.summary(doc)
    with pytest.raises(InvalidInput, match="32 bytes"):
        typed_data.key_registration_document(
            VECTORS["vectors"][0]["domain"], account="a", key=address, challenge=b"", expires_at=5
        )
