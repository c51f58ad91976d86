"""``hubao sign vote``: a juror's commit and reveal made in a terminal with a keystore file.

From the API's case answer saved to a file: the commit body ``{commitment, signature}`` is the one
the browser and the server's builders make (the salt never printed); the reveal body re-derives the
same salt and reads the vote back from the recorded commitment; a reveal that would not open the
commitment, a case for another claim, and ``hubao sign typed-data`` over a VoteSalt (whose signature
is the salt) are refused with their codes. The on-chain path (``--rpc --send``) is exercised in
tests/device/test_jury_device_votes.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from typer.testing import CliRunner

import backend.cli.sign  # noqa: F401 - registers the commands
from backend.chain import typed_data
from backend.cli import app as cli_app
from backend.errors import HubaoError

PASSPHRASE = "juror terminal passphrase"
KEY = keccak(text="hubao-cli-juror")
DOMAIN = {
    "name": "Hubao",
    "version": "2",
    "chainId": 31337,
    "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
}
CLAIM = keccak(text="cli-claim")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "pass.txt").write_text(PASSPHRASE + "\n")
    (tmp_path / "key.json").write_text(json.dumps(Account.encrypt(KEY, PASSPHRASE, iterations=2**10)))
    return tmp_path


def _case(commitment: str | None = None, round_: int = 2) -> dict[str, Any]:
    """The shape of ``GET /jury/claims/{id}`` (only what the CLI reads)."""
    salt_doc = typed_data.vote_salt_document(DOMAIN, claim_id=CLAIM, round_=round_)
    vote = {"juror": Account.from_key(KEY).address, "claimId": "0x" + CLAIM.hex(), "round": round_}
    return {"assignment": {}, "vote": vote | {"commitment": commitment, "saltTypedData": salt_doc}}


def _run(files: Path, case: dict[str, Any], *extra: str) -> Any:
    (files / "case.json").write_text(json.dumps(case))
    args = ["sign", "vote", "--keystore", str(files / "key.json"), "--input", str(files / "case.json")]
    return CliRunner().invoke(cli_app, [*args, "--passphrase-file", str(files / "pass.txt"), *extra])


def _code_of(result: Any) -> str:
    assert isinstance(result.exception, HubaoError), result.output
    return result.exception.code


def test_commit_then_reveal_from_the_case_file(files: Path) -> None:
    expected = typed_data.vote_payloads(_case()["vote"]["saltTypedData"], KEY, False)
    committed = _run(files, _case(), "--reject")
    assert committed.exit_code == 0, committed.output
    answer = json.loads(committed.stdout)
    assert answer["commit"] == expected["commit"]
    assert answer["juror"] == Account.from_key(KEY).address
    assert expected["reveal"]["salt"] not in committed.output  # the salt stays on this machine
    assert "reveal" not in answer
    document = typed_data.vote_commit_document(
        DOMAIN, claim_id=CLAIM, round_=2, commitment=bytes.fromhex(answer["commit"]["commitment"][2:])
    )
    signature = bytes.fromhex(answer["commit"]["signature"][2:])
    assert typed_data.recover_signer(document, signature) == answer["juror"]

    # At reveal time nothing was kept: the salt is re-derived and the vote read from the commitment.
    revealed = _run(files, _case(answer["commit"]["commitment"]), "--reveal")
    assert revealed.exit_code == 0, revealed.output
    assert json.loads(revealed.stdout)["reveal"] == {"approve": False, "salt": expected["reveal"]["salt"]}
    wrong = _run(files, _case(answer["commit"]["commitment"]), "--reveal", "--approve")
    assert _code_of(wrong) == "COMMITMENT_MISMATCH"
    foreign = _run(files, _case("0x" + "ab" * 32), "--reveal")
    assert _code_of(foreign) == "COMMITMENT_MISMATCH"


def test_refusals(files: Path) -> None:
    assert _code_of(_run(files, _case())) == "MISSING_OPTION"  # a commit needs --approve or --reject
    assert _code_of(_run(files, _case(), "--approve", "--claim", "0x" + "01" * 32)) == "WRONG_CLAIM"
    assert _code_of(_run(files, _case(), "--approve", "--round", "3")) == "WRONG_ROUND"
    assert _code_of(_run(files, _case(), "--approve", "--send")) == "MISSING_OPTION"
    (files / "salt.json").write_text(json.dumps(_case()["vote"]["saltTypedData"]))
    leaked = CliRunner().invoke(
        cli_app,
        ["sign", "typed-data", "--keystore", str(files / "key.json"), "--input", str(files / "salt.json"),
         "--passphrase-file", str(files / "pass.txt")],
    )  # fmt: skip
    assert _code_of(leaked) == "PRIVATE_DOCUMENT"
