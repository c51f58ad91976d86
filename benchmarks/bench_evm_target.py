"""Gas of the contracts' hot functions for each candidate ``evmVersion``, in one run.

    python -m benchmarks evm_target

The same forge tests (``ClaimLedgerTest``, ``EvidenceNotaryTest``, ``ApportionmentTest``, fixed fuzz
seed from ``contracts/foundry.toml``) run once per EVM version with ``--gas-report``; the median gas
of ``anchor``, ``fileClaim``, ``submitVerdict`` and ``publishPeriod`` (and the deployment gas of
each contract) is reported per version, with the difference to cancun, the version the artifacts
were compiled for before issue 16. Why shanghai was chosen: contracts/README.md ("EVM target").
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from forge_test import run_forge  # noqa: E402

VERSIONS = ("cancun", "shanghai", "paris")
BASELINE = "cancun"
TESTS = "^(ClaimLedgerTest|EvidenceNotaryTest|ApportionmentTest)$"
FUNCTIONS = {
    "EvidenceNotary": "anchor",
    "ClaimLedger": ("fileClaim", "submitVerdict"),
    "Apportionment": "publishPeriod",
}


def gas_report(evm_version: str, work: Path) -> dict[str, dict[str, Any]]:
    """``forge test --gas-report --json`` for ``evm_version``: {contract name: report entry}."""
    done = run_forge(
        "test",
        [
            "--gas-report",
            "--json",
            "--evm-version",
            evm_version,
            "--match-contract",
            TESTS,
            "--out",
            str(work / f"out-{evm_version}"),
            "--cache-path",
            str(work / f"cache-{evm_version}"),
        ],
        capture=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"forge failed for {evm_version}: {done.stderr[-2000:]}")
    start = done.stdout.index("[")
    entries = json.loads(done.stdout[start:])
    return {str(e["contract"]).rsplit(":", 1)[-1]: e for e in entries}


def _median(report: dict[str, dict[str, Any]], contract: str, function: str) -> int:
    functions = report[contract]["functions"]
    (key,) = [k for k in functions if k.split("(")[0] == function]
    return int(functions[key]["median"])


def run() -> dict[str, Any]:
    reports: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for version in VERSIONS:
            reports[version] = gas_report(version, Path(tmp))
    figures: dict[str, Any] = {}
    for version in VERSIONS:
        rows: dict[str, Any] = {}
        for contract, names in FUNCTIONS.items():
            for function in (names,) if isinstance(names, str) else names:
                gas = _median(reports[version], contract, function)
                base = _median(reports[BASELINE], contract, function)
                rows[f"{function}.median_gas"] = gas
                rows[f"{function}.vs_{BASELINE}"] = gas - base
            deploy = int(reports[version][contract]["deployment"]["gas"])
            rows[f"{contract}.deployment_gas"] = deploy
            rows[f"{contract}.deployment_vs_{BASELINE}"] = deploy - int(
                reports[BASELINE][contract]["deployment"]["gas"]
            )
        figures[version] = rows
    return figures
