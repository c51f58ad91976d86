"""A member's own view of apportionment: their share in every published period, and receipts.

Service edge. The list of periods comes from the chain (``PeriodPublished`` events, so periods
published by any replica appear); each amount is read from the period's ledger file (local copy,
or fetched by the CID the chain recorded); the member is found by their salted commitment
(binary search: ledgers are in ascending commitment order). A receipt carries the Merkle proof of
the member's row and the chain fields (chainId, contract, ledgerCid) so that it verifies offline
and on chain (``backend.apportionment.onchain``).

Cost: a receipt is two binary searches (the member's row in the ledger, its leaf in the period's
share-tree node file, ``share_tree.ShareTreeFile``) and one read per proof level: O(log N) reads,
constant memory. The node file is written at publishing, or built once from the ledger on a
replica that lacks it (``PublishedLedgers.tree_for``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.apportionment.errors import ApportionmentError, ShareLeafHashMismatch
from backend.apportionment.ledger import ShareLedgerReader, share_leaf_hash
from backend.apportionment.published import (
    apportionment_client,
    published_events,
    published_ledgers,
)
from backend.apportionment.receipts import ShareReceipt, share_receipt_from_proof
from backend.apportionment.schedule import ApportionmentSchedule
from backend.apportionment.scheduler import plan_schedule
from backend.apportionment.service_errors import NotAMember, PeriodRecordMismatch, ShareNotFound
from backend.apportionment.share_tree import ShareTreeFile
from backend.db.models import Member
from backend.proofs.errors import ProofError
from backend.services.context import ServiceContext
from evidence_store.multiformats import CID

__all__ = ["MemberShare", "member_of_account", "share_history", "share_receipt"]


@dataclass(frozen=True, slots=True)
class MemberShare:
    """One period's charge for one member (fen)."""

    period_id: int
    notice_at: str
    debit_at: str
    share_fen: int
    subsidy_fen: int
    year_to_date_fen: int
    base_fen: int
    wind_down: bool
    ledger_cid: str

    def to_json(self) -> dict[str, Any]:
        return {
            "periodId": self.period_id,
            "noticeAt": self.notice_at,
            "debitAt": self.debit_at,
            "shareFen": self.share_fen,
            "subsidyFen": self.subsidy_fen,
            "yearToDateFen": self.year_to_date_fen,
            "baseFen": self.base_fen,
            "windDown": self.wind_down,
            "ledgerCid": self.ledger_cid,
        }


def member_of_account(session: Session, account_id: str) -> Member:
    """The membership of a signed-in account (``NotAMember`` when it has none)."""
    member = session.scalars(select(Member).where(Member.account_id == account_id)).first()
    if member is None:
        raise NotAMember("this account has no plan membership")
    return member


def share_history(
    ctx: ServiceContext, session: Session, account_id: str, *, schedule: ApportionmentSchedule | None = None
) -> list[MemberShare]:
    """The member's share in every published period they were part of, oldest first.

    ``schedule`` defaults to the configured calendar (``scheduler.plan_schedule``).
    """
    schedule = schedule or plan_schedule(ctx.settings)

    commitment = bytes(member_of_account(session, account_id).commitment)
    files = published_ledgers(ctx)
    history: list[MemberShare] = []
    for event in published_events(ctx):
        record = event.record
        if record.member_count == 0:
            continue
        with ShareLedgerReader(files.ledger_for(record)) as reader:
            found = reader.find(commitment)
        if found is None:
            continue
        _, row = found
        period = schedule.period(record.period_id)
        history.append(
            MemberShare(
                period_id=record.period_id,
                notice_at=period.notice_at.isoformat(),
                debit_at=period.debit_at.isoformat(),
                share_fen=row.share_fen,
                subsidy_fen=row.subsidy_fen,
                year_to_date_fen=row.year_to_date_fen,
                base_fen=record.base_fen,
                wind_down=record.wind_down,
                ledger_cid=str(CID.from_bytes(record.ledger_cid)),
            )
        )
    return history


def share_receipt(ctx: ServiceContext, session: Session, account_id: str, period_id: int) -> ShareReceipt:
    """The member's version-1 share receipt for ``period_id``, with chainId, contract and ledgerCid."""
    commitment = bytes(member_of_account(session, account_id).commitment)
    client = apportionment_client(ctx)
    record = client.period(period_id)
    if record is None:
        raise ShareNotFound(f"period {period_id} is not published", period_id=period_id)
    if record.member_count == 0:
        raise ShareNotFound(f"period {period_id} had no sharing members", period_id=period_id)
    files = published_ledgers(ctx)
    with ShareLedgerReader(files.ledger_for(record)) as reader:
        found = reader.find(commitment)
        if found is None:
            raise ShareNotFound(f"the member did not share in period {period_id}", period_id=period_id)
        _, row = found
        inputs, totals = reader.inputs, reader.totals
    for rebuild in (False, True):
        with ShareTreeFile(files.tree_for(record, rebuild=rebuild)) as tree:
            tree_index = tree.find_leaf(share_leaf_hash(row))
            proof = None if tree_index is None else tree.proof(tree_index)
        try:
            if proof is None:
                raise ShareLeafHashMismatch("the period's share tree lacks this row", field="leaf")
            return share_receipt_from_proof(
                ledger_root=record.ledger_root,
                proof=proof,
                row=row,
                inputs=inputs,
                totals=totals,
                chain_id=int(ctx.w3.eth.chain_id),
                contract=client.address,
                ledger_cid=record.ledger_cid,
            )
        except (ApportionmentError, ProofError):  # a damaged node file: rebuild it once
            if rebuild:
                raise PeriodRecordMismatch(
                    f"no valid proof for a row of period {period_id} from its ledger", period_id=period_id
                ) from None
    raise AssertionError("unreachable")
