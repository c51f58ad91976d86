"""``hubao shares verify|publish|periods``: share receipts checked offline and on chain; periods."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from backend.apportionment.onchain import OnchainShareReport, verify_share_receipt_onchain
from backend.apportionment.receipts import ShareVerificationReport, verify_share_receipt_offline
from backend.cli import app, console

shares_app = typer.Typer(help="Member share receipts.", no_args_is_help=True)
app.add_typer(shares_app, name="shares")

_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow", "not_run": "dim"}


def _print_report(report: ShareVerificationReport | OnchainShareReport, *, offline: bool = False) -> None:
    doc = report.to_json()
    table = Table("#", "step", "result", "detail")
    for step in doc["steps"]:
        status = step["status"]
        table.add_row(str(step["step"]), step["name"], f"[{_STYLE.get(status, 'dim')}]{status}[/]", step["detail"])
    console.print(table)
    if doc["ok"] and offline:
        console.print(
            "[bold yellow]share receipt verified OFFLINE only[/] (its own row, proof and arithmetic). NOT checked "
            "without --rpc: chainId, contract, periodId, ledgerRoot, ledgerCid and the period's figures (steps 7-12: "
            "that the chain's Apportionment contract recorded this period). Run "
            "`hubao shares verify FILE --rpc URL` against any node of the chain to check them.",
            soft_wrap=True,
        )
    elif doc["ok"]:
        console.print("[bold green]share receipt verified[/]")
    else:
        console.print(
            f"[bold red]share receipt rejected at step {doc['failedStep']}: {doc['message']}[/]", soft_wrap=True
        )


@shares_app.command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="share receipt or join receipt JSON file"),
    rpc: str | None = typer.Option(None, "--rpc", help="JSON-RPC URL: also verify against the chain (steps 7-12)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    apportionment: str | None = typer.Option(
        None, "--apportionment", help="join receipts: the Apportionment address, to check every period since the join"
    ),
) -> None:
    """Verify a share receipt, or a join receipt (is my membership anchored, was I left out of a period?);
    exit 0 when every step passes and no period left the member out, 1 otherwise."""
    text = file.read_bytes()
    from backend.cli.join_receipts import is_membership_receipt, verify_join_receipt
    from backend.cli.verify_support import refuse_api_error

    refuse_api_error(file, text)

    if is_membership_receipt(text):
        raise typer.Exit(verify_join_receipt(text, rpc, apportionment, as_json))
    report: ShareVerificationReport | OnchainShareReport
    report = verify_share_receipt_offline(text) if rpc is None else _verify_against_chain(text, rpc)
    if as_json:
        console.print_json(json.dumps(report.to_json()))
    else:
        _print_report(report, offline=rpc is None)
    raise typer.Exit(0 if report.ok else 1)


def _verify_against_chain(text: bytes, rpc: str) -> ShareVerificationReport | OnchainShareReport:
    from backend.apportionment.onchain import ShareDeploymentMismatch
    from backend.chain.apportionment import ApportionmentClient, ApportionmentLookup
    from backend.chain.client import contract_at
    from backend.chain.compiler import load_artifact
    from backend.chain.transactions import register_errors
    from backend.cli.verify_support import CheckedDeployment, connect_or_fail, deployment_problem

    offline = verify_share_receipt_offline(text)
    receipt = offline.receipt
    if not offline.ok or receipt is None or receipt.contract is None:
        # Nothing to ask the chain: the offline steps or step 7 name the problem.
        return verify_share_receipt_onchain(text, _NoDeployment())
    address = receipt.contract
    w3 = connect_or_fail(rpc)
    artifact = load_artifact("Apportionment")
    register_errors([artifact["abi"]])
    problem = deployment_problem(w3, address, artifact, "Apportionment")
    client = ApportionmentClient(w3, contract_at(w3, w3.to_checksum_address(address), artifact))
    lookup = CheckedDeployment(
        ApportionmentLookup(client), problem, w3.eth.chain_id, receipt.chain_id, ShareDeploymentMismatch
    )
    return verify_share_receipt_onchain(text, lookup)


class _NoDeployment:
    """A lookup for receipts that name no contract: step 7 fails before anything is asked."""

    chain_id = 0
    contract = ""

    def period(self, period_id: int) -> None:
        return None

    def verify_share(self, period_id: int, leaf_hash: bytes, proof: object) -> bool:
        return False


@shares_app.command("publish")
def publish_cmd(
    period_id: int = typer.Argument(..., help="YYYYMMDD of the period's notice day"),
    now: str | None = typer.Option(None, "--now", help="ISO instant to act at (default: the current time)"),
) -> None:
    """Compute and publish one closed period (idempotent: a published period is re-verified)."""
    from datetime import UTC, datetime

    from backend.apportionment.publish import compute_and_publish_period
    from backend.apportionment.scheduler import plan_schedule
    from backend.config import load_settings
    from backend.runtime import build_runtime

    settings = load_settings()
    schedule = plan_schedule(settings)
    period = schedule.period(period_id)
    runtime = build_runtime(settings)
    try:
        with console.status(f"apportioning period {period_id}…"):
            at = datetime.fromisoformat(now) if now else datetime.now(UTC)
            result = compute_and_publish_period(
                runtime, period, at if at.tzinfo else at.replace(tzinfo=UTC), schedule=schedule
            )
    finally:
        runtime.close()
    record = result.record
    table = Table("figure", "value")
    for key, value in record.to_json().items():
        table.add_row(key, str(value))
    console.print(table)
    verb = "published" if result.published_now else "already published; recomputation matches"
    console.print(f"[bold green]period {period_id} {verb}[/] (block {result.block_number})")


@shares_app.command("periods")
def periods_cmd(
    count: int = typer.Option(6, "--count", min=1, max=240, help="how many periods before the open one"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Status of recent apportionment periods on the configured schedule (chain time).

    published = on chain; due = closed, waiting for the publisher (the workflow clock or
    ``hubao shares publish``); open = its notice instant is still ahead; skipped = before the first
    period this deployment published.
    """
    from backend.apportionment.scheduler import period_statuses
    from backend.config import load_settings
    from backend.runtime import build_runtime

    runtime = build_runtime(load_settings())
    try:
        statuses = period_statuses(runtime, count=count)
    finally:
        runtime.close()
    docs = [s.to_json() for s in statuses]
    if as_json:
        console.print_json(json.dumps(docs))
        return
    table = Table("period", "notice (snapshot)", "debit", "status", "claims", "members", "base fen", "tx")
    style = {"published": "green", "due": "bold yellow", "open": "dim", "skipped": "red"}
    for doc in docs:
        record = doc["record"] or {}
        table.add_row(
            str(doc["periodId"]),
            doc["noticeAt"],
            doc["debitAt"],
            f"[{style[doc['status']]}]{doc['status']}[/]",
            str(record.get("claimCount", "")),
            str(record.get("memberCount", "")),
            str(record.get("baseFen", "")),
            doc["tx"] or "",
        )
    console.print(table)
