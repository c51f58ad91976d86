"""Errors of ``backend.apportionment``.

    InvalidInput (backend.errors)              the caller's data cannot be apportioned → 4xx
    └── ApportionmentError                     APPORTIONMENT_ERROR
        ├── ScheduleError                      SCHEDULE_INVALID        bad schedule, naive datetime, unknown period id
        ├── PeriodInputsInvalid                PERIOD_INPUTS_INVALID   a PeriodInputs field is out of range
        ├── NoSharingMembers                   NO_SHARING_MEMBERS      D > 0 but N = 0: nobody to share with
        ├── MemberRowInvalid                   MEMBER_ROW_INVALID      a member row is malformed (``index``)
        │   └── MemberOrderError               MEMBER_ORDER_INVALID    commitments not strictly ascending
        │                                                              (duplicates included)
        ├── MemberCountMismatch                MEMBER_COUNT_MISMATCH   rows streamed ≠ declared N
        └── ShareLedgerInvalid                 SHARE_LEDGER_INVALID    a ledger file is malformed or does not
                                                                       recompute (``field``, ``row``)
    HubaoError (backend.errors)
    └── InvariantViolated                      SHARE_INVARIANT_VIOLATED  Σshare + Σsubsidy ≠ N·base ≠ D + S_out:
                                                                       a bug, never an answer about input (5xx)
    ProofError (backend.proofs.errors)
    └── ShareReceiptError                      SHARE_RECEIPT_INVALID   a share receipt failed step ``step``
        ├── ShareSchemaError                   step 1  SHARE_RECEIPT_SCHEMA
        ├── ShareLeafHashMismatch              step 2  SHARE_RECEIPT_LEAF_HASH_MISMATCH
        ├── ShareProofInvalid                  step 3  SHARE_RECEIPT_PROOF_INVALID
        ├── SharePositionInvalid               step 4  SHARE_RECEIPT_POSITION_INVALID
        ├── PeriodTotalsMismatch               step 5  SHARE_RECEIPT_PERIOD_TOTALS_MISMATCH
        └── ShareAmountMismatch                step 6  SHARE_RECEIPT_SHARE_MISMATCH

Every error carries structured ``fields`` (``HubaoError``). Receipt errors always carry ``step``
(the number) and ``step_name``, and usually ``field`` (the JSON path of the offending field).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

from backend.errors import HubaoError, InvalidInput
from backend.proofs.errors import ProofError

__all__ = [
    "ApportionmentError",
    "InvariantViolated",
    "MemberCountMismatch",
    "MemberOrderError",
    "MemberRowInvalid",
    "NoSharingMembers",
    "PeriodInputsInvalid",
    "PeriodTotalsMismatch",
    "ScheduleError",
    "ShareAmountMismatch",
    "ShareLeafHashMismatch",
    "ShareLedgerInvalid",
    "SharePositionInvalid",
    "ShareProofInvalid",
    "ShareReceiptError",
    "ShareReceiptStep",
    "ShareSchemaError",
]


class ApportionmentError(InvalidInput):
    code = "APPORTIONMENT_ERROR"


class ScheduleError(ApportionmentError):
    code = "SCHEDULE_INVALID"


class PeriodInputsInvalid(ApportionmentError):
    code = "PERIOD_INPUTS_INVALID"


class NoSharingMembers(ApportionmentError):
    code = "NO_SHARING_MEMBERS"


class MemberRowInvalid(ApportionmentError):
    code = "MEMBER_ROW_INVALID"


class MemberOrderError(MemberRowInvalid):
    code = "MEMBER_ORDER_INVALID"


class MemberCountMismatch(ApportionmentError):
    code = "MEMBER_COUNT_MISMATCH"


class ShareLedgerInvalid(ApportionmentError):
    code = "SHARE_LEDGER_INVALID"


class InvariantViolated(HubaoError):
    code = "SHARE_INVARIANT_VIOLATED"


class ShareReceiptStep(IntEnum):
    """The numbered steps of share-receipt verification, in the order they run.

    Steps 1–6 are offline (the receipt alone). On-chain steps (deployment, the period's root and
    figures as the contract records them) will be numbered from 7.
    """

    SCHEMA = 1
    LEAF_HASH = 2
    PROOF = 3
    POSITION = 4
    PERIOD_TOTALS = 5
    SHARE = 6


class ShareReceiptError(ProofError):
    """A share receipt failed verification at ``step``."""

    code = "SHARE_RECEIPT_INVALID"
    step: ClassVar[ShareReceiptStep]

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message, step=int(self.step), step_name=self.step.name, **fields)

    @property
    def step_name(self) -> str:
        return self.step.name


class ShareSchemaError(ShareReceiptError):
    code = "SHARE_RECEIPT_SCHEMA"
    step = ShareReceiptStep.SCHEMA


class ShareLeafHashMismatch(ShareReceiptError):
    code = "SHARE_RECEIPT_LEAF_HASH_MISMATCH"
    step = ShareReceiptStep.LEAF_HASH


class ShareProofInvalid(ShareReceiptError):
    code = "SHARE_RECEIPT_PROOF_INVALID"
    step = ShareReceiptStep.PROOF


class SharePositionInvalid(ShareReceiptError):
    code = "SHARE_RECEIPT_POSITION_INVALID"
    step = ShareReceiptStep.POSITION


class PeriodTotalsMismatch(ShareReceiptError):
    code = "SHARE_RECEIPT_PERIOD_TOTALS_MISMATCH"
    step = ShareReceiptStep.PERIOD_TOTALS


class ShareAmountMismatch(ShareReceiptError):
    code = "SHARE_RECEIPT_SHARE_MISMATCH"
    step = ShareReceiptStep.SHARE
