"""Smoke run of bench_evidence in quick mode: figures present and consistent, never speed."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import bench_evidence


def test_evidence_bench_compares_add_per_upload_with_the_pins_json_baseline() -> None:
    figures = bench_evidence.run(quick=True)
    config = bench_evidence.QUICK
    assert figures["throughput_bytes"] == config.throughput_bytes
    assert figures["scratch_dir"] != "/tmp"
    adds: dict[str, Any] = figures["add_per_upload"]
    assert adds["blocks_per_upload"] == 6  # a sealed 1 MiB: five 256 KiB leaves and a root
    for pins in config.pin_counts:
        case = adds[f"pins_{pins}"]
        baseline, hubao = case["baseline_pins_json"], case["hubao"]
        # every timed upload ended pinned, in both stores, on top of the pins they started with
        assert baseline["pins_after"] == pins + baseline["uploads"]
        assert hubao["pins_after"] == pins + hubao["uploads"] == pins + config.uploads
        for store in (baseline, hubao):
            assert store["cpu_ms_per_upload"] > 0
            assert store["wall_ms_per_upload"] > 0
        assert case["cpu_ratio_baseline_vs_hubao"] == pytest.approx(
            baseline["cpu_ms_per_upload"] / hubao["cpu_ms_per_upload"], rel=0.05
        )
        assert case["wall_ratio_baseline_vs_hubao"] == pytest.approx(
            baseline["wall_ms_per_upload"] / hubao["wall_ms_per_upload"], rel=0.05
        )
