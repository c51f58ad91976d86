"""Smoke run of bench_apportionment at a tiny size on PostgreSQL: structure and invariants, never speed."""

from __future__ import annotations

import pytest

from benchmarks import bench_apportionment


def test_apportionment_bench_builds_from_postgres_and_measures_the_bound(postgres_url: str) -> None:
    del postgres_url  # the fixture skips loudly when no server; the bench makes its own database
    figures = bench_apportionment.run(sizes=[3_000])
    size = figures["sizes"]["3000"]
    assert size["sharing_members"] == 2_970  # 1 % of the members ended before the snapshot
    assert size["share_total_fen"] + size["subsidy_total_fen"] == size["sharing_members"] * size["base_fen"]
    assert size["bound_leaf_hashes"] == 4 * size["sharing_members"]
    assert size["bound_node_hashes"] == 2 * (size["sharing_members"] - 1)
    assert size["receipt_ms"] > 0  # every sampled proof was checked against the root
    assert size["cpu_seconds"] > 0
    assert size["bound_cpu_seconds"] > 0
    assert size["peak_rss_mb"] > size["rss_after_imports_mb"] > 0
    assert figures["extrapolated_100m"]["from_size"] == 3_000
    assert size["ratio_vs_bound"] == pytest.approx(size["cpu_seconds"] / size["bound_cpu_seconds"], abs=0.01)
    # Step 6's membership-log check of the same period: every join and the 1 % exits replayed, no
    # finding (the child raises on one), its scratch files removed.
    log = size["audit_log"]
    assert log["changes"] == 3_000 + 30
    assert log["scratch_left"] == []
    assert log["cpu_seconds"] > 0
    assert log["peak_rss_mb"] > log["rss_after_imports_mb"] > 0
    assert size["audit_log_cpu_vs_build"] == pytest.approx(log["cpu_seconds"] / size["cpu_seconds"], abs=0.01)
