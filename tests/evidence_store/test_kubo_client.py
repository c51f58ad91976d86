"""The Kubo RPC client against real HTTP on loopback: daemon down, hung daemon, version handling,
CID mismatch, dependency canary (RELIABILITY B1, B2, B6, B7)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ipfshttpclient
import pytest
import urllib3
from ipfshttpclient import exceptions as ipfs_exc
from starlette.requests import Request
from starlette.responses import Response

from evidence_store import CidMismatch, KuboStore, LocalBlockstore, PinType, StoreTimeout, StoreUnavailable
from evidence_store.kubo import to_multiaddr
from evidence_store.server import KuboRpcApp, _ndjson, running_server

VERSIONS = ["0.4.23", "0.7.0", "0.8.0", "0.22.0", "0.39.0", "0.43.1"]
HUBAO = Path(sys.executable).with_name("hubao")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("version", VERSIONS)
def test_client_logs_version_where_connect_refuses(
    tmp_path: Path, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    """B6: our Client()-based store works with every version; ipfshttpclient.connect() refuses >= 0.8.0."""
    with running_server(LocalBlockstore(tmp_path), version=version) as url:
        store = KuboStore(url, timeout=10)
        with caplog.at_level(logging.INFO, logger="evidence_store.kubo"):
            assert store.version() == version
        assert [r.kubo_version for r in caplog.records if hasattr(r, "kubo_version")] == [version]
        assert str(store.add([b"hello world\n"])) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
        if tuple(int(p) for p in version.split(".")) >= (0, 8, 0):
            with pytest.raises(ipfs_exc.VersionMismatch):
                ipfshttpclient.connect(to_multiaddr(url))
        else:
            ipfshttpclient.connect(to_multiaddr(url)).close()


def test_daemon_down_raises_store_unavailable() -> None:
    """B1: nothing listens -> StoreUnavailable at once (API: 503 EVIDENCE_STORE_UNAVAILABLE)."""
    store = KuboStore(f"http://127.0.0.1:{_free_port()}", timeout=5)
    with pytest.raises(StoreUnavailable) as info:
        store.add([b"evidence"])
    assert info.value.code == "EVIDENCE_STORE_UNAVAILABLE"
    with pytest.raises(StoreUnavailable):
        store.block_get("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")


def test_hung_peer_raises_store_timeout() -> None:
    """B2 (socket level): a listener that accepts the TCP handshake but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        store = KuboStore(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5)
        with pytest.raises(StoreTimeout) as info:
            store.version()
        assert info.value.code == "EVIDENCE_STORE_TIMEOUT"


@pytest.fixture
def served_subprocess(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    proc = subprocess.Popen(
        [str(HUBAO), "evidence-store", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HUBAO_LOG_LEVEL": "WARNING"},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.post(f"{url}/api/v0/version", timeout=1)
            break
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "serve exited") from None
            time.sleep(0.05)
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            proc.wait(timeout=10)


def test_stopped_daemon_times_out_then_recovers(served_subprocess: tuple[subprocess.Popen[bytes], str]) -> None:
    """B2: SIGSTOP the serving process mid-use -> StoreTimeout at the read timeout; SIGCONT -> works."""
    proc, url = served_subprocess
    store = KuboStore(url, timeout=1.0)
    root = store.add([b"before the stall"])
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(StoreTimeout):
            store.add([os.urandom(300_000)])
        with pytest.raises(StoreTimeout):
            list(store.cat(root))
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert b"".join(store.cat(root)) == b"before the stall"
    proc.terminate()
    proc.wait(timeout=10)
    with pytest.raises(StoreUnavailable):
        store.version()


class _LyingNode(KuboRpcApp):
    """A node that stores what it is given but reports the CID of something else."""

    async def add(self, request: Request) -> Response:
        await super().add(request)
        wrong = str(self.store.add([b"not what you sent"]))
        return _ndjson([{"Name": wrong, "Hash": wrong, "Size": "26"}])


def test_add_refuses_cid_mismatch_and_unpins_it(tmp_path: Path) -> None:
    blocks = LocalBlockstore(tmp_path)
    with running_server(blocks, app_class=_LyingNode) as url:
        store = KuboStore(url, timeout=10)
        with pytest.raises(CidMismatch, match="digest mismatch") as info:
            store.add([b"real evidence"])
        assert info.value.expected != info.value.actual
        assert info.value.actual not in {str(c) for c in blocks.pin_ls(PinType.RECURSIVE)}


def test_ipfshttpclient_paths_raise_no_new_warnings(tmp_path: Path) -> None:
    """B7 canary: only urllib3's known FutureWarning is tolerated; urllib3 stays below 3."""
    assert int(urllib3.__version__.split(".")[0]) < 3
    with running_server(LocalBlockstore(tmp_path)) as url, warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="The 'strict' parameter", category=FutureWarning)
        store = KuboStore(url, timeout=10)
        root = store.add([os.urandom(300_000)], cid_version=1)
        results: list[Any] = [
            store.version(),
            b"".join(store.cat(root)),
            store.block_stat(root),
            store.pin_ls(),
            store.import_car(store.export_car(root)),
            store.gc(),
        ]
        store.pin_rm(root)
        assert len(results) == 6


def test_urllib3_strict_warning_is_not_printed_to_users(tmp_path: Path) -> None:
    """`hubao audit` against a Kubo store printed urllib3's FutureWarning about ipfshttpclient's
    ``strict`` argument before its report (found by the QA walk-through)."""
    with running_server(LocalBlockstore(tmp_path)) as url:
        code = (
            f"from evidence_store import KuboStore; s = KuboStore({url!r}, timeout=10); "
            "root = s.add([b'evidence'], cid_version=1); print(b''.join(s.cat(root)).decode())"
        )
        done = subprocess.run(
            [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "evidence"
    assert "FutureWarning" not in done.stderr
