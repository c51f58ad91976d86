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

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from backend.proofs.commitments import content_commitment
from backend.proofs.errors import (
    AnchorBlockMismatch,
    AnchorTxMismatch,
    BatchNotFound,
    CommitmentMismatch,
    DeploymentMismatch,
    HistoryUnavailable,
    LeafCountMismatch,
    LeafHashMismatch,
    OnchainProofRejected,
    PositionInvalid,
    PrevRootMismatch,
    ProofInvalid,
    ReceiptError,
    ReceiptStep,
    RootMismatch,
    SchemaError,
)
from backend.proofs.leaves import EvidenceLeaf, evidence_values_hash
from backend.proofs.merkle import MerkleTree, process_proof, proof_length_for_tree_index
from backend.proofs.receipt_schema import RECEIPT_VERSION, EvidenceReceipt, parse_evidence_receipt
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

_ZERO32 = bytes(32)


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
    tree_index = tree.tree_index(index)
    leaf_hash = leaf.leaf_hash()
    if tree.node(tree_index) != leaf_hash:
        raise LeafHashMismatch("leaf is not the leaf at this index of the tree", field="leaf", index=index)
    receipt = EvidenceReceipt(
        chain_id=chain_id,
        contract=contract,
        batch_id=batch_id,
        root=tree.root,
        prev_root=prev_root,
        leaf_count=tree.leaf_count,
        leaf=leaf,
        leaf_hash=leaf_hash,
        proof=tuple(tree.proof(index)),
        anchor_tx=anchor_tx,
        anchor_block=anchor_block,
        salt=salt,
        plaintext_sha256=plaintext_sha256,
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

    def proof() -> None:
        if process_proof(r().leaf_hash, r().proof) != r().root:
            raise ProofInvalid("proof does not lead from leafHash to root", field="proof")

    def commitment() -> str | None:
        rec = r()
        if rec.salt is None or rec.plaintext_sha256 is None:
            return "receipt carries no salt (public copy)"
        if content_commitment(rec.plaintext_sha256, rec.salt) != rec.leaf.content_commitment:
            raise CommitmentMismatch(
                "keccak256(plaintextSha256 ‖ salt) is not leaf.contentCommitment", field="leaf.contentCommitment"
            )
        return None

    def position() -> None:
        rec = r()
        # Leaves occupy tree indices [n − 1, 2n − 2]; depth is monotonic in the index, so the
        # leaf depths are exactly the range between the depths of the two ends (at most two).
        shallowest = proof_length_for_tree_index(rec.leaf_count - 1)
        deepest = proof_length_for_tree_index(2 * rec.leaf_count - 2)
        if not shallowest <= len(rec.proof) <= deepest:
            depths = str(shallowest) if shallowest == deepest else f"{shallowest} or {deepest}"
            raise PositionInvalid(
                f"proof has {len(rec.proof)} nodes, but the leaves of a tree of leafCount leaves "
                f"have proofs of {depths}",
                field="proof",
                other_field="leafCount",
            )

    runner.run(ReceiptStep.LEAF_HASH, leaf_hash)
    runner.run(ReceiptStep.PROOF, proof)
    runner.run(ReceiptStep.COMMITMENT, commitment)
    runner.run(ReceiptStep.POSITION, position)


def verify_receipt_offline(receipt: Mapping[str, Any] | str | bytes | EvidenceReceipt) -> VerificationReport:
    """Verify a receipt from its own contents (steps 1–5); never raises for a bad receipt.

    ``receipt`` is JSON text, a parsed JSON object, or an ``EvidenceReceipt``.
    """
    report = VerificationReport()
    _run_offline(_Runner(report), receipt)
    return report


# --- on-chain steps --------------------------------------------------------------------------


class AnchoredBatch(NamedTuple):
    """What EvidenceNotary's ``batch(uint256)`` returns for an anchored batch."""

    root: bytes
    prev_root: bytes
    leaf_count: int
    block: int


class AnchorTransaction(NamedTuple):
    """What a mined anchoring transaction did: its ``to`` address and the batch its event names."""

    contract: str
    batch_id: int
    root: bytes
    block: int


class BatchLookup(Protocol):
    """Read access to one deployed EvidenceNotary, as ``verify_receipt_onchain`` needs it.

    A web3 implementation binds ``chain_id`` and ``contract`` at construction, answers ``batch``
    with ``contract.functions.batch(batch_id).call()`` (None when the batch does not exist,
    e.g. a zero root) and ``verify`` with ``contract.functions.verify(batch_id, leaf_hash,
    proof).call()``. Both should read from a block at the caller's finality depth. RPC failures
    propagate as the implementation's own errors; they are not verdicts on the receipt.
    """

    @property
    def chain_id(self) -> int: ...

    @property
    def contract(self) -> str: ...

    def batch(self, batch_id: int) -> AnchoredBatch | None: ...

    def verify(self, batch_id: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bool: ...


@runtime_checkable
class AnchorTxLookup(Protocol):
    """Optional extra for a ``BatchLookup``: decode an anchoring transaction.

    Return None when no such mined transaction exists or it anchored nothing; raise
    ``HistoryUnavailable`` when the node has pruned the receipt (step 13 is then skipped).
    """

    def anchor_transaction(self, tx_hash: bytes) -> AnchorTransaction | None: ...


def verify_receipt_onchain(
    receipt: Mapping[str, Any] | str | bytes | EvidenceReceipt, lookup: BatchLookup
) -> VerificationReport:
    """Verify offline (steps 1–5), then against the deployed contract (steps 6–13)."""
    report = VerificationReport()
    runner = _Runner(report)
    _run_offline(runner, receipt)
    record: list[AnchoredBatch] = []

    def r() -> EvidenceReceipt:
        assert report.receipt is not None
        return report.receipt

    def deployment() -> None:
        if lookup.chain_id != r().chain_id:
            raise DeploymentMismatch("chainId is not the chain's id", field="chainId")
        if lookup.contract.lower() != r().contract.lower():
            raise DeploymentMismatch("contract is not the looked-up contract", field="contract")

    def batch() -> None:
        found = lookup.batch(r().batch_id)
        if found is None or found.root == _ZERO32:
            raise BatchNotFound("no batch with this batchId in the contract", field="batchId")
        record.append(found)

    def root() -> None:
        if record[0].root != r().root:
            raise RootMismatch("root differs from the root anchored for batchId", field="root")

    def prev_root() -> None:
        if record[0].prev_root != r().prev_root:
            raise PrevRootMismatch("prevRoot differs from the anchored prevRoot", field="prevRoot")

    def leaf_count() -> None:
        if record[0].leaf_count != r().leaf_count:
            raise LeafCountMismatch("leafCount differs from the anchored leafCount", field="leafCount")

    def anchor_block() -> None:
        if record[0].block != r().anchor_block:
            raise AnchorBlockMismatch("anchorBlock differs from the anchoring block", field="anchorBlock")

    def contract_verify() -> None:
        if not lookup.verify(r().batch_id, r().leaf_hash, list(r().proof)):
            raise OnchainProofRejected("the contract's verify() rejected the proof", field="proof")

    def anchor_tx() -> str | None:
        if not isinstance(lookup, AnchorTxLookup):
            return "lookup cannot decode transactions"
        try:
            tx = lookup.anchor_transaction(r().anchor_tx)
        except HistoryUnavailable:
            return "the node no longer serves this transaction"
        rec = r()
        if tx is None:
            raise AnchorTxMismatch("anchorTx is not a mined anchoring transaction", field="anchorTx")
        if (tx.contract.lower(), tx.batch_id, tx.root, tx.block) != (
            rec.contract.lower(),
            rec.batch_id,
            rec.root,
            rec.anchor_block,
        ):
            raise AnchorTxMismatch("anchorTx anchored a different batch, root or block", field="anchorTx")
        return None

    runner.run(ReceiptStep.DEPLOYMENT, deployment)
    runner.run(ReceiptStep.BATCH, batch)
    runner.run(ReceiptStep.ROOT, root)
    runner.run(ReceiptStep.PREV_ROOT, prev_root)
    runner.run(ReceiptStep.LEAF_COUNT, leaf_count)
    runner.run(ReceiptStep.ANCHOR_BLOCK, anchor_block)
    runner.run(ReceiptStep.CONTRACT_VERIFY, contract_verify)
    runner.run(ReceiptStep.ANCHOR_TX, anchor_tx)
    return report
