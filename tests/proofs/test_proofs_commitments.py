"""Commitments against tests/vectors/receipt_evidence.json (hashes made by node, not by us)."""

from __future__ import annotations

import json
import uuid

import pytest
from proofs_support import VECTORS

from backend.proofs.commitments import (
    CLAIM_REF_DOMAIN,
    MEMBER_COMMITMENT_DOMAIN,
    claim_ref,
    content_commitment,
    content_commitment_of,
    member_commitment,
    new_salt,
    plaintext_sha256,
)
from backend.proofs.errors import LeafEncodingError
from backend.proofs.hexstr import from_hex, to_hex

VEC = json.loads((VECTORS / "receipt_evidence.json").read_text(encoding="utf-8"))["commitments"]


def test_domains_match_vectors() -> None:
    assert to_hex(MEMBER_COMMITMENT_DOMAIN) == VEC["domains"]["memberCommitment"]
    assert to_hex(CLAIM_REF_DOMAIN) == VEC["domains"]["claimRef"]


@pytest.mark.parametrize("case", VEC["contentCommitment"], ids=lambda c: str(len(c["plaintext"])))
def test_content_commitment_matches_vectors(case: dict[str, str]) -> None:
    plaintext, salt = from_hex(case["plaintext"]), from_hex(case["salt"])
    assert to_hex(plaintext_sha256(plaintext)) == case["plaintextSha256"]
    assert to_hex(content_commitment(from_hex(case["plaintextSha256"]), salt)) == case["commitment"]
    assert to_hex(content_commitment_of(plaintext, salt)) == case["commitment"]


@pytest.mark.parametrize("case", VEC["memberCommitment"], ids=lambda c: c["memberId"])
def test_member_commitment_matches_vectors(case: dict[str, str]) -> None:
    assert to_hex(member_commitment(case["memberId"], from_hex(case["salt"]))) == case["commitment"]


@pytest.mark.parametrize("case", VEC["claimRef"], ids=lambda c: c["claimId"])
def test_claim_ref_matches_vectors(case: dict[str, str]) -> None:
    assert to_hex(claim_ref(case["claimId"], from_hex(case["salt"]))) == case["claimRef"]


def test_uuid_ids_commit_as_their_canonical_string() -> None:
    u = uuid.UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    salt = bytes(range(32))
    assert member_commitment(u, salt) == member_commitment(str(u), salt)
    assert claim_ref(u, salt) == claim_ref(str(u), salt)


def test_member_commitment_and_claim_ref_differ_for_same_id_and_salt() -> None:
    salt = bytes(32)
    assert member_commitment("x-1", salt) != claim_ref("x-1", salt)


def test_new_salt_is_32_fresh_bytes() -> None:
    salts = {new_salt() for _ in range(16)}
    assert len(salts) == 16
    assert all(len(s) == 32 for s in salts)


def test_commitments_reject_short_salt_and_empty_id() -> None:
    with pytest.raises(LeafEncodingError, match="salt must be 32 bytes"):
        content_commitment(bytes(32), bytes(16))
    with pytest.raises(LeafEncodingError, match="member_id must be a non-empty"):
        member_commitment("", bytes(32))
