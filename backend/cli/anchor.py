"""``hubao anchor``: run the anchoring relay outside the API process, or show its state."""

from __future__ import annotations

import signal
import threading

import typer
from rich.table import Table

from backend.cli import app, console
from backend.config import load_settings
from backend.logs import configure_logging

anchor_app = typer.Typer(help="The anchoring relay (outbox → Merkle batch → EvidenceNotary).", no_args_is_help=True)
app.add_typer(anchor_app, name="anchor")


@anchor_app.command("run")
def run_cmd(
    until_idle: bool = typer.Option(False, "--until-idle", help="stop when nothing is queued or unconfirmed"),
    max_cycles: int = typer.Option(200, help="with --until-idle: give up after this many cycles"),
    log_name: str = typer.Option(
        "evidence", "--log", help="what to anchor: evidence (EvidenceNotary) or membership (MembershipLog)"
    ),
) -> None:
    """Run the relay (it anchors only while it holds the database lease)."""
    from backend.runtime import build_runtime
    from backend.services.anchoring import EVIDENCE, MEMBERSHIP

    outboxes = {EVIDENCE.name: EVIDENCE, MEMBERSHIP.name: MEMBERSHIP}
    if log_name not in outboxes:
        raise typer.BadParameter("evidence or membership", param_hint="--log")
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    runtime = build_runtime(settings)
    worker = runtime.anchoring_worker(outbox=outboxes[log_name])
    try:
        if until_idle:
            report = worker.run_until_idle(max_cycles=max_cycles, idle_wait=0.2)
            console.print(
                f"formed {report.formed}, sent {report.sent}, confirmed {report.confirmed}, "
                f"re-sent {report.resent}; backlog {worker.backlog()}"
            )
            worker.lease.release()
            raise typer.Exit(0 if worker.backlog() == 0 else 1)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        worker.run_forever(stop, interval=0.5)
    finally:
        runtime.close()


@anchor_app.command("status")
def status_cmd() -> None:
    """Backlog and recent batches."""
    from sqlalchemy import select

    from backend.db.engine import database_sessions
    from backend.db.models import AnchorBatch
    from backend.services.anchoring import outbox_backlog

    settings = load_settings()
    settings.ensure_data_dir()
    table = Table("batch", "on-chain id", "leaves", "status", "block")
    # The database alone: the backlog and the batches are rows (no chain, keyring or evidence store).
    with database_sessions(settings.sqlalchemy_url) as sessions, sessions() as session:
        for batch in session.scalars(select(AnchorBatch).order_by(AnchorBatch.id.desc()).limit(10)):
            table.add_row(
                str(batch.id),
                str(batch.onchain_id or "—"),
                str(batch.leaf_count),
                batch.status,
                str(batch.block_number or "—"),
            )
        backlog = outbox_backlog(session)
    console.print(f"backlog: {backlog} items")
    console.print(table)
