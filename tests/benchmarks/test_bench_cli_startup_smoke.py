"""Smoke run of bench_cli_startup in quick mode: every command runs and is reported, never speed."""

from __future__ import annotations

import pytest

from benchmarks import bench_cli_startup


def test_cli_startup_bench_reports_every_command_next_to_the_baseline() -> None:
    figures = bench_cli_startup.run(quick=True)
    assert figures["rounds"] == bench_cli_startup.QUICK_ROUNDS
    baseline = figures["baseline_python_pass"]
    assert 0 < baseline["wall_best_s"] <= baseline["wall_median_s"]
    for name in ("help", "cid", "receipt_verify", "typer_import"):
        row = figures[name]
        assert 0 < row["wall_best_s"] <= row["wall_median_s"]
        assert row["wall_ratio_vs_baseline"] == pytest.approx(
            row["wall_median_s"] / baseline["wall_median_s"], abs=0.01
        )
    targets = figures["targets"]
    for kind in ("wall", "cpu"):
        assert targets[f"met_{kind}"] is all(
            figures[name][f"{kind}_median_s"] <= targets["seconds_max"] for name in ("help", "cid", "receipt_verify")
        )
