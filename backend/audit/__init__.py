"""The auditor: re-derives the notarized history from the chain and the evidence and names what
does not hold.

Verification-critical. The checklist (``backend.audit.steps``) is a registry of numbered steps,
each with one error type (``backend.audit.errors``); all seven are implemented (a step registered
without a ``run`` would report ``not_implemented``, never a pass).

Entry points: :func:`run_audit` over :class:`AuditSources` → :class:`AuditReport`
(deterministic JSON via ``to_json_text()``); checkpoints in ``backend.audit.checkpoint``.
"""

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
from backend.audit.report import AuditReport, StepResult, StepStatus
from backend.audit.runner import AuditSources, Progress, run_audit, store_check_for
from backend.audit.steps import STEPS, StepSpec, register_step, registered_steps

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
    "StepResult",
    "StepSpec",
    "StepStatus",
    "extension_problems",
    "register_step",
    "registered_steps",
    "run_audit",
    "store_check_for",
]
