"""Smoke run of bench_apportionment's per-size worker at a tiny size: structure and roots, never speed."""

from __future__ import annotations

from backend.apportionment.arithmetic import PeriodInputs
from backend.apportionment.ledger import build_share_ledger
from benchmarks import bench_apportionment


def test_apportionment_bench_measures_the_real_ledger_and_a_checked_receipt() -> None:
    n = 3_000
    ledger = bench_apportionment._one(n, "ledger")
    bound = bench_apportionment._one(n, "bound")
    assert (ledger["members"], ledger["mode"], bound["mode"]) == (n, "ledger", "bound")
    _, members = bench_apportionment._members(n)
    rows = list(members)
    assert [c for c, _ in rows] == sorted(c for c, _ in rows), "members come in ascending commitment order"
    inputs = PeriodInputs.from_payouts([30_000_000] * 100, period_id=20240307, member_count=n, rule_set_hash=bytes(32))
    reference = build_share_ledger(inputs, rows, keep_tree=True)  # the in-memory reference tree
    assert ledger["root"] == "0x" + reference.share_root.hex()
    assert ledger["share_total_fen"] == reference.totals.share_total_fen
    assert ledger["receipt_ms"] > 0  # every sampled proof was checked against the root
    for figures in (ledger, bound):
        assert figures["peak_rss_mb"] >= figures["input_rss_mb"] > 0
        assert figures["cpu_seconds"] > 0
