"""Errors of ``backend.audit``: one error type per checklist step, and the auditor's own failures.

    HubaoError (backend.errors)
    └── AuditError                    AUDIT_ERROR        base; ``step`` names the checklist step
        ├── BytecodeMismatch          step 1  AUDIT_BYTECODE_MISMATCH     deployed code ≠ committed artifact
        ├── AnchorChainBroken         step 2  AUDIT_ANCHOR_CHAIN_BROKEN   the anchor hash chain does not hold
        ├── ClaimHistoryInvalid       step 3  AUDIT_CLAIM_HISTORY_INVALID a claim's events break the state machine,
        │                                                                 a signature, a roster, quorum, turnout or a
        │                                                                 window; or events ≠ storage
        ├── JuryDrawMismatch          step 3  AUDIT_JURY_DRAW_MISMATCH    a jury draw does not recompute from its
        │                                                                 seed block's hash and the roster
        ├── RoleNotInForce            step 3  AUDIT_ROLE_NOT_IN_FORCE     a verdict or vote by an account that did not
        │                                                                 hold the role at that block
        ├── RosterChangeUnannounced   step 3  AUDIT_ROSTER_CHANGE_UNANNOUNCED a reviewer/juror grant or revocation not
        │                                                                 made by an announced RosterTimelock operation
        ├── ReviewOpeningOverdue      step 3  AUDIT_REVIEW_OPENING_OVERDUE a filing stayed FILED (not opened for
        │                                                                 review on chain) longer than its deadline
        ├── ClaimRuleViolated         step 4  AUDIT_CLAIM_RULE_VIOLATED   a claim breaks the plan's rules (rule set not
        │                                                                 in force, payout not a band, reason code)
        ├── EvidenceNotProven         step 5  AUDIT_EVIDENCE_NOT_PROVEN   an evidence item is not what was anchored
        ├── EvidenceAnchoringOverdue  step 5  AUDIT_EVIDENCE_ANCHORING_OVERDUE an evidence item was not anchored
        │                                                                 within the maximum delay after it was queued
        ├── ApportionmentInvalid      step 6  AUDIT_APPORTIONMENT_INVALID a published period does not re-derive
        ├── DatabaseMismatch          step 7  AUDIT_DB_MISMATCH           a row disagrees with chain or evidence
        └── CheckpointError                   AUDIT_CHECKPOINT_INVALID    a checkpoint file is malformed or
                                                                          its signature does not verify

A finding *is* an instance of its step's error type (sigstore-python style): it is collected into
the report rather than raised, and it carries structured fields — always ``reason`` (a stable
slug inside the step, e.g. ``prev_root``), and where a database row is concerned ``table``,
``row`` and ``fields`` (the column or columns that disagree); claim findings carry ``claim`` (the
on-chain claim id) and ``block``, period findings ``period``. Messages never contain salts,
plaintext hashes or plaintext.

A step that cannot read its inputs (a view call or a log read fails, the store or the database
is unreachable) reports one finding of its own type with reason ``inputs_unreadable`` and the
failure in ``error`` (its code, e.g. ``RPC_ERROR``, or its exception class); the other steps
still run.
"""

from __future__ import annotations

from typing import Any, ClassVar

from backend.errors import HubaoError

__all__ = [
    "AnchorChainBroken",
    "ApportionmentInvalid",
    "AuditError",
    "BytecodeMismatch",
    "CheckpointError",
    "ClaimHistoryInvalid",
    "ClaimRuleViolated",
    "DatabaseMismatch",
    "EvidenceAnchoringOverdue",
    "EvidenceNotProven",
    "JuryDrawMismatch",
    "ReviewOpeningOverdue",
    "RoleNotInForce",
    "RosterChangeUnannounced",
]


class AuditError(HubaoError):
    """One thing that does not hold. ``step`` is the checklist step that found it (0: none)."""

    code = "AUDIT_ERROR"
    step: ClassVar[int] = 0

    def __init__(self, message: str, *, reason: str, **fields: Any) -> None:
        super().__init__(message, reason=reason, **fields)

    @property
    def reason(self) -> str:
        return str(self.fields["reason"])

    def to_json(self) -> dict[str, Any]:
        """The finding as the report prints it (keys sorted by the report's serialiser)."""
        doc: dict[str, Any] = {"code": self.code, "message": self.message, "step": self.step}
        doc.update({k: v for k, v in self.fields.items() if v is not None})
        return doc

    def sort_key(self) -> tuple[Any, ...]:
        f = self.fields
        return (
            self.step,
            self.code,
            str(f.get("table", "")),
            _natural(str(f.get("row", ""))),
            str(f.get("claim", "")),
            f.get("period", -1) if isinstance(f.get("period"), int) else -1,
            f.get("block", -1) if isinstance(f.get("block"), int) else -1,
            ",".join(f.get("fields", ()) or ()),
            f.get("batch", -1) if isinstance(f.get("batch"), int) else -1,
            str(f.get("reason", "")),
            self.message,
        )


def _natural(text: str) -> tuple[int, str]:
    """Rows named ``id=12`` sort after ``id=9``."""
    head, _, tail = text.partition("=")
    return (int(tail), head) if tail.isdigit() else (-1, text)


class BytecodeMismatch(AuditError):
    code = "AUDIT_BYTECODE_MISMATCH"
    step = 1


class AnchorChainBroken(AuditError):
    code = "AUDIT_ANCHOR_CHAIN_BROKEN"
    step = 2


class ClaimHistoryInvalid(AuditError):
    code = "AUDIT_CLAIM_HISTORY_INVALID"
    step = 3


class JuryDrawMismatch(AuditError):
    """A jury draw does not recompute from its seed block's hash and the on-chain roster."""

    code = "AUDIT_JURY_DRAW_MISMATCH"
    step = 3


class RoleNotInForce(AuditError):
    """A verdict or a vote by an account that did not hold the role (REVIEWER_ROLE / JUROR_ROLE) at that block."""

    code = "AUDIT_ROLE_NOT_IN_FORCE"
    step = 3


class RosterChangeUnannounced(AuditError):
    """A reviewer/juror roster change not made by an announced, delayed RosterTimelock operation."""

    code = "AUDIT_ROSTER_CHANGE_UNANNOUNCED"
    step = 3


class ReviewOpeningOverdue(AuditError):
    """A claim stayed ``FILED`` (its review not opened on chain) longer than the configured deadline."""

    code = "AUDIT_REVIEW_OPENING_OVERDUE"
    step = 3


class ClaimRuleViolated(AuditError):
    code = "AUDIT_CLAIM_RULE_VIOLATED"
    step = 4


class EvidenceNotProven(AuditError):
    code = "AUDIT_EVIDENCE_NOT_PROVEN"
    step = 5


class EvidenceAnchoringOverdue(AuditError):
    """An evidence item was anchored later than the configured maximum delay after it was queued,
    or is still not anchored at the audited head although that delay has passed."""

    code = "AUDIT_EVIDENCE_ANCHORING_OVERDUE"
    step = 5


class ApportionmentInvalid(AuditError):
    code = "AUDIT_APPORTIONMENT_INVALID"
    step = 6


class DatabaseMismatch(AuditError):
    """A row that mirrors the chain (or the evidence) disagrees: ``table``, ``row``, ``fields``."""

    code = "AUDIT_DB_MISMATCH"
    step = 7

    def __init__(self, message: str, *, reason: str, table: str, row: str, fields: list[str], **extra: Any) -> None:
        super().__init__(message, reason=reason, table=table, row=row, fields=sorted(fields), **extra)


class CheckpointError(AuditError):
    code = "AUDIT_CHECKPOINT_INVALID"
