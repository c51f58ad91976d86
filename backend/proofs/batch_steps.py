"""Receipt steps shared by every leaf anchored in an EvidenceNotary hash chain (any leaf kind).

Verification-critical (DESIGN.md "Exact formats" 4–5). Evidence receipts
(``backend.proofs.receipts``) and membership receipts (``backend.proofs.membership_receipt``)
differ in their leaf and its commitment (steps 1, 2, 4); the proof, the position and the eight
on-chain steps are the same and live here once:

    3 PROOF         proof folds leafHash into root                                ProofInvalid
    5 POSITION      len(proof) is the depth of a leaf in a tree of leafCount      PositionInvalid
    6 DEPLOYMENT … 13 ANCHOR_TX                                                   (on chain)

See ``backend.proofs.receipts`` for what each step can and cannot see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from backend.proofs.errors import (
    AnchorBlockMismatch,
    AnchorTxMismatch,
    BatchNotFound,
    DeploymentMismatch,
    HistoryUnavailable,
    LeafCountMismatch,
    OnchainProofRejected,
    PositionInvalid,
    PrevRootMismatch,
    ProofInvalid,
    ReceiptError,
    ReceiptStep,
    RootMismatch,
)
from backend.proofs.merkle import process_proof, proof_length_for_tree_index
from backend.proofs.report import StepRunner

__all__ = [
    "AnchorTransaction",
    "AnchorTxLookup",
    "AnchoredBatch",
    "AnchoredLeafReceipt",
    "BatchLookup",
    "check_position",
    "check_proof",
    "run_onchain_steps",
]

_ZERO32 = bytes(32)


class AnchoredLeafReceipt(Protocol):
    """What the shared steps read of a parsed receipt."""

    @property
    def chain_id(self) -> int: ...
    @property
    def contract(self) -> str: ...
    @property
    def batch_id(self) -> int: ...
    @property
    def root(self) -> bytes: ...
    @property
    def prev_root(self) -> bytes: ...
    @property
    def leaf_count(self) -> int: ...
    @property
    def leaf_hash(self) -> bytes: ...
    @property
    def proof(self) -> tuple[bytes, ...]: ...
    @property
    def anchor_tx(self) -> bytes: ...
    @property
    def anchor_block(self) -> int: ...


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
    """Read access to one deployed EvidenceNotary (or MembershipLog, the same contract).

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


def check_proof(rec: AnchoredLeafReceipt) -> None:
    """Step 3: the proof folds ``leafHash`` into ``root``."""
    if process_proof(rec.leaf_hash, rec.proof) != rec.root:
        raise ProofInvalid("proof does not lead from leafHash to root", field="proof")


def check_position(rec: AnchoredLeafReceipt) -> None:
    """Step 5: ``len(proof)`` is the depth of some leaf of a tree of ``leafCount`` leaves."""
    # Leaves occupy tree indices [n − 1, 2n − 2]; depth is monotonic in the index, so the
    # leaf depths are exactly the range between the depths of the two ends (at most two).
    shallowest = proof_length_for_tree_index(rec.leaf_count - 1)
    deepest = proof_length_for_tree_index(2 * rec.leaf_count - 2)
    if not shallowest <= len(rec.proof) <= deepest:
        depths = str(shallowest) if shallowest == deepest else f"{shallowest} or {deepest}"
        raise PositionInvalid(
            f"proof has {len(rec.proof)} nodes, but the leaves of a tree of leafCount leaves have proofs of {depths}",
            field="proof",
            other_field="leafCount",
        )


def run_onchain_steps(
    runner: StepRunner[ReceiptStep, ReceiptError, Any],
    r: Callable[[], AnchoredLeafReceipt],
    lookup: BatchLookup,
) -> None:
    """Steps 6–13 against the deployed contract (``r`` returns the receipt parsed by step 1)."""
    record: list[AnchoredBatch] = []

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
