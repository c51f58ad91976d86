"""``hubao reviewer register-key``: make a signing key on this device and register it with a Hubao server.

One command for what a reviewer (or juror) did in four steps from a terminal (``hubao keys new``,
``POST /signing-key/challenge``, ``hubao sign typed-data``, ``POST /signing-key``)::

    hubao reviewer register-key --api https://hubao.example --username rev1 [--keystore rev1.json]

It signs in with the account's password (``POST /auth/token``), makes a key here and saves it
encrypted under a passphrase as a keystore v3 file (the file ``hubao sign … --keystore`` and the web
UI's import read; an existing file is registered as is), signs the server's KeyRegistration
challenge with it (:func:`backend.devices.register_key`, the demo's and the tests' device path) and
signs out again. The key and the passphrase never leave this machine: the server receives the
address and the signature proving possession. Piped standard input gives the password on its
first line and the passphrase on its second. No settings, database or chain are involved.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import typer

from backend.cli import app, console
from backend.cli.sign import STANDARD_SCRYPT_N, create_keystore, decrypt_keystore, load_keystore, read_passphrase
from backend.errors import HubaoError, InvalidInput

if TYPE_CHECKING:
    import httpx

    from backend.devices import RemoteApi

reviewer_app = typer.Typer(
    help="Your device as a reviewer or juror: make and register your own signing key.", no_args_is_help=True
)
app.add_typer(reviewer_app, name="reviewer")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ApiRefused(HubaoError):
    """The server answered a request with an error: its ``code`` and ``message``."""

    code = "API_REFUSED"


class ApiUnreachable(HubaoError):
    code = "API_UNREACHABLE"


def check_api_url(url: str) -> str:
    """``url`` if it is an https URL, or http to this machine (the password goes over it)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return url
    raise InvalidInput(
        f"--api {url}: give an https:// URL (plain http only to 127.0.0.1 or localhost): your password is sent to it",
        code="INSECURE_API_URL",
    )


def _refused(response: httpx.Response, what: str) -> ApiRefused:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return ApiRefused(f"{what}: {body.get('message', '')}", code=body["code"], status=response.status_code)
    return ApiRefused(f"{what}: HTTP {response.status_code}", status=response.status_code)


def _sign_in(api: RemoteApi, username: str, password: str) -> str:
    response = api.post("/auth/token", data={"username": username, "password": password})
    if response.status_code != 200:
        raise _refused(response, "sign-in refused")
    token: str = response.json()["access_token"]
    return token


def _device_key(keystore_file: Path, passphrase_file: Path | None, scrypt_n: int) -> tuple[bytes, bool]:
    """The key in ``keystore_file`` (unlocked with its passphrase), or a new one saved there; and
    whether it is new."""
    from eth_account import Account

    if keystore_file.exists():
        keystore = load_keystore(keystore_file)
        return decrypt_keystore(keystore, read_passphrase(passphrase_file, confirm=False)), False
    key = bytes(Account.create().key)
    # Saved before it is registered: a key the server knows is never one this machine lost.
    create_keystore(keystore_file, read_passphrase(passphrase_file, confirm=True), key, scrypt_n=scrypt_n)
    return key, True


@reviewer_app.command("register-key")
def register_key_cmd(
    api_url: str = typer.Option(..., "--api", help="the Hubao server, e.g. https://hubao.example"),
    username: str = typer.Option(..., "--username", help="your login"),
    keystore_file: Path | None = typer.Option(
        None,
        "--keystore",
        dir_okay=False,
        help="keystore v3 file: registered if it exists, else a new key is made and saved there "
        "(default: USERNAME.keystore.json here)",
    ),
    password_file: Path | None = typer.Option(
        None, "--password-file", exists=True, dir_okay=False, help="read your password from this file's first line"
    ),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", exists=True, dir_okay=False, help="read the passphrase from this file's first line"
    ),
    scrypt_n: int = typer.Option(STANDARD_SCRYPT_N, "--scrypt-n", hidden=True, help="scrypt cost (tests only)"),
) -> None:
    """Make a signing key on this device (kept in a keystore file) and register its address with the server."""
    import httpx

    from backend.devices import DeviceRefused, RemoteApi, register_key

    check_api_url(api_url)
    keystore_path = keystore_file or Path(f"{username}.keystore.json")
    password = read_passphrase(password_file, confirm=False, prompt=f"Password of {username}", option="--password-file")
    api = RemoteApi(api_url)
    try:
        token = _sign_in(api, username, password)
        try:
            key, new = _device_key(keystore_path, passphrase_file, scrypt_n)
            if new:
                console.print(f"created {keystore_path} (keep it: it is your key)", highlight=False, markup=False)
            address = register_key(api, token, key)
            state: dict[str, Any] = api.get("/signing-key", token).json()
        except DeviceRefused as exc:
            raise _refused(exc.response, "key registration refused") from exc
        finally:
            with contextlib.suppress(httpx.HTTPError):
                api.post("/auth/logout", token)  # this command's session ends with it
    except httpx.HTTPError as exc:
        raise ApiUnreachable(f"cannot talk to {api_url}: {exc}") from exc
    finally:
        api.close()
    role = state.get("onChainRole") or {}
    console.print(
        f"registered {address} for {username} (custody {state.get('custody')}, on-chain role "
        f"{role.get('status', 'unknown')}); sign with: hubao sign typed-data --keystore {keystore_path} …",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
