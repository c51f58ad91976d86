"""RELIABILITY C6: the slither gate passes on contracts/src and fails where it must.

The failing cases run the gate on a throw-away Foundry project (a copy of contracts/foundry.toml
and remappings.txt beside symlinks to the real scripts/ and node_modules/) holding one contract
with a known High and a known Medium finding, and on a config that excludes a detector without
a justification.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GATE = REPO_ROOT / "scripts" / "slither_gate.py"

pytestmark = pytest.mark.xdist_group("slither")

BAD_CONTRACT = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

contract Bad {
    // High: arbitrary-send-eth (anyone drains the balance to any address).
    function payout(address payable to) external {
        to.transfer(address(this).balance);
    }

    // Medium: divide-before-multiply (precision loss).
    function share(uint256 total, uint256 members) external pure returns (uint256) {
        return total / members * 100;
    }
}
"""


def _gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GATE), *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


@pytest.fixture
def bad_project(tmp_path: Path) -> Path:
    project = tmp_path / "contracts"
    (project / "src").mkdir(parents=True)
    for name in ("foundry.toml", "remappings.txt"):
        shutil.copy(REPO_ROOT / "contracts" / name, project / name)
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    (tmp_path / "scripts").symlink_to(REPO_ROOT / "scripts")
    (project / "src" / "Bad.sol").write_text(BAD_CONTRACT, encoding="utf-8")
    return project


def test_slither_gate_passes_on_repository_contracts() -> None:
    result = _gate()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "slither gate: OK — 0 High/Medium findings" in result.stdout


def test_slither_gate_fails_on_high_and_medium_findings(bad_project: Path) -> None:
    result = _gate("--project", str(bad_project))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "HIGH: arbitrary-send-eth: Bad.payout(address)" in result.stdout
    assert "MEDIUM: divide-before-multiply: Bad.share(uint256,uint256)" in result.stdout
    assert "slither gate: FAIL — 2 unresolved High/Medium finding(s)" in result.stdout


def test_slither_gate_fails_on_unjustified_exclusion(tmp_path: Path) -> None:
    config = json.loads((REPO_ROOT / "slither.config.json").read_text(encoding="utf-8"))
    config["detectors_to_exclude"] = config["detectors_to_exclude"] + ",arbitrary-send-eth"
    path = tmp_path / "slither.config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    result = _gate("--config", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "exclusions without a one-line justification: arbitrary-send-eth" in result.stdout


def test_slither_config_justifies_every_exclusion() -> None:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        from slither_gate import load_config, unjustified_exclusions
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    config, justifications = load_config()
    assert unjustified_exclusions(config, justifications) == []
    assert justifications, "the config documents its exclusions"
