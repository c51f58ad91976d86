"""Smoke run of the claim-filing benchmark: 5 claimants, structure and same-run ratio, never speed."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import __main__ as runner
from benchmarks import bench_claims

pytestmark = pytest.mark.xdist_group("bench-claims")


def test_claims_quick_run_files_every_claim_next_to_its_baseline() -> None:
    figures = runner.run_module("bench_claims", quick=True)
    assert figures is not None
    config = bench_claims.QUICK
    assert (figures["claimants"], figures["file_bytes"]) == (config.claimants, config.file_bytes)
    backends: list[dict[str, Any]] = []
    for workers in bench_claims.WORKER_COUNTS:  # one API process, and the product's worker processes
        suffix = "" if workers == 1 else f"_workers_{workers}"
        backends.append(figures[f"sqlite{suffix}"])
        if isinstance(figures[f"postgresql{suffix}"], dict):
            backends.append(figures[f"postgresql{suffix}"])
        else:
            assert figures[f"postgresql{suffix}"].startswith("skipped")
    assert {run["api_workers"] for run in backends} == set(bench_claims.WORKER_COUNTS)
    for run in backends:
        baseline, claims = run["baseline_discard"], run["claims"]
        assert baseline["uploads_per_s"] > 0
        assert claims["claims_per_s"] > 0
        # every filing was relayed (the run checks each is UNDER_REVIEW on chain), in shared transactions
        assert 1 <= claims["ledger_transactions"] <= config.claimants
        assert claims["p50_ms"] <= claims["p99_ms"]
        assert run["ratio_vs_baseline"] == pytest.approx(claims["claims_per_s"] / baseline["uploads_per_s"], abs=0.002)
        stored = run["evidence_upload"]["uploads_per_s"]
        assert run["ratio_waiting_for_chain_vs_evidence_upload"] == pytest.approx(
            claims["claims_per_s"] / stored, abs=0.002
        )
        # Prefer: respond-async — answered 202 FILED, then every claim checked UNDER_REVIEW on chain
        filed = run["claims_async"]
        assert 1 <= filed["ledger_transactions"] <= config.claimants
        assert 0 < filed["on_chain_per_s"] <= filed["claims_per_s"]
        assert filed["drain_seconds"] >= 0
        assert run["ratio_vs_evidence_upload"] == pytest.approx(filed["claims_per_s"] / stored, abs=0.002)
        assert run["ratio_on_chain_vs_evidence_upload"] == pytest.approx(filed["on_chain_per_s"] / stored, abs=0.002)
        assert run["target"]["value"] == run["ratio_vs_evidence_upload"]
        assert run["target"]["met"] is (run["target"]["value"] >= bench_claims.TARGET_RATIO)
    hosts = figures["hosts"]  # two hosts against one, on one PostgreSQL and one evidence store
    if isinstance(hosts, str):
        assert hosts.startswith("skipped")
        return
    for key in ("claims_one_host", "claims_two_hosts", "evidence_upload_one_host", "evidence_upload_two_hosts"):
        assert hosts[key]["per_s"] > 0
        assert len(hosts[key]["rounds_per_s"]) == config.rounds
    assert hosts["two_hosts_vs_one"] == pytest.approx(
        hosts["claims_two_hosts"]["per_s"] / hosts["claims_one_host"]["per_s"], abs=0.002
    )
