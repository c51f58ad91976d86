"""Start-up refuses a node that cannot run the contracts, with one line saying why; the committed
artifacts are compiled for an EVM every supported node runs (shanghai: ganache 7.9.2's newest); a
node that mines only on demand is detected; the demo refuses a node that is not a development node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend import demo
from backend.chain import compiler
from backend.chain.anvil import AnvilNode, free_port
from backend.chain.client import connect
from backend.chain.deploy import SUITE
from backend.chain.node import (
    NodeUnsupported,
    artifacts_evm_version,
    check_evm,
    mines_on_its_own,
    on_demand_mining_message,
)
from backend.config import Settings
from backend.errors import ChainError, ConfigError
from backend.runtime import build_runtime
from tests.chains.nodes import Node, start_node

pytestmark = pytest.mark.xdist_group("chains-ganache")


@pytest.fixture(scope="module")
def ganache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = start_node("ganache", tmp_path_factory.mktemp("ganache"))
    yield node
    node.kill()


def test_committed_artifacts_target_shanghai() -> None:
    artifacts = [compiler.load_artifact(spec.artifact_name) for spec in SUITE]
    assert artifacts_evm_version(artifacts) == "shanghai"
    assert compiler.COMPILER_SETTINGS["evmVersion"] == "shanghai"
    foundry = (compiler.REPO_ROOT / "contracts" / "foundry.toml").read_text()
    assert 'evm_version = "shanghai"' in foundry  # forge tests the bytecode the server deploys


def test_ganache_runs_shanghai_and_refuses_cancun_naming_the_opcode(ganache: Node) -> None:
    w3 = connect(ganache.url)
    check_evm(w3, "shanghai", ganache.url)
    with pytest.raises(NodeUnsupported) as refused:
        check_evm(w3, "cancun", ganache.url)
    message = str(refused.value)
    assert "\n" not in message
    assert "compiled for evmVersion cancun and the node rejects MCOPY (a cancun opcode): invalid opcode" in message


def test_start_up_refuses_the_node_before_deploying(
    ganache: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = compiler.load_artifact

    def cancun(name: str, layout: Any = None) -> dict[str, Any]:
        artifact = real(name, layout)
        settings = {**artifact["provenance"]["settings"], "evmVersion": "cancun"}
        return {**artifact, "provenance": {**artifact["provenance"], "settings": settings}}

    monkeypatch.setattr("backend.runtime.load_artifact", cancun)
    settings = Settings(rpc_url=ganache.url, data_dir=tmp_path / "data", anchoring=False, log_level="WARNING")
    with pytest.raises(NodeUnsupported, match="rejects MCOPY"):
        build_runtime(settings)
    assert not (tmp_path / "data" / "deployment.json").exists()


def test_a_node_that_mines_only_on_demand_is_detected(tmp_path: Path) -> None:
    on_demand = AnvilNode(log_path=tmp_path / "a.log").start()  # automine: a block per transaction only
    ticking = AnvilNode(log_path=tmp_path / "b.log", block_time=0.5).start()
    try:
        assert mines_on_its_own(connect(on_demand.url), wait=1.5) is False
        assert mines_on_its_own(connect(ticking.url), wait=1.5) is True
    finally:
        on_demand.kill()
        ticking.kill()
    message = on_demand_mining_message("http://127.0.0.1:8545", 2, 3.0)
    assert "mines only on demand" in message
    assert "HUBAO_CONFIRMATIONS=0" in message
    assert "ganache --miner.blockTime 1" in message


def test_demo_refuses_a_node_that_cannot_move_its_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, method: str, params: list[object] | None = None, timeout: float = 5.0) -> object:
        raise ChainError(f"{method} failed: the method {method} does not exist/is not available", code="RPC_ERROR")

    monkeypatch.setattr(demo, "rpc_call", refuse)
    with pytest.raises(ConfigError) as refused:
        demo.check_demo_chain("https://rpc.example")
    assert refused.value.code == "DEMO_NEEDS_DEV_CHAIN"
    assert "only development nodes (anvil, ganache, hardhat) allow" in refused.value.message


def test_run_demo_on_a_configured_ganache_seeds_serves_and_names_on_demand_mining(
    ganache: Node, tmp_path: Path
) -> None:
    """``hubao run --demo`` with HUBAO_RPC_URL: the demo plan is seeded on that chain, /health is
    200 (ganache answered 503 with cancun code), and ganache's instamine is named at start-up."""
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBAO_")}
    env.update({"HUBAO_DATA_DIR": str(tmp_path), "HUBAO_API_PORT": str(api_port), "HUBAO_RPC_URL": ganache.url})
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "run", "--demo"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        health = _wait_health(api_port, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert health["status"] == "ok", health
    assert "demo plan seeded" in out
    assert "mines only on demand" in out
    assert "Traceback" not in out


def _wait_health(port: int, proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            if response.status_code in (200, 503):
                body: dict[str, Any] = response.json()
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError("hubao run --demo did not answer /health")
