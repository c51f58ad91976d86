"""Commands for the contract pipeline and the chain: compile, chain, deploy, migrate."""

from __future__ import annotations

import contextlib
import signal
import threading

import typer

from backend.chain.compiler import compile_contracts, compile_if_needed, stale_artifacts, write_artifacts
from backend.cli import app, console
from backend.config import load_settings
from backend.logs import configure_logging


@app.command("compile")
def compile_cmd(
    force: bool = typer.Option(False, "--force", help="recompile even if artifacts are fresh"),
    check: bool = typer.Option(False, "--check", help="only report stale artifacts"),
) -> None:
    """Compile contracts/src into provenance-stamped artifacts (only when sources changed)."""
    settings = load_settings()
    if check:
        problems = stale_artifacts()
        for problem in problems:
            console.print(f"[red]stale[/] {problem}")
        raise typer.Exit(1 if problems else 0)
    if force:
        written = write_artifacts(compile_contracts(native=settings.solc_binary))
        console.print(f"compiled {len(written)} contracts")
    elif compile_if_needed(native=settings.solc_binary):
        console.print("compiled: artifacts updated in contracts/artifacts/")
    else:
        console.print("artifacts are up to date")


@app.command("chain")
def chain_cmd() -> None:
    """Run the embedded anvil (state in the data dir) in the foreground until Ctrl-C."""
    from backend.runner import local_chain

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with local_chain(settings) as url:
        console.print(f"chain answering at [bold]{url}[/] (Ctrl-C stops it and saves its state)")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


@app.command("deploy")
def deploy_cmd() -> None:
    """Deploy the contracts to HUBAO_RPC_URL (or reuse a deployment whose code still matches)."""
    from backend.runtime import build_runtime

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    runtime = build_runtime(settings)
    for name, contract in runtime.contracts.items():
        console.print(f"{name}: {contract.address}")
    runtime.close()


@app.command("migrate")
def migrate_cmd() -> None:
    """Bring the database schema up to date."""
    from backend.db.engine import check_database, make_engine, migrate

    settings = load_settings()
    settings.ensure_data_dir()
    check_database(make_engine(settings.sqlalchemy_url))
    migrate(settings.sqlalchemy_url)
    console.print("database schema is up to date")
