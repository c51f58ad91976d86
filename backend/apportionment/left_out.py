"""A member's own check, from their join receipt: was I left out of a published period?

For every period published on chain whose snapshot is at or after the join's ``effectiveAt``, the
period's ledger file is fetched by the CID its record names (every block re-hashed by the store,
its members' snapshot root checked against the record's ``membershipRoot``) and searched for the receipt's commitment.
``backend.proofs.membership_receipt.left_out_of_period`` decides: a join effective at or before the
snapshot, anchored no later than the period's publication, and not in the period's members.

An exit is the one thing the member's receipt cannot rule out — the anchored log's leaves are the
operator's to publish — so the verdict assumes the member did not leave before the snapshot (they
know) and says so; the audit's step 6 replays the whole log (``backend.audit.membership_log``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.apportionment.ledger import ShareLedgerReader
from backend.apportionment.ledger_format import membership_snapshot
from backend.apportionment.schedule import ApportionmentSchedule
from backend.chain.apportionment import ApportionmentClient, PeriodRecord
from backend.errors import HubaoError
from backend.proofs.membership_receipt import MembershipReceipt, left_out_of_period
from evidence_store.multiformats import CID

__all__ = ["LedgerMembersMismatch", "PeriodMembership", "fetched_ledger", "ledger_members", "periods_of_member"]


class LedgerMembersMismatch(HubaoError):
    """A period's ledger file does not hold the members its published membership root commits to."""

    code = "LEDGER_MEMBERSHIP_ROOT_MISMATCH"


@dataclass(frozen=True)
class PeriodMembership:
    period_id: int
    snapshot_at: int
    published_block: int
    in_period: bool
    left_out: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "periodId": self.period_id,
            "snapshotAt": self.snapshot_at,
            "publishedBlock": self.published_block,
            "inPeriod": self.in_period,
            "leftOut": self.left_out,
        }


@contextmanager
def fetched_ledger(
    store: Any, record: PeriodRecord, directory: str | os.PathLike[str] | None = None
) -> Iterator[ShareLedgerReader]:
    """A period's ledger file fetched by its CID (every block re-hashed) into a temp file, opened.

    The temp directory is made under ``directory`` (default: the system's) and removed after."""
    if directory is not None:
        Path(directory).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hubao-ledger-members-", dir=directory) as tmp:
        path = Path(tmp) / "ledger.hsl"
        with open(path, "wb") as fh:
            for chunk in store.cat(CID.from_bytes(record.ledger_cid)):
                fh.write(chunk)
        with ShareLedgerReader(path) as reader:
            yield reader


def ledger_members(store: Any, record: PeriodRecord) -> set[bytes]:
    """The members of a period's ledger file as a set (small periods and tests; O(N) memory)."""
    with fetched_ledger(store, record) as reader:
        return {row.member_commitment for row in reader.rows()}


def _ledger_membership(store: Any, record: PeriodRecord, commitment: bytes) -> tuple[bytes, bool]:
    """(membership-snapshot root over the ledger's members, whether ``commitment`` is one): streamed,
    the root in bounded memory, the member by binary search."""
    if not record.member_count:
        return bytes(32), False
    with fetched_ledger(store, record) as reader:
        root = membership_snapshot((row.member_commitment for row in reader.rows()), require_ascending=False).root
        return root, reader.find(commitment) is not None


def periods_of_member(
    receipt: MembershipReceipt,
    client: ApportionmentClient,
    store: Any,
    schedule: ApportionmentSchedule,
    *,
    from_block: int = 0,
) -> list[PeriodMembership]:
    """Each published period from the join on: whether the member is in it, and whether left out."""
    found = []
    for event in client.published_events(from_block=from_block):
        pid = event.record.period_id
        snapshot = int(schedule.period(pid).snapshot_at.timestamp())
        if snapshot < receipt.leaf.effective_at:
            continue
        snapshot_root, in_period = _ledger_membership(store, event.record, receipt.leaf.member_commitment)
        if snapshot_root != event.record.membership_root:
            raise LedgerMembersMismatch(
                f"period {pid}: the ledger file's members do not give the published membership root", period=pid
            )
        left_out = left_out_of_period(
            receipt,
            snapshot_at=snapshot,
            published_block=event.block_number,
            in_period=in_period,
            exit_before_snapshot=False,
        )
        found.append(PeriodMembership(pid, snapshot, event.block_number, in_period, left_out))
    return found
