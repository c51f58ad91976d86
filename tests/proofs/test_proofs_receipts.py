"""Evidence receipts: the golden receipt verifies, and every altered field fails, naming the step.

tests/vectors/receipt_evidence.json holds the receipt (hashes from the JS library), the chain
state the lookup answers, and the tamper cases with the step each must fail at.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proofs_support import VECTORS, LedgerLookup, apply_mutation, cid_v1_raw

from backend.proofs import errors
from backend.proofs.commitments import content_commitment, plaintext_sha256
from backend.proofs.errors import ReceiptStep
from backend.proofs.hexstr import from_hex
from backend.proofs.keccak import keccak256
from backend.proofs.leaves import EvidenceLeaf, values_from_json
from backend.proofs.merkle import MerkleTree, verify_proof
from backend.proofs.receipts import (
    OFFLINE_STEPS,
    EvidenceReceipt,
    StepStatus,
    make_evidence_receipt,
    parse_evidence_receipt,
    verify_receipt_offline,
    verify_receipt_onchain,
)
from backend.proofs.standard_tree import StandardMerkleTree

VEC = json.loads((VECTORS / "receipt_evidence.json").read_text(encoding="utf-8"))
RECEIPT: dict[str, Any] = VEC["receipt"]
MUTATIONS: list[dict[str, Any]] = VEC["mutations"]

ERROR_OF_STEP = {
    1: errors.SchemaError,
    2: errors.LeafHashMismatch,
    3: errors.ProofInvalid,
    4: errors.CommitmentMismatch,
    5: errors.PositionInvalid,
    6: errors.DeploymentMismatch,
    7: errors.BatchNotFound,
    8: errors.RootMismatch,
    9: errors.PrevRootMismatch,
    10: errors.LeafCountMismatch,
    11: errors.AnchorBlockMismatch,
    12: errors.OnchainProofRejected,
    13: errors.AnchorTxMismatch,
}


def _lookup() -> LedgerLookup:
    return LedgerLookup(VEC["chain"])


def test_verify_receipt_offline_accepts_golden_private_receipt() -> None:
    report = verify_receipt_offline(RECEIPT)
    assert report.ok, report.to_json()
    assert [s.step for s in report.steps] == list(OFFLINE_STEPS)
    assert all(s.status is StepStatus.PASSED for s in report.steps)


def test_verify_receipt_offline_skips_commitment_for_public_copy() -> None:
    report = verify_receipt_offline(VEC["publicReceipt"])
    assert report.ok
    assert report.status_of(ReceiptStep.COMMITMENT) is StepStatus.SKIPPED


def test_verify_receipt_onchain_accepts_golden_receipt_through_all_steps() -> None:
    report = verify_receipt_onchain(json.dumps(RECEIPT), _lookup())
    assert report.ok, report.to_json()
    assert [s.step for s in report.steps] == list(ReceiptStep)
    assert all(s.status is StepStatus.PASSED for s in report.steps)


def test_make_evidence_receipt_reproduces_golden_receipt_byte_for_byte() -> None:
    batch = VEC["batch"]
    values = [values_from_json(batch["leafTypes"], v) for v in batch["values"]]
    tree = StandardMerkleTree.of(values, batch["leafTypes"]).tree
    leaf = EvidenceLeaf(*values[batch["item"]])
    receipt = make_evidence_receipt(
        tree=tree,
        index=batch["item"],
        leaf=leaf,
        chain_id=RECEIPT["chainId"],
        contract=RECEIPT["contract"],
        batch_id=RECEIPT["batchId"],
        prev_root=from_hex(RECEIPT["prevRoot"]),
        anchor_tx=from_hex(RECEIPT["anchorTx"]),
        anchor_block=RECEIPT["anchorBlock"],
        salt=from_hex(RECEIPT["salt"]),
        plaintext_sha256=from_hex(RECEIPT["plaintextSha256"]),
    )
    assert json.dumps(receipt.to_json()) == json.dumps(RECEIPT)
    assert receipt.public_copy().to_json() == VEC["publicReceipt"]
    assert parse_evidence_receipt(receipt.to_json_text()) == receipt


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m["name"] for m in MUTATIONS])
def test_verify_receipt_fails_altered_field_at_its_step(mutation: dict[str, Any]) -> None:
    altered = apply_mutation(RECEIPT, mutation)
    offline = verify_receipt_offline(altered)
    onchain = verify_receipt_onchain(altered, _lookup())
    if mutation["offline"] is None:
        assert offline.ok, offline.to_json()
    else:
        assert offline.failed_step == mutation["offline"]
        assert type(offline.error) is ERROR_OF_STEP[mutation["offline"]]
    assert not onchain.ok
    assert onchain.failed_step == mutation["onchain"]
    assert type(onchain.error) is ERROR_OF_STEP[mutation["onchain"]]
    assert onchain.status_of(ReceiptStep(mutation["onchain"])) is StepStatus.FAILED
    later = [s for s in onchain.steps if s.step > mutation["onchain"]]
    assert len(later) == len(ReceiptStep) - mutation["onchain"]
    assert all(s.status is StepStatus.NOT_RUN for s in later)
    with pytest.raises(ERROR_OF_STEP[mutation["onchain"]]) as caught:
        onchain.raise_for_failure()
    assert caught.value.fields["step"] == mutation["onchain"]
    assert caught.value.fields["step_name"] == ReceiptStep(mutation["onchain"]).name


def _paths(doc: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in doc.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= _paths(value, prefix + key + ".")
    return out


def test_every_receipt_field_has_a_failing_mutation() -> None:
    touched = set()
    for m in MUTATIONS:
        touched |= set(m.get("set", {})) | set(m.get("delete", []))
    assert _paths(RECEIPT) - {"leaf"} <= touched


def test_verify_receipt_rejects_leaf_index_as_unknown_field_at_schema() -> None:
    # leafIndex left the format before v1 shipped: sorted-pair hashing carries no position, so no
    # step could check it. A receipt still carrying it is refused, not silently accepted.
    altered = {**RECEIPT, "leafIndex": 9}
    for report in (verify_receipt_offline(altered), verify_receipt_onchain(altered, _lookup())):
        assert report.failed_step == ReceiptStep.SCHEMA
        assert type(report.error) is errors.SchemaError
        assert report.error.fields["field"] == "leafIndex"
        assert "unknown field" in report.error.message


def _depths_by_leaf_count(max_leaves: int) -> dict[int, set[int]]:
    """Proof lengths that occur in real trees of 1…max_leaves leaves, read off their proofs."""
    out = {}
    for n in range(1, max_leaves + 1):
        tree = MerkleTree.from_leaf_hashes([keccak256(b"depth/%d/%d" % (n, i)) for i in range(n)])
        out[n] = {len(tree.proof(i)) for i in range(n)}
    return out


def test_verify_receipt_position_accepts_exactly_leaf_counts_with_a_leaf_at_the_proof_depth() -> None:
    depths = _depths_by_leaf_count(40)
    assert {len(d) for d in depths.values()} == {1, 2}  # the step's premise: one or two depths
    for n in (1, 2, 5, 8, 13):
        leaves = [EvidenceLeaf(keccak256(b"pos/%d/%d" % (n, i)), bytes(32), cid_v1_raw(f"pos/{i}")) for i in range(n)]
        tree = MerkleTree.from_leaf_hashes([leaf.leaf_hash() for leaf in leaves])
        for i in range(n):
            receipt = make_evidence_receipt(
                tree=tree,
                index=i,
                leaf=leaves[i],
                chain_id=31337,
                contract=RECEIPT["contract"],
                batch_id=1,
                prev_root=bytes(32),
                anchor_tx=keccak256(b"tx"),
                anchor_block=7,
            ).to_json()
            for m, found in depths.items():
                report = verify_receipt_offline({**receipt, "leafCount": m})
                if len(receipt["proof"]) in found:
                    assert report.ok, (n, i, m)
                else:
                    assert report.failed_step == ReceiptStep.POSITION, (n, i, m)
                    assert type(report.error) is errors.PositionInvalid
                    assert report.error.fields["field"] == "proof"
                    assert report.error.fields["other_field"] == "leafCount"


@pytest.mark.parametrize(
    "text",
    [
        "garbage" + json.dumps(RECEIPT),
        json.dumps(RECEIPT) + "garbage",
        json.dumps(RECEIPT)[:-1],
        json.dumps(RECEIPT).replace('"anchorBlock": 42', '"anchorBlock": 42, "anchorBlock": 42'),
        json.dumps(RECEIPT).replace('"anchorBlock": 42', '"anchorBlock": NaN'),
        b"\xff\xfe" + json.dumps(RECEIPT).encode(),
        "[]",
    ],
    ids=["garbage-before", "garbage-after", "truncated", "duplicate-key", "nan", "bad-utf8", "not-an-object"],
)
def test_verify_receipt_offline_rejects_malformed_json_text_at_schema(text: str | bytes) -> None:
    report = verify_receipt_offline(text)
    assert report.failed_step == ReceiptStep.SCHEMA
    assert isinstance(report.error, errors.SchemaError)


def test_verify_receipt_onchain_skips_anchor_tx_when_history_is_pruned() -> None:
    lookup = _lookup()
    lookup.history_pruned = True
    report = verify_receipt_onchain(RECEIPT, lookup)
    assert report.ok
    assert report.status_of(ReceiptStep.ANCHOR_TX) is StepStatus.SKIPPED


class _StorageOnlyLookup:
    """A lookup that reads contract storage only (no transaction decoding)."""

    def __init__(self, inner: LedgerLookup) -> None:
        self.chain_id = inner.chain_id
        self.contract = inner.contract
        self.batch = inner.batch
        self.verify = inner.verify


def test_verify_receipt_onchain_skips_anchor_tx_without_transaction_lookup() -> None:
    report = verify_receipt_onchain(RECEIPT, _StorageOnlyLookup(_lookup()))
    assert report.ok
    assert report.status_of(ReceiptStep.ANCHOR_TX) is StepStatus.SKIPPED


class _SingleHashNotary(LedgerLookup):
    """A contract that hashes the submitted leaf once more before MerkleProof.verify."""

    def verify(self, batch_id: int, leaf_hash: bytes, proof: Any) -> bool:
        found = self.batches.get(batch_id)
        return found is not None and verify_proof(found.root, keccak256(leaf_hash), proof)


def test_verify_receipt_onchain_fails_when_contract_verify_rejects() -> None:
    report = verify_receipt_onchain(RECEIPT, _SingleHashNotary(VEC["chain"]))
    assert report.failed_step == ReceiptStep.CONTRACT_VERIFY
    assert isinstance(report.error, errors.OnchainProofRejected)


def test_report_json_never_contains_salt_or_plaintext_hash() -> None:
    for doc in (RECEIPT, apply_mutation(RECEIPT, {"set": {"salt": "0x" + "00" * 32}})):
        text = json.dumps(verify_receipt_onchain(doc, _lookup()).to_json())
        assert RECEIPT["salt"][2:] not in text
        assert RECEIPT["plaintextSha256"][2:] not in text


def test_verify_receipt_offline_revalidates_constructed_receipt() -> None:
    receipt = parse_evidence_receipt(RECEIPT)
    bad = EvidenceReceipt(**{**_fields(receipt), "proof": (b"\x00" * 31,)})
    report = verify_receipt_offline(bad)
    assert report.failed_step == ReceiptStep.SCHEMA


def _fields(receipt: EvidenceReceipt) -> dict[str, Any]:
    return {name: getattr(receipt, name) for name in EvidenceReceipt.__dataclass_fields__}


def test_make_evidence_receipt_refuses_leaf_not_at_index() -> None:
    leaves = [EvidenceLeaf(bytes([i]) * 32, bytes(32), cid_v1_raw(str(i))) for i in range(3)]
    tree = MerkleTree.from_leaf_hashes([leaf.leaf_hash() for leaf in leaves])
    with pytest.raises(errors.LeafHashMismatch, match="not the leaf at this index"):
        make_evidence_receipt(
            tree=tree,
            index=0,
            leaf=leaves[1],
            chain_id=1,
            contract=RECEIPT["contract"],
            batch_id=0,
            prev_root=bytes(32),
            anchor_tx=bytes(32),
            anchor_block=0,
        )


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    contents=st.lists(st.binary(min_size=0, max_size=64), min_size=1, max_size=40),
    salt=st.binary(min_size=32, max_size=32),
)
def test_receipts_of_any_batch_verify_offline(contents: list[bytes], salt: bytes) -> None:
    leaves = [
        EvidenceLeaf(
            keccak256(b"claim%d" % i), content_commitment(plaintext_sha256(c), salt), cid_v1_raw(f"{i}/{c.hex()}")
        )
        for i, c in enumerate(contents)
    ]
    tree = MerkleTree.from_leaf_hashes([leaf.leaf_hash() for leaf in leaves])
    for i, (leaf, content) in enumerate(zip(leaves, contents, strict=True)):
        receipt = make_evidence_receipt(
            tree=tree,
            index=i,
            leaf=leaf,
            chain_id=31337,
            contract=RECEIPT["contract"],
            batch_id=1,
            prev_root=bytes(32),
            anchor_tx=keccak256(b"tx"),
            anchor_block=7,
            salt=salt,
            plaintext_sha256=plaintext_sha256(content),
        )
        report = verify_receipt_offline(receipt.to_json_text())
        assert report.ok
