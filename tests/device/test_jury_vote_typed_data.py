"""A juror's vote documents, built three ways that must agree byte for byte: the Python builders
(backend/chain/typed_data.py, used by the server and ``hubao sign vote``), the browser modules
(typed_data.js / jury_signing.js under node) and the golden vectors of ClaimLedger 2 that the
contract pins (tests/vectors/eip712_vote.json, also checked by tests/contracts/test_claim_ledger_eip712.py).

Also: the browser refuses to hand out a VoteSalt signature (it is the salt), refuses a salt document
for another round, refuses to commit with a wallet whose signatures are not deterministic (it could
not reveal), and recovers a committed vote by opening the commitment with the re-derived salt.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from backend.chain import eip712, typed_data
from backend.errors import InvalidInput

HERE = Path(__file__).parent
VECTOR_FILE = HERE.parent / "vectors" / "eip712_vote.json"
DOMAINS = [
    {
        "name": "Hubao",
        "version": "2",
        "chainId": 31337,
        "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    },
    {"name": "Hubao", "version": "2", "chainId": 1, "verifyingContract": "0x00000000000000000000000000000000DeaDBeef"},
]


def _b(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _cases() -> list[dict[str, Any]]:
    cases = [
        {
            "name": f"generated-{i}",
            "domain": DOMAINS[i % 2],
            "privateKey": "0x" + keccak(text=f"hubao-jury-device-{i}").hex(),
            "claimId": "0x" + keccak(text=f"jury-claim-{i}").hex(),
            "round": [1, 2, 7, 2**32 - 1][i],
            "approve": i % 2 == 0,
        }
        for i in range(4)
    ]
    vectors = json.loads(VECTOR_FILE.read_text())["vectors"]
    cases += [{k: v[k] for k in ("name", "domain", "privateKey", "claimId", "round", "approve")} for v in vectors]
    return cases


def _python(case: dict[str, Any]) -> dict[str, Any]:
    key = _b(case["privateKey"])
    juror = Account.from_key(key).address
    salt_doc = typed_data.load_document(
        typed_data.vote_salt_document(case["domain"], claim_id=_b(case["claimId"]), round_=case["round"])
    )
    salt_signature = typed_data.sign(salt_doc, key)
    salt = typed_data.salt_from_signature(salt_signature)
    commitment = eip712.vote_commitment(_b(case["claimId"]), case["round"], juror, case["approve"], salt)
    commit_doc = typed_data.load_document(
        typed_data.vote_commit_document(
            case["domain"], claim_id=_b(case["claimId"]), round_=case["round"], commitment=commitment
        )
    )
    payloads = typed_data.vote_payloads(salt_doc, key, case["approve"])
    return {
        "juror": juror,
        "voteSaltDigest": "0x" + typed_data.digest(salt_doc).hex(),
        "voteSaltSignature": "0x" + salt_signature.hex(),
        "salt": "0x" + salt.hex(),
        "commitment": "0x" + commitment.hex(),
        "voteCommitDigest": "0x" + typed_data.digest(commit_doc).hex(),
        "voteCommitSignature": "0x" + typed_data.sign(commit_doc, key).hex(),
        "payloads": payloads,
    }


@pytest.fixture(scope="module")
def browser_report() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [node, str(HERE / "jury_check.mjs")],
        input=json.dumps({"cases": _cases()}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {c["name"]: c for c in json.loads(done.stdout)["cases"]}


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_browser_and_python_build_the_same_vote(case: dict[str, Any], browser_report: dict[str, Any]) -> None:
    py, js = _python(case), browser_report[case["name"]]
    for name in ("juror", "voteSaltDigest", "voteSaltSignature", "salt", "commitment", "voteCommitDigest"):
        assert js[name] == py[name], name
    assert js["voteCommitSignature"] == py["voteCommitSignature"]
    assert js["saltViaSigner"] == py["salt"]  # the wallet/keystore path derives the same salt
    assert js["commitSigner"] == py["juror"]
    assert js["commitBody"] == py["payloads"]["commit"]
    assert js["revealBody"] == py["payloads"]["reveal"]
    assert js["opensOther"] is (not case["approve"])  # the vote is read back from the commitment
    assert js["opensForeign"] is None
    assert js["refusedToSendSalt"] == "PRIVATE_DOCUMENT"
    assert js["wrongDocument"] == "WRONG_DOCUMENT"
    assert js["hedgedWallet"] == "NONDETERMINISTIC_WALLET"  # a wallet that could not re-derive the salt


def test_python_builders_reproduce_the_contract_vectors() -> None:
    for v in json.loads(VECTOR_FILE.read_text())["vectors"]:
        py = _python(v)
        for name in ("juror", "voteSaltDigest", "voteSaltSignature", "salt", "commitment", "voteCommitDigest"):
            assert py[name] == v[name], (v["name"], name)
        assert py["voteCommitSignature"] == v["voteCommitSignature"]


def test_vote_payloads_refuse_anything_but_a_hubao_vote_salt() -> None:
    key = keccak(text="k")
    commit_doc = typed_data.vote_commit_document(DOMAINS[0], claim_id=b"\1" * 32, round_=1, commitment=b"\2" * 32)
    with pytest.raises(InvalidInput, match="expected a VoteSalt"):
        typed_data.vote_payloads(commit_doc, key, True)
    foreign = typed_data.vote_salt_document(DOMAINS[0] | {"name": "Permit2"}, claim_id=b"\1" * 32, round_=1)
    with pytest.raises(InvalidInput, match="not a Hubao message"):
        typed_data.vote_payloads(foreign, key, True)
    with pytest.raises(InvalidInput, match="uint32"):
        typed_data.vote_salt_document(DOMAINS[0], claim_id=b"\1" * 32, round_=0)
