"""``hubao reviewer register-key`` against a real ``hubao serve`` (subprocess, uvicorn, anvil).

The reviewer's login comes from ``hubao accounts create`` on the server's data directory; the
command then runs as the reviewer's device would: it signs in, makes the key here (a keystore v3
file the other device commands read), answers the server's challenge and signs out. The server
ends up holding the key's address with device custody, and nothing of the key: its bytes appear
in no file of the server's data directory.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from backend import devices
from backend.chain import typed_data
from backend.errors import InvalidInput
from tests.device.test_cli_sign import VECTORS, VERDICT_FIELDS
from tests.security.served import Served, start_served

pytestmark = pytest.mark.xdist_group("cli-register-key")

PASSWORD = "reviewer password 1"
PASSPHRASE = "device passphrase"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from start_served(tmp_path_factory.mktemp("served-register-key"))


def _hubao(served: Served, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBAO_")}
    env.update({"HUBAO_DATA_DIR": str(served.data_dir), "HUBAO_LOG_LEVEL": "WARNING"})
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], input=stdin, env=env, capture_output=True, text=True, timeout=120
    )


def _staff(served: Served, username: str, role: str = "reviewer") -> None:
    made = _hubao(served, "accounts", "create", username, "--role", role, "--password", PASSWORD)
    assert made.returncode == 0, made.stderr


def _register(served: Served, username: str, keystore: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    return _hubao(
        served,
        "reviewer", "register-key", "--api", served.url, "--username", username, "--keystore", str(keystore),
        "--scrypt-n", "1024",
        stdin=stdin,
    )  # fmt: skip


def _token(client: httpx.Client, username: str) -> str:
    return str(client.post("/auth/token", data={"username": username, "password": PASSWORD}).json()["access_token"])


def test_register_key_makes_the_key_here_and_the_server_keeps_its_address(served: Served, tmp_path: Path) -> None:
    _staff(served, "rev-terminal")
    keystore = tmp_path / "rev.json"
    done = _register(served, "rev-terminal", keystore, f"{PASSWORD}\n{PASSPHRASE}\n")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    key = bytes(Account.decrypt(json.loads(keystore.read_text()), PASSPHRASE))
    address = Account.from_key(key).address
    assert f"registered {address} for rev-terminal (custody device" in done.stdout
    with httpx.Client(base_url=served.url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {_token(client, 'rev-terminal')}"}
        held = client.get("/signing-key", headers=headers).json()
        assert (held["address"], held["custody"]) == (address, "device")
        # The command signed out after itself: the only session left is this test's.
        assert [s["current"] for s in client.get("/auth/sessions", headers=headers).json()] == [True]
    # The key never reached the server: not in the database, the logs or any other file it wrote.
    for path in served.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert key not in content, path
            assert key.hex().encode() not in content, path


def test_register_key_registers_an_existing_keystore_and_names_refusals(served: Served, tmp_path: Path) -> None:
    _staff(served, "rev-existing")
    keystore = tmp_path / "existing.json"
    existing = Account.create()
    keystore.write_text(json.dumps(Account.encrypt(existing.key, PASSPHRASE, iterations=1024)))
    wrong_password = _register(served, "rev-existing", tmp_path / "never.json", f"not the password\n{PASSPHRASE}\n")
    assert wrong_password.returncode == 1
    assert "error [UNAUTHORIZED] sign-in refused: wrong username or password" in wrong_password.stderr
    assert not (tmp_path / "never.json").exists()  # no key is made for a sign-in that failed
    wrong_passphrase = _register(served, "rev-existing", keystore, f"{PASSWORD}\nnot the passphrase\n")
    assert "error [WRONG_PASSPHRASE]" in wrong_passphrase.stderr
    done = _register(served, "rev-existing", keystore, f"{PASSWORD}\n{PASSPHRASE}\n")
    assert done.returncode == 0, done.stderr
    assert f"registered {existing.address} for rev-existing" in done.stdout
    assert "created" not in done.stdout
    _staff(served, "op-terminal", "operator")
    operator = _register(served, "op-terminal", tmp_path / "op.json", f"{PASSWORD}\n{PASSPHRASE}\n")
    assert "error [FORBIDDEN] key registration refused" in operator.stderr
    insecure = _hubao(served, "reviewer", "register-key", "--api", "http://hubao.example", "--username", "x")
    assert "error [INSECURE_API_URL]" in insecure.stderr
    for refused in (wrong_password, wrong_passphrase, operator, insecure):
        assert refused.returncode == 1
        assert "Traceback" not in refused.stderr


class _Server:
    """An API that hands out ``challenge`` whatever is asked (a server that is not what it says)."""

    def __init__(self, challenge: dict[str, Any]) -> None:
        self.challenge = challenge
        self.posted: list[str] = []

    def get(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        raise AssertionError(url)

    def post(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        self.posted.append(url)
        return httpx.Response(200, json={"typedData": self.challenge})


@pytest.mark.parametrize("kind", ["verdict", "another key"])
def test_device_signs_only_a_key_registration_for_its_own_key(kind: str) -> None:
    vector = VECTORS["vectors"][0]
    key = keccak(text="walk device")
    if kind == "verdict":
        challenge, code = {"types": {"Verdict": VERDICT_FIELDS}, "primaryType": "Verdict",
                           "domain": vector["domain"], "message": vector["verdict"]}, "BAD_TYPED_DATA"  # fmt: skip
    else:
        other = Account.create().address
        challenge = typed_data.key_registration_document(
            vector["domain"], account="rev", key=other, challenge=keccak(text="c"), expires_at=4102444800
        )
        code = "WRONG_KEY"
    server = _Server(challenge)
    with pytest.raises(InvalidInput) as refused:
        devices.register_key(server, "token", key)
    assert refused.value.code == code
    assert server.posted == ["/signing-key/challenge"]  # nothing signed was sent
