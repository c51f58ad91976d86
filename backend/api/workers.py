"""Serving the API from several worker processes (``HUBAO_API_WORKERS`` > 1).

One Python process uses one core (the GIL); filing a claim is CPU-bound, so a busy API needs more
processes. The parent — after it has done what must happen once (migrations, deployment,
bootstrap, demo seed) — binds the port (``SO_REUSEPORT``, not listening: it holds the port and
fails early if it is taken) and supervises ``count`` workers started with the ``spawn`` method:
each is a fresh interpreter that inherits nothing but the address and the settings, builds its own
:class:`~backend.runtime.Runtime` (database engine, web3 session, evidence store) without
migrating, and runs uvicorn on a listener of its own in the port's ``SO_REUSEPORT`` group; the
kernel spreads new connections over the workers evenly. (A worker that dies drops the connections
still queued on its listener — clients see a reset; the others' queues are untouched.)

Background workers run in every worker process when ``HUBAO_ANCHORING`` is on; their database
leases let one act at a time. Each process has its own filing relay; the operator key's nonces
are allocated under a lock file in the data dir (``backend.chain.transactions``).

Supervision: a worker that exits while the parent runs is started again after a delay that
doubles with each worker that dies young (``RESTART_DELAY`` up to ``RESTART_DELAY_MAX``). SIGINT
or SIGTERM to the parent (Ctrl-C reaches the whole process group) stops every worker gracefully —
uvicorn finishes the requests in flight, the runtime closes — then the parent's own cleanup runs.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from fastapi import FastAPI

from backend.config import Settings
from backend.errors import ConfigError

log = logging.getLogger(__name__)

AppHook = Callable[[FastAPI], None]

# Delay before a dead worker is started again; doubled per consecutive early death, up to the max.
RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 30.0
# A worker that ran this long before dying was healthy: its replacement starts after the first delay.
HEALTHY_AFTER = 30.0
# How long stopping workers may take (uvicorn's graceful shutdown, then the runtime's) before SIGKILL.
STOP_TIMEOUT = 60.0


def _tcp_socket(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # accepted sockets inherit it from their listener (with proto 0, Nagle + delayed ACKs cost
    # ~40 ms per request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def ensure_port_free(host: str, port: int, setting: str = "HUBAO_API_PORT/HUBAO_API_HOST") -> None:
    """Refuse, before start-up does anything, a port another process listens on: ``hubao serve``
    migrated, reconciled and said "Hubao is up" before uvicorn failed to bind (found by the QA
    walk-through). A plain socket, without ``SO_REUSEPORT``: a group of another server's workers
    counts as in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
        probe.bind((host, port))
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}): free the port or set {setting}",
            code="API_PORT_UNAVAILABLE",
        ) from exc
    finally:
        probe.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """The parent's hold on the port: bound in its ``SO_REUSEPORT`` group but not listening (it is
    given no connection), so a port in use fails here, before any spawn, and stays ours while
    workers come and go. Each worker listens on a socket of its own (:func:`listening_socket`)."""
    sock = _tcp_socket(host)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}): free the port or set HUBAO_API_PORT/HUBAO_API_HOST",
            code="API_PORT_UNAVAILABLE",
        ) from exc
    return sock


def listening_socket(host: str, port: int) -> socket.socket:
    """A worker's own listener in the port's ``SO_REUSEPORT`` group: the kernel spreads new
    connections over the workers by connection hash. (One listener shared by every worker let
    whichever worker woke first accept a whole burst — asyncio accepts until the queue is empty:
    50 concurrent filings went 50/0 to one worker in a measured burst.)"""
    sock = _tcp_socket(host)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class _InterruptOnce:
    """Signal handler: KeyboardInterrupt for the first signal, nothing for the ones after it (a
    Ctrl-C to the process group and the parent's SIGTERM both reach a worker)."""

    def __init__(self) -> None:
        self.raised = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        if not self.raised:
            self.raised = True
            raise KeyboardInterrupt


def worker_main(settings: Settings, address: tuple[str, int], prepare: AppHook | None = None) -> None:
    """One worker process: its own runtime, uvicorn on its own listener on ``address`` (the
    port's ``SO_REUSEPORT`` group), until SIGINT/SIGTERM.
    ``prepare`` (a module-level function: it crosses the spawn by reference) may add to the app
    before it serves — benchmarks mount their baseline route that way."""
    from backend.api.app import create_app
    from backend.api.server import GracefulServer, protocol_class, uvicorn_options
    from backend.logs import configure_logging
    from backend.runtime import Runtime, build_runtime

    interrupt = _InterruptOnce()
    runtime: Runtime | None = None
    try:
        signal.signal(signal.SIGTERM, interrupt)
        signal.signal(signal.SIGINT, interrupt)  # ignored until here (Supervisor._start)
        configure_logging(settings.log_level, settings.log_json)
        runtime = build_runtime(settings, migrate_db=False)
        if settings.anchoring:
            runtime.start_background()
        app = create_app(settings, runtime)
        if prepare is not None:
            prepare(app)
        config = uvicorn.Config(app, log_level="warning", http=protocol_class(settings), **uvicorn_options(settings))
        listener = listening_socket(*address)
        try:
            GracefulServer(config).run(sockets=[listener])
        finally:
            listener.close()
    except KeyboardInterrupt:
        pass
    except Exception:
        log.exception("API worker failed")
        raise SystemExit(1) from None
    finally:
        interrupt.raised = True  # a later signal must not cut the cleanup short
        if runtime is not None:
            runtime.close()


class Supervisor:
    """Starts ``count`` workers on the port ``sock`` holds and keeps them running until SIGINT or SIGTERM.

    The parent's signal handlers only set a flag and wake the loop (a pipe): no exception can
    land between starting a worker and recording it.
    """

    def __init__(self, settings: Settings, sock: socket.socket, count: int, prepare: AppHook | None = None) -> None:
        self.settings = settings
        self.address: tuple[str, int] = sock.getsockname()[:2]
        self.count = count
        self.prepare = prepare
        self._context = multiprocessing.get_context("spawn")
        self.workers: list[BaseProcess | None] = [None] * count
        self._started = [0.0] * count
        self._early_deaths = [0] * count
        self._restart_at: dict[int, float] = {}
        self._stop_requested = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def _request_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stop_requested = True
        with contextlib.suppress(OSError):  # a full pipe already wakes the loop
            os.write(self._wake_w, b"x")

    def _start(self, slot: int) -> None:
        process = self._context.Process(
            target=worker_main, args=(self.settings, self.address, self.prepare), name=f"hubao-api-{slot}", daemon=False
        )
        # SIGINT ignored while starting: the child inherits that across exec and keeps it until
        # worker_main installs its handlers, so a Ctrl-C while it imports ends no import with a
        # traceback (the parent's SIGTERM stops it). Here, a Ctrl-C within start() itself (a few
        # milliseconds) is lost.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        self.workers[slot] = process
        self._started[slot] = time.monotonic()

    def run(self) -> None:
        """Start the workers, restart the ones that die, stop them all on SIGINT/SIGTERM."""
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._request_stop) for sig in signals}
        try:
            for slot in range(self.count):
                if not self._stop_requested:
                    self._start(slot)
            while not self._stop_requested:
                self._supervise_once()
        finally:
            for sig in signals:
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
            try:
                self._stop()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
                os.close(self._wake_r)
                os.close(self._wake_w)

    def _supervise_once(self) -> None:
        now = time.monotonic()
        for slot, when in list(self._restart_at.items()):
            if when <= now:
                del self._restart_at[slot]
                self._start(slot)
        timeout = max(0.0, min(self._restart_at.values()) - now) if self._restart_at else None
        alive = [p for p in self.workers if p is not None]
        ready = wait([self._wake_r, *(p.sentinel for p in alive)], timeout)
        if self._wake_r in ready:
            os.read(self._wake_r, 64)
        for slot, process in enumerate(self.workers):
            if process is not None and process.sentinel in ready and not self._stop_requested:
                self._schedule_restart(slot, process)

    def _schedule_restart(self, slot: int, process: BaseProcess) -> None:
        process.join()
        lived = time.monotonic() - self._started[slot]
        self._early_deaths[slot] = 0 if lived >= HEALTHY_AFTER else self._early_deaths[slot] + 1
        delay = min(RESTART_DELAY_MAX, RESTART_DELAY * 2 ** max(0, self._early_deaths[slot] - 1))
        log.warning(
            "API worker %d (pid %s) exited with code %s after %.0f s; restarting it in %.1f s",
            slot,
            process.pid,
            process.exitcode,
            lived,
            delay,
        )
        process.close()
        self.workers[slot] = None
        self._restart_at[slot] = time.monotonic() + delay

    def _stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every worker and wait for them (SIGKILL after ``timeout``)."""
        self._restart_at.clear()
        running = [p for p in self.workers if p is not None]
        for process in running:
            if process.exitcode is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                log.warning("API worker (pid %s) did not stop in %.0f s; killed", process.pid, timeout)
                process.kill()
                process.join()
            process.close()
        self.workers = [None] * self.count


def serve_workers(settings: Settings, sock: socket.socket, count: int) -> None:
    """Run ``count`` supervised workers on the port ``sock`` holds; once SIGINT/SIGTERM has stopped them all,
    raises KeyboardInterrupt (the CLI's "stopped", then the parent's own cleanup)."""
    Supervisor(settings, sock, count).run()
    raise KeyboardInterrupt
