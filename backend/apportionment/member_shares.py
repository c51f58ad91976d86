"""A member's own view of apportionment: their share in every published period, and receipts.

Service edge. The list of periods comes from the chain (``PeriodPublished`` events, so periods
published by any replica appear); each amount is read from the period's ledger file (local copy,
or fetched by the CID the chain recorded); the member is found by their salted commitment
(binary search: ledgers are in ascending commitment order). A receipt carries the Merkle proof of
the member's row and the chain fields (chainId, contract, ledgerCid) so that it verifies offline
and on chain (``backend.apportionment.onchain``).

Cost: a receipt rebuilds the period's tree from its ledger (O(N) hashing, 64 bytes per member);
at tens of millions of members that belongs in a per-period cached tree file, not per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.apportionment.ledger import ShareLedgerReader
from backend.apportionment.published import (
    apportionment_client,
    published_events,
    published_ledgers,
)
from backend.apportionment.receipts import ShareReceipt, make_share_receipt
from backend.apportionment.schedule import DEFAULT_SCHEDULE, ApportionmentSchedule
from backend.apportionment.service_errors import NotAMember, ShareNotFound
from backend.db.models import Member

if TYPE_CHECKING:
    from backend.runtime import Runtime

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
    runtime: Runtime, session: Session, account_id: str, *, schedule: ApportionmentSchedule = DEFAULT_SCHEDULE
) -> list[MemberShare]:
    """The member's share in every published period they were part of, oldest first."""
    from evidence_store.multiformats import CID

    commitment = bytes(member_of_account(session, account_id).commitment)
    files = published_ledgers(runtime)
    history: list[MemberShare] = []
    for event in published_events(runtime):
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


def share_receipt(runtime: Runtime, session: Session, account_id: str, period_id: int) -> ShareReceipt:
    """The member's version-1 share receipt for ``period_id``, with chainId, contract and ledgerCid."""
    commitment = bytes(member_of_account(session, account_id).commitment)
    client = apportionment_client(runtime)
    record = client.period(period_id)
    if record is None:
        raise ShareNotFound(f"period {period_id} is not published", period_id=period_id)
    if record.member_count == 0:
        raise ShareNotFound(f"period {period_id} had no sharing members", period_id=period_id)
    path = published_ledgers(runtime).ledger_for(record)
    with ShareLedgerReader(path) as reader:
        found = reader.find(commitment)
        if found is None:
            raise ShareNotFound(f"the member did not share in period {period_id}", period_id=period_id)
        index, row = found
        tree = reader.tree()
        assert tree is not None  # member_count > 0
        return make_share_receipt(
            tree=tree,
            index=index,
            row=row,
            inputs=reader.inputs,
            totals=reader.totals,
            chain_id=int(runtime.w3.eth.chain_id),
            contract=client.address,
            ledger_cid=record.ledger_cid,
        )
