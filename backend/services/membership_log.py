"""The membership log's outbox and the member's join receipt (issue 15 item 4).

Every join and every end of a membership (exit, age limit, termination) writes one
``membership_log`` row — the leaf ``(change, commitment, effectiveAt)`` of
``backend.proofs.membership_log`` — in the same transaction as the ``members`` change, so a
membership the database counts is always queued for the public log. The anchoring relay
(``backend.services.anchoring``, outbox ``MEMBERSHIP``) batches the rows into the ``MembershipLog``
contract; once a row's batch is confirmed, :func:`join_receipt` gives its member a receipt that
verifies offline and on chain (``backend.proofs.membership_receipt``).

Errors: ``NOT_A_MEMBER`` (404: the account never joined), ``JoinNotAnchored`` (409
``JOIN_NOT_ANCHORED``: the join is queued, its batch not yet confirmed — ask again later).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Member, MembershipBatch, MembershipLogEntry
from backend.errors import Conflict, NotFound
from backend.proofs.membership_log import JOIN, MembershipChange
from backend.proofs.membership_receipt import MembershipReceipt
from backend.proofs.merkle import process_proof
from backend.services.context import ServiceContext

__all__ = ["MEMBERSHIP_LOG", "JoinNotAnchored", "join_receipt", "my_join_receipt", "record_change"]

MEMBERSHIP_LOG = "MembershipLog"  # its name in the deployment (backend.chain.deploy.SUITE)


class JoinNotAnchored(Conflict):
    code = "JOIN_NOT_ANCHORED"


def record_change(session: Session, member: Member, change: int, at: datetime) -> MembershipLogEntry:
    """Queue ``change`` (JOIN or EXIT) of ``member`` effective at ``at`` (added to ``session``)."""
    leaf = MembershipChange(change, bytes(member.commitment), int(at.timestamp()))
    entry = MembershipLogEntry(
        change=change,
        commitment=leaf.member_commitment,
        effective_at=leaf.effective_at,
        member_id=member.id,
        leaf_hash=leaf.leaf_hash(),
    )
    session.add(entry)
    return entry


def join_receipt(
    session: Session, member: Member, *, chain_id: int, contract: str, private: bool = True
) -> MembershipReceipt:
    """The version-1 receipt of ``member``'s join, once its batch is confirmed on chain.

    ``private`` adds the member's id and salt, which open the commitment (the member's own copy).
    """
    row = session.execute(
        select(MembershipLogEntry, MembershipBatch)
        .join(MembershipBatch, MembershipBatch.id == MembershipLogEntry.batch_id)
        .where(MembershipLogEntry.member_id == member.id, MembershipLogEntry.change == JOIN)
    ).first()
    if row is None or row[1].status != "confirmed" or row[0].proof is None:
        raise JoinNotAnchored("this membership's join is queued for the public log but not anchored yet")
    entry, batch = row
    assert batch.onchain_id is not None
    assert batch.block_number is not None
    assert batch.tx_hash is not None
    packed = bytes(entry.proof or b"")
    proof = tuple(packed[i : i + 32] for i in range(0, len(packed), 32))
    leaf = MembershipChange(entry.change, bytes(entry.commitment), int(entry.effective_at))
    if process_proof(leaf.leaf_hash(), proof) != bytes(batch.root):
        raise JoinNotAnchored("the stored proof of this join does not lead to its batch root")
    return MembershipReceipt(
        chain_id=chain_id,
        contract=contract,
        batch_id=batch.onchain_id,
        root=bytes(batch.root),
        prev_root=bytes(batch.prev_root),
        leaf_count=batch.leaf_count,
        leaf=leaf,
        leaf_hash=leaf.leaf_hash(),
        proof=proof,
        anchor_tx=bytes(batch.tx_hash),
        anchor_block=batch.block_number,
        member_id=member.id if private else None,
        salt=bytes(member.salt) if private else None,
    )


def my_join_receipt(ctx: ServiceContext, session: Session, account_id: str) -> MembershipReceipt:
    """The signed-in member's join receipt, the public copy: the member's salt never leaves the server
    (``GET /members/me`` shows the commitment it is theirs to compare with)."""
    member = session.scalars(select(Member).where(Member.account_id == account_id)).first()
    if member is None:
        raise NotFound("this account has not joined the plan", code="NOT_A_MEMBER")
    return join_receipt(
        session,
        member,
        chain_id=int(ctx.w3.eth.chain_id),
        contract=ctx.deployment.address(MEMBERSHIP_LOG),
        private=False,
    )
