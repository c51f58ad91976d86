"""The member actions' typed data (ClaimLedger 2.0.0, issue 14 item 4), built three ways that must
agree byte for byte: the golden vectors (hand-written documents hashed and signed by eth-account,
tests/vectors/eip712_consent.json), the Python builder (``typed_data.consent_document``: the server's
drafts and ``hubao sign typed-data``) and the browser's (``consentTypedData`` in typed_data.js, under
node). The contract's side is the forge suite (ClaimLedgerConsent.t.sol signs the same type strings)
and the anvil tests that relay these signatures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend.chain import typed_data
from backend.errors import InvalidInput

HERE = Path(__file__).parent
VECTORS = json.loads((HERE.parent / "vectors" / "eip712_consent.json").read_text())["vectors"]
CONTRACT = (HERE.parents[1] / "contracts" / "src" / "ClaimLedger.sol").read_text()


def _b(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _python_doc(v: dict[str, Any]) -> dict[str, Any]:
    m = v["message"]
    return typed_data.load_document(
        typed_data.consent_document(
            v["domain"],
            v["kind"],
            claim_id=_b(m["claimId"]),
            deadline=int(m["deadline"]),
            objector_commitment=_b(m["objectorCommitment"]) if "objectorCommitment" in m else None,
        )
    )


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_python_builder_reproduces_the_vectors(vector: dict[str, Any]) -> None:
    doc = typed_data.check_hubao_document(_python_doc(vector), primary_type=vector["kind"])
    assert "0x" + typed_data.digest(doc).hex() == vector["digest"]
    signature = typed_data.sign(doc, _b(vector["privateKey"]))
    assert "0x" + signature.hex() == vector["signature"]
    assert typed_data.recover_signer(doc, signature) == vector["signer"]


@pytest.mark.parametrize("kind", ["Withdrawal", "Appeal", "Objection"])
def test_the_contract_hashes_the_same_type_strings(kind: str) -> None:
    type_string = next(v["typeString"] for v in VECTORS if v["kind"] == kind)
    assert f'keccak256("{type_string}")' in CONTRACT.replace('\n        keccak256("', ' keccak256("')


def test_consent_document_refuses_what_the_contract_would() -> None:
    domain = VECTORS[0]["domain"]
    with pytest.raises(InvalidInput, match="not a member action"):
        typed_data.consent_document(domain, "Verdict", claim_id=b"\1" * 32, deadline=1)
    with pytest.raises(InvalidInput, match="objector's commitment"):
        typed_data.consent_document(domain, "Objection", claim_id=b"\1" * 32, deadline=1)
    with pytest.raises(InvalidInput, match="uint256"):
        typed_data.consent_document(domain, "Appeal", claim_id=b"\1" * 32, deadline=-1)


@pytest.fixture(scope="module")
def browser_report() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [node, str(HERE / "consent_check.mjs")],
        input=json.dumps({"vectors": VECTORS}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {v["name"]: v for v in json.loads(done.stdout)["vectors"]}


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_browser_builds_and_signs_the_same_documents(vector: dict[str, Any], browser_report: dict[str, Any]) -> None:
    js = browser_report[vector["name"]]
    assert js["digest"] == vector["digest"]
    assert js["signature"] == vector["signature"]
    assert typed_data.load_document(js["document"]) == _python_doc(vector)
    if vector["kind"] == "Objection":
        # a fresh key per objection: it signed this document and its address is what is relayed
        assert js["objection"]["recovered"] == js["objection"]["objectorKey"]
        assert (
            js["objection"]["deadline"] == int(vector["message"]["deadline"])
            or int(vector["message"]["deadline"]) > 2**53
        )
        assert js["otherClaimRefused"] == "DRAFT_MISMATCH"


def test_hubao_sign_typed_data_signs_a_withdrawal_draft_with_the_claim_keystore(tmp_path: Path) -> None:
    """A claimant who prefers a terminal: the claim's key exported from the browser (keystore v3) signs
    the server's Withdrawal draft; ``--expect`` and the draft's ``signer`` guard what is signed."""
    from eth_account import Account
    from typer.testing import CliRunner

    import backend.cli.sign  # noqa: F401 - registers the commands
    from backend.cli import app

    vector = VECTORS[0]
    (tmp_path / "pass.txt").write_text("claim passphrase\n")
    keystore = Account.encrypt(vector["privateKey"], "claim passphrase", iterations=2**10)
    (tmp_path / "claim-key.json").write_text(json.dumps(keystore))
    draft = {"typedData": _python_doc(vector), "signer": vector["signer"]}
    (tmp_path / "draft.json").write_text(json.dumps(draft))
    args = [
        "sign",
        "typed-data",
        "--keystore",
        str(tmp_path / "claim-key.json"),
        "--input",
        str(tmp_path / "draft.json"),
    ]
    args += ["--passphrase-file", str(tmp_path / "pass.txt"), "--expect", "Withdrawal"]
    done = CliRunner().invoke(app, args, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout[done.stdout.index("{") :])
    assert (answer["signature"], answer["message"]["deadline"]) == (vector["signature"], vector["message"]["deadline"])
    (tmp_path / "other.json").write_text(json.dumps(draft | {"signer": VECTORS[1]["signer"]}))
    refused = CliRunner().invoke(app, [*args[:5], str(tmp_path / "other.json"), *args[6:]])
    assert refused.exit_code != 0
