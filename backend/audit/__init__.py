"""The auditor: re-derives the notarized history from the chain and the evidence and names what
does not hold.

Verification-critical. The checklist (``backend.audit.checklist.STEPS``) is one ordered table of
numbered steps, each with one error type (``backend.audit.errors``) and one module in
``backend.audit.steps``; all seven are implemented (a step listed without a ``run`` would report
``not_implemented``, never a pass). What the steps share is ``backend.audit.context``; how the
chain and the store are read, ``backend.audit.readers``.

Entry points: :func:`run_audit` over :class:`AuditSources` → :class:`AuditReport`
(deterministic JSON via ``to_json_text()``); checkpoints in ``backend.audit.checkpoint``.
"""

from backend.audit.checklist import STEPS, StepSpec
from backend.audit.checkpoint import Checkpoint, SignedCheckpoint, extension_problems
from backend.audit.errors import (
    AnchorChainBroken,
    ApportionmentInvalid,
    AuditError,
    BytecodeMismatch,
    CheckpointError,
    ClaimHistoryInvalid,
    ClaimRuleViolated,
    DatabaseMismatch,
    EvidenceNotProven,
)
from backend.audit.report import AuditReport, StepOutcome, StepResult, StepStatus
from backend.audit.runner import AuditSources, Progress, run_audit, store_check_for

__all__ = [
    "STEPS",
    "AnchorChainBroken",
    "ApportionmentInvalid",
    "AuditError",
    "AuditReport",
    "AuditSources",
    "BytecodeMismatch",
    "Checkpoint",
    "CheckpointError",
    "ClaimHistoryInvalid",
    "ClaimRuleViolated",
    "DatabaseMismatch",
    "EvidenceNotProven",
    "Progress",
    "SignedCheckpoint",
    "StepOutcome",
    "StepResult",
    "StepSpec",
    "StepStatus",
    "extension_problems",
    "run_audit",
    "store_check_for",
]
