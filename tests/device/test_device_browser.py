"""Device-held keys in a real browser (Debian's chromium via Playwright), under the app's own CSP.

The page is the app's (``/app/``, served by uvicorn with the UI's security headers); the device
modules are imported from the same origin with their vendored noble dependencies. Checked against
eth-account in Python: a key made in the browser and exported as a keystore v3 file decrypts with
``Account.decrypt``; a keystore made by ``Account.encrypt`` imports in the browser; the browser's
Verdict digests and signatures equal the golden vectors; an injected EIP-1193 wallet receives an
``eth_signTypedData_v4`` document that eth-account hashes to the same digest; a key-registration
challenge is answered with a signature that recovers to the key. Every request the page made and
everything the server received is scanned afterwards: no private key and no passphrase.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from fastapi import FastAPI, Request, Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from backend.api.errors import install_error_handlers
from backend.web import CSP, mount_web
from tests.web.browser import require_browser, serve
from tests.web.browser_fixtures import InjectedWallet, chromium, watched_page

pytestmark = pytest.mark.xdist_group("device-browser")

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "eip712_verdict.json").read_text())
PASSPHRASE = "device passphrase ✓ never sent"
IMPORT_PASSPHRASE = "imported from the CLI"
WALLET_KEY = keccak(text="hubao-device-browser-wallet")


class Received(BaseHTTPMiddleware):
    """Keeps every request the server received: method, URL, headers and body."""

    def __init__(self, app: Any, log: list[str]) -> None:
        super().__init__(app)
        self.log = log

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        body = await request.body()
        self.log.append(f"{request.method} {request.url} {dict(request.headers)} {body!r}")
        return await call_next(request)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    require_browser()
    received: list[str] = []
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(Received, log=received)
    mount_web(app)
    with serve(app) as url:
        yield url, received


WALLET = InjectedWallet(WALLET_KEY)


@pytest.fixture(scope="module")
def page(server: tuple[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url, _ = server
    with chromium(tmp_path_factory.mktemp("device-profile")) as context:
        page = watched_page(context, headers=True)
        WALLET.install(page)
        response = page.goto(f"{url}/app/")
        assert response.headers["content-security-policy"] == CSP
        yield page


def _evaluate(page: Any, script: str, arg: Any = None) -> Any:
    return page.evaluate(
        "async ([body, arg]) => { const run = new Function('mods', 'arg', body);"
        " const mods = {"
        "   keystore: await import('/app/js/device/keystore.js'),"
        "   typed: await import('/app/js/device/typed_data.js'),"
        "   wallet: await import('/app/js/device/wallet.js') };"
        " return await run(mods, arg); }",
        [script, arg],
    )


def test_browser_key_exports_a_keystore_that_eth_account_decrypts(page: Any, tmp_path: Path) -> None:
    with page.expect_download() as download:
        made = _evaluate(
            page,
            """return (async () => {
                const { address, keystore } = await mods.keystore.createDeviceKey("rev-1", arg);
                const name = mods.keystore.downloadKeystore(keystore);
                return { address, name, kept: localStorage.getItem("hubao.keystore.v3:rev-1") };
            })();""",
            PASSPHRASE,
        )
    saved = tmp_path / "exported.json"
    download.value.save_as(saved)
    assert download.value.suggested_filename == made["name"]
    assert made["name"].startswith("UTC--")
    assert made["name"].endswith(f"--{made['address'][2:].lower()}.json")
    exported = json.loads(saved.read_text())
    assert exported == json.loads(made["kept"])
    assert exported["crypto"]["kdfparams"]["n"] == 2**18
    key = Account.decrypt(exported, PASSPHRASE)
    assert Account.from_key(key).address == made["address"]
    assert key.hex() not in made["kept"]
    with pytest.raises(ValueError, match="MAC mismatch"):
        Account.decrypt(exported, PASSPHRASE + "!")
    page.secrets = [key.hex(), PASSPHRASE]


def test_eth_account_keystore_imports_and_signs_the_verdict_vectors(page: Any) -> None:
    vector = VECTORS["vectors"][0]
    keystore = Account.encrypt(vector["privateKey"], IMPORT_PASSPHRASE)
    got = _evaluate(
        page,
        """return (async () => {
            let wrong = null;
            try { await mods.keystore.importKeystore("rev-2", arg.keystore, "not it"); }
            catch (err) { wrong = err.code; }
            const imported = await mods.keystore.importKeystore("rev-2", JSON.stringify(arg.keystore), arg.pass);
            const signer = await mods.wallet.DeviceSigner.unlock("rev-2", arg.pass);
            const signed = [];
            for (const v of arg.vectors) {
              const doc = mods.typed.verdictTypedData(v.domain, v.verdict);
              const hex = (b) => "0x" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
              const digest = hex(mods.typed.hashTypedData(doc));
              const own = v.signer === signer.address ? await mods.wallet.signHubaoTypedData(signer, doc) : null;
              signed.push({ name: v.name, digest, own });
            }
            signer.lock();
            return { wrong, address: imported.address, signed, locked: signer.privateKey };
        })();""",
        {"keystore": keystore, "pass": IMPORT_PASSPHRASE, "vectors": VECTORS["vectors"]},
    )
    assert got["wrong"] == "WRONG_PASSPHRASE"
    assert got["address"] == vector["signer"]
    assert got["locked"] is None
    assert [s["digest"] for s in got["signed"]] == [v["digest"] for v in VECTORS["vectors"]]
    own = [s["own"] for s in got["signed"] if s["own"] is not None]
    assert own == [{"signer": vector["signer"], "signature": vector["signature"], "digest": vector["digest"]}]
    document = {
        "types": {"Verdict": _verdict_fields()},
        "primaryType": "Verdict",
        "domain": vector["domain"],
        "message": vector["verdict"],
    }
    assert (
        Account.recover_message(encode_typed_data(full_message=document), signature=own[0]["signature"])
        == (vector["signer"])
    )
    page.secrets += [vector["privateKey"][2:], IMPORT_PASSPHRASE]


def test_injected_wallet_signs_the_same_typed_data_document(page: Any) -> None:
    vector = VECTORS["vectors"][1]
    got = _evaluate(
        page,
        """return (async () => {
            const signer = await mods.wallet.chooseSigner({ account: "rev-3" });
            const doc = mods.typed.verdictTypedData(arg.domain, arg.verdict);
            const signed = await mods.wallet.signHubaoTypedData(signer, doc, { primaryType: "Verdict" });
            return { kind: signer.kind, ...signed };
        })();""",
        vector,
    )
    wallet = WALLET.address
    assert got["kind"] == "wallet"
    assert got["signer"] == wallet
    assert got["digest"] == vector["digest"]
    assert got["signature"][-2:] in ("1b", "1c")  # the wallet's v in {0, 1} normalised to {27, 28}
    document = WALLET.documents[-1]
    assert document["primaryType"] == "Verdict"
    assert Account.recover_message(encode_typed_data(full_message=document), signature=got["signature"]) == wallet


def test_key_registration_challenge_is_answered_by_the_device_key(page: Any) -> None:
    vector = VECTORS["vectors"][0]
    challenge = {
        "types": {
            "KeyRegistration": [
                {"name": "purpose", "type": "string"},
                {"name": "account", "type": "string"},
                {"name": "key", "type": "address"},
                {"name": "challenge", "type": "bytes32"},
                {"name": "expiresAt", "type": "uint256"},
            ]
        },
        "primaryType": "KeyRegistration",
        "domain": vector["domain"],
        "message": {
            "purpose": "Register this key as my Hubao reviewer key",
            "account": "rev-2",
            "key": vector["signer"],
            "challenge": "0x" + keccak(text="one-time challenge").hex(),
            "expiresAt": "4102444800",
        },
    }
    expired = json.loads(json.dumps(challenge))
    expired["message"]["expiresAt"] = "1000"
    other_key = json.loads(json.dumps(challenge))
    other_key["message"]["key"] = Account.from_key(WALLET_KEY).address
    not_hubao = json.loads(json.dumps(challenge))
    not_hubao["domain"]["name"] = "Permit2"
    got = _evaluate(
        page,
        """return (async () => {
            const signer = await mods.wallet.DeviceSigner.unlock("rev-2", arg.pass);
            const refused = {};
            for (const [name, doc] of Object.entries(arg.bad)) {
              try { await mods.wallet.proveKeyPossession(signer, doc, "rev-2"); refused[name] = null; }
              catch (err) { refused[name] = err.message; }
            }
            const answer = await mods.wallet.proveKeyPossession(signer, arg.challenge, "rev-2");
            signer.lock();
            return { answer, refused };
        })();""",
        {
            "pass": IMPORT_PASSPHRASE,
            "challenge": challenge,
            "bad": {"expired": expired, "other": other_key, "foreign": not_hubao},
        },
    )
    assert got["refused"] == {
        "expired": "the challenge has expired; ask for a new one",
        "other": "the challenge is for another key",
        "foreign": "not a Hubao message (domain name)",
    }
    signable = encode_typed_data(full_message=challenge)
    assert Account.recover_message(signable, signature=got["answer"]["signature"]) == vector["signer"]


def test_no_key_or_passphrase_left_the_page(page: Any, server: tuple[str, list[str]]) -> None:
    secrets: list[str] = page.secrets
    assert len(secrets) == 4
    _, received = server
    sent = page.sent
    assert any("/app/vendor/noble/curves/secp256k1.js" in r for r in sent), "the modules loaded from the app"
    assert all(r.startswith("GET ") for r in sent), sent
    for secret in secrets:
        for line in sent + received:
            assert secret.lower() not in line.lower()
            assert json.dumps(secret)[1:-1] not in line
    assert page.log.unexpected() == []  # no CSP refusal, no module that failed to load


def _verdict_fields() -> list[dict[str, str]]:
    return [
        {"name": "claimId", "type": "bytes32"},
        {"name": "verdict", "type": "uint8"},
        {"name": "reasonCode", "type": "uint16"},
        {"name": "reportHash", "type": "bytes32"},
        {"name": "ruleSetHash", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
