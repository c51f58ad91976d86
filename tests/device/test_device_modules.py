"""The browser's device-key modules (keystore v3, EIP-712) against eth-account and the golden vectors.

Run under node — the very ES modules the page loads, importing the vendored noble files — in one
batch: keystores made by ``Account.encrypt`` decrypt in JS, keystores made in JS decrypt with
``Account.decrypt`` to the same address, every Verdict vector hashes and signs byte-for-byte as
pinned, and generic typed data (nested structs, arrays, strings, bytes, signed ints) hashes as
eth-account's ``encode_typed_data`` does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from backend.chain.eip712 import VERDICT_TYPE_STRING
from backend.chain.typed_data import KEY_REGISTRATION_FIELDS
from backend.proofs.commitments import report_hash

HERE = Path(__file__).parent
VECTORS = json.loads((HERE.parent / "vectors" / "eip712_verdict.json").read_text())
PASSPHRASE = "correct horse battery staple ünïcödé"
KEY = keccak(text="hubao-device-key-interop")
OTHER_KEY = keccak(text="hubao-device-key-other")

VERDICT_FIELDS = [
    {"name": "claimId", "type": "bytes32"},
    {"name": "verdict", "type": "uint8"},
    {"name": "reasonCode", "type": "uint16"},
    {"name": "reportHash", "type": "bytes32"},
    {"name": "ruleSetHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

NESTED_DOC: dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallets", "type": "address[]"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person[]"},
            {"name": "contents", "type": "string"},
            {"name": "blob", "type": "bytes"},
            {"name": "flag", "type": "bool"},
            {"name": "delta", "type": "int64"},
            {"name": "tag", "type": "bytes4"},
            {"name": "pair", "type": "uint16[2]"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "Hubao",
        "version": "7",
        "chainId": 31337,
        "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    },
    "message": {
        "from": {"name": "Cow", "wallets": ["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"]},
        "to": [
            {"name": "Bob", "wallets": []},
            {
                "name": "错误",
                "wallets": ["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB", "0xB0B0b0b0b0b0B000000000000000000000000000"],
            },
        ],
        "contents": "Hello, Bob!",
        "blob": "0x00ff10",
        "flag": True,
        "delta": -42,
        "tag": "0xdeadbeef",
        "pair": [1, 65535],
    },
}

KEY_REGISTRATION_DOC: dict[str, Any] = {
    "types": {
        "EIP712Domain": NESTED_DOC["types"]["EIP712Domain"],
        "KeyRegistration": [
            {"name": "purpose", "type": "string"},
            {"name": "account", "type": "string"},
            {"name": "key", "type": "address"},
            {"name": "challenge", "type": "bytes32"},
            {"name": "expiresAt", "type": "uint256"},
        ],
    },
    "primaryType": "KeyRegistration",
    "domain": NESTED_DOC["domain"] | {"version": "1"},
    "message": {
        "purpose": "Register this key as my Hubao signing key",
        "account": "rev-1",
        "key": Account.from_key(KEY).address,
        "challenge": "0x" + "ab" * 32,
        "expiresAt": "1800000000",
    },
}


def _python_keystores() -> list[dict[str, Any]]:
    return [
        {"name": "scrypt-standard", "keystore": Account.encrypt(KEY, PASSPHRASE), "passphrase": PASSPHRASE},
        {
            "name": "scrypt-light",
            "keystore": Account.encrypt(OTHER_KEY, PASSPHRASE, kdf="scrypt", iterations=2**12),
            "passphrase": PASSPHRASE,
        },
        {
            "name": "pbkdf2",
            "keystore": Account.encrypt(KEY, "pbkdf2 pass", kdf="pbkdf2", iterations=2048),
            "passphrase": "pbkdf2 pass",
        },
        {"name": "wrong-passphrase", "keystore": Account.encrypt(KEY, PASSPHRASE, iterations=2**10), "passphrase": "x"},
        {"name": "tampered", "keystore": _tampered(), "passphrase": PASSPHRASE},
        {"name": "not-v3", "keystore": {"version": 1}, "passphrase": PASSPHRASE},
        {"name": "foreign-cipher", "keystore": _foreign_cipher(), "passphrase": PASSPHRASE},
    ]


def _tampered() -> dict[str, Any]:
    keystore: dict[str, Any] = Account.encrypt(KEY, PASSPHRASE, iterations=2**10)
    text = keystore["crypto"]["ciphertext"]
    keystore["crypto"]["ciphertext"] = ("0" if text[0] != "0" else "1") + text[1:]
    return keystore


def _foreign_cipher() -> dict[str, Any]:
    keystore: dict[str, Any] = Account.encrypt(KEY, PASSPHRASE, iterations=2**10)
    keystore["crypto"]["cipher"] = "aes-128-cbc"
    return keystore


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the device modules cannot be checked outside a browser")
    request = {
        "vectors": VECTORS,
        "keystores": _python_keystores(),
        "typedData": [
            {"name": "nested", "doc": NESTED_DOC},
            {"name": "key-registration", "doc": KEY_REGISTRATION_DOC},
        ],
        "reports": [
            {"report": text, "salt": "0x" + keccak(text=f"salt-{i}").hex()}
            for i, text in enumerate(["", "diagnosis confirmed", "病理报告确认 ✓", "x" * 5000])
        ],
        "make": [
            {"name": "standard", "passphrase": PASSPHRASE},
            {"name": "light", "passphrase": "light pass", "n": 1024},
        ],
    }
    done = subprocess.run(
        [node, str(HERE / "device_check.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_verdict_vectors_hash_and_sign_byte_for_byte(report: dict[str, Any]) -> None:
    assert len(report["vectors"]) == len(VECTORS["vectors"]) == 6
    for got, want in zip(report["vectors"], VECTORS["vectors"], strict=True):
        assert got["name"] == want["name"]
        assert got["domainSeparator"] == want["domainSeparator"], want["name"]
        assert got["digest"] == want["digest"], want["name"]
        assert got["signature"] == want["signature"], want["name"]
        assert got["address"] == got["recovered"] == got["recoveredGolden"] == want["signer"]
        doc = {
            "types": {"EIP712Domain": NESTED_DOC["types"]["EIP712Domain"], "Verdict": VERDICT_FIELDS},
            "primaryType": "Verdict",
            "domain": want["domain"],
            "message": want["verdict"],
        }
        assert (
            Account.recover_message(encode_typed_data(full_message=doc), signature=got["signature"]) == want["signer"]
        )


def test_python_keystores_decrypt_in_js_to_the_same_address(report: dict[str, Any]) -> None:
    got = {d["name"]: d for d in report["decrypted"]}
    assert got["scrypt-standard"] == {"name": "scrypt-standard", "ok": True, "address": Account.from_key(KEY).address}
    assert got["scrypt-light"]["address"] == Account.from_key(OTHER_KEY).address
    assert got["pbkdf2"]["address"] == Account.from_key(KEY).address


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("wrong-passphrase", "WRONG_PASSPHRASE"),
        ("tampered", "WRONG_PASSPHRASE"),
        ("not-v3", "BAD_KEYSTORE"),
        ("foreign-cipher", "BAD_KEYSTORE"),
    ],
)
def test_js_decrypt_refuses_bad_keystores(report: dict[str, Any], name: str, code: str) -> None:
    got = {d["name"]: d for d in report["decrypted"]}
    assert got[name] == {"name": name, "ok": False, "code": code}


@pytest.mark.parametrize(("name", "passphrase", "n"), [("standard", PASSPHRASE, 262144), ("light", "light pass", 1024)])
def test_js_keystores_decrypt_with_eth_account(report: dict[str, Any], name: str, passphrase: str, n: int) -> None:
    made = next(m for m in report["made"] if m["name"] == name)
    keystore = made["keystore"]
    assert keystore["version"] == 3
    assert keystore["crypto"]["cipher"] == "aes-128-ctr"
    assert keystore["crypto"]["kdf"] == "scrypt"
    assert keystore["crypto"]["kdfparams"] == keystore["crypto"]["kdfparams"] | {"n": n, "r": 8, "p": 1, "dklen": 32}
    assert "0x" + keystore["address"] == made["address"].lower()
    key = Account.decrypt(keystore, passphrase)
    assert Account.from_key(key).address == made["address"]
    with pytest.raises(ValueError, match="MAC mismatch"):
        Account.decrypt(keystore, passphrase + " ")


@pytest.mark.parametrize("name", ["nested", "key-registration"])
def test_generic_typed_data_hashes_as_eth_account(report: dict[str, Any], name: str) -> None:
    doc = {"nested": NESTED_DOC, "key-registration": KEY_REGISTRATION_DOC}[name]
    signable = encode_typed_data(full_message=doc)
    want = keccak(b"\x19" + signable.version + signable.header + signable.body)
    got = next(t for t in report["typedData"] if t["name"] == name)
    assert got == {"name": name, "digest": "0x" + want.hex()}


def test_js_types_are_the_servers(report: dict[str, Any]) -> None:
    assert report["types"]["verdict"] == VECTORS["typeString"] == VERDICT_TYPE_STRING
    assert report["types"]["keyRegistration"] == KEY_REGISTRATION_FIELDS
    assert KEY_REGISTRATION_DOC["types"]["KeyRegistration"] == KEY_REGISTRATION_FIELDS


def test_js_report_hash_is_the_servers_commitment(report: dict[str, Any]) -> None:
    assert len(report["reportHashes"]) == 4
    for case in report["reportHashes"]:
        want = report_hash(case["report"], bytes.fromhex(case["salt"][2:]))
        assert case["got"] == "0x" + want.hex()
