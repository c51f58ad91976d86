"""One strict-JSON field reader serves evidence and share receipts: same refusals, same messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from proofs_support import VECTORS

from backend.apportionment.errors import ShareSchemaError
from backend.apportionment.receipts import verify_share_receipt_offline
from backend.proofs.errors import ReceiptStep, SchemaError
from backend.proofs.receipts import verify_receipt_offline
from backend.proofs.strict_json import ReceiptFields

EVIDENCE = json.loads((VECTORS / "receipt_evidence.json").read_text(encoding="utf-8"))["receipt"]
SHARE = json.loads((VECTORS / "apportionment.json").read_text(encoding="utf-8"))["receipt"]
_NOT_HEX = "0x" + "12_3" * 10  # int(…, 16) reads it, so the evidence reader once took it for hex


@pytest.mark.parametrize("error", [SchemaError, ShareSchemaError])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "contract must be a 0x-prefixed 20-byte address"),
        ("0x" + "a" * 38, "contract must be a 0x-prefixed 20-byte address"),
        (_NOT_HEX, "contract must be hex"),
        ("0x" + " 1" * 20, "contract must be hex"),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "contract has a bad EIP-55 checksum"),
    ],
)
def test_address_refusals_are_the_same_for_both_receipt_kinds(error: type[Exception], value: Any, message: str) -> None:
    with pytest.raises(error, match=message):
        ReceiptFields(error).address(value)


def test_address_accepts_lower_case_and_eip55() -> None:
    fields = ReceiptFields(SchemaError)
    assert fields.address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
    assert fields.address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed") == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', '{"a": NaN}', '{"a": Infinity}', "[1,", b"\xff"])
def test_loads_refuses_what_is_not_strict_json(text: str | bytes) -> None:
    with pytest.raises(ShareSchemaError, match="receipt is not valid JSON") as caught:
        ReceiptFields(ShareSchemaError).loads(text)
    assert caught.value.fields["field"] == "$"


@pytest.mark.parametrize("value", [True, 1.0, "1", None, -1, 2**64])
def test_integer_refuses_non_integers_and_out_of_range(value: Any) -> None:
    with pytest.raises(SchemaError, match=r"^x\.n (must be an integer|out of range \[0, 18446744073709551615\])$"):
        ReceiptFields(SchemaError).integer({"n": value}, "n", 0, 2**64 - 1, "x.n")


def test_both_receipt_verifiers_refuse_a_contract_that_is_not_hex_at_the_schema_step() -> None:
    evidence = verify_receipt_offline({**EVIDENCE, "contract": _NOT_HEX})
    assert evidence.error is not None
    assert evidence.error.step == ReceiptStep.SCHEMA
    assert evidence.error.message == "contract must be hex"
    share = verify_share_receipt_offline({**SHARE, "chainId": 31337, "contract": _NOT_HEX})
    assert share.error is not None
    assert share.error.message == "contract must be hex"
