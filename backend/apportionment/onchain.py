"""Share receipts, on-chain steps 7–12: the receipt's period is the one the chain recorded.

Verification-critical (DESIGN.md "Exact formats" 5). Wraps ``receipts.verify_share_receipt_offline``
(steps 1–6, unchanged) and continues against a ``PeriodLookup`` (the deployed ``Apportionment``
contract at the receipt's ``chainId`` / ``contract``, see ``backend.chain.apportionment``):

    7  DEPLOYMENT      chainId and contract are set and name the looked-up deployment   ShareDeploymentMismatch
    8  PERIOD          the contract has a record for periodId                           SharePeriodNotFound
    9  LEDGER_ROOT     ledgerRoot == the record's ledgerRoot                            ShareLedgerRootMismatch
    10 LEDGER_CID      ledgerCid is set and == the record's ledgerCid                   ShareLedgerCidMismatch
    11 PERIOD_RECORD   every figure of "period" == the record's (inputs and totals), and the   SharePeriodRecordMismatch
                       record's rule set, fee and caps are ClaimLedger's in force at its snapshot
    12 CONTRACT_VERIFY the contract's verifyShare(periodId, leafHash, proof) is true    ShareOnchainProofRejected

Together with steps 5–6 this says: the amounts in my leaf follow from the period's public
figures, those figures are the ones the chain accepted (and the chain re-checked their
arithmetic when it accepted them), and my leaf is under the root the chain holds.

The first failure stops the run; later steps are ``NOT_RUN``. A lookup that cannot reach the chain
raises (``ChainUnavailable``) rather than reporting a failed step: an unreachable chain says
nothing about the receipt.

Errors (all ``ShareReceiptError``'s sibling under ``ProofError``, each with ``step`` and ``field``)::

    ProofError
    └── ShareOnchainError                SHARE_RECEIPT_ONCHAIN_INVALID
        ├── ShareDeploymentMismatch      step 7
        ├── SharePeriodNotFound          step 8
        ├── ShareLedgerRootMismatch      step 9
        ├── ShareLedgerCidMismatch       step 10
        ├── SharePeriodRecordMismatch    step 11
        └── ShareOnchainProofRejected    step 12
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias

from backend.apportionment.errors import ShareReceiptError, ShareReceiptStep
from backend.apportionment.receipts import ShareReceipt, ShareVerificationReport, verify_share_receipt_offline
from backend.proofs.errors import ProofError
from backend.proofs.report import StepReport, StepResult, StepRunner, StepStatus

if TYPE_CHECKING:
    from backend.chain.apportionment import PeriodRecord

__all__ = [
    "OnchainShareReport",
    "OnchainStepResult",
    "PeriodLookup",
    "ShareDeploymentMismatch",
    "ShareLedgerCidMismatch",
    "ShareLedgerRootMismatch",
    "ShareOnchainError",
    "ShareOnchainProofRejected",
    "ShareOnchainStep",
    "SharePeriodNotFound",
    "SharePeriodRecordMismatch",
    "verify_share_receipt_onchain",
]


class ShareOnchainStep(IntEnum):
    """On-chain steps of share-receipt verification, numbered after the offline steps 1–6."""

    DEPLOYMENT = 7
    PERIOD = 8
    LEDGER_ROOT = 9
    LEDGER_CID = 10
    PERIOD_RECORD = 11
    CONTRACT_VERIFY = 12


class ShareOnchainError(ProofError):
    """A share receipt failed on-chain step ``step``."""

    code = "SHARE_RECEIPT_ONCHAIN_INVALID"
    step: ClassVar[ShareOnchainStep]

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message, step=int(self.step), step_name=self.step.name, **fields)


class ShareDeploymentMismatch(ShareOnchainError):
    code = "SHARE_RECEIPT_DEPLOYMENT_MISMATCH"
    step = ShareOnchainStep.DEPLOYMENT


class SharePeriodNotFound(ShareOnchainError):
    code = "SHARE_RECEIPT_PERIOD_NOT_FOUND"
    step = ShareOnchainStep.PERIOD


class ShareLedgerRootMismatch(ShareOnchainError):
    code = "SHARE_RECEIPT_LEDGER_ROOT_MISMATCH"
    step = ShareOnchainStep.LEDGER_ROOT


class ShareLedgerCidMismatch(ShareOnchainError):
    code = "SHARE_RECEIPT_LEDGER_CID_MISMATCH"
    step = ShareOnchainStep.LEDGER_CID


class SharePeriodRecordMismatch(ShareOnchainError):
    code = "SHARE_RECEIPT_PERIOD_RECORD_MISMATCH"
    step = ShareOnchainStep.PERIOD_RECORD


class ShareOnchainProofRejected(ShareOnchainError):
    code = "SHARE_RECEIPT_ONCHAIN_PROOF_REJECTED"
    step = ShareOnchainStep.CONTRACT_VERIFY


class PeriodLookup(Protocol):
    """What the on-chain steps need from the chain (``backend.chain.apportionment.ApportionmentLookup``)."""

    @property
    def chain_id(self) -> int: ...

    @property
    def contract(self) -> str: ...

    def period(self, period_id: int) -> PeriodRecord | None: ...

    def verify_share(self, period_id: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bool: ...


OnchainStepResult: TypeAlias = StepResult[ShareOnchainStep]


@dataclass(slots=True)
class OnchainShareReport:
    """Steps 1–6 (``offline``) followed by steps 7–12 (``onchain``); ``ok`` only when all twelve passed."""

    offline: ShareVerificationReport
    onchain: StepReport[ShareOnchainStep, ShareOnchainError, ShareReceipt] = field(default_factory=StepReport)

    @property
    def steps(self) -> list[OnchainStepResult]:
        """Results of steps 7–12."""
        return self.onchain.steps

    @property
    def onchain_error(self) -> ShareOnchainError | None:
        return self.onchain.error

    @property
    def error(self) -> ShareReceiptError | ShareOnchainError | None:
        return self.offline.error if self.offline.error is not None else self.onchain_error

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def failed_step(self) -> int | None:
        err = self.error
        return None if err is None else int(err.step)

    @property
    def receipt(self) -> ShareReceipt | None:
        return self.offline.receipt

    def status_of(self, step: int) -> StepStatus:
        if step <= max(ShareReceiptStep):
            return self.offline.status_of(ShareReceiptStep(step))
        for result in self.steps:
            if int(result.step) == step:
                return result.status
        return StepStatus.NOT_RUN

    def raise_for_failure(self) -> None:
        err = self.error
        if err is not None:
            raise err

    def all_steps(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.offline.steps] + [s.to_json() for s in self.steps]

    def to_json(self) -> dict[str, Any]:
        err = self.error
        return {
            "ok": self.ok,
            "failedStep": None if err is None else int(err.step),
            "code": None if err is None else err.code,
            "message": None if err is None else err.message,
            "steps": self.all_steps(),
        }


def _figures(record: PeriodRecord) -> dict[str, Any]:
    """The receipt's ``period`` object as the on-chain record states it."""
    return {
        "ruleSetHash": record.rule_set_hash,
        "claimCount": record.claim_count,
        "payoutsFen": record.payouts_fen,
        "feeBps": record.fee_bps,
        "surplusInFen": record.surplus_in_fen,
        "memberCount": record.member_count,
        "perCaseCapFen": record.per_case_cap_fen,
        "annualCapFen": record.annual_cap_fen,
        "windDown": record.wind_down,
        "feeFen": record.fee_fen,
        "dueFen": record.due_fen,
        "baseFen": record.base_fen,
        "shareTotalFen": record.share_total_fen,
        "subsidyTotalFen": record.subsidy_total_fen,
        "surplusOutFen": record.surplus_out_fen,
    }


def _receipt_figures(receipt: ShareReceipt) -> dict[str, Any]:
    p, t = receipt.period, receipt.totals
    return {
        "ruleSetHash": p.rule_set_hash,
        "claimCount": p.claim_count,
        "payoutsFen": p.payouts_fen,
        "feeBps": p.fee_bps,
        "surplusInFen": p.surplus_in_fen,
        "memberCount": p.member_count,
        "perCaseCapFen": p.per_case_cap_fen,
        "annualCapFen": p.annual_cap_fen,
        "windDown": p.wind_down,
        "feeFen": t.fee_fen,
        "dueFen": t.due_fen,
        "baseFen": t.base_fen,
        "shareTotalFen": t.share_total_fen,
        "subsidyTotalFen": t.subsidy_total_fen,
        "surplusOutFen": t.surplus_out_fen,
    }


def verify_share_receipt_onchain(
    receipt: Mapping[str, Any] | str | bytes | ShareReceipt, lookup: PeriodLookup
) -> OnchainShareReport:
    """Verify a share receipt offline (steps 1–6), then against the chain (steps 7–12).

    Never raises for a bad receipt; raises the chain client's errors when the chain cannot be read.
    """
    report = OnchainShareReport(offline=verify_share_receipt_offline(receipt))
    found: list[PeriodRecord] = []

    def r() -> ShareReceipt:
        assert report.offline.receipt is not None
        return report.offline.receipt

    def deployment() -> None:
        rec = r()
        if rec.chain_id is None or rec.contract is None:
            raise ShareDeploymentMismatch("the receipt names no chain and contract (not yet recorded)", field="chainId")
        if rec.chain_id != lookup.chain_id:
            raise ShareDeploymentMismatch("chainId is not the chain's id", field="chainId")
        if rec.contract.lower() != lookup.contract.lower():
            raise ShareDeploymentMismatch("contract is not the looked-up contract", field="contract")

    def period() -> None:
        record = lookup.period(r().period_id)
        if record is None:
            raise SharePeriodNotFound("the contract has no record of periodId", field="periodId")
        found.append(record)

    def ledger_root() -> None:
        if found[0].ledger_root != r().ledger_root:
            raise ShareLedgerRootMismatch(
                "ledgerRoot differs from the root recorded for the period", field="ledgerRoot"
            )

    def ledger_cid() -> None:
        cid = r().ledger_cid
        if cid is None or cid != found[0].ledger_cid:
            raise ShareLedgerCidMismatch("ledgerCid differs from the CID recorded for the period", field="ledgerCid")

    def period_record() -> None:
        onchain, mine = _figures(found[0]), _receipt_figures(r())
        for key, value in onchain.items():
            if mine[key] != value:
                raise SharePeriodRecordMismatch(
                    f"period.{key} differs from the period recorded on chain", field=f"period.{key}"
                )
        # The record's rule set and its fee and caps are the ones in force at the snapshot.
        basis = getattr(lookup, "basis_problem", None)
        problem = basis(found[0]) if basis is not None else None
        if problem is not None:
            raise SharePeriodRecordMismatch(problem, field="period.ruleSetHash")

    def contract_verify() -> None:
        rec = r()
        if not lookup.verify_share(rec.period_id, rec.leaf_hash, rec.proof):
            raise ShareOnchainProofRejected("the contract's verifyShare rejected the proof", field="proof")

    # Whatever fails offline never reaches the chain: then every on-chain step is NOT_RUN.
    runner = StepRunner(report.onchain, ShareOnchainError, blocked=not report.offline.ok)
    runner.run(ShareOnchainStep.DEPLOYMENT, deployment)
    runner.run(ShareOnchainStep.PERIOD, period)
    runner.run(ShareOnchainStep.LEDGER_ROOT, ledger_root)
    runner.run(ShareOnchainStep.LEDGER_CID, ledger_cid)
    runner.run(ShareOnchainStep.PERIOD_RECORD, period_record)
    runner.run(ShareOnchainStep.CONTRACT_VERIFY, contract_verify)
    return report
