"""Supervision of a local anvil node (the embedded chain of ``make run`` and of the tests).

anvil persists its chain with ``--state FILE``: it writes the file on SIGTERM/SIGINT and every
``--state-interval`` seconds, *not* atomically, so a crash may leave a truncated file that anvil
refuses to load, and ``kill -9`` loses every block since the last dump (RELIABILITY.md A1/A2).
The supervisor therefore keeps the last state that loaded successfully as a separate "good
generation" (written temp → fsync → rename) and falls back to it when the live file is unreadable.
Callers must treat any anvil restart as a possible reorg of unknown depth.

A node with a state file also writes ``<state>.pid`` beside it (pid, port, state file). A runner
killed with ``kill -9`` used to leave its anvil running, holding the port and writing the state
file; the next start now recognises that leftover — by the pid file, or by a process whose command
line names the same state file — and stops it with SIGTERM (anvil then saves its state) before
starting its own, so two chains never run on one state file. With ``die_with_parent`` (the runner
behind ``make run``), anvil also receives SIGTERM when the process that started it dies (Linux
``PR_SET_PDEATHSIG``). A port held by anything else is refused with a message naming the process.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from backend.config import REPO_ROOT
from backend.errors import ChainError, ChainUnavailable

log = logging.getLogger(__name__)

# After SIGKILL, how long to wait for the kernel to finish a process off (it never takes long, but
# a loaded machine is slow); and, once a leftover is gone, for its port to accept a new listener.
_KILL_GRACE = 5.0
_PORT_RELEASE = 5.0

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def anvil_binary(root: Path = REPO_ROOT) -> Path:
    """The anvil executable shipped by npm ``@foundry-rs/anvil`` (or one on PATH)."""
    system = platform.system().lower()
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    candidate = root / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if candidate.is_file():
        return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ChainError("anvil is not installed: run `npm ci` (make setup) first", code="ANVIL_MISSING")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def rpc_call(url: str, method: str, params: list[object] | None = None, timeout: float = 5.0) -> object:
    """One raw JSON-RPC call (used before web3 is set up, and for anvil_* methods)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    try:
        response = httpx.post(url, json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ChainUnavailable(f"cannot reach the chain at {url}: {exc.__class__.__name__}") from exc
    payload = response.json()
    if "error" in payload:
        raise ChainError(f"{method} failed: {payload['error'].get('message')}", code="RPC_ERROR")
    return payload.get("result")


@dataclass
class AnvilNode:
    """One anvil process on 127.0.0.1, optionally persisting its state in ``state_path``."""

    port: int = field(default_factory=free_port)
    chain_id: int = 31337
    state_path: Path | None = None
    state_interval: int = 5
    block_time: float | None = None
    extra_args: list[str] = field(default_factory=list)
    log_path: Path | None = None
    binary: Path = field(default_factory=anvil_binary)
    # Linux: anvil gets SIGTERM when the thread that started it dies (the runner; not the tests,
    # whose fixtures may start nodes from short-lived threads).
    die_with_parent: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_file: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_path(self) -> Path | None:
        return None if self.state_path is None else self.state_path.with_suffix(".pid")

    @property
    def good_state_path(self) -> Path | None:
        return None if self.state_path is None else self.state_path.with_suffix(".good.json")

    def command(self) -> list[str]:
        cmd = [
            str(self.binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--silent",
        ]
        if self.state_path is not None:
            cmd += ["--state", str(self.state_path), "--state-interval", str(self.state_interval)]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        return cmd + self.extra_args

    def start(self, timeout: float = 30.0) -> AnvilNode:
        """Start anvil and wait until it answers JSON-RPC; fall back to the last good state."""
        if self.process is not None and self.process.poll() is None:
            return self
        self._stop_leftover()
        if _port_in_use(self.port):
            raise ChainError(_port_message(self.port), code="CHAIN_PORT_IN_USE")
        self._prepare_state()
        self._spawn()
        try:
            self._wait_ready(timeout)
        except ChainError:
            if not self._restore_good_state():
                raise
            log.warning("anvil refused its state file; restarted from the last good generation")
            self._spawn()
            self._wait_ready(timeout)
        self._remember_good_state()
        return self

    def _spawn(self) -> None:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("ab")
        out = self._log_file if self._log_file is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        self._write_pid_file()

    def _write_pid_file(self) -> None:
        pid_path = self.pid_path
        if pid_path is None or self.process is None or self.state_path is None:
            return
        record = {"pid": self.process.pid, "port": self.port, "state": str(self.state_path.resolve())}
        _atomic_write(pid_path, json.dumps(record).encode())

    def _remove_pid_file(self) -> None:
        pid_path = self.pid_path
        if pid_path is not None:
            pid_path.unlink(missing_ok=True)

    def _stop_leftover(self, timeout: float = 15.0) -> None:
        """Stop an anvil an earlier, crashed run left on this state file (SIGTERM: it saves its state)."""
        if self.state_path is None:
            return
        state = str(self.state_path.resolve())
        pids = set(_anvils_on_state(state))
        recorded = _read_pid_file(self.pid_path)
        if recorded is not None and _is_anvil_on(recorded, state):
            pids.add(recorded)
        for pid in sorted(pids):
            log.warning(
                "stopping the anvil (pid %d) a previous run left on this data dir; the chain state is kept", pid
            )
            _terminate(pid, timeout)
        if pids:
            # The leftover usually listened on the port we are about to take: a refusal now would
            # be a race with its exit, not a foreign holder.
            _wait_port_free(self.port, _PORT_RELEASE)
        self._remove_pid_file()

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ChainError(
                    f"anvil exited with code {self.process.returncode} during start-up",
                    code="ANVIL_START_FAILED",
                )
            try:
                rpc_call(self.url, "eth_chainId", timeout=1.0)
                return
            except ChainUnavailable:
                time.sleep(0.05)
        self.kill()
        raise ChainError(f"anvil did not answer on {self.url} within {timeout:.0f} s", code="ANVIL_START_FAILED")

    def _prepare_state(self) -> None:
        """Replace an unreadable live state file by the last good generation before anvil sees it."""
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        if self.state_path.exists() and not _is_json(self.state_path):
            log.warning("chain state file %s is damaged (interrupted dump?)", self.state_path)
            if not self._restore_good_state():
                damaged = self.state_path.with_suffix(".damaged.json")
                self.state_path.replace(damaged)
                log.warning("no good state generation: starting a fresh chain (damaged file kept as %s)", damaged.name)

    def _restore_good_state(self) -> bool:
        good = self.good_state_path
        if self.state_path is None or good is None or not good.exists():
            return False
        self.process = None
        _atomic_copy(good, self.state_path)
        return True

    def _remember_good_state(self) -> None:
        good = self.good_state_path
        if self.state_path is not None and good is not None and self.state_path.exists() and _is_json(self.state_path):
            _atomic_copy(self.state_path, good)

    def dump_state(self) -> None:
        """Ask anvil for its state now and store it as the good generation (temp → fsync → rename)."""
        good = self.good_state_path
        if good is None:
            return
        state = rpc_call(self.url, "anvil_dumpState", timeout=30.0)
        if not isinstance(state, str):
            raise ChainError("anvil_dumpState returned no state", code="RPC_ERROR")
        raw = bytes.fromhex(state.removeprefix("0x"))
        # anvil_dumpState returns gzip'd JSON; --state loads plain JSON.
        _atomic_write(good, gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop: SIGTERM makes anvil write its state file; SIGKILL after ``timeout``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close()
        self._remove_pid_file()
        self._remember_good_state()

    def kill(self) -> None:
        """Crash: SIGKILL, losing everything since the last state dump."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()
        self._remove_pid_file()

    def _close(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.process = None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_anvil_on(pid: int, state: str) -> bool:
    """Whether ``pid`` is an anvil whose ``--state`` is ``state`` (resolved path)."""
    args = _cmdline(pid)
    if not args or Path(args[0]).name != "anvil" or "--state" not in args:
        return False
    named = args[args.index("--state") + 1] if args.index("--state") + 1 < len(args) else ""
    try:
        return str(Path(named).resolve()) == state
    except OSError:
        return False


def _anvils_on_state(state: str) -> list[int]:
    """Every running anvil whose state file is ``state`` (Linux ``/proc``; none elsewhere)."""
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and _is_anvil_on(int(entry.name), state):
            found.append(int(entry.name))
    return found


def _read_pid_file(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    """Whether any thread of ``pid`` still runs.

    A zombie thread-group leader does not mean the process is gone: when a multi-threaded process
    (anvil) exits, its leader thread can finish first and show as a zombie while the other threads
    are still tearing down, and those still hold the process's files (its listening socket among
    them). A thread leaves ``/proc/<pid>/task`` only after it has released them.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not Path("/proc").is_dir():
        return True  # no way to look at the threads: the signal reached a process, so it runs
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return False
    except OSError:
        return True
    for thread in threads:
        try:
            state = (thread / "stat").read_text().rsplit(") ", 1)[1][:1]
        except (OSError, IndexError):
            continue  # the thread is gone (or going) meanwhile
        if state not in ("Z", "X"):
            return True
    return False


def _wait_gone(pid: int, deadline: float) -> bool:
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM ``pid`` and return once every thread of it has exited; SIGKILL after ``timeout``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _wait_gone(pid, time.monotonic() + timeout):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, time.monotonic() + _KILL_GRACE):
        log.warning("the anvil (pid %d) survived SIGKILL for %.0f s", pid, _KILL_GRACE)


def _wait_port_free(port: int, timeout: float) -> None:
    """Poll until nothing listens on ``port`` any more, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while _port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def _listener_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` (Linux ``/proc``), or None when it cannot be told."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


def _port_message(port: int) -> str:
    pid = _listener_pid(port)
    held = "something"
    if pid is not None:
        args = _cmdline(pid)
        held = f"pid {pid} ({' '.join(args)[:160] or 'unknown command'})"
    return (
        f"port {port} on 127.0.0.1 is already in use, held by {held}, which is not this data dir's chain: stop it "
        f"({'kill ' + str(pid) if pid is not None else 'see `ss -ltnp`'}), or set HUBAO_CHAIN_PORT to start "
        "this data dir's chain on another port"
    )


def _is_json(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            json.load(handle)
        return True
    except (OSError, ValueError):
        return False


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def _atomic_copy(src: Path, dst: Path) -> None:
    _atomic_write(dst, src.read_bytes())
