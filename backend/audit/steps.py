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
  3      CLAIM_HISTORY           (not implemented yet) ClaimLedger replay      ClaimHistoryInvalid
  4      CLAIM_DECISIONS         (not implemented yet) verdicts, jury tallies  ClaimDecisionInvalid
  5      EVIDENCE                every evidence item is fetchable, re-hashes  EvidenceNotProven
                                 to its CID, and its recomputed leaf is in    (AUDIT_EVIDENCE_NOT_PROVEN)
                                 its batch's on-chain root
  6      APPORTIONMENT           (not implemented yet) shares to the fen       ApportionmentInvalid
  7      DATABASE_MIRROR         every row that mirrors the chain or the      DatabaseMismatch
                                 evidence agrees, naming table, row, field    (AUDIT_DB_MISMATCH)
======  ======================  ===========================================  ==========================

Steps 3, 4 and 6 are registered as placeholders: they report ``not_implemented`` (never a pass)
until their owners call :func:`register_step` with a ``run`` function — the registry keys steps
by number, so plugging one in replaces its placeholder and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backend.audit.errors import (
    AnchorChainBroken,
    ApportionmentInvalid,
    AuditError,
    BytecodeMismatch,
    ClaimDecisionInvalid,
    ClaimHistoryInvalid,
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
        "ClaimLedger history replayed: events = storage, legal transitions only",
        ClaimHistoryInvalid,
        pending_note="not implemented yet: the ClaimLedger replay is being built with the claims workflow",
    ),
    StepSpec(
        4,
        "CLAIM_DECISIONS",
        "every decision re-derived: EIP-712 verdicts, review quorum, jury commit-reveal tallies",
        ClaimDecisionInvalid,
        pending_note="not implemented yet: verdict and jury checks arrive with the claims workflow",
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
        "every period's shares re-derived to the fen and equal to the anchored share ledger",
        ApportionmentInvalid,
        pending_note="not implemented yet: the apportionment audit arrives with the share ledger service",
    ),
    StepSpec(
        7, "DATABASE_MIRROR", "every database row that mirrors the chain or the evidence agrees", DatabaseMismatch
    ),
):
    register_step(_spec)
