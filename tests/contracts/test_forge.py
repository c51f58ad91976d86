"""The forge suite (contracts/test) passes with the committed budgets (RELIABILITY C4, C5).

Runs ``scripts/forge_test.py --json`` with every ``FOUNDRY_*`` override removed from the
environment, so what runs is exactly ``contracts/foundry.toml`` plus the tests' inline config,
then checks the budgets actually ran: 256 x 500 calls per invariant, 1,000 runs per ``verify`` fuzz.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
INVARIANT_RUNS = 256
INVARIANT_DEPTH = 500
VERIFY_FUZZ_RUNS = 1000

pytestmark = pytest.mark.xdist_group("forge")


def _describe_failure(suite: str, name: str, result: dict[str, Any]) -> str:
    lines = [f"{suite}::{name}: {result.get('status')} — {result.get('reason')}"]
    if result.get("counterexample"):
        lines.append(f"  counterexample: {json.dumps(result['counterexample'])[:2000]}")
    for log in result.get("decoded_logs") or []:
        lines.append(f"  log: {log}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def forge_results() -> dict[str, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDRY_")}
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "forge_test.py"), "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        suites: dict[str, dict[str, Any]] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"forge produced no JSON report (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    failures = [
        _describe_failure(suite, name, result)
        for suite, data in suites.items()
        for name, result in data["test_results"].items()
        if result["status"] != "Success"
    ]
    if failures or proc.returncode != 0:
        pytest.fail(f"forge test failed (exit {proc.returncode}):\n" + "\n".join(failures) + f"\n{proc.stderr[-4000:]}")
    return suites


def _tests(suites: dict[str, dict[str, Any]], suite_suffix: str) -> dict[str, dict[str, Any]]:
    found = {
        name: result
        for suite, data in suites.items()
        if suite.endswith(suite_suffix)
        for name, result in data["test_results"].items()
    }
    assert found, f"no forge suite named *{suite_suffix}"
    return found


def test_forge_suite_passes(forge_results: dict[str, dict[str, Any]]) -> None:
    statuses = [r["status"] for data in forge_results.values() for r in data["test_results"].values()]
    assert len(statuses) >= 40
    assert set(statuses) == {"Success"}


def test_forge_invariants_run_full_budget(forge_results: dict[str, dict[str, Any]]) -> None:
    invariants = _tests(forge_results, ":EvidenceNotaryInvariantTest")
    assert set(invariants) == {
        "invariant_hashChainLinks()",
        "invariant_countsMonotonic()",
        "invariant_noRootTwice()",
        "invariant_onlyNotaryAnchors()",
        "invariant_rolesChangeOnlyViaTwoStep()",
    }
    for name, result in invariants.items():
        kind = result["kind"]["Invariant"]
        assert (name, kind["runs"], kind["calls"]) == (name, INVARIANT_RUNS, INVARIANT_RUNS * INVARIANT_DEPTH)
        assert kind["reverts"] == 0, f"{name}: the handler reverted (fail_on_revert would have failed it)"


def test_forge_verify_fuzz_runs_thousand_times(forge_results: dict[str, dict[str, Any]]) -> None:
    fuzz = {n: r for n, r in _tests(forge_results, ":EvidenceNotaryMerkleTest").items() if n.startswith("testFuzz_")}
    verify = [n for n in fuzz if n.startswith("testFuzz_verify_")]
    assert len(verify) >= 3
    for name, result in fuzz.items():
        assert (name, result["kind"]["Fuzz"]["runs"]) == (name, VERIFY_FUZZ_RUNS)


def test_forge_golden_vectors_checked(forge_results: dict[str, dict[str, Any]]) -> None:
    merkle = _tests(forge_results, ":EvidenceNotaryMerkleTest")
    assert merkle["test_verify_acceptsJsLibraryGoldenVectors()"]["status"] == "Success"
