"""The numbered checklist: a registry of steps, each with its one error type.

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

A step registered without a ``run`` function reports ``not_implemented`` (never a pass); the
runners are plugged in by ``backend.audit.runner`` with :func:`register_step` — the registry keys
steps by number, so plugging one in replaces its placeholder and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
from backend.audit.report import StepResult, StepStatus

__all__ = ["STEPS", "StepSpec", "register_step", "registered_steps"]


@dataclass(frozen=True)
class StepSpec:
    """One checklist step. ``run(context)`` returns its result; ``None`` = not implemented yet."""

    number: int
    name: str
    title: str
    error: type[AuditError]
    run: Callable[..., StepResult] | None = None
    pending_note: str = ""

    def result(self, status: StepStatus, detail: str = "", **kwargs: object) -> StepResult:
        return StepResult(self.number, self.name, self.title, status, detail, **kwargs)  # type: ignore[arg-type]


STEPS: dict[int, StepSpec] = {}


def register_step(spec: StepSpec) -> None:
    """Add (or replace) the step with ``spec.number``; its error type must name the same step."""
    if spec.error.step != spec.number:
        raise ValueError(f"step {spec.number}: error type {spec.error.__name__} belongs to step {spec.error.step}")
    STEPS[spec.number] = spec


def registered_steps() -> list[StepSpec]:
    return [STEPS[n] for n in sorted(STEPS)]


for _spec in (
    StepSpec(1, "BYTECODE", "deployed bytecode equals the committed artifacts", BytecodeMismatch),
    StepSpec(2, "ANCHOR_CHAIN", "anchor hash chain unbroken from the first batch to the head", AnchorChainBroken),
    StepSpec(
        3,
        "CLAIM_HISTORY",
        "every claim's events follow the state machine: signatures, rosters, quorum, turnout, windows",
        ClaimHistoryInvalid,
    ),
    StepSpec(
        4,
        "CLAIM_RULES",
        "rule checks per claim: rule set anchored and in force, payout an age-band amount, reason codes",
        ClaimRuleViolated,
    ),
    StepSpec(
        5,
        "EVIDENCE",
        "every evidence item fetchable, re-hashes to its CID, leaf in its on-chain root",
        EvidenceNotProven,
    ),
    StepSpec(
        6,
        "APPORTIONMENT",
        "every period's ledger file re-derived from the chain and equal to the anchored record",
        ApportionmentInvalid,
    ),
    StepSpec(
        7, "DATABASE_MIRROR", "every database row that mirrors the chain or the evidence agrees", DatabaseMismatch
    ),
):
    register_step(_spec)
