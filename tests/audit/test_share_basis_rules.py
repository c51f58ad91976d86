"""Step 4's rule-set checks for issue 15 item 3 (pure): a filing before its rule set came into
force is named, and an anchored rule set whose share parameters are not its document's is named."""

from __future__ import annotations

import dataclasses

from backend.audit.claim_rules import filing_problems, published_params, rule_set_param_findings
from backend.services.rules import DEFAULT_RULES


def test_filing_problems_names_a_rule_set_not_yet_in_force() -> None:
    h = DEFAULT_RULES.hash()
    payout = DEFAULT_RULES.payout_bands[0].payout_fen
    early = filing_problems(
        h, payout, anchored=True, retired=False, document=DEFAULT_RULES, filed_at=99, effective_at=100
    )
    assert [reason for reason, _ in early] == ["rule_set_not_in_force"]
    assert "before it came into force at 100" in early[0][1]
    on_time = filing_problems(
        h, payout, anchored=True, retired=False, document=DEFAULT_RULES, filed_at=100, effective_at=100
    )
    assert on_time == []


def test_rule_set_param_findings_names_share_parameters_other_than_the_documents() -> None:
    h = DEFAULT_RULES.hash()
    honest = published_params(DEFAULT_RULES)
    assert honest[6:] == (DEFAULT_RULES.fee_bps, DEFAULT_RULES.per_case_cap_fen, DEFAULT_RULES.annual_cap_fen)
    assert rule_set_param_findings([h], {h: DEFAULT_RULES}, {h: honest}) == []
    lax = published_params(dataclasses.replace(DEFAULT_RULES, fee_bps=10_000, per_case_cap_fen=5_000_000))
    [finding] = rule_set_param_findings([h], {h: DEFAULT_RULES}, {h: lax})
    assert finding.reason == "rule_set_params"
    assert "share parameters" in finding.message
