"""Smoke run of bench_api_workers in quick mode: both servers answer every upload, figures add up;
never speed."""

from __future__ import annotations

import pytest

from benchmarks import bench_api_workers

pytestmark = pytest.mark.xdist_group(name="bench-api-workers")


def test_api_workers_bench_uploads_through_one_process_and_two_workers() -> None:
    figures = bench_api_workers.run(quick=True)
    config = bench_api_workers.QUICK
    for server in ("one_process", "two_workers"):
        measured = figures[server]
        assert measured["uploads"] == config.uploads
        assert 0 < measured["p50_ms"] <= measured["p99_ms"]
        assert measured["server_cpu_ms_per_upload"] > 0
    assert figures["throughput_ratio_two_vs_one"] == pytest.approx(
        figures["two_workers"]["uploads_per_s"] / figures["one_process"]["uploads_per_s"], abs=0.01
    )
