"""Protocol hashes against tests/vectors/protocol_hashes.json (hashes made by node, not by us).

Claim member commitment, payment reference and report hash (backend/proofs/commitments.py) and
the evidence access log's hash chain (backend/proofs/access_log.py). A failure here means what
verifies has changed: a protocol change, not a refactor.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from proofs_support import VECTORS

from backend.proofs.access_log import ACCESS_LOG_GENESIS, access_entry_body, access_entry_hash
from backend.proofs.commitments import (
    CLAIM_MEMBER_SALT_DOMAIN,
    MEMBER_COMMITMENT_DOMAIN,
    PAYMENT_REF_DOMAIN,
    claim_member_commitment,
    member_commitment,
    payment_ref,
    report_hash,
)
from backend.proofs.errors import LeafEncodingError
from backend.proofs.hexstr import from_hex, to_hex

VEC: dict[str, Any] = json.loads((VECTORS / "protocol_hashes.json").read_text(encoding="utf-8"))


def test_domains_match_vectors() -> None:
    assert to_hex(MEMBER_COMMITMENT_DOMAIN) == VEC["domains"]["memberCommitment"]
    assert to_hex(CLAIM_MEMBER_SALT_DOMAIN) == VEC["domains"]["claimMemberSalt"]
    assert to_hex(PAYMENT_REF_DOMAIN) == VEC["domains"]["paymentRef"]


@pytest.mark.parametrize("case", VEC["claimMemberCommitment"], ids=lambda c: c["memberId"])
def test_claim_member_commitment_matches_vectors(case: dict[str, str]) -> None:
    member_salt, ref = from_hex(case["memberSalt"]), from_hex(case["claimRef"])
    got = claim_member_commitment(case["memberId"], member_salt, ref)
    assert to_hex(got) == case["commitment"]
    assert got == member_commitment(case["memberId"], from_hex(case["claimMemberSalt"]))


def test_claim_member_commitment_differs_per_claim_for_one_member() -> None:
    case = VEC["claimMemberCommitment"][0]
    salt = from_hex(case["memberSalt"])
    assert claim_member_commitment(case["memberId"], salt, bytes(32)) != claim_member_commitment(
        case["memberId"], salt, b"\x01" * 32
    )


@pytest.mark.parametrize("case", VEC["paymentRef"], ids=lambda c: str(len(c["reference"])))
def test_payment_ref_matches_vectors(case: dict[str, str]) -> None:
    assert to_hex(payment_ref(case["reference"], from_hex(case["salt"]))) == case["paymentRef"]


@pytest.mark.parametrize("case", VEC["reportHash"], ids=lambda c: str(len(c["report"])))
def test_report_hash_matches_vectors(case: dict[str, str]) -> None:
    assert to_hex(report_hash(case["report"], from_hex(case["salt"]))) == case["reportHash"]


def test_report_hash_rejects_short_salt() -> None:
    with pytest.raises(LeafEncodingError, match="salt must be 32 bytes"):
        report_hash("diagnosis confirmed", bytes(16))


def test_access_log_chain_matches_vectors() -> None:
    prev = ACCESS_LOG_GENESIS
    assert prev == bytes(32)
    for case in VEC["accessEntryHash"]:
        at = datetime.fromisoformat(case["at"])
        assert at.utcoffset() == timedelta(0)  # the log's times are UTC
        assert to_hex(prev) == case["prevHash"]
        body = access_entry_body(case["evidenceId"], case["accountId"], case["purpose"], at)
        assert body == case["body"].encode("ascii")
        entry = access_entry_hash(prev, case["evidenceId"], case["accountId"], case["purpose"], at)
        assert to_hex(entry) == case["entryHash"]
        prev = entry


def test_access_entry_hash_changes_with_every_field() -> None:
    case = VEC["accessEntryHash"][0]
    args = (from_hex(case["prevHash"]), case["evidenceId"], case["accountId"], case["purpose"])
    at = datetime.fromisoformat(case["at"])
    base = access_entry_hash(*args, at)
    assert access_entry_hash(b"\x01" * 32, *args[1:], at) != base
    assert access_entry_hash(args[0], "ev-other", *args[2:], at) != base
    assert access_entry_hash(*args[:2], "acc-other", args[3], at) != base
    assert access_entry_hash(*args[:3], "other", at) != base
    assert access_entry_hash(*args, at.replace(microsecond=0)) != base
