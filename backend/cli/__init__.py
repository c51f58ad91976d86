"""``hubao`` command line (typer + rich).

Each sub-module registers its own commands on :data:`app`; settings are read there (the CLI is one
of the two places allowed to read the environment) and passed explicitly to library code.
Errors of the :class:`~backend.errors.HubaoError` tree end the command with one red line and exit
code 1 — never a traceback.

Commands load lazily: :data:`COMMANDS` names the module of every top-level command and its
one-line help, so ``hubao --help`` lists them all without importing any, and ``hubao cid FILE``
imports the CID code only — not web3, SQLAlchemy, FastAPI or the audit (importing every command
module cost about 1.7 s before the first byte was hashed; ``benchmarks/bench_cli_startup.py``).
``tests/foundation/test_cli_commands.py`` keeps :data:`COMMANDS` equal to what the modules register.
"""

from __future__ import annotations

import importlib
import sys
from typing import NamedTuple

import typer
from rich.console import Console
from typer import _click as click  # typer vendors click: its commands are these classes
from typer.core import TyperCommand, TyperGroup

from backend.errors import HubaoError

__all__ = ["COMMANDS", "app", "console", "err_console", "load_commands", "main"]


class CommandEntry(NamedTuple):
    """Where a top-level command lives and what ``hubao --help`` says about it."""

    module: str
    help: str


# Top-level commands in the order ``hubao --help`` lists them; each module registers its commands on
# ``app`` when imported.
COMMANDS: dict[str, CommandEntry] = {
    "compile": CommandEntry(
        "backend.cli.chain", "Compile contracts/src into provenance-stamped artifacts (only when sources changed)."
    ),
    "chain": CommandEntry(
        "backend.cli.chain", "Run the embedded anvil (state in the data dir) in the foreground until Ctrl-C."
    ),
    "deploy": CommandEntry(
        "backend.cli.chain", "Deploy the contracts to HUBAO_RPC_URL (or reuse a deployment whose code still matches)."
    ),
    "migrate": CommandEntry("backend.cli.chain", "Bring the database schema up to date."),
    "cid": CommandEntry(
        "backend.cli.cid", "Print the CID of FILE exactly as `ipfs add --only-hash -Q [--cid-version=1]` would."
    ),
    "run": CommandEntry(
        "backend.cli.serve", "Compile if needed, start anvil, deploy, migrate, seed the demo and serve the API."
    ),
    "serve": CommandEntry("backend.cli.serve", "Serve the API against HUBAO_RPC_URL (no embedded chain)."),
    "accounts": CommandEntry("backend.cli.accounts", "Logins: members, reviewers, jurors, auditors, operators."),
    "anchor": CommandEntry("backend.cli.anchor", "The anchoring relay (outbox → Merkle batch → EvidenceNotary)."),
    "audit": CommandEntry("backend.cli.audit", "Audit the notarized history against the chain and the evidence store."),
    "claims": CommandEntry(
        "backend.cli.claims", "Claims: notice and jury deadlines, filings, the evidence access log."
    ),
    "evidence-store": CommandEntry(
        "backend.cli.evidence",
        "The evidence store: Kubo-compatible RPC server, the shared key-encryption keys, CAR export / import.",
    ),
    "receipt": CommandEntry("backend.cli.receipts", "Evidence receipts."),
    "shares": CommandEntry("backend.cli.shares", "Member share receipts."),
    "keys": CommandEntry("backend.cli.sign", "Your own signing key, in a keystore v3 file."),
    "reviewer": CommandEntry(
        "backend.cli.reviewer", "Your device as a reviewer or juror: make and register your own signing key."
    ),
    "sign": CommandEntry("backend.cli.sign", "Sign Hubao typed data with your keystore."),
}


class LazyCommandGroup(TyperGroup):
    """The root group: lists :data:`COMMANDS` from their entries, imports a module only to run it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS) + [name for name in self.commands if name not in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The loaded command, else a stand-in carrying only the help line (for listings)."""
        loaded = self.commands.get(cmd_name)
        if loaded is not None or cmd_name not in COMMANDS:
            return loaded
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name].help)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in COMMANDS and args[0] not in self.commands:
            self.commands[args[0]] = load_command(args[0])
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="hubao",
    help="Hubao: notarized, verifiable claims for a mutual-aid plan.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyCommandGroup,
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    # A callback keeps the root a group while no command module is loaded yet.
    pass


def load_command(name: str) -> click.Command:
    """Import the module of top-level command ``name`` and return the command it registered."""
    importlib.import_module(COMMANDS[name].module)
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    command = group.commands.get(name)
    if command is None:
        raise LookupError(f"{COMMANDS[name].module} did not register the command {name!r}")
    return command


def load_commands() -> None:
    """Import every command module (tests and tools that invoke ``app`` with every command)."""
    for entry in COMMANDS.values():
        importlib.import_module(entry.module)


_load_commands = load_commands  # the name tests used before commands loaded lazily


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except HubaoError as exc:
        err_console.print(f"error [{exc.code}] {exc.message}", style="bold red", soft_wrap=True, markup=False)
        sys.exit(1)
