"""``hubao run`` (everything, embedded defaults) and ``hubao serve`` (API against a configured chain)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

import typer
import uvicorn

from backend.cli import app, console
from backend.config import Settings, load_settings
from backend.logs import configure_logging

if TYPE_CHECKING:
    from backend.runtime import Runtime


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_cleanly_on_sigterm() -> Iterator[None]:
    """SIGTERM stops like Ctrl-C, at any stage (also while deploying or seeding, before the server
    runs): cleanup runs (runtime closed, anvil's state saved) — SIGTERM's default action would end
    the process before any ``finally`` and orphan the spawned anvil. Once serving, the server
    (``GracefulServer``) takes both signals itself and ends with KeyboardInterrupt.
    """
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(settings: Settings, *, demo: bool = False, external: bool = False) -> None:
    from backend.api.app import create_app
    from backend.api.server import GracefulServer, protocol_class, uvicorn_options
    from backend.api.workers import ensure_port_free
    from backend.db.exclusive import exclusive
    from backend.runtime import build_runtime
    from backend.services.bootstrap import bootstrap

    ensure_port_free(settings.api_host, settings.api_port)
    runtime = build_runtime(settings)
    # The rule set in force is stored and anchored; on-chain roles match accounts. Hosts starting
    # together take turns: the next one finds it done and sends nothing.
    with exclusive(settings.sqlalchemy_url, "bootstrap"):
        bootstrap(runtime)
    if external:
        _say_if_mining_on_demand(runtime, settings)
    if demo:
        from backend.demo import DEMO_PASSWORD, check_demo_chain, seed_demo

        if external:
            check_demo_chain(settings.chain_url)
        if seed_demo(runtime):
            console.print("demo plan seeded")
        console.print(
            f"demo logins (password [bold]{DEMO_PASSWORD}[/]): operator, auditor, reviewer1-3, juror1-5, "
            "alice, bob, carol, dave, erin, frank",
            soft_wrap=True,
        )
    if settings.api_workers > 1:
        _serve_workers(settings, runtime)
        return
    if settings.anchoring:
        runtime.start_background()
    _say_up(settings)
    config = uvicorn.Config(
        create_app(settings, runtime),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        http=protocol_class(settings),
        **uvicorn_options(settings),
    )
    try:
        GracefulServer(config).run()
    finally:
        runtime.close()
    raise KeyboardInterrupt  # it only returns once a signal stopped it: "stopped", then the cleanup


def _say_if_mining_on_demand(runtime: Runtime, settings: Settings) -> None:
    """A configured node that makes no block on its own (mines on demand) is named at start-up:
    anchors would wait for HUBAO_CONFIRMATIONS blocks until other transactions come."""
    import logging

    from backend.chain.node import MINING_PROBE_SECONDS, mines_on_its_own, on_demand_mining_message

    if settings.confirmations == 0 or mines_on_its_own(runtime.w3, MINING_PROBE_SECONDS):
        return
    message = on_demand_mining_message(settings.chain_url, settings.confirmations, MINING_PROBE_SECONDS)
    logging.getLogger(__name__).warning(message)
    console.print(f"[yellow]warning[/] {message}", soft_wrap=True, markup=True, highlight=False)


@app.command("run")
def run_cmd(
    demo: bool | None = typer.Option(
        None,
        "--demo/--no-demo",
        help="seed the demo plan (default: on the embedded anvil only; --demo also on HUBAO_RPC_URL's "
        "development node: ganache, hardhat, anvil)",
    ),
) -> None:
    """Compile if needed, start anvil, deploy, migrate, seed the demo and serve the API."""
    from backend.chain.compiler import compile_if_needed
    from backend.runner import local_chain

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    settings.ensure_data_dir()
    if compile_if_needed(native=settings.solc_binary):
        console.print("contracts compiled")
    with _stop_cleanly_on_sigterm(), local_chain(settings) as url:
        # The embedded anvil loses the blocks since its last state dump when it crashes: a reorg of
        # unknown depth by design, so lost anchors are re-sent rather than halting the relay.
        updates: dict[str, object] = {"rpc_url": url}
        if not settings.rpc_url:
            updates["reorg_policy"] = "requeue"
        external = bool(settings.rpc_url)
        _serve(settings.model_copy(update=updates), demo=not external if demo is None else demo, external=external)


@app.command("serve")
def serve_cmd() -> None:
    """Serve the API against HUBAO_RPC_URL (no embedded chain)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    with _stop_cleanly_on_sigterm():
        _serve(settings, external=True)


def _say_up(settings: Settings, workers: str = "") -> None:
    console.print(
        f"Hubao is up: [bold]http://{settings.api_host}:{settings.api_port}/[/]{workers}  "
        f"(API docs at /docs, status at /health; Ctrl-C stops everything)",
        soft_wrap=True,
    )


def _serve_workers(settings: Settings, runtime: Runtime) -> None:
    """``api_workers`` processes on one socket (backend.api.workers); the parent keeps no runtime."""
    from backend.api.workers import bind_socket, serve_workers

    runtime.close()  # migrated, deployed, bootstrapped: each worker builds its own
    sock = bind_socket(settings.api_host, settings.api_port)
    try:
        _say_up(settings, f" ({settings.api_workers} worker processes)")
        serve_workers(settings, sock, settings.api_workers)
    finally:
        sock.close()
