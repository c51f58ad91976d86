"""``hubao shares verify JOIN_RECEIPT``: a member's join receipt checked offline and against
MembershipLog, then every period published since the join searched for the member — a member
left out of a period is told so (``backend.apportionment.left_out``)."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from backend.cli import console
from backend.proofs.membership_receipt import (
    KIND_MEMBERSHIP,
    MembershipReport,
    verify_membership_receipt_offline,
    verify_membership_receipt_onchain,
)

__all__ = ["is_membership_receipt", "verify_join_receipt"]

_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow", "not_run": "dim"}


def is_membership_receipt(text: bytes) -> bool:
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("kind") == KIND_MEMBERSHIP


def _check(text: bytes, rpc: str | None, apportionment: str | None) -> tuple[MembershipReport, list[Any]]:
    offline = verify_membership_receipt_offline(text)
    receipt = offline.receipt
    if rpc is None or not offline.ok or receipt is None:
        return offline, []
    from backend.apportionment.left_out import periods_of_member
    from backend.apportionment.scheduler import plan_schedule
    from backend.chain.apportionment import ApportionmentClient
    from backend.chain.client import connect, contract_at
    from backend.chain.compiler import load_artifact
    from backend.chain.notary import NotaryBatchLookup, NotaryClient
    from backend.chain.transactions import register_errors
    from backend.config import load_settings
    from evidence_store import open_store

    w3 = connect(rpc)
    notary = load_artifact("EvidenceNotary")  # MembershipLog is an EvidenceNotary deployment
    register_errors([notary["abi"]])
    lookup = NotaryBatchLookup(NotaryClient(w3, contract_at(w3, receipt.contract, notary)))
    report = verify_membership_receipt_onchain(text, lookup)
    if not report.ok or apportionment is None:
        return report, []
    settings = load_settings()
    store = open_store(settings.ipfs_api, settings.resolved_data_dir, settings.ipfs_timeout)
    try:
        client = ApportionmentClient(w3, contract_at(w3, apportionment, load_artifact("Apportionment")))
        periods = periods_of_member(receipt, client, store, plan_schedule(settings))
    finally:
        closer = getattr(store, "close", None)
        if closer is not None:
            closer()
    return report, periods


def verify_join_receipt(text: bytes, rpc: str | None, apportionment: str | None, as_json: bool) -> int:
    """Print the verdict; the exit code is 0 when the receipt verifies and no period left the member out."""
    report, periods = _check(text, rpc, apportionment)
    left_out = [p.period_id for p in periods if p.left_out]
    doc = {
        **report.to_json(),
        "kind": KIND_MEMBERSHIP,
        "periods": [p.to_json() for p in periods],
        "leftOut": left_out,
    }
    if as_json:
        console.print_json(json.dumps(doc))
    else:
        table = Table("#", "step", "result", "detail")
        for step in doc["steps"]:
            status = step["status"]
            table.add_row(str(step["step"]), step["name"], f"[{_STYLE.get(status, 'dim')}]{status}[/]", step["detail"])
        console.print(table)
        if not report.ok:
            console.print(f"[bold red]join receipt rejected at step {doc['failedStep']}: {doc['message']}[/]")
        else:
            console.print("[bold green]join receipt verified[/]")
        if periods:
            shares = Table("period", "snapshot (unix)", "published block", "in the period", "verdict")
            for p in periods:
                verdict = "[bold red]LEFT OUT[/]" if p.left_out else ("counted" if p.in_period else "not counted")
                shares.add_row(str(p.period_id), str(p.snapshot_at), str(p.published_block), str(p.in_period), verdict)
            console.print(shares)
        for pid in left_out:
            console.print(
                f"[bold red]you were left out of period {pid}[/]: your join was anchored before it was published and "
                "counts from before its snapshot, yet your commitment is not among its members (unless you left the "
                "plan before that snapshot; `hubao audit` replays the whole membership log)",
                soft_wrap=True,
            )
    return 0 if report.ok and not left_out else 1
