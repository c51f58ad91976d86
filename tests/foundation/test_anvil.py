"""anvil supervision: loopback only, persisted state, recovery from a damaged state file (A2)."""

from __future__ import annotations

import contextlib
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.chain.anvil import AnvilNode, free_port, rpc_call
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


def test_start_names_the_process_holding_the_port(anvil: AnvilNode) -> None:
    with pytest.raises(ChainError) as refused:
        AnvilNode(port=anvil.port).start()
    assert refused.value.code == "CHAIN_PORT_IN_USE"
    assert anvil.process is not None
    message = refused.value.message
    assert f"pid {anvil.process.pid} (" in message
    assert "anvil" in message
    assert "not this data dir's chain" in message


def test_leftover_anvil_on_the_same_state_is_stopped_and_its_chain_resumed(tmp_path: Path) -> None:
    """A runner killed with kill -9 left its anvil running (port held, state file open): the next
    start stops it with SIGTERM (its state saved) and serves the same chain, never a second one."""
    import os

    state = tmp_path / "chain" / "state.json"
    orphan = AnvilNode(state_path=state, state_interval=60)
    orphan.start()
    assert orphan.process is not None
    orphan_pid, port = orphan.process.pid, orphan.port
    assert json.loads(state.with_suffix(".pid").read_text())["pid"] == orphan_pid
    for _ in range(4):
        rpc_call(orphan.url, "evm_mine")
    orphan.process = None  # the runner died without stopping it: nobody owns it any more
    successor = AnvilNode(port=port, state_path=state, state_interval=60)
    try:
        successor.start()
        assert successor.process is not None
        assert successor.process.pid != orphan_pid
        with contextlib.suppress(ChildProcessError):  # exited; reaped here (or already by subprocess)
            os.waitpid(orphan_pid, 0)
        with pytest.raises(ProcessLookupError):
            os.kill(orphan_pid, 0)
        assert _block(successor) >= 4  # the leftover saved its chain on SIGTERM; it goes on
        assert json.loads(state.with_suffix(".pid").read_text())["pid"] == successor.process.pid
    finally:
        successor.stop()
    assert not state.with_suffix(".pid").exists()


# A leftover whose leader thread exits first (a zombie) while another thread still holds the port
# for a while, as a multi-threaded anvil does when it shuts down on a loaded machine.
_SLOW_EXITING_LEFTOVER = """
import ctypes, os, platform, signal, socket, sys, threading, time
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen()
def linger():
    time.sleep(1.0)
    os._exit(0)
def on_term(*_):
    threading.Thread(target=linger).start()
    ctypes.CDLL(None).syscall({"x86_64": 60, "aarch64": 93}[platform.machine()], 0)  # exit(2): this thread only
signal.signal(signal.SIGTERM, on_term)
print("listening", flush=True)
while True:
    time.sleep(0.05)
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="raw exit(2) syscall number")
def test_leftover_whose_leader_thread_exits_first_is_waited_for_before_the_port_is_taken(tmp_path: Path) -> None:
    """The flaky 'port ... already in use, held by something': the leftover's leader thread had
    exited (a zombie, which used to count as gone) while its other threads still held the port."""
    import subprocess
    import sys

    state = (tmp_path / "chain" / "state.json").resolve()
    port = free_port()
    leftover = subprocess.Popen(
        ["anvil", "-c", _SLOW_EXITING_LEFTOVER, str(port), "--state", str(state)],
        executable=sys.executable,
        stdout=subprocess.PIPE,
    )
    successor = AnvilNode(port=port, state_path=state, state_interval=60)
    try:
        assert leftover.stdout is not None
        assert leftover.stdout.readline() == b"listening\n"
        successor.start()
        assert leftover.wait(timeout=5) == 0  # it went its own way (no SIGKILL), all threads done
        assert int(str(rpc_call(successor.url, "eth_chainId")), 16) == 31337
    finally:
        successor.stop()
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()


def test_anvil_started_by_the_runner_dies_with_it(tmp_path: Path) -> None:
    """die_with_parent: kill -9 of the process that started anvil takes anvil along (Linux)."""
    import os
    import signal
    import subprocess
    import sys

    script = (
        "import sys, time; from pathlib import Path; from backend.chain.anvil import AnvilNode;"
        f"n = AnvilNode(state_path=Path({str(tmp_path / 'state.json')!r}), die_with_parent=True).start();"
        "print(n.process.pid, flush=True); time.sleep(120)"
    )
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ.copy())
    assert runner.stdout is not None
    anvil_pid = int(runner.stdout.readline())
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    for _ in range(200):
        try:
            os.kill(anvil_pid, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{anvil_pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            break  # exited; its parent (init here) reaps it
        time.sleep(0.05)
    else:
        os.kill(anvil_pid, signal.SIGKILL)
        raise AssertionError("anvil outlived the runner that started it")


def test_the_recorded_genesis_is_recognised_after_restarts_that_add_genesis_blocks(
    tmp_path: Path, anvil_factory: Callable[..., AnvilNode]
) -> None:
    """anvil adds a fresh block 0 each time it loads its --state file and answers block 0 with any of
    them: after a few restarts of ``make run`` (a kill -9 among them) the deployment record's
    genesis was not block 0's hash any more and the whole suite was redeployed. The recorded
    genesis is still held under its hash, so it is the same chain; a made-up hash is not."""
    from backend.chain.client import http_web3
    from backend.chain.deploy import genesis_hash, has_genesis

    node = anvil_factory(state_path=tmp_path / "state.json")
    recorded = genesis_hash(http_web3(node.url))
    answered = {recorded}
    for _ in range(8):
        rpc_call(node.url, "evm_mine")
        node.stop()
        node.start()
        w3 = http_web3(node.url)
        answered.add(genesis_hash(w3))
        assert has_genesis(w3, recorded)
        if len(answered) > 1:
            break
    if len(answered) == 1:
        pytest.skip("this anvil kept answering block 0 with the first genesis over 8 restarts")
    assert not has_genesis(w3, "0x" + "ab" * 32)
