"""Bad configuration stops start-up with one clear line (exit 1, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.chain.anvil import AnvilNode, free_port

OWN_KEYS = {"HUBAO_DEPLOYER_KEY": "0x" + "11" * 32, "HUBAO_NOTARY_KEY": "0x" + "22" * 32}


def _hubao(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HUBAO_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], env=full_env, cwd=cwd, text=True, capture_output=True, timeout=120
    )


def _one_line_error(result: subprocess.CompletedProcess[str], code: str, fragment: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    errors = [line for line in lines if line.startswith("error [")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error [{code}]")
    assert fragment in errors[0]


def test_unreachable_rpc_url_stops_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    result = _hubao(
        ["deploy"], {"HUBAO_RPC_URL": f"http://127.0.0.1:{port}", "HUBAO_DATA_DIR": str(tmp_path)}, tmp_path
    )
    _one_line_error(result, "CHAIN_UNAVAILABLE", f"cannot reach the chain at http://127.0.0.1:{port}")


def test_dev_key_on_foreign_chain_id_is_refused(tmp_path: Path, anvil_factory: Callable[..., AnvilNode]) -> None:
    node = anvil_factory(chain_id=31338)
    result = _hubao(["deploy"], {"HUBAO_RPC_URL": node.url, "HUBAO_DATA_DIR": str(tmp_path)}, tmp_path)
    _one_line_error(result, "DEV_KEY_ON_FOREIGN_CHAIN", "refused on chain id 31338")


def test_unwritable_data_dir_stops_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = _hubao(["migrate"], {"HUBAO_DATA_DIR": str(blocker / "data")}, tmp_path)
    _one_line_error(result, "DATA_DIR_NOT_WRITABLE", "set HUBAO_DATA_DIR to a writable path")


@pytest.mark.parametrize("url", ["not a url", "mysql://x@127.0.0.1/db"])
def test_malformed_database_url_stops_with_one_line(tmp_path: Path, url: str) -> None:
    result = _hubao(["migrate"], {"HUBAO_DATABASE_URL": url, "HUBAO_DATA_DIR": str(tmp_path)}, tmp_path)
    _one_line_error(result, "INVALID_SETTING", "HUBAO_DATABASE_URL")


def test_malformed_rpc_url_stops_with_one_line(tmp_path: Path) -> None:
    result = _hubao(["deploy"], {"HUBAO_RPC_URL": "127.0.0.1:8545", "HUBAO_DATA_DIR": str(tmp_path)}, tmp_path)
    _one_line_error(result, "INVALID_SETTING", "HUBAO_RPC_URL")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"HUBAO_CHAIN_SENDER_LEASE": "0.2"}, "HUBAO_CHAIN_SENDER_LEASE"),
        ({"HUBAO_CHAIN_SENDER_POLL": "0"}, "HUBAO_CHAIN_SENDER_POLL"),
        # The sender could not renew its lease between two polls.
        ({"HUBAO_CHAIN_SENDER_POLL": "2"}, "must be at most a third of HUBAO_CHAIN_SENDER_LEASE"),
        # Callers would give up (and cancel their rows) while a dead sender's lease runs out.
        ({"HUBAO_CHAIN_SENDER_TIMEOUT": "6"}, "must be at least twice HUBAO_CHAIN_SENDER_LEASE"),
    ],
)
def test_silly_chain_sender_settings_stop_with_one_line(tmp_path: Path, env: dict[str, str], fragment: str) -> None:
    result = _hubao(["migrate"], {**env, "HUBAO_DATA_DIR": str(tmp_path)}, tmp_path)
    _one_line_error(result, "INVALID_SETTING", fragment)


@pytest.mark.parametrize(
    ("env", "code"),
    [
        ({}, "PROD_DEV_KEY"),
        ({**OWN_KEYS, "HUBAO_ADMIN_ADDRESS": "0x" + "ab" * 20}, "PROD_ANVIL_CHAIN"),
        # The admin is the operator (the address of key 0x11…): a leaked server key could hand out every role.
        ({**OWN_KEYS, "HUBAO_ADMIN_ADDRESS": "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"}, "PROD_ADMIN_IS_OPERATOR"),
    ],
)
def test_production_refuses_unsafe_configuration(
    tmp_path: Path, anvil: AnvilNode, env: dict[str, str], code: str
) -> None:
    result = _hubao(
        ["deploy"],
        {"HUBAO_ENV": "production", "HUBAO_RPC_URL": anvil.url, "HUBAO_DATA_DIR": str(tmp_path), **env},
        tmp_path,
    )
    _one_line_error(result, code, "production")


# Safe in every other respect, on a chain that is not anvil's 31337: each case adds one problem.
SAFE_PRODUCTION = {
    "HUBAO_ENV": "production",
    **OWN_KEYS,
    "HUBAO_ADMIN_ADDRESS": "0x" + "ab" * 20,
    "HUBAO_DOCS_ENABLED": "false",
    "HUBAO_RULE_SET_DELAY": "604800",
    "HUBAO_JWT_SECRET": "a production secret of at least 32 bytes",
    "HUBAO_KEYS_DIR": "/run/secrets/hubao-keks",
    "HUBAO_ROSTER_DELAY": "86400",
}


@pytest.mark.parametrize(
    ("env", "code", "fragment"),
    [
        ({"HUBAO_IPFS_API": "http://10.0.0.5:5001"}, "PROD_REMOTE_KUBO_RPC", "loopback"),
        ({"HUBAO_CORS_ORIGINS": '["*"]'}, "PROD_CORS_WILDCARD", "production"),
        ({"HUBAO_DOCS_ENABLED": "true"}, "PROD_DOCS_ENABLED", "production"),
    ],
)
def test_production_refuses_each_unsafe_service_setting(
    tmp_path: Path, anvil_factory: Callable[..., AnvilNode], env: dict[str, str], code: str, fragment: str
) -> None:
    """D14 as start-up refusals (the settings-level checks are in test_settings.py). The Kubo
    address is refused before anything connects to it."""
    node = anvil_factory(chain_id=31338)
    result = _hubao(
        ["deploy"], {**SAFE_PRODUCTION, "HUBAO_RPC_URL": node.url, "HUBAO_DATA_DIR": str(tmp_path), **env}, tmp_path
    )
    _one_line_error(result, code, fragment)
