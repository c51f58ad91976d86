"""Smoke run of bench_chain_outbox in quick mode: every mode sends every transfer, ratios follow
from the same run's figures (never speed)."""

from __future__ import annotations

import pytest

from benchmarks import __main__ as runner


def test_chain_outbox_quick_run_sends_every_transfer_in_every_mode() -> None:
    figures = runner.run_module("bench_chain_outbox", quick=True)
    assert figures is not None
    count, threads = figures["transfers"], figures["threads"]
    databases = [db for db in ("sqlite", "postgresql") if isinstance(figures[db], dict)]
    assert "sqlite" in databases
    for db in databases:
        by_db = figures[db]
        for mode in ("baseline_direct", "baseline_direct_again", "outbox_leader_host", "outbox_other_host"):
            assert by_db[mode]["transactions"] == count // threads * threads
            assert by_db[mode]["tx_per_s"] > 0
        base = (by_db["baseline_direct"]["tx_per_s"] + by_db["baseline_direct_again"]["tx_per_s"]) / 2
        assert by_db["leader_host_over_baseline"] == pytest.approx(
            by_db["outbox_leader_host"]["tx_per_s"] / base, abs=0.01
        )
        assert set(by_db["one_caller"]) == {"baseline_direct", "outbox_leader_host", "outbox_other_host"}
