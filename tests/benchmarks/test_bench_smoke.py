"""Smoke runs of the benchmarks so they never rot: tiny sizes, structure asserted, never speed."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from benchmarks import __main__ as runner
from benchmarks import bench_notary


@pytest.fixture(scope="module")
def notary_figures() -> dict[str, Any]:
    figures = runner.run_module("bench_notary", quick=True)
    assert figures is not None
    return figures


def test_notary_quick_run_reports_baseline_and_every_batch_size(notary_figures: dict[str, Any]) -> None:
    config = bench_notary.QUICK
    baseline = notary_figures["baseline_eas"]
    assert baseline["items"] == config.baseline_items
    # one EAS attestation per item, each far above what a batched anchor costs per item
    assert baseline["gas_per_item"] > 100_000
    assert 1 <= baseline["blocks"] <= config.baseline_items
    assert set(notary_figures["hubao"]) == {f"batch_{size}" for size in config.batch_sizes}
    for size in config.batch_sizes:
        figures = notary_figures["hubao"][f"batch_{size}"]
        assert figures["items"] == size * config.batches_per_size
        assert figures["batches"] == config.batches_per_size
        assert figures["gas_per_item"] == pytest.approx(figures["gas_per_batch"] / size, rel=0.01)
        assert figures["items_per_s"] > 0


def test_notary_quick_run_ratios_follow_from_same_run_figures(notary_figures: dict[str, Any]) -> None:
    baseline = notary_figures["baseline_eas"]
    for figures in notary_figures["hubao"].values():
        assert figures["speedup_vs_baseline"] == pytest.approx(
            figures["items_per_s"] / baseline["items_per_s"], abs=0.06
        )
        assert figures["gas_reduction_vs_baseline"] == pytest.approx(
            baseline["gas_per_item"] / figures["gas_per_item"], abs=0.06
        )
    # the anchor's gas hardly depends on the batch size, so gas per item falls with it
    sizes = sorted(bench_notary.QUICK.batch_sizes)
    per_item = [notary_figures["hubao"][f"batch_{s}"]["gas_per_item"] for s in sizes]
    assert per_item == sorted(per_item, reverse=True)


def test_notary_quick_run_judges_the_merkle_target(notary_figures: dict[str, Any]) -> None:
    merkle = notary_figures["merkle"]
    assert merkle["leaves"] == bench_notary.QUICK.merkle_leaves
    target = notary_figures["targets"]["merkle_leaves_per_s"]
    assert target["minimum"] == bench_notary.TARGET_MERKLE_LEAVES_PER_S
    assert target["met"] is (target["value"] >= target["minimum"])
    # the batch-1,000 targets need the full run's sizes
    assert "speedup_at_batch_1000" not in notary_figures["targets"]


def test_runner_prints_every_figure_as_a_row(notary_figures: dict[str, Any]) -> None:
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(runner.table("bench_notary", notary_figures, 1.0))
    text = console.export_text()
    for key, _value in runner.flatten(notary_figures):
        assert key in text
    assert "hubao.batch_10.items_per_s" in dict(runner.flatten(notary_figures))


def test_runner_select_accepts_short_names_and_rejects_unknown_ones() -> None:
    names = runner.discover()
    assert "bench_notary" in names
    assert runner.select(names, ["notary"]) == ["bench_notary"]
    assert runner.select(names, []) == names
    with pytest.raises(ValueError, match="no benchmark 'nope'"):
        runner.select(names, ["nope"])
