"""``hubao keys new`` and ``hubao sign typed-data``: a participant's own key, kept in a keystore file.

For reviewers (and later jurors) who prefer a terminal to the browser: the key lives in a standard
Ethereum keystore v3 file (scrypt + aes-128-ctr, the format ``cast wallet``, geth, any wallet and the
web UI's device keystore read), encrypted under a passphrase that never leaves this machine.
``hubao sign typed-data`` signs the exact typed-data document the API hands out (a draft, saved to
a file) and prints ``{signer, signature, digest, ...}`` to send back; it refuses anything that is not
a Hubao message, so the keystore cannot be tricked into signing a token permit. No server, database
or settings are involved: these commands read only the files named on the command line.

    hubao keys new --out reviewer.json
    hubao sign typed-data --keystore reviewer.json --input draft.json --out signed.json

``draft.json`` may be the API's answer as is (``POST /signing-key/challenge`` or
``POST /review/claims/{id}/verdict/draft``); ``signed.json`` carries ``message`` and ``signature``,
the body ``POST /review/claims/{id}/verdict/signed`` takes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from backend.cli import app, console, err_console
from backend.errors import Conflict, InvalidInput

keys_app = typer.Typer(help="Your own signing key, in a keystore v3 file.", no_args_is_help=True)
sign_app = typer.Typer(help="Sign Hubao typed data with your keystore.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(sign_app, name="sign")

MIN_PASSPHRASE = 8
# Web3 Secret Storage's standard scrypt cost (n = 2^18, r = 8, p = 1), as geth and the web UI use.
STANDARD_SCRYPT_N = 2**18


def read_passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    """The passphrase: the first line of ``passphrase_file``, else a hidden prompt, else piped stdin's first line."""
    if passphrase_file is not None:
        lines = passphrase_file.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    secret: str = typer.prompt("Keystore passphrase", hide_input=True, confirmation_prompt=confirm)
    return secret


def write_new_file(path: Path, content: str) -> None:
    """Write ``content`` to a new file readable by its owner only; Conflict when it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise Conflict(f"{path} exists: choose another file", code="FILE_EXISTS") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(content)


def load_keystore(path: Path) -> dict[str, Any]:
    try:
        keystore = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is not a keystore file: {exc}", code="BAD_KEYSTORE") from exc
    if not isinstance(keystore, dict) or keystore.get("version") != 3:
        raise InvalidInput(f"{path} is not a version 3 keystore", code="BAD_KEYSTORE")
    return keystore


def decrypt_keystore(keystore: dict[str, Any], passphrase: str) -> bytes:
    """The private key in ``keystore``; InvalidInput WRONG_PASSPHRASE when the MAC does not match."""
    from eth_account import Account

    try:
        return bytes(Account.decrypt(keystore, passphrase))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise InvalidInput("wrong passphrase for this keystore", code="WRONG_PASSPHRASE") from exc
        raise InvalidInput(f"the keystore cannot be read: {exc}", code="BAD_KEYSTORE") from exc


@keys_app.command("new")
def new_cmd(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="the keystore file to create (never overwritten)"),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", exists=True, dir_okay=False, help="read the passphrase from this file's first line"
    ),
    scrypt_n: int = typer.Option(STANDARD_SCRYPT_N, "--scrypt-n", hidden=True, help="scrypt cost (tests only)"),
) -> None:
    """Create a secp256k1 key on this machine and save it encrypted as a keystore v3 file."""
    from eth_account import Account

    passphrase = read_passphrase(passphrase_file, confirm=True)
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"choose a passphrase of at least {MIN_PASSPHRASE} characters", code="WEAK_PASSPHRASE")
    if out.exists():
        raise Conflict(f"{out} exists: choose another file", code="FILE_EXISTS")
    account = Account.create()
    keystore = Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=scrypt_n)
    write_new_file(out, json.dumps(keystore, indent=2) + "\n")
    console.print(f"created {out} for address {account.address}", highlight=False, markup=False, soft_wrap=True)


@keys_app.command("address")
def address_cmd(
    keystore_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="keystore v3 file"),
) -> None:
    """Print the address a keystore file names (no passphrase needed)."""
    from eth_utils.address import is_address, to_checksum_address

    stated = load_keystore(keystore_file).get("address")
    if not isinstance(stated, str) or not is_address(stated):
        raise InvalidInput("this keystore does not name its address", code="BAD_KEYSTORE")
    console.print(to_checksum_address(stated), highlight=False, markup=False)


@sign_app.command("typed-data")
def typed_data_cmd(
    keystore_file: Path = typer.Option(..., "--keystore", exists=True, dir_okay=False, help="keystore v3 file"),
    input_file: Path = typer.Option(
        ..., "--input", exists=True, dir_okay=False, help="the typed-data document (or draft) the API handed out"
    ),
    out: Path | None = typer.Option(
        None, "--out", dir_okay=False, help="write the signed answer here (default: stdout)"
    ),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", exists=True, dir_okay=False, help="read the passphrase from this file's first line"
    ),
    expect: str | None = typer.Option(None, "--expect", help="refuse unless primaryType is this (e.g. Verdict)"),
) -> None:
    """Sign a Hubao typed-data document with the key in a keystore file; prints {signer, signature, digest}."""
    from eth_account import Account

    from backend.chain import typed_data

    try:
        raw = json.loads(input_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInput(f"{input_file} is not JSON: {exc}", code="BAD_TYPED_DATA") from exc
    doc = typed_data.check_hubao_document(typed_data.load_document(raw), primary_type=expect)
    digest = typed_data.digest(doc)
    keystore = load_keystore(keystore_file)
    err_console.print(f"Signing:\n{typed_data.summary(doc)}", highlight=False, markup=False, soft_wrap=True)
    key = decrypt_keystore(keystore, read_passphrase(passphrase_file, confirm=False))
    signer = Account.from_key(key).address
    message_key = doc["message"].get("key") if doc["primaryType"] == "KeyRegistration" else None
    if isinstance(message_key, str) and message_key.lower() != signer.lower():
        raise InvalidInput(f"this challenge is for key {message_key}, the keystore holds {signer}", code="WRONG_KEY")
    wanted = raw.get("signer") if isinstance(raw, dict) else None  # a verdict draft names its signer
    if isinstance(wanted, str) and wanted.lower() != signer.lower():
        raise InvalidInput(f"this draft is for key {wanted}, the keystore holds {signer}", code="WRONG_KEY")
    signature = typed_data.sign(doc, key)
    answer = {
        "signer": signer,
        "signature": "0x" + signature.hex(),
        "digest": "0x" + digest.hex(),
        "primaryType": doc["primaryType"],
        "domain": doc["domain"],
        "message": doc["message"],
    }
    text = json.dumps(answer, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        write_new_file(out, text)
        err_console.print(f"signed by {signer}; answer written to {out}", highlight=False, markup=False, soft_wrap=True)
