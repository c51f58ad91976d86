"""Evidence receipts: the JSON a claimant keeps to prove, without trusting the operator, that
their evidence was notarized — and how to verify one.

Verification-critical (DESIGN.md "Exact formats" 3–5), pinned by ``tests/vectors/receipt_evidence.json``.

The format (version 1) and step 1 (schema) are in ``backend.proofs.receipt_schema``.

Verification, in numbered steps (``ReceiptStep``); the first failure stops it and raises into
the report the step's own error (``backend.proofs.errors``):

  offline — ``verify_receipt_offline(receipt)``
    1 SCHEMA        exact keys, types, ranges, canonical hex, binary CID          SchemaError
    2 LEAF_HASH     leafHash == keccak256(keccak256(abi.encode(leaf)))            LeafHashMismatch
    3 PROOF         proof folds leafHash into root                                ProofInvalid
    4 COMMITMENT    keccak256(plaintextSha256 ‖ salt) == leaf.contentCommitment   CommitmentMismatch
                    (skipped when the receipt carries no salt)
    5 POSITION      len(proof) is the depth of a leaf in a tree of leafCount       PositionInvalid
                    leaves: floor(log2(t + 1)) for some tree index t in
                    [leafCount − 1, 2·leafCount − 2] — one or two depths
  on chain — ``verify_receipt_onchain(receipt, lookup)`` runs 1–5, then
    6 DEPLOYMENT    lookup's chain id and contract address are the receipt's      DeploymentMismatch
    7 BATCH         the contract has batch batchId                                BatchNotFound
    8 ROOT          …whose root is the receipt's root                             RootMismatch
    9 PREV_ROOT     …whose prevRoot is the receipt's prevRoot                     PrevRootMismatch
   10 LEAF_COUNT    …whose leafCount is the receipt's leafCount                   LeafCountMismatch
   11 ANCHOR_BLOCK  …recorded in block anchorBlock                                AnchorBlockMismatch
   12 CONTRACT_VERIFY  the contract's verify(batchId, leafHash, proof) is true     OnchainProofRejected
   13 ANCHOR_TX     the transaction anchorTx anchored this batch, root and block  AnchorTxMismatch
                    (only with a lookup that also implements ``AnchorTxLookup``; skipped when the
                    node has pruned that history)

What the steps can and cannot see: inner nodes hash their children in sorted order, so a proof
does not encode the leaf's position, and the format carries none — a position nobody can check
would be a claim, not evidence (as in MerkleProof.sol, only the leaf's membership is proven).
Offline, ``leafCount`` is bound only through the depth (step 5): a value whose trees have
leaves at the proof's depth passes offline and is caught on chain, fully, by step 10.
``chainId``, ``contract``, ``prevRoot``, ``anchorTx`` and ``anchorBlock`` are checked on chain
only. So every field is checked by some step, and altering any one of them fails
``verify_receipt_onchain`` naming that step — ``anchorTx`` only where step 13 runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.proofs.batch_steps import (
    AnchoredBatch,
    AnchorTransaction,
    AnchorTxLookup,
    BatchLookup,
    check_position,
    check_proof,
    run_onchain_steps,
)
from backend.proofs.commitments import content_commitment
from backend.proofs.errors import (
    CommitmentMismatch,
    LeafHashMismatch,
    ReceiptError,
    ReceiptStep,
    SchemaError,
)
from backend.proofs.leaves import EvidenceLeaf, evidence_values_hash
from backend.proofs.merkle import MerkleTree
from backend.proofs.receipt_schema import RECEIPT_VERSION, EvidenceReceipt, parse_evidence_receipt, tree_position
from backend.proofs.report import StepReport, StepResult, StepRunner, StepStatus

__all__ = [
    "OFFLINE_STEPS",
    "ONCHAIN_STEPS",
    "RECEIPT_VERSION",
    "AnchorTransaction",
    "AnchorTxLookup",
    "AnchoredBatch",
    "BatchLookup",
    "EvidenceReceipt",
    "StepResult",
    "StepStatus",
    "VerificationReport",
    "make_evidence_receipt",
    "parse_evidence_receipt",
    "verify_receipt_offline",
    "verify_receipt_onchain",
]

OFFLINE_STEPS: tuple[ReceiptStep, ...] = tuple(s for s in ReceiptStep if s <= ReceiptStep.POSITION)
ONCHAIN_STEPS: tuple[ReceiptStep, ...] = tuple(s for s in ReceiptStep if s > ReceiptStep.POSITION)


# --- making a receipt ------------------------------------------------------------------------


def make_evidence_receipt(
    *,
    tree: MerkleTree,
    index: int,
    leaf: EvidenceLeaf,
    chain_id: int,
    contract: str,
    batch_id: int,
    prev_root: bytes,
    anchor_tx: bytes,
    anchor_block: int,
    salt: bytes | None = None,
    plaintext_sha256: bytes | None = None,
) -> EvidenceReceipt:
    """Receipt for the leaf given at input position ``index`` of ``tree`` (a batch's tree).

    ``index`` only locates the leaf and its proof; the receipt does not record it (step 5 of
    the module docstring). Checks that ``leaf`` is the leaf at that position and that the result
    verifies offline, so a receipt that leaves here is one its holder can verify. Pass ``salt``
    and ``plaintext_sha256`` only for the claimant's private copy.
    """
    receipt = EvidenceReceipt(
        chain_id=chain_id,
        contract=contract,
        batch_id=batch_id,
        prev_root=prev_root,
        leaf=leaf,
        anchor_tx=anchor_tx,
        anchor_block=anchor_block,
        salt=salt,
        plaintext_sha256=plaintext_sha256,
        **tree_position(tree, index, leaf.leaf_hash()),
    )
    verify_receipt_offline(receipt).raise_for_failure()
    return receipt


# --- the report ------------------------------------------------------------------------------

# StepStatus and StepResult are backend.proofs.report's, re-exported here.


class VerificationReport(StepReport[ReceiptStep, ReceiptError, EvidenceReceipt]):
    """Outcome of verifying one evidence receipt: one ``StepResult`` per step, in order.

    ``ok`` is true when no step failed (skipped steps are listed with the reason). ``error`` is
    the failing step's ``ReceiptError``; ``raise_for_failure()`` raises it.
    """

    __slots__ = ()


class _Runner(StepRunner[ReceiptStep, ReceiptError, EvidenceReceipt]):
    """Runs steps in order; the first failure records the error and every later step is NOT_RUN."""

    def __init__(self, report: VerificationReport) -> None:
        super().__init__(report, ReceiptError)


# --- offline steps ----------------------------------------------------------------------------


def _run_offline(runner: _Runner, receipt: Mapping[str, Any] | str | bytes | EvidenceReceipt) -> None:
    report = runner.report

    def schema() -> None:
        if isinstance(receipt, EvidenceReceipt):
            # Re-validate a constructed receipt through its JSON form: same checks either way.
            try:
                doc = receipt.to_json()
            except (TypeError, ValueError, AttributeError) as exc:
                raise SchemaError(f"receipt fields have the wrong types: {exc}", field="$") from exc
            report.receipt = parse_evidence_receipt(doc)
        else:
            report.receipt = parse_evidence_receipt(receipt)

    runner.run(ReceiptStep.SCHEMA, schema)

    def r() -> EvidenceReceipt:
        assert report.receipt is not None
        return report.receipt

    def leaf_hash() -> None:
        leaf = r().leaf
        if evidence_values_hash(leaf.values()) != r().leaf_hash:
            raise LeafHashMismatch("leafHash is not the hash of leaf", field="leafHash")

    def commitment() -> str | None:
        rec = r()
        if rec.salt is None or rec.plaintext_sha256 is None:
            return "receipt carries no salt (public copy)"
        if content_commitment(rec.plaintext_sha256, rec.salt) != rec.leaf.content_commitment:
            raise CommitmentMismatch(
                "keccak256(plaintextSha256 ‖ salt) is not leaf.contentCommitment", field="leaf.contentCommitment"
            )
        return None

    runner.run(ReceiptStep.LEAF_HASH, leaf_hash)
    runner.run(ReceiptStep.PROOF, lambda: check_proof(r()))
    runner.run(ReceiptStep.COMMITMENT, commitment)
    runner.run(ReceiptStep.POSITION, lambda: check_position(r()))


def verify_receipt_offline(receipt: Mapping[str, Any] | str | bytes | EvidenceReceipt) -> VerificationReport:
    """Verify a receipt from its own contents (steps 1–5); never raises for a bad receipt.

    ``receipt`` is JSON text, a parsed JSON object, or an ``EvidenceReceipt``.
    """
    report = VerificationReport()
    _run_offline(_Runner(report), receipt)
    return report


# --- on-chain steps (backend.proofs.batch_steps: AnchoredBatch, AnchorTransaction, BatchLookup,
# AnchorTxLookup and the steps 6–13 every anchored leaf kind shares, re-exported here) -------------


def verify_receipt_onchain(
    receipt: Mapping[str, Any] | str | bytes | EvidenceReceipt, lookup: BatchLookup
) -> VerificationReport:
    """Verify offline (steps 1–5), then against the deployed contract (steps 6–13)."""
    report = VerificationReport()
    runner = _Runner(report)
    _run_offline(runner, receipt)

    def r() -> EvidenceReceipt:
        assert report.receipt is not None
        return report.receipt

    run_onchain_steps(runner, r, lookup)
    return report
