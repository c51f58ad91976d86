"""``hubao keys new`` and ``hubao sign typed-data``: keystore v3 files signed in a terminal.

Checked against eth-account and the golden Verdict vectors: the key file decrypts with
``Account.decrypt``; a signed Verdict draft gives the pinned signature and digest; a document that is
not Hubao's, a wrong passphrase and a challenge for another key are refused with their codes; the
installed console script has both commands and reads the passphrase from piped standard input.
"""

from __future__ import annotations

import copy
import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from typer.testing import CliRunner

import backend.cli.sign  # noqa: F401 - registers the commands
from backend.chain import typed_data
from backend.cli import app as cli_app
from backend.errors import HubaoError

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "eip712_verdict.json").read_text())
PASSPHRASE = "terminal passphrase"
VERDICT_FIELDS = [
    {"name": "claimId", "type": "bytes32"},
    {"name": "verdict", "type": "uint8"},
    {"name": "reasonCode", "type": "uint16"},
    {"name": "reportHash", "type": "bytes32"},
    {"name": "ruleSetHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


def _verdict_doc(vector: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(
        {
            "types": {"Verdict": VERDICT_FIELDS},
            "primaryType": "Verdict",
            "domain": vector["domain"],
            "message": vector["verdict"],
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "pass.txt").write_text(PASSPHRASE + "\n")
    keystore = Account.encrypt(VECTORS["vectors"][0]["privateKey"], PASSPHRASE, iterations=2**10)
    (tmp_path / "key.json").write_text(json.dumps(keystore))
    return tmp_path


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(cli_app, list(args))


def _code_of(result: Any) -> str:
    assert isinstance(result.exception, HubaoError), result.output
    return result.exception.code


def test_keys_new_writes_an_owner_only_keystore_eth_account_decrypts(files: Path) -> None:
    out = files / "mine.json"
    result = _invoke("keys", "new", "--out", str(out), "--passphrase-file", str(files / "pass.txt"))
    assert result.exit_code == 0, result.output
    keystore = json.loads(out.read_text())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert keystore["version"] == 3
    assert keystore["crypto"]["kdf"] == "scrypt"
    assert keystore["crypto"]["kdfparams"]["n"] == 2**18
    address = Account.from_key(Account.decrypt(keystore, PASSPHRASE)).address
    assert result.output.strip() == f"created {out} for address {address}"
    shown = _invoke("keys", "address", str(out))
    assert shown.output.strip() == address


def test_keys_new_refuses_an_existing_file_and_a_short_passphrase(files: Path) -> None:
    before = (files / "key.json").read_text()
    exists = _invoke("keys", "new", "--out", str(files / "key.json"), "--passphrase-file", str(files / "pass.txt"))
    assert _code_of(exists) == "FILE_EXISTS"
    assert (files / "key.json").read_text() == before
    (files / "short.txt").write_text("short\n")
    weak = _invoke("keys", "new", "--out", str(files / "new.json"), "--passphrase-file", str(files / "short.txt"))
    assert _code_of(weak) == "WEAK_PASSPHRASE"
    assert not (files / "new.json").exists()


def test_keys_new_without_a_terminal_or_a_passphrase_says_so(files: Path) -> None:
    """Run from a script with nothing on standard input: the answer names the missing passphrase
    and how to give one, not a passphrase "of at least 8 characters"."""
    out = files / "scripted.json"
    result = CliRunner().invoke(cli_app, ["keys", "new", "--out", str(out)], input="")
    assert _code_of(result) == "NO_PASSPHRASE"
    assert "--passphrase-file" in str(result.exception)
    assert not out.exists()


@pytest.mark.parametrize("wrapped", [False, True])
def test_sign_typed_data_gives_the_pinned_verdict_signature(files: Path, wrapped: bool) -> None:
    vector = VECTORS["vectors"][0]
    draft = {"typedData": _verdict_doc(vector), "claim": "ignored"} if wrapped else _verdict_doc(vector)
    (files / "draft.json").write_text(json.dumps(draft))
    result = _invoke(
        "sign", "typed-data", "--keystore", str(files / "key.json"), "--input", str(files / "draft.json"),
        "--passphrase-file", str(files / "pass.txt"), "--out", str(files / "signed.json"), "--expect", "Verdict",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    signed = json.loads((files / "signed.json").read_text())
    assert signed["signer"] == vector["signer"]
    assert signed["signature"] == vector["signature"]
    assert signed["digest"] == vector["digest"]
    assert signed["message"] == vector["verdict"]
    signable = encode_typed_data(full_message=_verdict_doc(vector))
    assert Account.recover_message(signable, signature=signed["signature"]) == vector["signer"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda d: d["domain"].update(name="Permit2"), "BAD_TYPED_DATA"),
        (lambda d: d["domain"].pop("version"), "BAD_TYPED_DATA"),
        (lambda d: d.update(primaryType="Mail"), "BAD_TYPED_DATA"),
        (lambda d: d["message"].update(nonce="-1"), "BAD_TYPED_DATA"),
    ],
)
def test_sign_typed_data_refuses_what_is_not_a_hubao_message(files: Path, change: Any, code: str) -> None:
    doc = _verdict_doc(VECTORS["vectors"][0])
    change(doc)
    (files / "draft.json").write_text(json.dumps(doc))
    result = _invoke(
        "sign", "typed-data", "--keystore", str(files / "key.json"), "--input", str(files / "draft.json"),
        "--passphrase-file", str(files / "pass.txt"),
    )  # fmt: skip
    assert _code_of(result) == code
    assert "0x" + "".join(VECTORS["vectors"][0]["signature"][2:]) not in result.output


def test_sign_typed_data_refuses_a_wrong_passphrase_and_another_keys_challenge(files: Path) -> None:
    vector = VECTORS["vectors"][0]
    (files / "draft.json").write_text(json.dumps(_verdict_doc(vector)))
    (files / "wrong.txt").write_text("not the passphrase\n")
    wrong = _invoke(
        "sign", "typed-data", "--keystore", str(files / "key.json"), "--input", str(files / "draft.json"),
        "--passphrase-file", str(files / "wrong.txt"),
    )  # fmt: skip
    assert _code_of(wrong) == "WRONG_PASSPHRASE"
    challenge = typed_data.key_registration_document(
        vector["domain"],
        account="rev-1",
        key=VECTORS["vectors"][1]["signer"],
        challenge=keccak(text="challenge"),
        expires_at=4102444800,
    )
    (files / "challenge.json").write_text(json.dumps(challenge))
    other = _invoke(
        "sign", "typed-data", "--keystore", str(files / "key.json"), "--input", str(files / "challenge.json"),
        "--passphrase-file", str(files / "pass.txt"),
    )  # fmt: skip
    assert _code_of(other) == "WRONG_KEY"


def test_console_script_creates_a_key_and_answers_a_registration_challenge(tmp_path: Path) -> None:
    hubao = shutil.which("hubao") or str(Path(__file__).parents[2] / ".venv" / "bin" / "hubao")
    key_file = tmp_path / "device.json"
    made = subprocess.run(
        [hubao, "keys", "new", "--out", str(key_file), "--scrypt-n", "1024"],
        input=PASSPHRASE + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    address = made.stdout.strip().rsplit(" ", 1)[-1]
    challenge = typed_data.key_registration_document(
        VECTORS["vectors"][0]["domain"],
        account="rev-9",
        key=address,
        challenge=keccak(text="once"),
        expires_at=4102444800,
    )
    (tmp_path / "challenge.json").write_text(json.dumps(challenge))
    signed = subprocess.run(
        [hubao, "sign", "typed-data", "--keystore", str(key_file), "--input", str(tmp_path / "challenge.json")],
        input=PASSPHRASE + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer = json.loads(signed.stdout)
    assert answer["signer"] == address
    assert typed_data.recover_signer(challenge, bytes.fromhex(answer["signature"][2:])) == address
    assert "KeyRegistration for Hubao v2" in signed.stderr
    refused = subprocess.run(
        [hubao, "keys", "new", "--out", str(key_file)],
        input=PASSPHRASE + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "error [FILE_EXISTS]" in refused.stderr
    assert "Traceback" not in refused.stderr
