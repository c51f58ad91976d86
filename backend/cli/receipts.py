"""``hubao receipt verify FILE [--rpc URL]``: check a receipt offline and, optionally, on chain."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from backend.cli import app, console
from backend.cli.verify_support import NOT_CHECKED_OFFLINE, refuse_api_error
from backend.proofs.filing_receipt import (
    FilingReport,
    is_filing_receipt,
    verify_filing_receipt_offline,
    verify_filing_receipt_onchain,
)
from backend.proofs.receipts import VerificationReport, verify_receipt_offline, verify_receipt_onchain

receipt_app = typer.Typer(help="Evidence receipts.", no_args_is_help=True)
app.add_typer(receipt_app, name="receipt")

_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow", "not_run": "dim"}


def _print_report(report: VerificationReport | FilingReport, *, offline: bool = False) -> None:
    table = Table("#", "step", "result", "detail")
    for step in report.steps:
        status = str(step.status)
        table.add_row(str(int(step.step)), step.step.name, f"[{_STYLE.get(status, 'dim')}]{status}[/]", step.detail)
    console.print(table)
    if report.ok and offline:
        console.print(
            "[bold yellow]receipt verified OFFLINE only[/] (steps 1-5: its own hashes and proof). "
            f"NOT checked without --rpc: {', '.join(NOT_CHECKED_OFFLINE)} (steps 6-13: that the batch is "
            "anchored on chain, in this contract, block and transaction). Run "
            "`hubao receipt verify FILE --rpc URL` against any node of the chain to check them.",
            soft_wrap=True,
        )
    elif report.ok:
        console.print("[bold green]receipt verified[/]")
    else:
        assert report.error is not None
        console.print(
            f"[bold red]receipt rejected at step {int(report.error.step)} "
            f"({report.error.step.name}): {report.error.message}[/]",
            soft_wrap=True,
        )


@receipt_app.command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="receipt JSON file"),
    rpc: str | None = typer.Option(None, "--rpc", help="JSON-RPC URL: also verify against the chain"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    operator: str | None = typer.Option(
        None, "--operator", help="filing receipts: the deployment's operator address the signature must be by"
    ),
) -> None:
    """Verify an evidence or filing receipt; exit 0 when every step passes, 1 otherwise.

    A filing receipt (the operator's signed promise to have a claim on chain by ``onChainBy``): with
    --rpc, exit 0 when the claim is on chain in time or still pending, 2 when it is CENSORED (not
    on chain after ``onChainBy``) or was filed late, 1 when the receipt itself is not genuine.
    """
    text = file.read_bytes()
    refuse_api_error(file, text)
    if is_filing_receipt(text):
        raise typer.Exit(verify_filing(text, rpc, operator, as_json))
    report = verify_receipt_offline(text) if rpc is None else _verify_against_chain(text, rpc)
    if as_json:
        console.print_json(json.dumps(report.to_json()))
    else:
        _print_report(report, offline=rpc is None)
    raise typer.Exit(0 if report.ok else 1)


def _verify_against_chain(text: bytes, rpc: str) -> VerificationReport:
    from backend.chain.client import contract_at
    from backend.chain.compiler import load_artifact
    from backend.chain.notary import NotaryBatchLookup, NotaryClient
    from backend.chain.transactions import register_errors
    from backend.cli.verify_support import CheckedDeployment, connect_or_fail, deployment_problem

    offline = verify_receipt_offline(text)
    receipt = offline.receipt
    if not offline.ok or receipt is None:
        return offline  # empty, not JSON, bad hex...: the numbered offline step names it
    w3 = connect_or_fail(rpc)
    artifact = load_artifact("EvidenceNotary")
    register_errors([artifact["abi"]])
    problem = deployment_problem(w3, receipt.contract, artifact, "EvidenceNotary")
    notary = contract_at(w3, w3.to_checksum_address(receipt.contract), artifact)
    lookup = CheckedDeployment(NotaryBatchLookup(NotaryClient(w3, notary)), problem, w3.eth.chain_id, receipt.chain_id)
    return verify_receipt_onchain(text, lookup)


_OUTCOME = {
    "on_chain": "[bold green]the claim is on chain, filed within the operator's deadline[/]",
    "pending": "[yellow]PENDING: not on chain yet; the operator's deadline has not passed[/]",
    "censored": "[bold red]CENSORED: the operator signed for this filing and it is not on chain after the deadline[/]",
    "late": "[bold red]LATE: the claim was filed on chain after the operator's deadline[/]",
    "evidence_mismatch": "[bold red]the claim on chain has another evidence root than the operator received[/]",
}


def verify_filing(text: bytes, rpc: str | None, operator: str | None, as_json: bool) -> int:
    """Verify a filing receipt (offline; with ``rpc`` also against ClaimLedger); the exit code."""
    if rpc is None:
        report = verify_filing_receipt_offline(text, operator=operator)
    else:
        from backend.chain.claims import LedgerFilingLookup
        from backend.chain.compiler import load_artifact
        from backend.cli.verify_support import connect_or_fail

        lookup = LedgerFilingLookup(connect_or_fail(rpc), load_artifact("ClaimLedger")["abi"])
        report = verify_filing_receipt_onchain(text, lookup, operator=operator)
    if as_json:
        console.print_json(json.dumps(report.to_json()))
    else:
        _print_report(report)
        if report.outcome is not None:
            console.print(_OUTCOME[report.outcome], soft_wrap=True)
    if report.censored:
        return 2
    return 0 if report.ok else 1
