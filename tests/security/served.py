"""A real ``hubao serve`` in a subprocess (uvicorn on a free loopback port, against a test anvil)
and a raw-socket client that can send a body slowly or stop the moment the server answers.

The server gets its own TMPDIR and data dir, so what it writes to disk (store blocks, spool
files, database) is measured there and in ``/proc/<pid>/fd`` (unlinked-but-open files).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from backend.chain.anvil import AnvilNode, free_port

MiB = 1024 * 1024
# The test server's evidence limit: small, so a refused upload stays cheap, large enough to hold
# several store blocks (what an over-limit upload could leave behind).
UPLOAD_LIMIT = 2 * MiB
PASSWORD = "correct horse battery"


@dataclass
class Served:
    """A running server: its process, port, directories and a member's bearer token."""

    proc: subprocess.Popen[str]
    port: int
    data_dir: Path
    tmp_dir: Path
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def disk_bytes(self) -> int:
        """Bytes in the data dir and TMPDIR plus every unlinked file the server still holds open."""
        total = sum(_tree_bytes(d) for d in (self.data_dir, self.tmp_dir))
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd).endswith(" (deleted)"):
                    total += fd.stat().st_size
        return total


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).stat().st_blocks * 512
    return total


def start_served(root: Path, settings: dict[str, str] | None = None) -> Generator[Served, None, None]:
    """Anvil, then ``python -m backend serve`` against it; yields once /health answers 200.

    ``settings`` adds or overrides ``HUBAO_*`` variables of the server (benchmarks/bench_slowloris)."""
    node = AnvilNode(log_path=root / "anvil.log").start()
    data_dir, tmp_dir = root / "data", root / "tmp"
    tmp_dir.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBAO_")}
    env.update(
        {
            "HUBAO_RPC_URL": node.url,
            "HUBAO_DATA_DIR": str(data_dir),
            "HUBAO_API_PORT": str(port),
            "HUBAO_ANCHORING": "false",
            "HUBAO_CONFIRMATIONS": "0",
            "HUBAO_UPLOAD_MAX_BYTES": str(UPLOAD_LIMIT),
            "HUBAO_LOG_LEVEL": "WARNING",
            "TMPDIR": str(tmp_dir),
            "HUBAO_EVIDENCE_UPLOADS_PER_DAY": "100000",  # the limit tests and benchmarks upload a lot
            **(settings or {}),
        }
    )
    log = open(root / "serve.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([sys.executable, "-m", "backend", "serve"], env=env, text=True, stdout=log, stderr=log)
    try:
        _wait_healthy(port, proc, root / "serve.log")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            username = "uploader"
            assert client.post("/accounts/register", json={"username": username, "password": PASSWORD}).is_success
            token = client.post("/auth/token", data={"username": username, "password": PASSWORD}).json()
            joined = client.post(  # uploads are for members of the plan
                "/members/join",
                json={"birthDate": "1990-05-17", "creditScore": 700, "healthAnswers": [False, False, False]},
                headers={"Authorization": f"Bearer {token['access_token']}"},
            )
            assert joined.is_success, joined.text
        yield Served(proc, port, data_dir, tmp_dir, str(token["access_token"]))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        node.kill()


def _wait_healthy(port: int, proc: subprocess.Popen[str], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise AssertionError(f"hubao serve did not become healthy:\n{log.read_text()}")


# --- raw-socket client ----------------------------------------------------------------------------


@dataclass
class Refusal:
    """What a bounded upload saw: bytes the server's socket accepted, and its answer (if any)."""

    sent: int
    status: int | None
    body: dict[str, object] | None
    closed_early: bool


def connect(port: int, *, sndbuf: int = 64 * 1024) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small send buffer keeps "bytes accepted by the socket" close to "bytes the server read".
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.connect(("127.0.0.1", port))
    return sock


def bounded_upload(port: int, head: bytes, body: Iterator[bytes], *, give_up_after: int) -> Refusal:
    """Send ``head`` then ``body`` until the server answers or closes, or ``give_up_after`` bytes.

    The server's answer is read as soon as it is readable, before each further write, so a refusal
    sent mid-body is seen instead of being lost to the reset that follows the server's close.
    """
    sock = connect(port)
    sock.setblocking(False)
    sent = 0
    pending: bytes | None = head
    answer = b""
    closed_early = False
    try:
        while True:
            readable, writable, _ = select.select([sock], [sock] if pending is not None else [], [], 30)
            if not readable and not writable:
                raise AssertionError(f"server neither read nor answered for 30 s after {sent} bytes")
            if readable:
                break
            if not pending:
                pending = next(body, None)
                if pending is None:
                    continue
            if sent >= give_up_after:
                break
            try:
                n = sock.send(pending)
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.ECONNRESET):
                    closed_early = True
                    break
                if exc.errno == errno.EAGAIN:
                    continue
                raise
            sent += n
            pending = pending[n:]
        sock.setblocking(True)
        sock.settimeout(10)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
                if _complete(answer):
                    break
    finally:
        sock.close()
    status, parsed = _parse(answer)
    return Refusal(sent, status, parsed, closed_early)


def _complete(raw: bytes) -> bool:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(rest) >= int(value.strip())
    return False


def _parse(raw: bytes) -> tuple[int | None, dict[str, object] | None]:
    if not raw.startswith(b"HTTP/1."):
        return None, None
    head, _, rest = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        parsed = json.loads(rest)
    except ValueError:
        return status, None
    return status, parsed if isinstance(parsed, dict) else None
