"""`hubao run` (what `make run` starts): serves /health, stops cleanly, resumes the same chain."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from backend.chain.anvil import free_port


def _start(data_dir: Path, api_port: int, chain_port: int, *, own_group: bool = False) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBAO_")}
    env.update(
        {
            "HUBAO_DATA_DIR": str(data_dir),
            "HUBAO_API_PORT": str(api_port),
            "HUBAO_CHAIN_PORT": str(chain_port),
            "HUBAO_BLOCK_TIME": "0.5",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "backend", "run"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=own_group,
    )


def _wait_health(port: int, proc: subprocess.Popen[str], timeout: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            if response.status_code == 200:
                body: dict[str, object] = response.json()
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError("hubao run did not become healthy")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGINT, 130), out
    return out


def test_run_serves_health_and_resumes_same_chain_and_contracts(tmp_path: Path) -> None:
    api_port, chain_port = free_port(), free_port()
    first = _start(tmp_path, api_port, chain_port)
    try:
        health = _wait_health(api_port, first)
    finally:
        out = _stop(first)
    assert health["status"] == "ok"
    chain = health["chain"]
    assert isinstance(chain, dict)
    assert chain["chainId"] == 31337
    contracts = health["contracts"]
    assert isinstance(contracts, dict)
    address = contracts["EvidenceNotary"]["address"]
    assert "Traceback" not in out
    assert (tmp_path / "chain" / "state.json").exists()

    second = _start(tmp_path, api_port, chain_port)
    try:
        again = _wait_health(api_port, second)
    finally:
        out2 = _stop(second)
    assert again["contracts"]["EvidenceNotary"]["address"] == address  # type: ignore[index]
    assert again["chain"]["headBlock"] >= chain["headBlock"]  # type: ignore[index]
    assert "redeploying" not in out2
    assert "reusing deployment" in out2 or "deployed EvidenceNotary" not in out2


def test_run_redeploys_and_says_so_when_the_chain_was_reset(tmp_path: Path) -> None:
    api_port, chain_port = free_port(), free_port()
    first = _start(tmp_path, api_port, chain_port)
    try:
        _wait_health(api_port, first)
    finally:
        _stop(first)
    for state in (tmp_path / "chain").glob("state*.json"):
        state.unlink()
    second = _start(tmp_path, api_port, chain_port)
    try:
        health = _wait_health(api_port, second)
    finally:
        out = _stop(second)
    assert health["status"] == "ok"
    assert "redeploying contracts: the chain was reset (different genesis block)" in out


def test_sigterm_stops_run_cleanly_and_saves_the_chain(tmp_path: Path) -> None:
    """A service manager's SIGTERM must not orphan the spawned anvil (uvicorn re-raises it)."""
    api_port, chain_port = free_port(), free_port()
    proc = _start(tmp_path, api_port, chain_port)
    try:
        _wait_health(api_port, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert "anvil stopped; chain state saved" in out
    assert "Traceback" not in out
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", chain_port)) != 0, "anvil is still listening"


def test_ctrl_c_twice_to_the_whole_group_stops_cleanly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the whole process group (hubao and its anvil), and an impatient
    user presses it twice: no traceback, exit 0, the chain's state saved. (Stock uvicorn took the
    second signal for a forced exit and cancelled the app's shutdown mid-way, with a traceback.)"""
    api_port, chain_port = free_port(), free_port()
    proc = _start(tmp_path, api_port, chain_port, own_group=True)
    try:
        _wait_health(api_port, proc)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    assert "stopped" in out
    assert (tmp_path / "chain" / "state.json").exists()
