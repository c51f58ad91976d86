"""``hubao accounts create``: create a login (the database only: no chain, keyring or evidence store)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from backend.cli import app, console
from backend.config import load_settings
from backend.logs import configure_logging
from backend.services.auth import ROLES

if TYPE_CHECKING:
    from backend.config import Settings
    from backend.db.models import Account

accounts_app = typer.Typer(help="Logins: members, reviewers, jurors, auditors, operators.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")


def _read_password(given: str | None) -> str:
    if given is not None:
        return given
    if not sys.stdin.isatty():  # piped: the first line of standard input
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@accounts_app.command("create")
def create_cmd(
    username: str = typer.Argument(..., help="login name (3-64 characters)"),
    role: str = typer.Option(..., "--role", help=f"one of {', '.join(ROLES)}"),
    password: str | None = typer.Option(
        None, "--password", help="the password (default: prompt, or the first line of piped standard input)"
    ),
) -> None:
    """Create an account. Reviewers and jurors make their own signing key on their device and
    register it; REVIEWER_ROLE / JUROR_ROLE on ClaimLedger follow the registration."""
    from backend.db.engine import database_sessions
    from backend.errors import InvalidInput
    from backend.services.logins import SERVER_KEY_ROLES, STAFF_ROLES, create_login

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    secret = _read_password(password)
    if role not in STAFF_ROLES and role != "member":
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="INVALID_ROLE")
    if role in SERVER_KEY_ROLES:
        account = _create_with_server_key(settings, username, secret, role)
    else:
        # A login row only: the database and the password hasher, no chain, keyring or evidence
        # store (building the whole runtime made this command take seconds).
        settings.ensure_data_dir()
        with database_sessions(settings.sqlalchemy_url) as sessions, sessions.begin() as session:
            account = create_login(session, username, secret, role)
    console.print(f"created {account.role} [bold]{account.username}[/] (id {account.id})", highlight=False)
    if account.signing_address:
        console.print(f"signing address {account.signing_address}", highlight=False, markup=False)
    elif role in ("reviewer", "juror"):
        console.print(
            f"no signing key: the {role} makes their own and registers it to get the role, on their device: "
            f"the web UI, or hubao reviewer register-key --api URL --username {account.username}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def _create_with_server_key(settings: Settings, username: str, password: str, role: str) -> Account:
    """The legacy custody (``SERVER_KEY_ROLES``): a key sealed under the keyring, its role granted on chain."""
    from backend.runtime import build_runtime
    from backend.services.accounts import create_staff_account

    runtime = build_runtime(settings)
    try:
        return create_staff_account(runtime, username, password, role)
    finally:
        runtime.close()
