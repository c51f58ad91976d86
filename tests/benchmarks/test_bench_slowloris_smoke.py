"""Smoke run of bench_slowloris (D10) in quick mode: structure and closure, never speed."""

from __future__ import annotations

import pytest

from benchmarks import bench_slowloris

pytestmark = pytest.mark.xdist_group(name="bench-slowloris")


def test_slowloris_bench_reports_both_phases_and_closes_every_slow_connection() -> None:
    figures = bench_slowloris.run(quick=True)
    config = bench_slowloris.QUICK
    slow = figures["slow"]
    assert slow["slow_connections"] == 2 * config.slow
    assert slow["closed_by_server"] == slow["slow_connections"]
    assert slow["answered_408"] == config.slow  # the slow bodies get 408; slow heads are just closed
    for phase in ("baseline_idle", "under_slow_clients"):
        assert 0 < figures[phase]["p50_ms"] <= figures[phase]["p99_ms"]
    assert figures["p50_ratio_vs_idle"] == pytest.approx(
        figures["under_slow_clients"]["p50_ms"] / figures["baseline_idle"]["p50_ms"], abs=0.01
    )
