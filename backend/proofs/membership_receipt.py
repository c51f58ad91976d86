"""Membership receipts (a member's join receipt): the JSON a member keeps to prove, without
trusting the operator, that their join (or exit) is in the anchored membership log.

Verification-critical (DESIGN.md "Exact formats" 4–5), pinned by ``tests/vectors/membership_log.json``.

Format, version 1 (JSON object, exactly these keys; hashes as lower-case ``0x`` hex)::

    {
      "version": 1,
      "kind": "membership",
      "chainId": 31337,                   EIP-155 chain id of the chain holding the anchor
      "contract": "0x…",                  the MembershipLog address (an EvidenceNotary instance)
      "batchId": 3,                       the batch in that contract
      "root": "0x…32",                    Merkle root anchored for the batch
      "prevRoot": "0x…32",                root of batch batchId − 1 (the anchors' hash chain)
      "leafCount": 12,                    number of leaves in the batch's tree
      "leaf": {                           the membership leaf (uint8, bytes32, uint64)
        "change": 1,                      1 join, 2 exit
        "memberCommitment": "0x…32",      keccak256(abi.encode(DOMAIN, salt, string memberId))
        "effectiveAt": 1767225600         Unix seconds the change counts from
      },
      "leafHash": "0x…32",                keccak256(keccak256(abi.encode(leaf)))
      "proof": ["0x…32", …],              sibling hashes, leaf to root (MerkleProof.sol order)
      "anchorTx": "0x…32",                the transaction that anchored the batch
      "anchorBlock": 123,                 the block that recorded the batch
      "memberId": "…",                    OPTIONAL, PRIVATE to the member, always together with
      "salt": "0x…32"                     salt: they open memberCommitment (step 4); never publish
    }

Steps (``backend.proofs.errors.ReceiptStep``, the same numbers as evidence receipts): 1 SCHEMA,
2 LEAF_HASH, 3 PROOF, 4 COMMITMENT (``member_commitment(memberId, salt) == leaf.memberCommitment``,
skipped on a public copy), 5 POSITION offline; 6–13 on chain (``backend.proofs.batch_steps``).

What a verified receipt proves: the change was anchored in batch ``batchId`` in block
``anchorBlock`` — before any period whose snapshot and publication come later. Whether the member
was then left out of a period is :func:`left_out_of_period`'s question.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from backend.proofs.batch_steps import BatchLookup, check_position, check_proof, run_onchain_steps
from backend.proofs.commitments import member_commitment
from backend.proofs.errors import (
    CommitmentMismatch,
    LeafEncodingError,
    LeafHashMismatch,
    ReceiptError,
    ReceiptStep,
    SchemaError,
)
from backend.proofs.hexstr import to_hex
from backend.proofs.membership_log import MembershipChange
from backend.proofs.merkle import MerkleTree
from backend.proofs.receipt_schema import anchored_leaf_json, check_envelope, tree_position
from backend.proofs.report import StepReport, StepRunner
from backend.proofs.strict_json import ReceiptFields

__all__ = [
    "KIND_MEMBERSHIP",
    "MembershipReceipt",
    "MembershipReport",
    "left_out_of_period",
    "make_membership_receipt",
    "parse_membership_receipt",
    "verify_membership_receipt_offline",
    "verify_membership_receipt_onchain",
]

KIND_MEMBERSHIP = "membership"

_UINT256_MAX = 2**256 - 1
_UINT64_MAX = 2**64 - 1
_PRIVATE_KEYS = ("memberId", "salt")
_FIELDS = ReceiptFields(SchemaError)


@dataclass(frozen=True, slots=True)
class MembershipReceipt:
    """A parsed, schema-valid membership receipt."""

    chain_id: int
    contract: str
    batch_id: int
    root: bytes
    prev_root: bytes
    leaf_count: int
    leaf: MembershipChange
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    anchor_tx: bytes
    anchor_block: int
    member_id: str | None = None
    salt: bytes | None = None

    def public_copy(self) -> MembershipReceipt:
        """The same receipt without ``memberId`` and ``salt``."""
        return replace(self, member_id=None, salt=None)

    def to_json(self) -> dict[str, Any]:
        doc = anchored_leaf_json(KIND_MEMBERSHIP, self)
        if self.member_id is not None and self.salt is not None:
            doc["memberId"] = self.member_id
            doc["salt"] = to_hex(self.salt)
        return doc

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))


def parse_membership_receipt(receipt: Mapping[str, Any] | str | bytes) -> MembershipReceipt:
    """Step 1: parse and validate a version-1 membership receipt; ``SchemaError`` names the field."""
    doc = _FIELDS.loads(receipt) if isinstance(receipt, str | bytes) else receipt
    private = check_envelope(doc, KIND_MEMBERSHIP, _PRIVATE_KEYS)
    try:
        leaf = MembershipChange.from_json(doc["leaf"])
    except LeafEncodingError as exc:
        raise SchemaError(exc.message, field=str(exc.fields.get("field", "leaf"))) from exc
    raw_proof = doc["proof"]
    if not isinstance(raw_proof, list):
        raise SchemaError("proof must be a list", field="proof")
    proof = tuple(_FIELDS.bytes32({"p": node}, "p", f"proof[{i}]") for i, node in enumerate(raw_proof))
    member_id = salt = None
    if private:
        member_id = doc["memberId"]
        if not isinstance(member_id, str) or not member_id:
            raise SchemaError("memberId must be a non-empty string", field="memberId")
        salt = _FIELDS.bytes32(doc, "salt")
    return MembershipReceipt(
        chain_id=_FIELDS.integer(doc, "chainId", 1, _UINT256_MAX),
        contract=_FIELDS.address(doc["contract"]),
        batch_id=_FIELDS.integer(doc, "batchId", 1, _UINT256_MAX),
        root=_FIELDS.bytes32(doc, "root"),
        prev_root=_FIELDS.bytes32(doc, "prevRoot"),
        leaf_count=_FIELDS.integer(doc, "leafCount", 1, _UINT256_MAX),
        leaf=leaf,
        leaf_hash=_FIELDS.bytes32(doc, "leafHash"),
        proof=proof,
        anchor_tx=_FIELDS.bytes32(doc, "anchorTx"),
        anchor_block=_FIELDS.integer(doc, "anchorBlock", 0, _UINT64_MAX),
        member_id=member_id,
        salt=salt,
    )


def make_membership_receipt(
    *,
    tree: MerkleTree,
    index: int,
    leaf: MembershipChange,
    chain_id: int,
    contract: str,
    batch_id: int,
    prev_root: bytes,
    anchor_tx: bytes,
    anchor_block: int,
    member_id: str | None = None,
    salt: bytes | None = None,
) -> MembershipReceipt:
    """Receipt for the leaf at input position ``index`` of the batch's ``tree``; verified offline."""
    receipt = MembershipReceipt(
        chain_id=chain_id,
        contract=contract,
        batch_id=batch_id,
        prev_root=prev_root,
        leaf=leaf,
        anchor_tx=anchor_tx,
        anchor_block=anchor_block,
        member_id=member_id,
        salt=salt,
        **tree_position(tree, index, leaf.leaf_hash()),
    )
    verify_membership_receipt_offline(receipt).raise_for_failure()
    return receipt


class MembershipReport(StepReport[ReceiptStep, ReceiptError, MembershipReceipt]):
    """Outcome of verifying one membership receipt: one ``StepResult`` per step, in order."""

    __slots__ = ()


def _run_offline(
    runner: StepRunner[ReceiptStep, ReceiptError, MembershipReceipt],
    receipt: Mapping[str, Any] | str | bytes | MembershipReceipt,
) -> None:
    report = runner.report

    def schema() -> None:
        doc = receipt.to_json() if isinstance(receipt, MembershipReceipt) else receipt
        report.receipt = parse_membership_receipt(doc)

    def r() -> MembershipReceipt:
        assert report.receipt is not None
        return report.receipt

    def leaf_hash() -> None:
        if r().leaf.leaf_hash() != r().leaf_hash:
            raise LeafHashMismatch("leafHash is not the hash of leaf", field="leafHash")

    def commitment() -> str | None:
        rec = r()
        if rec.member_id is None or rec.salt is None:
            return "receipt carries no memberId and salt (public copy)"
        if member_commitment(rec.member_id, rec.salt) != rec.leaf.member_commitment:
            raise CommitmentMismatch(
                "memberId and salt do not open leaf.memberCommitment", field="leaf.memberCommitment"
            )
        return None

    runner.run(ReceiptStep.SCHEMA, schema)
    runner.run(ReceiptStep.LEAF_HASH, leaf_hash)
    runner.run(ReceiptStep.PROOF, lambda: check_proof(r()))
    runner.run(ReceiptStep.COMMITMENT, commitment)
    runner.run(ReceiptStep.POSITION, lambda: check_position(r()))


def verify_membership_receipt_offline(
    receipt: Mapping[str, Any] | str | bytes | MembershipReceipt,
) -> MembershipReport:
    """Steps 1–5 from the receipt alone; never raises for a bad receipt."""
    report = MembershipReport()
    _run_offline(StepRunner(report, ReceiptError), receipt)
    return report


def verify_membership_receipt_onchain(
    receipt: Mapping[str, Any] | str | bytes | MembershipReceipt, lookup: BatchLookup
) -> MembershipReport:
    """Steps 1–5, then 6–13 against the deployed MembershipLog."""
    report = MembershipReport()
    runner: StepRunner[ReceiptStep, ReceiptError, MembershipReceipt] = StepRunner(report, ReceiptError)
    _run_offline(runner, receipt)

    def r() -> MembershipReceipt:
        assert report.receipt is not None
        return report.receipt

    run_onchain_steps(runner, r, lookup)
    return report


def left_out_of_period(
    receipt: MembershipReceipt,
    *,
    snapshot_at: int,
    published_block: int,
    in_period: bool,
    exit_before_snapshot: bool,
) -> bool:
    """True when a verified join receipt shows the member was wrongly left out of a period.

    Left out = the receipt is a join effective at or before the period's snapshot
    (``snapshot_at``, Unix seconds), anchored no later than the block that published the period
    (``published_block``: the publisher could see it), no exit of the member effective at or
    before the snapshot is in the anchored log, yet the commitment is not among the period's
    members (``in_period``).
    """
    leaf = receipt.leaf
    return (
        leaf.is_join
        and leaf.effective_at <= snapshot_at
        and receipt.anchor_block <= published_block
        and not exit_before_snapshot
        and not in_period
    )
