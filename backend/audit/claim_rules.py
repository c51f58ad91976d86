"""Step 4: the plan's rules per claim, from public data only.

Verification-critical (pure); called by the replay (``backend.audit.claims``) as it meets each
filing and verdict, and once at the end for the rule sets in use:

* the rule set was anchored (``RuleSetAnchored``) before the filing, not retired then, and in
  force (its public delay passed: ``effectiveAt`` ≤ the filing's block time);
* its published document (self-authenticating: ``keccak256`` of the canonical JSON is the
  anchored hash) carries the anchored claim and share parameters (fee, per-case cap, annual cap:
  the ones Apportionment takes from ClaimLedger for every period);
* ``payoutFen`` is one of the rule set's age-band amounts;
* reason codes are the plan's (0 for approvals, 1 + the index of a ``REASON_CODES`` entry other
  than ``APPROVED`` for rejections).

What step 4 cannot check from public data, by design (DESIGN.md "privacy first"): eligibility at
joining (age, credit score, health declaration), the waiting period and *which* age band applies —
the member's birth date, join date and diagnosis date are off chain, and a claim's member
commitment is fresh per claim, unlinkable to a membership.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from backend.audit.errors import ClaimRuleViolated
from backend.services.rule_sets import claim_params
from backend.services.rules import REASON_CODES, RuleSet

__all__ = [
    "REJECT_CODES",
    "filing_problems",
    "published_params",
    "reason_code_problem",
    "rule_set_documents",
    "rule_set_param_findings",
]

REJECT_CODES = frozenset(1 + i for i, code in enumerate(REASON_CODES) if code != "APPROVED")


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def filing_problems(
    rule_set_hash: bytes,
    payout_fen: int,
    *,
    anchored: bool,
    retired: bool,
    document: RuleSet | None,
    filed_at: int = 0,
    effective_at: int = 0,
) -> list[tuple[str, str]]:
    """``(reason, message)`` for each rule a filing breaks: the rule set in force, the payout band."""
    problems: list[tuple[str, str]] = []
    if not anchored:
        problems.append(("rule_set_unanchored", f"rule set {_hex(rule_set_hash)} was not anchored"))
    elif retired:
        problems.append(("rule_set_retired", f"rule set {_hex(rule_set_hash)} was already retired"))
    elif filed_at < effective_at:
        problems.append(
            (
                "rule_set_not_in_force",
                f"rule set {_hex(rule_set_hash)} was filed under at {filed_at}, before it came into force at "
                f"{effective_at}",
            )
        )
    if document is not None and payout_fen not in {b.payout_fen for b in document.payout_bands}:
        bands = ", ".join(str(b.payout_fen) for b in document.payout_bands)
        problems.append(
            (
                "payout_band",
                f"payoutFen {payout_fen} is not an age-band amount of its rule set (version {document.version}: "
                f"{bands})",
            )
        )
    return problems


def reason_code_problem(reviewer: str, block: int, verdict: int, reason_code: int) -> str | None:
    """The message when a verdict's reason code is not one of the plan's for its verdict."""
    if (verdict == 1 and reason_code != 0) or (verdict == 2 and reason_code not in REJECT_CODES):
        return (
            f"verdict of {reviewer} in block {block} has reason code {reason_code}, not one of the plan's "
            f"for a{'n approval' if verdict == 1 else ' rejection'}"
        )
    return None


def rule_set_param_findings(
    used: Iterable[bytes], documents: Mapping[bytes, RuleSet], anchored: Mapping[bytes, tuple[int, ...]]
) -> list[ClaimRuleViolated]:
    """Each anchored rule set in use (``used``, in order) carries its document's claim parameters."""
    findings: list[ClaimRuleViolated] = []
    for rule_set_hash in used:
        document = documents.get(rule_set_hash)
        params = anchored.get(rule_set_hash)
        if document is None or params is None:
            continue
        published = published_params(document)
        if published != params:
            findings.append(
                ClaimRuleViolated(
                    f"rule set {_hex(rule_set_hash)} (version {document.version}) was anchored with claim "
                    f"and share parameters {params}, its document says {published}",
                    reason="rule_set_params",
                    rule_set=_hex(rule_set_hash),
                )
            )
    return findings


def published_params(document: RuleSet) -> tuple[int, ...]:
    """The claim and share parameters a rule-set document gives, in ``RuleSetAnchored`` order."""
    return tuple(claim_params(document).as_args())


def rule_set_documents(texts: Sequence[str]) -> dict[bytes, RuleSet]:
    """Rule-set documents keyed by ``keccak256`` of their text; a text not in canonical form is dropped."""
    out: dict[bytes, RuleSet] = {}
    for text in texts:
        try:
            rules = RuleSet.from_json(text)
        except (ValueError, TypeError, KeyError):
            continue
        if rules.canonical_json() == text:
            out[rules.hash()] = rules
    return out
