"""``hubao evidence-store serve | init-keys | export-car | import-car`` (``hubao cid`` is in
:mod:`backend.cli.cid`)."""

from __future__ import annotations

from pathlib import Path

import typer

from backend.cli import app, console, err_console
from backend.cli.cid import progress_bar, read_chunks
from backend.config import load_settings
from evidence_store import CID, EvidenceStore, EvidenceStoreError, LocalBlockstore, open_store

evidence_app = typer.Typer(
    help="The evidence store: Kubo-compatible RPC server, the shared key-encryption keys, CAR export / import."
)
app.add_typer(evidence_app, name="evidence-store")


def _fail(exc: EvidenceStoreError) -> typer.Exit:
    err_console.print(f"error [{exc.code}] {exc.message}", style="bold red", soft_wrap=True, markup=False)
    return typer.Exit(1)


@evidence_app.command("serve")
def serve_cmd(
    port: int = typer.Option(5001, "--port", help="loopback port for the Kubo RPC API"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="data directory (default HUBAO_DATA_DIR)"),
) -> None:
    """Serve the embedded blockstore over a Kubo-compatible RPC API on 127.0.0.1."""
    from backend.api.workers import ensure_port_free
    from evidence_store.server import serve

    ensure_port_free("127.0.0.1", port, "--port")
    settings = load_settings()
    root = (data_dir or settings.resolved_data_dir) / "evidence"
    store = LocalBlockstore(root)
    console.print(f"Kubo-compatible RPC API on [bold]http://127.0.0.1:{port}/api/v0[/] (blocks in {root})")
    serve(store, port)


@evidence_app.command("init-keys")
def init_keys_cmd(
    directory: Path = typer.Argument(..., help="the directory to give every host as HUBAO_KEYS_DIR"),
) -> None:
    """Make the key-encryption key directory every host shares (HUBAO_KEYS_DIR): created with a
    first key if it has none; one that holds a key is left as it is."""
    from evidence_store.crypto import DirectoryKeyring

    if directory.exists() and not directory.is_dir():
        err_console.print(f"error [KEYS_DIR_MISSING] {directory} is not a directory", style="bold red", markup=False)
        raise typer.Exit(1)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    keyring = DirectoryKeyring(directory)
    if keyring.kids():
        console.print(f"{directory} already holds key-encryption key {keyring.current_kid}: left as it is")
        return
    kid = keyring.create_kek()
    console.print(
        f"created key-encryption key {kid} in {directory}: give this directory (a secret: mode 0700) to every "
        "host as HUBAO_KEYS_DIR, e.g. mounted read-only",
        markup=False,
    )


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
        with open(tmp, "wb") as fh, progress_bar(None) as progress:
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
        with open(file, "rb") as fh, progress_bar(file.stat().st_size) as progress:
            roots = store.import_car(read_chunks(fh, progress, file.stat().st_size))
    except EvidenceStoreError as exc:
        raise _fail(exc) from exc
    for root in roots:
        console.print(str(root), markup=False, highlight=False)
