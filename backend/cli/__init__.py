"""``hubao`` command line (typer + rich).

Each sub-module registers its own commands on :data:`app`; settings are read here (the CLI is one
of the two places allowed to read the environment) and passed explicitly to library code.
Errors of the :class:`~backend.errors.HubaoError` tree end the command with one red line and exit
code 1 — never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from backend.errors import HubaoError

app = typer.Typer(
    name="hubao",
    help="Hubao: notarized, verifiable claims for a mutual-aid plan.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

# Command modules, imported for their registration side effect. Each owns one topic.
_COMMAND_MODULES = (
    "backend.cli.accounts",
    "backend.cli.anchor",
    "backend.cli.audit",
    "backend.cli.chain",
    "backend.cli.claims",
    "backend.cli.evidence",
    "backend.cli.receipts",
    "backend.cli.serve",
    "backend.cli.shares",
    "backend.cli.sign",
)


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def main() -> None:
    """Console-script entry point."""
    _load_commands()
    try:
        app()
    except HubaoError as exc:
        err_console.print(f"error [{exc.code}] {exc.message}", style="bold red", soft_wrap=True, markup=False)
        sys.exit(1)
