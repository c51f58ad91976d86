"""Plan rules as a versioned, hashed value (DESIGN.md "Plan rules"); every decision records the hash.

Verification-critical: the rule-set hash is ``keccak256`` of the canonical JSON (sorted keys, no
whitespace, integers only), so anyone holding the JSON can recompute the hash anchored on chain.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from backend.proofs.keccak import keccak256

REASON_CODES = (
    "WAITING_PERIOD",
    "NOT_COVERED",
    "NON_DISCLOSURE",
    "NOT_A_MEMBER",
    "DUPLICATE_EVIDENCE",
    "INSUFFICIENT_EVIDENCE",
    "FRAUD",
    "APPROVED",
)


@dataclass(frozen=True)
class AgeBand:
    max_age_years: int  # inclusive upper bound of the age at diagnosis
    payout_fen: int


@dataclass(frozen=True)
class RuleSet:
    """All parameters of the plan; defaults follow Xiang Hu Bao's published rules."""

    version: int = 1
    min_age_days: int = 30
    max_join_age_years: int = 59
    end_age_years: int = 60
    min_credit_score: int = 600
    waiting_period_days: int = 90
    catalog_version: int = 1
    payout_bands: tuple[AgeBand, ...] = (AgeBand(39, 30_000_000), AgeBand(59, 10_000_000))
    review_quorum: int = 2
    notice_seconds: int = 7 * 24 * 3600
    jury_size: int = 11
    min_turnout: int = 6
    commit_seconds: int = 2 * 24 * 3600
    reveal_seconds: int = 2 * 24 * 3600
    fee_bps: int = 800
    per_case_cap_fen: int = 10
    annual_cap_fen: int = 18_800
    late_filing_days_after_wind_down: int = 180
    health_questions: tuple[str, ...] = field(
        default=(
            "Have you been diagnosed with, or are you being treated for, a critical illness in the catalog?",
            "Have you been hospitalised for more than 7 days in the past 2 years?",
            "Are you currently waiting for test results or a diagnosis?",
        )
    )

    def canonical_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def hash(self) -> bytes:
        return keccak256(self.canonical_json().encode())

    def payout_for_age(self, age_years: int) -> int | None:
        """Lump sum for an age at diagnosis, or None when no band covers it."""
        for band in sorted(self.payout_bands, key=lambda b: b.max_age_years):
            if age_years <= band.max_age_years:
                return band.payout_fen
        return None

    @classmethod
    def from_json(cls, text: str) -> RuleSet:
        raw: dict[str, Any] = json.loads(text)
        raw["payout_bands"] = tuple(AgeBand(**b) for b in raw["payout_bands"])
        raw["health_questions"] = tuple(raw["health_questions"])
        return cls(**raw)

    def with_changes(self, **changes: Any) -> RuleSet:
        return replace(self, **changes)


DEFAULT_RULES = RuleSet()
