"""The numbered checklist: the audit's steps in order, each with its one error type and its module.

======  ======================  ===========================================  ==========================
 step    name                    what it establishes                          error type (code)
======  ======================  ===========================================  ==========================
  1      BYTECODE                every deployed contract's code is the        BytecodeMismatch
                                 committed artifact (immutables masked), on   (AUDIT_BYTECODE_MISMATCH)
                                 the chain the deployment record names
  2      ANCHOR_CHAIN            the anchor hash chain is unbroken from the   AnchorChainBroken
                                 first batch to the head; events = storage;   (AUDIT_ANCHOR_CHAIN_BROKEN)
                                 checkpoint extended; operator's view links   status history_unavailable
                                                                              when logs are pruned
  3      CLAIM_HISTORY           every claim's events follow the state        ClaimHistoryInvalid
                                 machine; verdict signatures recover to       (AUDIT_CLAIM_HISTORY_INVALID)
                                 reviewers and jurors held the role at that   status history_unavailable
                                 block; quorum, turnout, windows; events =    when logs are pruned
                                 storage
  4      CLAIM_RULES             rule set anchored and in force at filing,    ClaimRuleViolated
                                 its document's parameters, payout one of     (AUDIT_CLAIM_RULE_VIOLATED)
                                 its age bands, the plan's reason codes;      skipped when no rule-set
                                 eligibility/waiting period: not public       document is given
  5      EVIDENCE                every evidence item is fetchable, re-hashes  EvidenceNotProven
                                 to its CID, and its recomputed leaf is in    (AUDIT_EVIDENCE_NOT_PROVEN)
                                 its batch's on-chain root
  6      APPORTIONMENT           every published period: ledger file by CID   ApportionmentInvalid
                                 recomputes, claims and payouts = ClaimLedger (AUDIT_APPORTIONMENT_INVALID)
                                 final approvals, roots, totals, surplus and
                                 year-to-date chains equal the record
  7      DATABASE_MIRROR         every row that mirrors the chain or the      DatabaseMismatch
                                 evidence agrees, naming table, row, field    (AUDIT_DB_MISMATCH)
======  ======================  ===========================================  ==========================

``STEPS`` is the one place the steps are listed: number, name, title, error type and the
``run(ctx)`` of their module in ``backend.audit.steps``. Nothing registers itself at import; a
step listed without a ``run`` reports ``not_implemented`` (never a pass).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backend.audit.context import AuditContext
from backend.audit.errors import (
    AnchorChainBroken,
    ApportionmentInvalid,
    AuditError,
    BytecodeMismatch,
    ClaimHistoryInvalid,
    ClaimRuleViolated,
    DatabaseMismatch,
    EvidenceNotProven,
)
from backend.audit.report import StepOutcome, StepResult
from backend.audit.steps import (
    anchor_chain,
    apportionment,
    bytecode,
    claim_history,
    claim_rules,
    database_mirror,
    evidence,
)

__all__ = ["STEPS", "StepSpec"]


@dataclass(frozen=True)
class StepSpec:
    """One checklist step. ``run(context)`` returns what it found; ``None`` = not implemented yet."""

    number: int
    name: str
    title: str
    error: type[AuditError]
    run: Callable[[AuditContext], StepOutcome] | None = None
    pending_note: str = ""

    def __post_init__(self) -> None:
        if self.error.step != self.number:
            raise ValueError(f"step {self.number}: error type {self.error.__name__} belongs to step {self.error.step}")

    def result(self, outcome: StepOutcome) -> StepResult:
        """The report's entry for this step: its number, name and title with what it found."""
        return StepResult(
            self.number, self.name, self.title, outcome.status, outcome.detail, outcome.checked, outcome.findings
        )


STEPS: tuple[StepSpec, ...] = (
    StepSpec(1, "BYTECODE", "deployed bytecode equals the committed artifacts", BytecodeMismatch, bytecode.run),
    StepSpec(
        2,
        "ANCHOR_CHAIN",
        "anchor hash chain unbroken from the first batch to the head",
        AnchorChainBroken,
        anchor_chain.run,
    ),
    StepSpec(
        3,
        "CLAIM_HISTORY",
        "every claim's events follow the state machine: signatures, rosters, quorum, turnout, windows",
        ClaimHistoryInvalid,
        claim_history.run,
    ),
    StepSpec(
        4,
        "CLAIM_RULES",
        "rule checks per claim: rule set anchored and in force, payout an age-band amount, reason codes",
        ClaimRuleViolated,
        claim_rules.run,
    ),
    StepSpec(
        5,
        "EVIDENCE",
        "every evidence item fetchable, re-hashes to its CID, leaf in its on-chain root",
        EvidenceNotProven,
        evidence.run,
    ),
    StepSpec(
        6,
        "APPORTIONMENT",
        "every period's ledger file re-derived from the chain and equal to the anchored record",
        ApportionmentInvalid,
        apportionment.run,
    ),
    StepSpec(
        7,
        "DATABASE_MIRROR",
        "every database row that mirrors the chain or the evidence agrees",
        DatabaseMismatch,
        database_mirror.run,
    ),
)
"""The checklist, in the order the audit runs it (and the report lists it)."""
