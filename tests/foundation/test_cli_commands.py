"""The CLI loads its command modules lazily, and its command list says what the modules register.

``backend.cli.COMMANDS`` lists every top-level command with its module and help line so that
``hubao --help`` needs no command module; these tests keep that list true and the start light.
Each case runs in a fresh interpreter: what a command imports is only visible from a clean start.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What a light command must not pull in (each costs tenths of a second to import).
HEAVY = (
    "web3",
    "sqlalchemy",
    "fastapi",
    "eth_abi",
    "eth_utils",
    "backend.runtime",
    "backend.services",
    "backend.audit",
)


def _python(code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
        # ``env``: the Hubao settings of the run, none inherited.
        env=None if env is None else {**{k: v for k, v in os.environ.items() if not k.startswith("HUBAO_")}, **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _loaded_after(argv: list[str], env: dict[str, str] | None = None, stdin: str = "") -> dict[str, object]:
    code = f"""
import json, sys
from typer.testing import CliRunner
from backend.cli import app
result = CliRunner().invoke(app, {argv!r}, input={stdin!r})
error = result.exception if result.exit_code == 1 else None
print(json.dumps({{"exit": result.exit_code, "output": result.output, "modules": sorted(sys.modules),
                  "code": getattr(error, "code", None)}}))
"""
    out: dict[str, object] = json.loads(_python(code, env).splitlines()[-1])
    return out


def _no_chain_env(tmp_path: Path) -> dict[str, str]:
    """A fresh data directory and a chain URL nothing answers on: commands that touch the chain fail."""
    with socket.socket() as probe:  # a free loopback port, closed again: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {
        "HUBAO_DATA_DIR": str(tmp_path / "data"),
        "HUBAO_RPC_URL": f"http://127.0.0.1:{port}",
        "HUBAO_LOG_LEVEL": "WARNING",
    }


def test_commands_list_matches_what_each_module_registers() -> None:
    code = """
import json
import typer
from backend.cli import COMMANDS, app, load_command
rows = {}
for name, entry in COMMANDS.items():
    command = load_command(name)
    rows[name] = {"help": command.help, "wanted": entry.help}
registered = list(typer.main.get_command(app).commands)
print(json.dumps({"rows": rows, "registered": registered, "listed": list(COMMANDS)}))
"""
    result = json.loads(_python(code).splitlines()[-1])
    assert sorted(result["registered"]) == sorted(result["listed"])
    for name, row in result["rows"].items():
        assert row["help"] == row["wanted"], name


def test_help_lists_every_command_without_loading_any() -> None:
    from backend.cli import COMMANDS

    result = _loaded_after(["--help"])
    assert result["exit"] == 0
    output = str(result["output"])
    for name in COMMANDS:
        assert f" {name} " in output, name
    modules = result["modules"]
    assert isinstance(modules, list)
    loaded = [m for m in modules if m.startswith("backend.cli.")]
    assert loaded == []


def test_cid_loads_only_the_cid_code(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    result = _loaded_after(["cid", str(empty)])
    assert result["exit"] == 0
    assert str(result["output"]).strip() == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    modules = result["modules"]
    assert isinstance(modules, list)
    assert [m for m in modules if m.startswith("backend.cli.")] == ["backend.cli.cid"]
    assert [m for m in modules if m.startswith(HEAVY)] == []
    assert "evidence_store.kubo" not in modules


def test_receipt_verify_offline_loads_no_chain_database_or_abi_code(tmp_path: Path) -> None:
    vectors = json.loads((REPO / "tests" / "vectors" / "receipt_evidence.json").read_text(encoding="utf-8"))
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(vectors["receipt"]), encoding="utf-8")
    result = _loaded_after(["receipt", "verify", str(receipt)])
    assert result["exit"] == 0
    assert "receipt verified" in str(result["output"])
    modules = result["modules"]
    assert isinstance(modules, list)
    assert [m for m in modules if m.startswith(HEAVY)] == []


def test_accounts_create_needs_only_the_database(tmp_path: Path) -> None:
    """A login row needs the database and the password hasher: no chain, keyring or evidence store."""
    env = _no_chain_env(tmp_path)
    result = _loaded_after(["accounts", "create", "walk-reviewer", "--role", "reviewer"], env, "pass-word-123\n")
    assert result["exit"] == 0, result
    assert "created reviewer walk-reviewer" in str(result["output"])
    assert "hubao reviewer register-key --api URL --username walk-reviewer" in str(result["output"])  # what next
    modules = result["modules"]
    assert isinstance(modules, list)
    assert [m for m in modules if m.startswith(("web3", "eth_account", "backend.runtime", "evidence_store"))] == []
    member = ["accounts", "create", "walk-member", "--role", "member", "--password", "pass-word-123"]
    assert _loaded_after(member, env)["exit"] == 0
    # The same refusals as before, with their codes.
    for argv, code in (
        (["accounts", "create", "WALK-member", "--role", "member", "--password", "pass-word-123"], "USERNAME_TAKEN"),
        (["accounts", "create", "walk-short", "--role", "member", "--password", "short"], "WEAK_PASSWORD"),
        (["accounts", "create", "bad name", "--role", "member", "--password", "pass-word-123"], "INVALID_USERNAME"),
        (["accounts", "create", "walk-king", "--role", "king", "--password", "pass-word-123"], "INVALID_ROLE"),
    ):
        refused = _loaded_after(argv, env)
        assert (refused["exit"], refused["code"]) == (1, code), argv


def test_claims_list_access_log_and_anchor_status_need_only_the_database(tmp_path: Path) -> None:
    env = _no_chain_env(tmp_path)
    status = _loaded_after(["anchor", "status"], env)
    assert status["exit"] == 0, status
    assert "backlog: 0 items" in str(status["output"])
    listed = _loaded_after(["claims", "list"], env)
    assert listed["exit"] == 0, listed
    assert "on-chain id" in str(listed["output"])
    audit = _loaded_after(["claims", "verify-access-log"], env)
    assert audit["exit"] == 0, audit
    assert "access log intact" in str(audit["output"])
    modules = audit["modules"]
    assert isinstance(modules, list)
    assert "backend.runtime" not in modules
