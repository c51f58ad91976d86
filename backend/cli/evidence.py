"""``hubao cid`` and ``hubao evidence-store serve | export-car | import-car``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from backend.cli import app, console, err_console
from backend.config import load_settings
from evidence_store import CID, EvidenceStore, EvidenceStoreError, LocalBlockstore, compute_cid, open_store

READ_SIZE = 1 << 20

evidence_app = typer.Typer(help="The evidence store: Kubo-compatible RPC server, CAR export / import.")
app.add_typer(evidence_app, name="evidence-store")


def _fail(exc: EvidenceStoreError) -> typer.Exit:
    err_console.print(f"error [{exc.code}] {exc.message}", style="bold red", soft_wrap=True, markup=False)
    return typer.Exit(1)


def _progress(total: int | None) -> Progress:
    return Progress(
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


def _read_chunks(fh: BinaryIO, progress: Progress, total: int | None) -> Iterator[bytes]:
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
        progress = stack.enter_context(_progress(total))
        cid = compute_cid(_read_chunks(fh, progress, total), cid_version)
    console.print(str(cid), markup=False, highlight=False)


@evidence_app.command("serve")
def serve_cmd(
    port: int = typer.Option(5001, "--port", help="loopback port for the Kubo RPC API"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="data directory (default HUBAO_DATA_DIR)"),
) -> None:
    """Serve the embedded blockstore over a Kubo-compatible RPC API on 127.0.0.1."""
    from evidence_store.server import serve

    settings = load_settings()
    root = (data_dir or settings.resolved_data_dir) / "evidence"
    store = LocalBlockstore(root)
    console.print(f"Kubo-compatible RPC API on [bold]http://127.0.0.1:{port}/api/v0[/] (blocks in {root})")
    serve(store, port)


def _store_for(data_dir: Path | None) -> EvidenceStore:
    """``--data-dir`` forces the embedded store; otherwise the configured one (Kubo if HUBAO_IPFS_API)."""
    settings = load_settings()
    if data_dir is not None:
        return LocalBlockstore(data_dir / "evidence")
    return open_store(settings.ipfs_api, settings.resolved_data_dir, settings.ipfs_timeout)


@evidence_app.command("export-car")
def export_car_cmd(
    cid: str = typer.Argument(..., help="root CID"),
    out: Path = typer.Argument(..., help="CAR file to write"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="embedded store's data directory"),
) -> None:
    """Write the DAG under CID as a CAR v1 file (every block verified on the way)."""
    store = _store_for(data_dir)
    tmp = out.with_name(out.name + ".partial")
    try:
        chunks = store.export_car(CID.parse(cid))
        with open(tmp, "wb") as fh, _progress(None) as progress:
            task = progress.add_task("exporting", total=None)
            for chunk in chunks:
                fh.write(chunk)
                progress.advance(task, len(chunk))
        tmp.replace(out)
    except EvidenceStoreError as exc:
        tmp.unlink(missing_ok=True)
        raise _fail(exc) from exc
    console.print(f"wrote {out}")


@evidence_app.command("import-car")
def import_car_cmd(
    file: Path = typer.Argument(..., help="CAR v1 file", exists=True, dir_okay=False),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="embedded store's data directory"),
) -> None:
    """Import a CAR v1 file, verifying every block, and pin its roots."""
    store = _store_for(data_dir)
    try:
        with open(file, "rb") as fh, _progress(file.stat().st_size) as progress:
            roots = store.import_car(_read_chunks(fh, progress, file.stat().st_size))
    except EvidenceStoreError as exc:
        raise _fail(exc) from exc
    for root in roots:
        console.print(str(root), markup=False, highlight=False)
