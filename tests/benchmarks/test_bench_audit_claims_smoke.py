"""Smoke run of the claims audit benchmark: 200 claims, structure and same-run ratios, never speed."""

from __future__ import annotations

import pytest

from benchmarks import __main__ as runner
from benchmarks import bench_audit_claims

pytestmark = pytest.mark.xdist_group("bench-audit-claims")


def test_audit_claims_quick_run_audits_every_claim_next_to_its_baselines() -> None:
    figures = runner.run_module("bench_audit_claims", quick=True)
    assert figures is not None
    claims = bench_audit_claims.QUICK_CLAIMS
    assert figures["claims"] == claims
    audit = figures["audit"]
    assert audit["signatures_recovered"] == 2 * claims  # two verdicts per claim, each recovered
    assert audit["reveals_opened"] == 3 * len(range(50, claims, 100))
    assert sum(audit["states"].values()) == claims
    assert figures["logs"] > 6 * claims  # filing, opening, two verdicts, decision, finalization…
    baseline = figures["baseline"]
    assert 0 < baseline["logs_seconds"] <= baseline["inputs_seconds"]
    assert figures["ratio_vs_logs"] == pytest.approx(audit["seconds"] / baseline["logs_seconds"], rel=0.1)
    assert figures["ratio_vs_inputs"] == pytest.approx(audit["seconds"] / baseline["inputs_seconds"], rel=0.1)
    assert figures["target_met"] is (audit["seconds"] / baseline["logs_seconds"] <= figures["target_ratio_vs_logs"])
