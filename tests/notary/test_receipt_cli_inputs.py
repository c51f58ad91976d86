"""``hubao receipt verify`` / ``hubao shares verify`` on bad input (issue 17 item 7): never a
traceback — an empty file, non-JSON, bad hex are a numbered step-1 rejection, an unreachable node
one line; a receipt naming a wrong contract or chain is rejected at the deployment step; offline
success says which fields were not checked and how to check them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from backend.cli import app as cli_app
from backend.errors import HubaoError
from backend.services.receipts import evidence_receipt
from tests.factories import queue_evidence
from tests.stacks import NotaryStack

UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing answers JSON-RPC there


def _receipt(stack: NotaryStack, evidence_id: str) -> dict[str, Any]:
    with stack.sessions() as session:
        receipt = evidence_receipt(
            session, evidence_id, chain_id=stack.w3.eth.chain_id, contract=stack.notary.address, private=True
        )
    return receipt.to_json()


@pytest.fixture
def receipt(stack: NotaryStack) -> dict[str, Any]:
    ids = queue_evidence(stack.sessions, 3, seed=5)
    stack.worker(max_batch=16).run_until_idle(mine=stack.mine)
    return _receipt(stack, ids[0])


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def test_malformed_files_are_rejected_at_step_1_never_a_traceback(
    stack: NotaryStack, receipt: dict[str, Any], tmp_path: Path
) -> None:
    bad_hex = {**receipt, "contract": "0x" + "zz" * 20}
    cases = {"empty": b"", "not-json": b"this is not json {", "bad-hex": json.dumps(bad_hex).encode()}
    for name, content in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(content)
        for rpc in ([], ["--rpc", stack.node.url]):
            done = _run("receipt", "verify", str(path), *rpc)
            out = done.stdout + done.stderr
            assert "Traceback" not in out, (name, rpc, out)
            assert done.returncode == 1, (name, rpc, out)
            assert "receipt rejected at step 1 (SCHEMA)" in done.stdout, (name, out)


def test_a_wrong_contract_or_chain_is_rejected_at_the_deployment_step(
    stack: NotaryStack, receipt: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "receipt.json"
    elsewhere = "0x" + "5a" * 20  # no contract there
    path.write_text(json.dumps({**receipt, "contract": elsewhere}))
    done = _run("receipt", "verify", str(path), "--rpc", stack.node.url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "receipt rejected at step 6 (DEPLOYMENT)" in done.stdout
    assert f"no contract at {elsewhere}" in done.stdout
    assert "TRANSACTION_FAILED" not in done.stdout + done.stderr
    # Another chain id: the step names the chain, before any contract is asked.
    path.write_text(json.dumps({**receipt, "chainId": receipt["chainId"] + 1}))
    done = _run("receipt", "verify", str(path), "--rpc", stack.node.url)
    assert done.returncode == 1
    assert "receipt rejected at step 6 (DEPLOYMENT): chainId is not the chain's id" in done.stdout.replace("\n", " ")


def test_unreachable_node_is_one_line(receipt: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    done = _run("receipt", "verify", str(path), "--rpc", UNREACHABLE)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "CHAIN_UNAVAILABLE" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_offline_success_names_what_was_not_checked(receipt: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    # Fields only the chain can check: altered, the offline verdict still passes, and says so.
    path.write_text(json.dumps({**receipt, "batchId": receipt["batchId"] + 5, "anchorBlock": 1}))
    done = _run("receipt", "verify", str(path))
    assert done.returncode == 0, done.stdout
    text = " ".join(done.stdout.split())
    assert "receipt verified OFFLINE only" in text
    for field in ("chainId", "contract", "batchId", "anchorBlock", "anchorTx"):
        assert field in text.split("NOT checked without --rpc:")[1]
    assert "--rpc URL" in text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_receipts_never_raise_past_the_cli(data: st.DataObject, receipt: dict[str, Any], tmp_path: Path) -> None:
    """Malformed JSON and fields, for both verify commands, with and without a (dead) node: the
    command ends with its exit code or a HubaoError (which ``main`` prints as one line)."""
    kind = data.draw(st.sampled_from(["bytes", "field", "drop"]))
    if kind == "bytes":
        content = data.draw(st.binary(max_size=64))
    else:
        doc = json.loads(json.dumps(receipt))
        key = data.draw(st.sampled_from(sorted(doc)))
        if kind == "drop":
            del doc[key]
        else:
            doc[key] = data.draw(JSON)
        content = json.dumps(doc).encode()
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    command = data.draw(st.sampled_from([["receipt", "verify"], ["shares", "verify"]]))
    rpc = data.draw(st.sampled_from([[], ["--rpc", UNREACHABLE]]))
    result = CliRunner().invoke(cli_app, [*command, str(path), *rpc])
    if result.exception is not None and not isinstance(result.exception, SystemExit | HubaoError):
        raise result.exception
    assert result.exit_code in (0, 1)


@pytest.mark.parametrize("command", [["receipt", "verify"], ["shares", "verify"]])
def test_an_api_error_saved_as_the_receipt_is_named_in_one_line(command: list[str], tmp_path: Path) -> None:
    """`curl … /receipt > receipt.json` with an expired token saves the API's error: the answer says
    so, not 'missing field version' (found by the QA walk-through)."""
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps({"code": "UNAUTHORIZED", "message": "invalid or expired token"}))
    done = _run(*command, str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    line = " ".join(done.stderr.split())
    assert "NOT_A_RECEIPT" in line
    assert "holds an error the API answered (UNAUTHORIZED: invalid or expired token)" in line
