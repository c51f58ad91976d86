"""The browser's keccak256, Merkle and receipt code (backend/web/static/js) against the golden vectors.

Run under node (the same ES modules the browser loads, no build step): keccak256 against the C
implementation the backend uses, OpenZeppelin StandardMerkleTree leaves and proofs, content
commitments, and every tamper case of the evidence and share receipt vectors failing at the
step the Python verifiers name.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sha3

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser's proof code cannot be checked outside a browser")
    done = subprocess.run(
        [node, str(HERE / "proofs_check.mjs")], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_keccak256_matches_the_backend_around_the_rate_boundary(report: dict[str, Any]) -> None:
    assert len(report["keccak"]) == 13
    for case in report["keccak"]:
        data = bytes.fromhex(case["hex"][2:])
        assert case["got"] == "0x" + sha3.keccak_256(data).hexdigest(), case["length"]


def test_standard_merkle_leaves_and_proofs(report: dict[str, Any]) -> None:
    assert len(report["merkle"]) > 50
    for case in report["merkle"]:
        assert case["leafHash"] == case["want"], case
        assert case["root"] == case["wantRoot"], case


def test_content_commitments(report: dict[str, Any]) -> None:
    assert report["commitments"]
    for case in report["commitments"]:
        assert case["got"] == case["want"]
        assert case["sha"] == case["wantSha"]


@pytest.mark.parametrize("kind", ["evidence", "evidenceOnchain", "share"])
def test_receipt_tamper_cases_fail_at_the_named_step(report: dict[str, Any], kind: str) -> None:
    cases = report[kind]
    assert cases[0]["name"] == "unaltered"
    assert cases[0]["ok"] is True
    failing = [c for c in cases if c["want"] is not None]
    assert len(failing) > 20
    for case in cases:
        assert case["failedStep"] == case["want"], case
        assert case["ok"] is (case["want"] is None), case


def test_share_receipt_is_compared_with_the_chains_record_of_its_period(report: dict[str, Any]) -> None:
    first, *altered = report["chain"]
    assert first == {"name": "the chain's record", "ok": True, "failedStep": None, "steps": 7}
    assert len(altered) == 4
    for case in altered:
        assert case["ok"] is False, case
        assert case["failedStep"] == 7, case


def test_evidence_receipt_checked_against_the_chain_runs_steps_6_to_11(report: dict[str, Any]) -> None:
    unaltered = [c for c in report["evidenceOnchain"] if c["name"] == "unaltered"]
    assert [c["steps"] for c in unaltered] == [11, 11]
    onchain_only = [c for c in report["evidenceOnchain"] if c["want"] is not None and c["want"] >= 6]
    assert {c["want"] for c in onchain_only} == {6, 7, 8, 9, 10, 11}
