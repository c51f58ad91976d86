"""Leaf encodings: the direct evidence encoder equals eth_abi; the generic encoder is strict."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode as eth_abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.proofs.errors import LeafEncodingError
from backend.proofs.keccak import keccak256
from backend.proofs.leaves import (
    EVIDENCE_LEAF_TYPES,
    EvidenceLeaf,
    abi_encode,
    encode_evidence_leaf,
    evidence_leaf_hash,
    evidence_values_hash,
    standard_leaf_hash,
    values_from_json,
)

_b32 = st.binary(min_size=32, max_size=32)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(a=_b32, b=_b32, cid=st.binary(min_size=1, max_size=200))
def test_encode_evidence_leaf_equals_eth_abi_encode(a: bytes, b: bytes, cid: bytes) -> None:
    expected = eth_abi_encode(list(EVIDENCE_LEAF_TYPES), [a, b, cid])
    assert encode_evidence_leaf(a, b, cid) == expected
    assert evidence_leaf_hash(a, b, cid) == keccak256(keccak256(expected))
    assert evidence_values_hash((a, b, cid)) == standard_leaf_hash(EVIDENCE_LEAF_TYPES, (a, b, cid))
    assert EvidenceLeaf(a, b, cid).leaf_hash() == evidence_leaf_hash(a, b, cid)


def test_evidence_values_hash_allows_empty_bytes_like_the_generic_encoder() -> None:
    a = b = bytes(32)
    assert evidence_values_hash((a, b, b"")) == standard_leaf_hash(EVIDENCE_LEAF_TYPES, (a, b, b""))


def test_evidence_leaf_rejects_empty_cid_and_short_fields() -> None:
    with pytest.raises(LeafEncodingError, match="cid must be non-empty"):
        EvidenceLeaf(bytes(32), bytes(32), b"")
    with pytest.raises(LeafEncodingError, match="must be 32 bytes"):
        EvidenceLeaf(bytes(31), bytes(32), b"\x01")


def test_abi_encode_rejects_short_bytes32_that_eth_abi_would_pad() -> None:
    assert eth_abi_encode(["bytes32"], [b"\x01"])  # eth_abi pads silently...
    with pytest.raises(LeafEncodingError, match="exactly 32 bytes"):
        abi_encode(["bytes32"], [b"\x01"])  # ...we refuse.


def test_abi_encode_rejects_bool_for_int_and_int_for_bool() -> None:
    with pytest.raises(LeafEncodingError, match="expected an int"):
        abi_encode(["uint256"], [True])
    with pytest.raises(LeafEncodingError, match="expected a bool"):
        abi_encode(["bool"], [1])


def test_abi_encode_rejects_out_of_range_wrong_arity_and_bad_types() -> None:
    with pytest.raises(LeafEncodingError, match="do not fit"):
        abi_encode(["uint8"], [256])
    with pytest.raises(LeafEncodingError, match="expected 2 values"):
        abi_encode(["uint8", "bool"], [1])
    with pytest.raises(LeafEncodingError, match="not an ABI type"):
        abi_encode(["uint7x"], [1])
    with pytest.raises(LeafEncodingError, match="not supported"):
        abi_encode(["fixed128x18"], [1])


def test_values_from_json_parses_hex_and_decimal_and_rejects_wrong_shapes() -> None:
    types = ["bytes32", "uint256", "bool", "address"]
    raw = ["0x" + "ab" * 32, "0x10", True, "0x" + "11" * 20]
    assert values_from_json(types, raw) == (bytes([0xAB]) * 32, 16, True, "0x" + "11" * 20)
    with pytest.raises(LeafEncodingError, match="expected 32 bytes"):
        values_from_json(["bytes32"], ["0xab"])
    with pytest.raises(LeafEncodingError, match="not an integer"):
        values_from_json(["uint256"], ["ten"])
    with pytest.raises(LeafEncodingError, match="JSON boolean"):
        values_from_json(["bool"], ["true"])
