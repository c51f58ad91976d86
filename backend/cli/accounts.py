"""``hubao accounts create``: create a login (staff roles get their signing key and on-chain role)."""

from __future__ import annotations

import sys

import typer

from backend.cli import app, console
from backend.config import load_settings
from backend.logs import configure_logging
from backend.services.auth import ROLES

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
    """Create an account. Reviewers and jurors get an EIP-712 signing key (sealed at rest) and
    REVIEWER_ROLE / JUROR_ROLE on ClaimLedger."""
    from backend.runtime import build_runtime
    from backend.services.accounts import STAFF_ROLES, create_staff_account, register_member

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    secret = _read_password(password)
    runtime = build_runtime(settings)
    try:
        if role in STAFF_ROLES:
            account = create_staff_account(runtime, username, secret, role)
        elif role == "member":
            with runtime.sessions.begin() as session:
                account = register_member(session, username, secret)
        else:
            from backend.errors import InvalidInput

            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="INVALID_ROLE")
    finally:
        runtime.close()
    console.print(f"created {account.role} [bold]{account.username}[/] (id {account.id})", highlight=False)
    if account.signing_address:
        console.print(f"signing address {account.signing_address}", highlight=False, markup=False)
    elif role == "juror":
        console.print(
            "no signing key: the juror makes their own (web UI, or hubao keys new) and registers it to get the role",
            highlight=False,
            markup=False,
        )
