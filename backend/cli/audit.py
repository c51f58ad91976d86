"""``hubao audit``: re-derive the notarized history and name what does not hold; checkpoints.

    hubao audit [--rpc URL] [--database-url URL | --no-database] [--deployment FILE]
                [--json] [--checkpoint FILE [--since-checkpoint] [--new-checkpoint OUT]]
    hubao audit checkpoint keygen KEY_FILE
    hubao audit checkpoint sign FILE --key KEY_FILE        first signature
    hubao audit checkpoint cosign FILE --key KEY_FILE      a second auditor's signature
    hubao audit checkpoint verify FILE [--previous OLD] [--trusted-key HEX]... [--min-signatures N] [--rpc URL]

Exit code 0 when the audit (or the verification) passes, 1 otherwise. ``--json`` prints the
deterministic report (byte-identical for the same history). With ``--checkpoint FILE``: an
existing FILE is the previous checkpoint (its signatures must verify; the chain must still
extend it); after a passing audit the next checkpoint is written to ``--new-checkpoint`` (default
FILE), unsigned — sign it with ``hubao audit checkpoint sign``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from backend.audit import AuditReport, AuditSources, Checkpoint, SignedCheckpoint, extension_problems, run_audit
from backend.audit.chain import RpcReader
from backend.audit.checkpoint import generate_key, load_private_key, private_key_pem, public_key_hex
from backend.audit.context import SCRATCH_SUBDIR
from backend.audit.errors import CheckpointError
from backend.chain.deploy import DeploymentRecord
from backend.cli import app, console, err_console
from backend.config import load_settings
from backend.errors import ConfigError
from backend.proofs.hexstr import from_hex, to_hex

audit_app = typer.Typer(help="Audit the notarized history against the chain and the evidence store.")
app.add_typer(audit_app, name="audit")
checkpoint_app = typer.Typer(help="Signed audit checkpoints.", no_args_is_help=True)
audit_app.add_typer(checkpoint_app, name="checkpoint")

_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "history_unavailable": "bold red",
    "skipped": "yellow",
    "not_implemented": "yellow",
}


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not (enabled and err_console.is_terminal),
    )
    with progress:
        yield progress


@audit_app.callback(invoke_without_command=True)
def audit_cmd(
    ctx: typer.Context,
    rpc: str | None = typer.Option(None, "--rpc", help="JSON-RPC URL of the chain (default: HUBAO_RPC_URL / local)"),
    database_url: str | None = typer.Option(
        None, "--database-url", help="the operator's database to check (default: the configured one, if present)"
    ),
    no_database: bool = typer.Option(False, "--no-database", help="audit the chain and the store only"),
    deployment: Path | None = typer.Option(
        None, "--deployment", help="deployment record (default: <data dir>/deployment.json)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the report as deterministic JSON"),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="checkpoint file: previous one in, next one out"),
    since_checkpoint: bool = typer.Option(False, "--since-checkpoint", help="read only blocks after the checkpoint"),
    new_checkpoint: Path | None = typer.Option(None, "--new-checkpoint", help="write the next checkpoint here"),
    rule_set: list[Path] = typer.Option(
        [],
        "--rule-set",
        help="a published rule-set document (canonical JSON; repeatable). Used only when its keccak256 is an "
        "anchored rule-set hash; the database's rule sets are added when a database is audited",
    ),
) -> None:
    """Run the numbered audit checklist; exit 0 when nothing fails, 1 otherwise."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy.engine import make_url

    from backend.apportionment.scheduler import plan_schedule
    from backend.db.engine import make_engine, session_factory
    from evidence_store import LOCAL_SUBDIR, open_store

    settings = load_settings()
    data_dir = settings.resolved_data_dir
    previous: SignedCheckpoint | None = None
    if checkpoint is not None and checkpoint.exists():
        previous = SignedCheckpoint.read(checkpoint)
        previous.verify_signatures(minimum=0)
    elif since_checkpoint:
        raise CheckpointError("--since-checkpoint needs an existing --checkpoint FILE", reason="no_checkpoint")
    engine = None
    sessions = None
    if not no_database:
        url = database_url or settings.database_url
        if url is None:
            sqlite = data_dir / "hubao.db"
            url = f"sqlite:///{sqlite}" if sqlite.is_file() else None
        if url is not None:
            if make_url(url).get_backend_name() == "sqlite" and not Path(make_url(url).database or "").is_file():
                raise ConfigError(f"no SQLite database at {make_url(url).database}", code="AUDIT_INPUT")
            engine = make_engine(url)
            sessions = session_factory(engine)
    record = _deployment_record(deployment or data_dir / "deployment.json", deployment is None, sessions)
    store = None
    if settings.ipfs_api or (data_dir / LOCAL_SUBDIR).is_dir():
        store = open_store(settings.ipfs_api, data_dir, settings.ipfs_timeout)
    try:
        with _progress(not as_json) as progress:
            tasks: dict[str, TaskID] = {}

            def on_progress(task: str, advance: int, total: int | None) -> None:
                if task not in tasks:
                    tasks[task] = progress.add_task(task, total=total)
                progress.update(tasks[task], advance=advance, total=total)

            report = run_audit(
                AuditSources(
                    rpc_url=rpc or settings.chain_url,
                    deployment=record,
                    sessions=sessions,
                    store=store,
                    checkpoint=previous.checkpoint if previous else None,
                    since_checkpoint=since_checkpoint,
                    progress=on_progress,
                    rpc_timeout=settings.rpc_timeout,
                    rule_sets=[path.read_text(encoding="utf-8") for path in rule_set],
                    schedule=plan_schedule(settings),
                    evidence_anchoring_seconds=settings.evidence_anchoring_deadline,
                    review_opening_seconds=settings.review_opening_deadline,
                    scratch_dir=data_dir / SCRATCH_SUBDIR if data_dir.is_dir() else None,
                )
            )
    finally:
        if engine is not None:
            engine.dispose()
        closer = getattr(store, "close", None)
        if callable(closer):
            closer()
    out = new_checkpoint or checkpoint
    if out is not None and report.ok and report.checkpoint is not None:
        SignedCheckpoint(Checkpoint.from_json(report.checkpoint)).write(out)
    if as_json:
        typer.echo(report.to_json_text(), nl=False)
    else:
        _print_report(report)
        if out is not None and report.ok:
            console.print(f"next checkpoint written to {out} (unsigned: `hubao audit checkpoint sign {out} --key …`)")
    raise typer.Exit(0 if report.ok else 1)


def _deployment_record(path: Path, default_path: bool, sessions: sessionmaker[Session] | None) -> DeploymentRecord:
    """The record at ``path``; without ``--deployment`` and without this host's file, the one the
    audited database keeps (every host of a deployment shares it there). A record that names
    other contracts than the audited database's own is refused: its rows would all be findings."""
    kept = _kept_record(sessions)
    if path.is_file():
        given = DeploymentRecord.from_json(path.read_text(encoding="utf-8"))
        if kept is not None and _differences(given, kept):
            raise ConfigError(
                f"the audited database belongs to another deployment than {path} "
                f"({', '.join(_differences(given, kept))}): pass --database-url of that deployment's database, "
                "or --no-database",
                code="AUDIT_INPUT",
            )
        return given
    record = kept if default_path else None
    if record is None:
        raise ConfigError(f"no deployment record at {path}: pass --deployment FILE", code="AUDIT_INPUT")
    return record


def _kept_record(sessions: sessionmaker[Session] | None) -> DeploymentRecord | None:
    """The record the audited database keeps (None: no database, or one from before it kept one)."""
    from sqlalchemy.exc import SQLAlchemyError

    from backend.db.deployments import DatabaseRecordStore

    if sessions is None:
        return None
    try:
        return DatabaseRecordStore(sessions).load()
    except SQLAlchemyError:  # a database not migrated to the deployments table: nothing to compare
        return None


def _differences(given: DeploymentRecord, kept: DeploymentRecord) -> list[str]:
    """What differs between the record an auditor passed and the one the database keeps."""
    found = [] if given.chain_id == kept.chain_id else [f"chain {given.chain_id} vs {kept.chain_id}"]
    for name in sorted(set(given.contracts) & set(kept.contracts)):
        mine, theirs = given.address(name).lower(), kept.address(name).lower()
        if mine != theirs:
            found.append(f"{name} {mine} vs {theirs}")
    return found


def _print_report(report: AuditReport) -> None:
    s = report.subject
    console.print(
        f"audit of chain {s['chainId']} blocks {s['fromBlock']}..{s['toBlock']} "
        f"({s['mode']}, batches {s['fromBatch']}..{s['batchCount']})"
    )
    table = Table("#", "step", "status", "findings", "detail")
    for step in sorted(report.steps, key=lambda r: r.step):
        status = str(step.status)
        table.add_row(
            str(step.step),
            step.name,
            f"[{_STYLE.get(status, 'dim')}]{status.upper()}[/]",
            str(len(step.findings)),
            step.detail,
        )
    console.print(table)
    findings = report.findings
    if findings:
        ftable = Table("step", "code", "where", "message")
        for f in findings[:200]:
            fields = f.fields
            where = " ".join(
                part
                for part in (
                    str(fields.get("table") or ""),
                    str(fields.get("row") or ""),
                    ",".join(fields.get("fields") or []),
                    f"batch {fields['batch']}" if isinstance(fields.get("batch"), int) else "",
                )
                if part
            )
            ftable.add_row(str(f.step), f.code, where, f.message)
        console.print(ftable)
        if len(findings) > 200:
            console.print(f"… and {len(findings) - 200} more (use --json for all)")
    verdict = "[bold green]audit passed[/]" if report.ok else "[bold red]audit FAILED[/]"
    if report.ok and not report.complete:
        verdict += " [yellow](incomplete: some steps were skipped or are not implemented)[/]"
    console.print(verdict)


# -- checkpoints -------------------------------------------------------------------------------------


@checkpoint_app.command("keygen")
def keygen_cmd(key_file: Path = typer.Argument(..., dir_okay=False, help="where to write the PEM private key")) -> None:
    """Create an Ed25519 signing key (PEM, mode 0600) and print its public key."""
    if key_file.exists():
        raise CheckpointError(f"{key_file} exists: refusing to overwrite a key", reason="key_exists")
    key = generate_key()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_key_pem(key))
    console.print(public_key_hex(key))


def _add_signature(file: Path, key: Path, *, cosign: bool) -> None:
    signed = SignedCheckpoint.read(file)
    signed.verify_signatures(minimum=1 if cosign else 0)
    if not cosign and signed.signatures:
        raise CheckpointError("the checkpoint is already signed: use `cosign`", reason="already_signed")
    private = load_private_key(key)
    signed.sign(private).write(file)
    console.print(f"{'cosigned' if cosign else 'signed'} by {public_key_hex(private)}")


@checkpoint_app.command("sign")
def sign_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False),
    key: Path = typer.Option(..., "--key", exists=True, dir_okay=False, help="Ed25519 private key (PEM)"),
) -> None:
    """Sign a checkpoint (the first signature)."""
    _add_signature(file, key, cosign=False)


@checkpoint_app.command("cosign")
def cosign_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False),
    key: Path = typer.Option(..., "--key", exists=True, dir_okay=False, help="Ed25519 private key (PEM)"),
) -> None:
    """Add a second auditor's signature to a signed checkpoint (its existing signatures must verify)."""
    _add_signature(file, key, cosign=True)


@checkpoint_app.command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False),
    previous: Path | None = typer.Option(
        None, "--previous", exists=True, dir_okay=False, help="the checkpoint it extends"
    ),
    trusted_key: list[str] = typer.Option(
        [], "--trusted-key", help="0x public key whose signature counts (repeatable)"
    ),
    min_signatures: int = typer.Option(1, "--min-signatures", min=0),
    rpc: str | None = typer.Option(None, "--rpc", help="also check on chain that the history still extends it"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Verify signatures, that FILE extends --previous, and (with --rpc) that the chain still holds both."""
    problems: list[str] = []
    signed = SignedCheckpoint.read(file)
    try:
        trusted = [from_hex(k, length=32) for k in trusted_key]
    except ValueError as exc:
        raise CheckpointError(f"--trusted-key: {exc}", reason="bad_key") from exc
    signers: list[bytes] = []
    try:
        signers = signed.verify_signatures(trusted=trusted, minimum=min_signatures)
    except CheckpointError as exc:
        problems.append(f"{file.name}: {exc.message}")
    older: SignedCheckpoint | None = None
    if previous is not None:
        older = SignedCheckpoint.read(previous)
        try:
            older.verify_signatures(minimum=0)
        except CheckpointError as exc:
            problems.append(f"{previous.name}: {exc.message}")
        problems += [
            f"does not extend {previous.name}: {p}" for p in extension_problems(older.checkpoint, signed.checkpoint)
        ]
    if rpc is not None:
        with RpcReader(rpc) as reader:
            for label, cp in (
                (file.name, signed.checkpoint),
                *(((previous.name, older.checkpoint),) if older and previous else ()),
            ):
                problems += [f"{label}: {p}" for p in _chain_problems(reader, cp)]
    if as_json:
        typer.echo(
            json.dumps(
                {"ok": not problems, "problems": problems, "signers": [to_hex(s) for s in signers]},
                indent=2,
                sort_keys=True,
            )
        )
    else:
        for problem in problems:
            console.print(f"[bold red]✗[/] {problem}", soft_wrap=True)
        if not problems:
            console.print(f"[bold green]checkpoint verified[/] ({len(signers)} signature(s))")
    raise typer.Exit(0 if not problems else 1)


def _chain_problems(reader: RpcReader, cp: Checkpoint) -> list[str]:
    if reader.chain_id() != cp.chain_id:
        return [f"the chain's id is not {cp.chain_id}"]
    head = reader.block_number()
    count = reader.batch_count(cp.contract, head)
    if count < cp.batch_count:
        return [f"no longer extended on chain: the chain has {count} batches, the checkpoint {cp.batch_count}"]
    problems: list[str] = []
    if cp.batch_count:
        (stored,) = reader.batches(cp.contract, [cp.batch_count], head)
        if stored.root != cp.head_root:
            problems.append(
                f"no longer extended on chain: batch {cp.batch_count} has root {to_hex(stored.root)[:10]}…, "
                f"the checkpoint {to_hex(cp.head_root)[:10]}…"
            )
    if cp.block_number <= head:
        block_hash = reader.block_hashes([cp.block_number])[cp.block_number]
        if block_hash is not None and block_hash != cp.block_hash:
            problems.append(f"no longer extended on chain: block {cp.block_number} was rewritten")
    return problems
