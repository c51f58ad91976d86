"""Share receipts: the golden receipt verifies, every altered field fails at its step, receipts
made from any ledger verify, and the JS library accepts their proofs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from apportionment_support import SHARE_TYPES, VECTORS, inputs_json, run_oracle
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.apportionment import errors
from backend.apportionment.arithmetic import PeriodInputs
from backend.apportionment.errors import ShareReceiptStep
from backend.apportionment.ledger import (
    ShareLedgerReader,
    ShareRow,
    build_share_ledger,
    share_leaf_hash,
    write_share_ledger,
)
from backend.apportionment.receipts import (
    ShareReceipt,
    make_share_receipt,
    parse_share_receipt,
    verify_share_receipt_offline,
)
from backend.proofs.hexstr import from_hex
from backend.proofs.keccak import keccak256
from backend.proofs.merkle import MerkleTree
from backend.proofs.receipts import StepStatus

VEC: dict[str, Any] = json.loads((VECTORS / "apportionment.json").read_text(encoding="utf-8"))
RECEIPT: dict[str, Any] = VEC["receipt"]
SMALL = next(c for c in VEC["ledgers"] if c["name"] == "small-7")

ERROR_OF_STEP = {
    1: errors.ShareSchemaError,
    2: errors.ShareLeafHashMismatch,
    3: errors.ShareProofInvalid,
    4: errors.SharePositionInvalid,
    5: errors.PeriodTotalsMismatch,
    6: errors.ShareAmountMismatch,
}


def _mutate(receipt: dict[str, Any], mutation: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(receipt)
    for path, value in mutation.get("set", {}).items():
        target: Any = doc
        *parents, last = path.split(".")
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    for path in mutation.get("delete", []):
        del doc[path]
    return doc


def _small_ledger(tmp_path: Path) -> tuple[Path, Any]:
    members = [(from_hex(m["memberCommitment"]), m["paidThisYearFen"]) for m in SMALL["members"]]
    path = tmp_path / "small.hsl"
    return path, write_share_ledger(path, PeriodInputs.from_json(SMALL["inputs"]), members, keep_tree=True)


def test_verify_share_receipt_offline_accepts_golden_receipt() -> None:
    report = verify_share_receipt_offline(RECEIPT)
    assert report.ok, report.to_json()
    assert [s.step for s in report.steps] == list(ShareReceiptStep)
    assert all(s.status is StepStatus.PASSED for s in report.steps)
    assert report.receipt is not None
    assert report.receipt.leaf.share_fen == 29


def test_make_share_receipt_reproduces_golden_receipt(tmp_path: Path) -> None:
    path, result = _small_ledger(tmp_path)
    with ShareLedgerReader(path) as reader:
        index, row = reader.find(from_hex(RECEIPT["leaf"]["memberCommitment"])) or (-1, None)
        assert row is not None
        receipt = make_share_receipt(tree=result.tree, index=index, row=row, inputs=reader.inputs, totals=result.totals)
    assert receipt.to_json() == RECEIPT
    assert parse_share_receipt(receipt.to_json_text()) == receipt


def test_make_share_receipt_from_stored_file_alone(tmp_path: Path) -> None:
    path, _ = _small_ledger(tmp_path)
    with ShareLedgerReader(path) as reader:
        tree = reader.tree()
        assert tree is not None
        for i, row in enumerate(reader.rows()):
            receipt = make_share_receipt(tree=tree, index=i, row=row, inputs=reader.inputs, totals=reader.totals)
            assert verify_share_receipt_offline(receipt.to_json_text()).ok


def test_make_share_receipt_rejects_row_of_another_index(tmp_path: Path) -> None:
    path, result = _small_ledger(tmp_path)
    with ShareLedgerReader(path) as reader, pytest.raises(errors.ShareLeafHashMismatch, match="not the leaf"):
        make_share_receipt(tree=result.tree, index=0, row=reader.row(1), inputs=reader.inputs, totals=result.totals)


@pytest.mark.parametrize("mutation", VEC["receiptMutations"], ids=lambda m: m["why"])
def test_altered_receipt_fails_at_its_step(mutation: dict[str, Any]) -> None:
    report = verify_share_receipt_offline(_mutate(RECEIPT, mutation))
    step = mutation["step"]
    if step is None:
        assert report.ok, report.to_json()
        return
    assert not report.ok
    assert report.failed_step == step
    assert isinstance(report.error, ERROR_OF_STEP[step])
    assert report.to_json()["code"] == ERROR_OF_STEP[step].code
    for result in report.steps:
        expected = (
            StepStatus.PASSED
            if result.step < step
            else (StepStatus.FAILED if result.step == step else StepStatus.NOT_RUN)
        )
        assert result.status is expected
    with pytest.raises(ERROR_OF_STEP[step]):
        report.raise_for_failure()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"version": 1, "version": 1}', "duplicate key"),
        ('{"version": NaN}', "not valid JSON"),
        ("{}", "missing field version"),
    ],
)
def test_verify_share_receipt_offline_reports_garbage_at_step_one(text: str, message: str) -> None:
    report = verify_share_receipt_offline(text)
    assert report.failed_step == ShareReceiptStep.SCHEMA
    assert report.error is not None
    assert message in report.error.message


def test_anchored_receipt_carries_chain_fields_and_still_verifies() -> None:
    receipt = parse_share_receipt(RECEIPT)
    anchored = receipt.anchored(
        chain_id=31337,
        contract="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        ledger_cid=b"\x01\x55\x12\x20" + b"\xab" * 32,
    )
    doc = anchored.to_json()
    assert (doc["chainId"], doc["contract"]) == (31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
    assert doc["ledgerCid"] == "0x01551220" + "ab" * 32
    assert verify_share_receipt_offline(doc).ok
    assert parse_share_receipt(json.dumps(doc)) == anchored


def test_receipt_with_bad_checksum_address_fails_schema() -> None:
    doc = {**RECEIPT, "chainId": 1, "contract": "0x5FbDB2315678afecb367f032d93F642f64180aA3"}
    report = verify_share_receipt_offline(doc)
    assert report.failed_step == ShareReceiptStep.SCHEMA
    assert report.error is not None
    assert report.error.fields["field"] == "contract"


def test_receipt_with_absurd_period_fails_at_totals_without_raising() -> None:
    # A one-member ledger (root = leaf hash, empty proof) whose period would need a base above uint64.
    row = ShareRow(b"\x07" * 32, 0, 0, 0)
    doc = copy.deepcopy(RECEIPT)
    doc["period"].update(payoutsFen=2**64 - 1, feeBps=10_000, surplusInFen=0, memberCount=1)
    leaf_hash = "0x" + share_leaf_hash(row).hex()
    doc.update(
        leaf={"memberCommitment": "0x" + "07" * 32, "shareFen": 0, "subsidyFen": 0, "yearToDateFen": 0},
        leafHash=leaf_hash,
        ledgerRoot=leaf_hash,
        proof=[],
    )
    report = verify_share_receipt_offline(doc)
    assert report.failed_step == ShareReceiptStep.PERIOD_TOTALS
    assert report.error is not None
    assert "do not apportion" in report.error.message


def test_verify_share_receipt_rejects_leaf_index_as_unknown_field_at_schema() -> None:
    # leafIndex left the format before v1 shipped: sorted-pair hashing carries no position, so no
    # step could check it. A receipt still carrying it is refused, not silently accepted.
    report = verify_share_receipt_offline({**RECEIPT, "leafIndex": 6})
    assert report.failed_step == ShareReceiptStep.SCHEMA
    assert type(report.error) is errors.ShareSchemaError
    assert report.error.fields["field"] == "$.leafIndex"
    assert "unknown field" in report.error.message
    assert "leafIndex" not in parse_share_receipt(RECEIPT).to_json()


def _depths_by_leaf_count(max_leaves: int) -> dict[int, set[int]]:
    """Proof lengths that occur in real trees of 1…max_leaves leaves, read off their proofs."""
    out = {}
    for n in range(1, max_leaves + 1):
        tree = MerkleTree.from_leaf_hashes([keccak256(b"depth/%d/%d" % (n, i)) for i in range(n)])
        out[n] = {len(tree.proof(i)) for i in range(n)}
    return out


def test_verify_share_receipt_position_accepts_exactly_member_counts_with_a_leaf_at_the_proof_depth() -> None:
    depths = _depths_by_leaf_count(40)
    assert {len(d) for d in depths.values()} == {1, 2}  # the step's premise: one or two depths
    for n in (1, 2, 5, 8, 13):
        members = [(keccak256(b"pos/%d/%d" % (n, i)), 0) for i in range(n)]
        members.sort()
        inputs = PeriodInputs.from_json(inputs_json(claimCount=1, payoutsFen=30_000_000, memberCount=n))
        result = build_share_ledger(inputs, members, keep_tree=True)
        assert result.tree is not None
        base = result.totals.base_fen
        share = min(base, 10)
        for i, (c, _) in enumerate(members):
            row = ShareRow(c, share, base - share, share)
            receipt = make_share_receipt(
                tree=result.tree, index=i, row=row, inputs=inputs, totals=result.totals
            ).to_json()
            for m, found in depths.items():
                doc = copy.deepcopy(receipt)
                doc["period"]["memberCount"] = m
                report = verify_share_receipt_offline(doc)
                if len(receipt["proof"]) in found:
                    # Past step 4; the period arithmetic (step 5) is what refuses another N.
                    assert report.status_of(ShareReceiptStep.POSITION) is StepStatus.PASSED, (n, i, m)
                    if m == n:
                        assert report.ok, (n, i, m)
                    else:
                        assert report.failed_step == ShareReceiptStep.PERIOD_TOTALS, (n, i, m)
                else:
                    assert report.failed_step == ShareReceiptStep.POSITION, (n, i, m)
                    assert type(report.error) is errors.SharePositionInvalid
                    assert report.error.fields["field"] == "proof"
                    assert report.error.fields["other_field"] == "period.memberCount"


def test_verify_share_receipt_offline_accepts_constructed_receipt_object() -> None:
    receipt = parse_share_receipt(RECEIPT)
    assert isinstance(receipt, ShareReceipt)
    assert verify_share_receipt_offline(receipt).ok


# --- receipts from random ledgers, and the JS library as an independent verifier -------------


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    commitments=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=30, unique=True),
    paid_seed=st.integers(min_value=0, max_value=2**32),
    claims=st.integers(min_value=1, max_value=50),
    wind_down=st.booleans(),
)
def test_every_member_receipt_of_a_ledger_verifies(
    commitments: list[bytes], paid_seed: int, claims: int, wind_down: bool
) -> None:
    members = [(c, (paid_seed * (i + 1)) % 19_500) for i, c in enumerate(sorted(commitments))]
    inputs = PeriodInputs.from_json(
        inputs_json(claimCount=claims, payoutsFen=claims * 30_000_000, memberCount=len(members), windDown=wind_down)
    )
    result = build_share_ledger(inputs, members, keep_tree=True)
    assert result.tree is not None
    base = result.totals.base_fen
    for i, (c, paid) in enumerate(members):
        share = 0 if wind_down else max(0, min(base, 10 * claims, 18_800 - paid))
        row = ShareRow(c, share, base - share, paid + share)
        receipt = make_share_receipt(tree=result.tree, index=i, row=row, inputs=inputs, totals=result.totals)
        report = verify_share_receipt_offline(receipt.to_json_text())
        assert report.ok, report.to_json()


def test_js_library_verifies_golden_receipt_proof_and_rejects_altered_leaf() -> None:
    leaf = RECEIPT["leaf"]
    values = [leaf["memberCommitment"], str(leaf["shareFen"]), str(leaf["subsidyFen"]), str(leaf["yearToDateFen"])]
    altered = [*values[:1], str(leaf["shareFen"] + 1), *values[2:]]
    good, bad = run_oracle(
        [
            {
                "op": "verify",
                "root": RECEIPT["ledgerRoot"],
                "leafTypes": SHARE_TYPES,
                "leaf": v,
                "proof": RECEIPT["proof"],
            }
            for v in (values, altered)
        ]
    )
    assert good == {"valid": True, "error": None}
    assert bad["valid"] is False
