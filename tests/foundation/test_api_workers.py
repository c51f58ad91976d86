"""``hubao serve`` with ``HUBAO_API_WORKERS=2``: two worker processes answer on one port, a killed
worker is replaced, SIGTERM stops them all (exit code 0, no process left behind).

Which process answered a request is read from ``/proc`` (psutil): the worker holding the server
end of the request's connection. To make a given worker answer, the others are paused (SIGSTOP):
a paused process accepts nothing, so the connection goes to the one left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import pickle
import signal
import socket
import time
from collections.abc import Collection, Iterator
from pathlib import Path

import psutil
import pytest
from pydantic import SecretStr, ValidationError

from backend.api.workers import RESTART_DELAY, bind_socket, listening_socket
from backend.config import ANVIL_DEV_KEYS, Settings
from backend.errors import ConfigError
from tests.security.served import Served, start_served

pytestmark = pytest.mark.xdist_group("api-workers")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from start_served(tmp_path, {"HUBAO_API_WORKERS": "2"})


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    """The live worker processes (spawned by multiprocessing; not its resource tracker)."""
    workers = []
    for child in parent.children():
        with contextlib.suppress(psutil.ZombieProcess, psutil.NoSuchProcess):  # a killed one, not yet reaped
            if any("spawn_main" in part for part in child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                workers.append(child)
    return workers


def _wait_for_workers(parent: psutil.Process, count: int, without: Collection[int] = ()) -> list[psutil.Process]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = [w for w in _workers(parent) if w.pid not in without]
        if len(workers) == count:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"not {count} workers: {[w.pid for w in _workers(parent)]}")


def _answered_by(port: int, workers: list[psutil.Process]) -> int:
    """GET /health on a fresh connection; the pid of the worker that holds its server end."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        assert response.status == 200, response.read()
        response.read()
        assert conn.sock is not None
        client_end = conn.sock.getsockname()
        owners = [
            w.pid for w in workers if any(tuple(c.raddr or ()) == client_end for c in w.net_connections(kind="tcp"))
        ]
        assert len(owners) == 1, owners
        return int(owners[0])
    finally:
        conn.close()


def _served_by_each(served: Served, workers: list[psutil.Process]) -> list[int]:
    """Fresh connections until every worker has answered one, or 60 s: each listens in the port's
    SO_REUSEPORT group once it has started (a replacement may still be importing when its process
    appears), and the kernel picks among the listeners by connection hash; the pids in the order
    of ``workers``."""
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while len(seen) < len(workers) and time.monotonic() < deadline:
        seen.add(_answered_by(served.port, workers))
    return [w.pid for w in workers if w.pid in seen]


def test_two_workers_answer_a_killed_one_is_replaced_and_sigterm_stops_all(served: Served) -> None:
    parent = psutil.Process(served.proc.pid)
    workers = _wait_for_workers(parent, 2)
    pids = [w.pid for w in workers]
    assert served.proc.pid not in pids
    assert _served_by_each(served, workers) == pids  # two processes, each answering on the one port

    killed = workers[0]
    os.kill(killed.pid, signal.SIGKILL)
    workers = _wait_for_workers(parent, 2, without={killed.pid})
    assert {w.pid for w in workers} - set(pids), "no new worker"
    assert sorted(_served_by_each(served, workers)) == sorted(w.pid for w in workers)

    log = _stop_cleanly(served, parent, [parent])
    assert f"API worker 0 (pid {killed.pid}) exited with code -9" in log
    assert f"restarting it in {RESTART_DELAY:.1f} s" in log


def test_ctrl_c_in_a_terminal_stops_every_process_cleanly(served: Served) -> None:
    """A terminal's Ctrl-C sends SIGINT to the whole process group: the parent and every worker."""
    parent = psutil.Process(served.proc.pid)
    _wait_for_workers(parent, 2)
    _stop_cleanly(served, parent, [parent, *parent.children(recursive=True)], signal.SIGINT)


def _stop_cleanly(
    served: Served, parent: psutil.Process, targets: list[psutil.Process], sig: signal.Signals = signal.SIGTERM
) -> str:
    """Send ``sig`` to ``targets``: the server exits 0, leaves no process and no traceback; its log."""
    descendants = parent.children(recursive=True)
    for target in targets:
        target.send_signal(sig)
    assert served.proc.wait(timeout=90) == 0
    _gone, alive = psutil.wait_procs(descendants, timeout=30)
    assert alive == [], f"left behind: {alive}"
    log = (served.data_dir.parent / "serve.log").read_text()
    assert "Traceback" not in log, log
    return log


def test_workers_get_the_settings_with_their_secrets() -> None:
    """A spawned worker receives the parent's settings pickled (multiprocessing's way to pass
    arguments): secrets keep their values, not a masked rendering."""
    settings = Settings(
        api_workers=2, deployer_key=SecretStr(ANVIL_DEV_KEYS[3]), jwt_secret=SecretStr("s3cret"), rpc_url="http://x:1"
    )
    copy = pickle.loads(pickle.dumps(settings))
    assert copy == settings
    assert copy.deployer_private_key() == ANVIL_DEV_KEYS[3]
    assert copy.jwt_secret is not None
    assert copy.jwt_secret.get_secret_value() == "s3cret"
    with pytest.raises(ValidationError):
        Settings(api_workers=0)


def test_a_port_in_use_is_one_config_error_before_any_worker_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}") as refused:
            bind_socket("127.0.0.1", port)
    assert refused.value.code == "API_PORT_UNAVAILABLE"


@pytest.mark.parametrize("command", [["serve"], ["evidence-store", "serve", "--port"]])
def test_serving_on_a_port_in_use_stops_before_anything_else(command: list[str], tmp_path: Path) -> None:
    """`hubao serve` on a port another host holds migrated, reconciled and said "Hubao is up" before
    uvicorn failed to bind; now it stops first, in one line, naming the setting (the chain URL here
    answers nothing: reaching it would have been another error)."""
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "HUBAO_DATA_DIR": str(tmp_path / "data"),
            "HUBAO_RPC_URL": "http://127.0.0.1:9",
            "HUBAO_API_PORT": str(port),
        }
        argv = [*command, str(port)] if command[-1] == "--port" else command
        done = subprocess.run(
            [sys.executable, "-m", "backend", *argv], capture_output=True, text=True, timeout=120, env=env, check=False
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "API_PORT_UNAVAILABLE" in done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "is up" not in done.stdout
    assert "Kubo-compatible RPC API on" not in done.stdout
    assert "CHAIN_UNAVAILABLE" not in done.stderr


def test_connections_accepted_on_a_worker_listener_have_nodelay() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it every response
    waits on Nagle and delayed ACKs (~40 ms a request measured by bench_api_workers)."""
    nodelay: list[int] = []

    async def serve_one() -> None:
        loop = asyncio.get_running_loop()
        accepted = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()
                accepted.set_result(None)

        listener = listening_socket("127.0.0.1", 0)
        server = await loop.create_server(Probe, sock=listener)
        async with server:
            _reader, writer = await asyncio.open_connection(*listener.getsockname())
            await asyncio.wait_for(accepted, 30)
            writer.close()

    asyncio.run(serve_one())
    assert nodelay == [1]
