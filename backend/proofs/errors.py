"""Errors of ``backend.proofs``.

    InvalidInput (backend.errors)         proof errors are answers about caller-supplied data → 4xx
    └── ProofError                        PROOF_ERROR
        ├── LeafEncodingError             LEAF_ENCODING_INVALID   values do not fit the leaf types
        ├── HistoryUnavailable            HISTORY_UNAVAILABLE     the chain no longer serves old history
        ├── MerkleError                   MERKLE_INVALID          empty tree, bad node, index not a leaf
        │   ├── LeafNotInTree             LEAF_NOT_IN_TREE        proof asked for a value the tree lacks
        │   └── TreeDumpInvalid           MERKLE_DUMP_INVALID     a "standard-v1" dump fails validation
        └── ReceiptError                  RECEIPT_INVALID         a receipt failed a verification step;
            │                                                     ``step`` (ReceiptStep) names it
            ├── SchemaError               step 1   RECEIPT_SCHEMA
            ├── LeafHashMismatch          step 2   RECEIPT_LEAF_HASH_MISMATCH
            ├── ProofInvalid              step 3   RECEIPT_PROOF_INVALID
            ├── CommitmentMismatch        step 4   RECEIPT_COMMITMENT_MISMATCH
            ├── PositionInvalid           step 5   RECEIPT_POSITION_INVALID
            ├── DeploymentMismatch        step 6   RECEIPT_DEPLOYMENT_MISMATCH   (on chain)
            ├── BatchNotFound             step 7   RECEIPT_BATCH_NOT_FOUND       (on chain)
            ├── RootMismatch              step 8   RECEIPT_ROOT_MISMATCH         (on chain)
            ├── PrevRootMismatch          step 9   RECEIPT_PREV_ROOT_MISMATCH    (on chain)
            ├── LeafCountMismatch         step 10  RECEIPT_LEAF_COUNT_MISMATCH   (on chain)
            ├── AnchorBlockMismatch       step 11  RECEIPT_ANCHOR_BLOCK_MISMATCH (on chain)
            ├── OnchainProofRejected      step 12  RECEIPT_ONCHAIN_PROOF_REJECTED (on chain)
            └── AnchorTxMismatch          step 13  RECEIPT_ANCHOR_TX_MISMATCH    (on chain)

Every error carries structured ``fields`` (``HubaoError``); receipt errors always carry
``step`` (the number) and ``step_name``, and usually ``field`` (the JSON path of the offending
receipt field; ``other_field`` names the second field of a disagreeing pair, e.g. ``leafCount``
for a ``proof`` whose length no leaf of that tree has). Messages never contain salts or
plaintext hashes.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

from backend.errors import InvalidInput

__all__ = [
    "AnchorBlockMismatch",
    "AnchorTxMismatch",
    "BatchNotFound",
    "CommitmentMismatch",
    "DeploymentMismatch",
    "HistoryUnavailable",
    "LeafCountMismatch",
    "LeafEncodingError",
    "LeafHashMismatch",
    "LeafNotInTree",
    "MerkleError",
    "OnchainProofRejected",
    "PositionInvalid",
    "PrevRootMismatch",
    "ProofError",
    "ProofInvalid",
    "ReceiptError",
    "ReceiptStep",
    "RootMismatch",
    "SchemaError",
    "TreeDumpInvalid",
]


class ReceiptStep(IntEnum):
    """The numbered steps of receipt verification, in the order they run.

    Steps 1–5 are offline (the receipt alone); steps 6–13 ask the chain.
    """

    SCHEMA = 1
    LEAF_HASH = 2
    PROOF = 3
    COMMITMENT = 4
    POSITION = 5
    DEPLOYMENT = 6
    BATCH = 7
    ROOT = 8
    PREV_ROOT = 9
    LEAF_COUNT = 10
    ANCHOR_BLOCK = 11
    CONTRACT_VERIFY = 12
    ANCHOR_TX = 13


class ProofError(InvalidInput):
    code = "PROOF_ERROR"


class LeafEncodingError(ProofError):
    code = "LEAF_ENCODING_INVALID"


class HistoryUnavailable(ProofError):
    """Raised by a lookup whose node has pruned the history asked for (EIP-4444, RELIABILITY A11)."""

    code = "HISTORY_UNAVAILABLE"


class MerkleError(ProofError):
    code = "MERKLE_INVALID"


class LeafNotInTree(MerkleError):
    code = "LEAF_NOT_IN_TREE"


class TreeDumpInvalid(MerkleError):
    code = "MERKLE_DUMP_INVALID"


class ReceiptError(ProofError):
    """A receipt failed verification at ``step``."""

    code = "RECEIPT_INVALID"
    step: ClassVar[ReceiptStep]

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message, step=int(self.step), step_name=self.step.name, **fields)

    @property
    def step_name(self) -> str:
        return self.step.name


class SchemaError(ReceiptError):
    code = "RECEIPT_SCHEMA"
    step = ReceiptStep.SCHEMA


class LeafHashMismatch(ReceiptError):
    code = "RECEIPT_LEAF_HASH_MISMATCH"
    step = ReceiptStep.LEAF_HASH


class ProofInvalid(ReceiptError):
    code = "RECEIPT_PROOF_INVALID"
    step = ReceiptStep.PROOF


class CommitmentMismatch(ReceiptError):
    code = "RECEIPT_COMMITMENT_MISMATCH"
    step = ReceiptStep.COMMITMENT


class PositionInvalid(ReceiptError):
    code = "RECEIPT_POSITION_INVALID"
    step = ReceiptStep.POSITION


class DeploymentMismatch(ReceiptError):
    code = "RECEIPT_DEPLOYMENT_MISMATCH"
    step = ReceiptStep.DEPLOYMENT


class BatchNotFound(ReceiptError):
    code = "RECEIPT_BATCH_NOT_FOUND"
    step = ReceiptStep.BATCH


class RootMismatch(ReceiptError):
    code = "RECEIPT_ROOT_MISMATCH"
    step = ReceiptStep.ROOT


class PrevRootMismatch(ReceiptError):
    code = "RECEIPT_PREV_ROOT_MISMATCH"
    step = ReceiptStep.PREV_ROOT


class LeafCountMismatch(ReceiptError):
    code = "RECEIPT_LEAF_COUNT_MISMATCH"
    step = ReceiptStep.LEAF_COUNT


class AnchorBlockMismatch(ReceiptError):
    code = "RECEIPT_ANCHOR_BLOCK_MISMATCH"
    step = ReceiptStep.ANCHOR_BLOCK


class OnchainProofRejected(ReceiptError):
    code = "RECEIPT_ONCHAIN_PROOF_REJECTED"
    step = ReceiptStep.CONTRACT_VERIFY


class AnchorTxMismatch(ReceiptError):
    code = "RECEIPT_ANCHOR_TX_MISMATCH"
    step = ReceiptStep.ANCHOR_TX
