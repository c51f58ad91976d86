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
    hubao sign vote --keystore juror.json --input case.json --approve            # commit body
    hubao sign vote --keystore juror.json --input case.json --reveal             # reveal body
    hubao sign vote --keystore juror.json --rpc URL --ledger ADDR --claim 0x… --approve --send

``draft.json`` may be the API's answer as is (``POST /signing-key/challenge`` or
``POST /review/claims/{id}/verdict/draft``); ``signed.json`` carries ``message`` and ``signature``,
the body ``POST /review/claims/{id}/verdict/signed`` takes.

Claimants too: the key the browser made for a claim, downloaded from the claim's page (keystore v3),
signs the claim's Withdrawal or Appeal draft (``POST /claims/{id}/withdraw/draft``, ``.../appeal/draft``;
the draft names the claim's key as ``signer``, so another keystore is refused)::

    hubao sign typed-data --keystore claim-key.json --input draft.json --expect Withdrawal

and ``POST /claims/{id}/withdraw`` takes ``{"deadline": message.deadline, "signature": signature}``.

``hubao sign vote`` is a juror's vote (ClaimLedger 2): the salt is derived here by signing
VoteSalt(claimId, round) (salt = keccak256(signature), deterministic, so the same keystore re-derives
it at reveal time and nothing needs keeping); it prints the commit body ``{commitment, signature}``,
or with ``--reveal`` the reveal body ``{approve, salt}`` — print that only in the reveal window. The
VoteSalt document comes from the API's case answer (``GET /jury/claims/{id}``, saved to a file) or,
with ``--rpc``/``--ledger``, from the chain itself; ``--send`` then sends ``commitVote`` /
``revealVote`` from the juror's own key (it pays the gas): a juror needs no operator to vote.
``hubao sign typed-data`` refuses a VoteSalt: its signature is the vote's secret.
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


def read_passphrase(
    passphrase_file: Path | None,
    *,
    confirm: bool,
    prompt: str = "Keystore passphrase",
    option: str = "--passphrase-file",
) -> str:
    """The passphrase: the first line of ``passphrase_file``, else a hidden prompt, else piped stdin's
    next line (``prompt`` and ``option`` name the secret, e.g. an account password, in the prompt and error)."""
    if passphrase_file is not None:
        lines = passphrase_file.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:  # nothing piped at all: not a short passphrase (the QA walk-through read WEAK_PASSPHRASE)
            raise InvalidInput(
                f"no {prompt.lower()}: standard input is not a terminal and gave none; pipe one in or pass {option}",
                code="NO_PASSPHRASE",
            )
        return line.rstrip("\r\n")
    secret: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
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
    demo_device: str | None = typer.Option(
        None, "--demo-device", help="DEMO ONLY: rebuild the seeded demo participant NAME's key (its seed is public)"
    ),
) -> None:
    """Create a secp256k1 key on this machine and save it encrypted as a keystore v3 file."""
    from backend.devices import demo_device_key

    address = create_keystore(
        out,
        read_passphrase(passphrase_file, confirm=True),
        None if demo_device is None else demo_device_key(demo_device),
        scrypt_n=scrypt_n,
    )
    console.print(f"created {out} for address {address}", highlight=False, markup=False, soft_wrap=True)


def create_keystore(out: Path, passphrase: str, key: bytes | None = None, *, scrypt_n: int = STANDARD_SCRYPT_N) -> str:
    """Save a new key (``key``, else a fresh random one) encrypted under ``passphrase`` as the keystore
    v3 file ``out`` (created, owner-only; never overwritten); returns its address."""
    from eth_account import Account

    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"choose a passphrase of at least {MIN_PASSPHRASE} characters", code="WEAK_PASSPHRASE")
    if out.exists():
        raise Conflict(f"{out} exists: choose another file", code="FILE_EXISTS")
    account = Account.create() if key is None else Account.from_key(key)
    keystore = Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=scrypt_n)
    write_new_file(out, json.dumps(keystore, indent=2) + "\n")
    return str(account.address)


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
    if doc["primaryType"] in typed_data.PRIVATE_PRIMARY_TYPES:
        raise InvalidInput(
            f"a {doc['primaryType']} signature is a vote's secret salt: use hubao sign vote", code="PRIVATE_DOCUMENT"
        )
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


def _bytes32_option(value: str | None, name: str) -> bytes | None:
    if value is None:
        return None
    text = value[2:] if value.startswith(("0x", "0X")) else value
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be 32 bytes of hex", code="INVALID_BYTES32") from exc
    if len(raw) != 32:
        raise InvalidInput(f"{name} must be 32 bytes of hex", code="INVALID_BYTES32")
    return raw


def _vote_section(raw: Any) -> tuple[dict[str, Any], str | None]:
    """The VoteSalt document and the on-chain commitment from the API's case answer, its ``vote``
    section, or a bare VoteSalt document."""
    if isinstance(raw, dict) and isinstance(raw.get("vote"), dict):
        raw = raw["vote"]
    commitment = raw.get("commitment") if isinstance(raw, dict) else None
    if isinstance(raw, dict) and isinstance(raw.get("saltTypedData"), dict):
        raw = raw["saltTypedData"]
    return raw, commitment if isinstance(commitment, str) else None


@sign_app.command("vote")
def vote_cmd(
    keystore_file: Path = typer.Option(..., "--keystore", exists=True, dir_okay=False, help="keystore v3 file"),
    input_file: Path | None = typer.Option(
        None,
        "--input",
        exists=True,
        dir_okay=False,
        help="the API's case (GET /jury/claims/{id}) in a file",
    ),
    rpc: str | None = typer.Option(None, "--rpc", help="JSON-RPC URL: build the documents from the chain"),
    ledger: str | None = typer.Option(None, "--ledger", help="ClaimLedger's address (with --rpc)"),
    claim: str | None = typer.Option(None, "--claim", help="the claim id on ClaimLedger (0x…)"),
    round_: int | None = typer.Option(None, "--round", min=1, help="the jury round (default: the current one)"),
    approve: bool | None = typer.Option(
        None, "--approve/--reject", help="your vote (reveal: read from the commitment)"
    ),
    reveal: bool = typer.Option(False, "--reveal", help="print the reveal {approve, salt} instead of the commit"),
    send: bool = typer.Option(False, "--send", help="send it to ClaimLedger from your own key (needs --rpc, gas)"),
    out: Path | None = typer.Option(None, "--out", dir_okay=False, help="write the answer here (default: stdout)"),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", exists=True, dir_okay=False, help="read the passphrase from this file's first line"
    ),
) -> None:
    """A juror's vote signed with your keystore: the commit body, or with --reveal the reveal body."""
    from eth_account import Account

    from backend.chain import typed_data

    if (input_file is None) == (rpc is None):
        raise InvalidInput("give either --input (the API's case) or --rpc with --ledger", code="MISSING_OPTION")
    if send and rpc is None:
        raise InvalidInput("--send needs --rpc and --ledger", code="MISSING_OPTION")
    if not reveal and approve is None:
        raise InvalidInput("say --approve or --reject", code="MISSING_OPTION")
    claim_id = _bytes32_option(claim, "--claim")
    commitment_hex: str | None = None
    salt_doc: Any = None
    if input_file is not None:
        try:
            raw = json.loads(input_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InvalidInput(f"{input_file} is not JSON: {exc}", code="BAD_TYPED_DATA") from exc
        salt_doc, commitment_hex = _vote_section(raw)
    elif ledger is None or claim_id is None:
        raise InvalidInput("--rpc needs --ledger and --claim", code="MISSING_OPTION")
    key = decrypt_keystore(load_keystore(keystore_file), read_passphrase(passphrase_file, confirm=False))
    juror = str(Account.from_key(key).address)
    client = None
    if salt_doc is None:
        assert rpc is not None
        assert ledger is not None
        assert claim_id is not None
        client = _ledger_client(rpc, ledger, key)
        if round_ is None:
            round_ = client.claim(claim_id).jury_round
        if not round_:
            raise InvalidInput("no jury has been drawn for this claim", code="NO_JURY")
        salt_doc = typed_data.vote_salt_document(client.domain().as_dict(), claim_id=claim_id, round_=round_)
        onchain = client.ballot(claim_id, round_, juror).commitment
        commitment_hex = None if onchain == bytes(32) else "0x" + onchain.hex()
    doc = typed_data.check_hubao_document(typed_data.load_document(salt_doc), primary_type="VoteSalt")
    doc_claim = bytes.fromhex(str(doc["message"]["claimId"])[2:])
    if claim_id is not None and claim_id != doc_claim:
        raise InvalidInput("the case is for another claim than --claim", code="WRONG_CLAIM")
    if round_ is not None and round_ != int(doc["message"]["round"]):
        raise InvalidInput("the case is for another round than --round", code="WRONG_ROUND")
    claim_id, round_ = doc_claim, int(doc["message"]["round"])
    err_console.print(f"Vote by {juror}; salt derived from:\n{typed_data.summary(doc)}", highlight=False, markup=False)
    answer: dict[str, Any] = {"juror": juror, "claimId": "0x" + claim_id.hex(), "round": round_}
    if reveal:
        salt = typed_data.derive_vote_salt(doc, key)
        choice = _opened_vote(claim_id, round_, juror, salt, commitment_hex, approve)
        answer["reveal"] = {"approve": choice, "salt": "0x" + salt.hex()}
        if client is not None and send:
            answer["tx"] = "0x" + client.reveal_vote(claim_id, juror, choice, salt).tx_hash.hex()
    else:
        payloads = typed_data.vote_payloads(doc, key, bool(approve))
        answer["commit"] = payloads["commit"]
        if client is not None and send:
            commitment = bytes.fromhex(payloads["commit"]["commitment"][2:])
            answer["tx"] = "0x" + client.commit_vote(claim_id, commitment, juror=client.operator).tx_hash.hex()
    text = json.dumps(answer, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        write_new_file(out, text)
        err_console.print(f"vote of {juror} written to {out}", highlight=False, markup=False, soft_wrap=True)


def _opened_vote(
    claim_id: bytes, round_: int, juror: str, salt: bytes, commitment_hex: str | None, approve: bool | None
) -> bool:
    """The vote ``salt`` opens the known commitment to (checked against ``approve`` when given);
    without a known commitment, ``approve`` itself."""
    from backend.chain import eip712

    if commitment_hex is None:
        if approve is None:
            raise InvalidInput("say --approve or --reject (no commitment to read the vote from)", code="MISSING_OPTION")
        return approve
    opened = [
        choice
        for choice in (True, False)
        if eip712.vote_commitment(claim_id, round_, juror, choice, salt).hex() == commitment_hex[2:].lower()
    ]
    if not opened:
        raise InvalidInput("this key does not open the commitment on record", code="COMMITMENT_MISMATCH")
    if approve is not None and opened[0] != approve:
        raise InvalidInput("you committed the other vote: a reveal opens the commitment", code="COMMITMENT_MISMATCH")
    return opened[0]


def _ledger_client(rpc: str, ledger: str, key: bytes) -> Any:
    """ClaimLedger at ``ledger`` over ``rpc``, sending (``--send``) from the juror's own key only."""
    from eth_account import Account

    from backend.chain.claims import ClaimLedgerClient
    from backend.chain.client import connect, contract_at
    from backend.chain.compiler import load_artifact
    from backend.chain.transactions import TransactionSender, register_errors

    w3 = connect(rpc)
    artifact = load_artifact("ClaimLedger")
    register_errors([artifact["abi"]])
    return ClaimLedgerClient(w3, contract_at(w3, ledger, artifact), TransactionSender(w3, Account.from_key(key)))
