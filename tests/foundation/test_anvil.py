"""anvil supervision: loopback only, persisted state, recovery from a damaged state file (A2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backend.chain.anvil import AnvilNode, rpc_call
from backend.errors import ChainError


def _block(node: AnvilNode) -> int:
    return int(str(rpc_call(node.url, "eth_blockNumber")), 16)


def test_anvil_binds_loopback_and_answers(anvil: AnvilNode) -> None:
    assert anvil.url.startswith("http://127.0.0.1:")
    command = anvil.command()
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert int(str(rpc_call(anvil.url, "eth_chainId")), 16) == 31337


def test_graceful_stop_persists_chain_state(tmp_path: Path, anvil_factory: Callable[..., AnvilNode]) -> None:
    node = anvil_factory(state_path=tmp_path / "state.json")
    for _ in range(3):
        rpc_call(node.url, "evm_mine")
    node.stop()
    assert (tmp_path / "state.json").exists()
    node.start()
    assert _block(node) == 3


def test_sigkill_loses_blocks_since_last_dump(tmp_path: Path, anvil_factory: Callable[..., AnvilNode]) -> None:
    node = anvil_factory(state_path=tmp_path / "state.json", state_interval=3600)
    rpc_call(node.url, "evm_mine")
    node.stop()
    node.start()
    rpc_call(node.url, "evm_mine")
    rpc_call(node.url, "evm_mine")
    node.kill()
    node.start()
    assert _block(node) == 1  # the two blocks after the last dump are gone: treat it as a reorg


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.97, 0.999])
def test_truncated_state_file_restarts_from_last_good_generation(
    tmp_path: Path, anvil_factory: Callable[..., AnvilNode], fraction: float
) -> None:
    state = tmp_path / "state.json"
    node = anvil_factory(state_path=state, state_interval=3600)
    rpc_call(node.url, "evm_mine")
    rpc_call(node.url, "evm_mine")
    node.stop()  # writes state.json and remembers it as the good generation
    good = state.read_bytes()
    state.write_bytes(good[: int(len(good) * fraction)])
    node.start()
    assert _block(node) == 2


def test_start_refuses_a_port_in_use(anvil: AnvilNode) -> None:
    with pytest.raises(ChainError, match="already in use"):
        AnvilNode(port=anvil.port).start()


def test_dump_state_writes_a_loadable_good_generation(tmp_path: Path, anvil_factory: Callable[..., AnvilNode]) -> None:
    state = tmp_path / "state.json"
    node = anvil_factory(state_path=state, state_interval=3600)
    rpc_call(node.url, "evm_mine")
    node.dump_state()
    node.kill()
    state.write_bytes(b'{"block": {"num')  # crash in the middle of anvil's own dump
    node.start()
    assert _block(node) == 1
