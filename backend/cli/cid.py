"""``hubao cid FILE``: the CID ``ipfs add --only-hash`` would print, and the file-reading helpers.

Imports only the CID code (``evidence_store.unixfs``), so the command starts about as fast as
Python itself (``benchmarks/bench_cli_startup.py``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from backend.cli import app, console, err_console
from evidence_store.unixfs import compute_cid

READ_SIZE = 1 << 20


def progress_bar(total: int | None) -> Progress:
    """A byte-count progress bar on standard error, shown only when it is a terminal."""
    return Progress(
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


def read_chunks(fh: BinaryIO, progress: Progress, total: int | None) -> Iterator[bytes]:
    """``fh`` in ``READ_SIZE`` chunks, advancing ``progress``."""
    task = progress.add_task("reading", total=total)
    while chunk := fh.read(READ_SIZE):
        progress.advance(task, len(chunk))
        yield chunk


@app.command("cid")
def cid_cmd(
    file: Path = typer.Argument(..., help="file to hash ('-' reads standard input)", allow_dash=True),
    cid_version: int = typer.Option(0, "--cid-version", min=0, max=1, help="0 (Qm…, Kubo default) or 1 (raw leaves)"),
) -> None:
    """Print the CID of FILE exactly as `ipfs add --only-hash -Q [--cid-version=1]` would."""
    with contextlib.ExitStack() as stack:
        if str(file) == "-":
            fh: BinaryIO = sys.stdin.buffer
            total = None
        else:
            try:
                fh = stack.enter_context(open(file, "rb"))
            except OSError as exc:
                err_console.print(f"error [FILE_UNREADABLE] {file}: {exc.strerror}", style="bold red", markup=False)
                raise typer.Exit(1) from exc
            total = file.stat().st_size
        progress = stack.enter_context(progress_bar(total))
        cid = compute_cid(read_chunks(fh, progress, total), cid_version)
    console.print(str(cid), markup=False, highlight=False)
