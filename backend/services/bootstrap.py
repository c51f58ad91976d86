"""Start-up reconciliation of the plan's configuration between the database and ClaimLedger.

Run once per start (``hubao serve``, the demo seed, test stacks): the rule set in force is stored
and anchored, superseded ones are retired on chain, and on-chain roles match the accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.services.accounts import sync_roster
from backend.services.context import ServiceContext
from backend.services.notice import seal_legacy_objections
from backend.services.rule_sets import activate_due, current_rule_set_record, ensure_default_rule_set, retire_superseded

__all__ = ["BootstrapReport", "bootstrap"]


@dataclass(frozen=True)
class BootstrapReport:
    rule_set_version: int
    rule_set_hash: bytes
    anchor_tx: bytes | None
    retired: int
    roles_granted: int


def bootstrap(ctx: ServiceContext) -> BootstrapReport:
    """Start-up reconciliation of the plan's configuration between the database and ClaimLedger.

    Stores and anchors the default rule set on a fresh deployment, finishes any publication a
    crash cut short (retirements), and grants reviewer/juror roles that accounts lack on chain.
    Idempotent: on an up-to-date deployment it sends no transaction.
    """
    record = ensure_default_rule_set(ctx)
    if activate_due(ctx):  # a published version whose public delay has passed becomes current
        with ctx.sessions() as session:
            record = current_rule_set_record(session)
    retired = retire_superseded(ctx)
    granted = sync_roster(ctx)
    seal_legacy_objections(ctx)  # reasons stored in plain text before revision 0008
    return BootstrapReport(record.version, bytes(record.hash), record.anchor_tx, retired, granted)
