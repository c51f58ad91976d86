"""``hubao claims``: move claims whose windows have passed, finish interrupted filings, list, audit the log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from backend.cli import app, console
from backend.config import load_settings
from backend.logs import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from backend.runtime import Runtime

claims_app = typer.Typer(
    help="Claims: notice and jury deadlines, filings, the evidence access log.", no_args_is_help=True
)
app.add_typer(claims_app, name="claims")


def _runtime() -> Runtime:
    from backend.runtime import build_runtime

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    return build_runtime(settings)


@contextmanager
def _database() -> Iterator[sessionmaker[Session]]:
    """The database alone, for the commands that only read it (no chain, keyring or evidence store)."""
    from backend.db.engine import database_sessions

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    settings.ensure_data_dir()
    with database_sessions(settings.sqlalchemy_url) as sessions:
        yield sessions


@claims_app.command("advance")
def advance_cmd() -> None:
    """Finalize notices whose window passed, tally juries after their reveal window, redraw voided rounds."""
    from backend.services.workflow import advance

    runtime = _runtime()
    try:
        report = advance(runtime)
    finally:
        runtime.close()
    console.print(
        f"finalized {len(report.finalized)}, tallied {len(report.tallied)}, drawn {len(report.drawn)}, "
        f"waiting {len(report.failed)}"
    )
    for claim_pk, code in sorted(report.failed.items()):
        console.print(f"  {claim_pk}: {code}", markup=False)


@claims_app.command("resume")
def resume_cmd(claim_id: str = typer.Argument(..., help="the claim's API id")) -> None:
    """Complete a filing that stopped between the database and the chain (idempotent)."""
    from backend.services.claim_filing import resume_filing

    runtime = _runtime()
    try:
        view = resume_filing(runtime, claim_id)
    finally:
        runtime.close()
    console.print(f"{view.id}: {view.status}", markup=False)


@claims_app.command("list")
def list_cmd(
    status: str | None = typer.Option(None, help="only claims in this status"),
    limit: int = typer.Option(50, min=1, max=100),
) -> None:
    """Claims, newest first (no personal data is printed)."""
    from backend.services.auth import Principal
    from backend.services.claims import list_claims

    table = Table("id", "on-chain id", "status", "illness", "payout (fen)", "flags")
    with _database() as sessions, sessions() as session:
        views = list_claims(session, Principal("cli", "operator", "cli"), limit=limit, status=status)
    for v in views:
        table.add_row(v.id, v.claim_id[:18] + "…", v.status, v.illness_code, str(v.payout_fen), ",".join(v.flags))
    console.print(table)


@claims_app.command("verify-access-log")
def verify_access_log_cmd() -> None:
    """Recompute the evidence access log's hash chain; exit 1 naming the first row that does not fit."""
    from backend.services.review_access_log import verify_access_log

    with _database() as sessions, sessions() as session:
        report = verify_access_log(session)
    if report.ok:
        console.print(f"[green]access log intact[/]: {report.rows} rows")
        return
    console.print(f"[bold red]access log broken at row {report.bad_row}[/]: {report.problem}")
    raise typer.Exit(1)
