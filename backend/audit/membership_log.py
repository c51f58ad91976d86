"""Step 6 against the anchored membership log: each published period's members recomputed from the
joins and exits anchored in ``MembershipLog`` (issue 15 item 4).

The log's roots, leaf counts and hash chain are the chain's (``MembershipLog.batch(n)`` at the
audited head). Its leaves — ``(change, memberCommitment, effectiveAt)`` — are read from the
operator's ``membership_log`` rows but used only where they rebuild the root anchored for their
batch, so the database can withhold leaves (a finding) but cannot alter them. Then, per period:

* ``membership_log`` — a member the replayed log counts under protection at the snapshot but the
  period's ledger left out (``side: left_out``; the others paid more), or one the ledger charged
  whom the log does not count (``side: added``);
* ``membership_log_unanchored`` — a join the database dates at or before the snapshot that is not
  in the anchored log although the anchoring deadline has passed (by the audited head's time);
* ``membership_log_late`` — a change anchored more than the deadline after the instant it counts
  from (a late or backdated change);
* ``membership_log_batch`` — an anchored batch whose leaves the database does not hold, or whose
  leaves do not rebuild its root, or a broken hash chain: the log cannot be replayed, so the
  period comparisons are not made.

Replay (``backend.proofs.membership_log.members_at``): under protection at the snapshot instant
``t`` when the latest change effective at or before ``t`` is a join. Changes are grouped by
commitment and streamed in commitment order; the sets compared are still held in memory (N
commitments), which a later incremental tree (contracts/README "MembershipLog") makes O(changes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.errors import ApportionmentInvalid
from backend.chain.apportionment import PeriodRecord
from backend.db.models import Member, MembershipBatch, MembershipLogEntry
from backend.proofs.membership_log import JOIN, MembershipChange, batch_tree, members_at

__all__ = ["MAX_NAMED", "AnchoredLog", "read_membership_log"]

MAX_NAMED = 20  # members named one by one on each side of a period; the rest are counted
_ZERO32 = bytes(32)


@dataclass(frozen=True)
class AnchoredChange:
    change: MembershipChange
    batch_id: int
    block_number: int
    timestamp: int


@dataclass
class AnchoredLog:
    """The membership log as anchored at the audited head, with what could not be verified."""

    changes: list[AnchoredChange] = field(default_factory=list)
    broken: list[ApportionmentInvalid] = field(default_factory=list)
    batches: int = 0

    @property
    def replayable(self) -> bool:
        return not self.broken

    def members_at(self, instant: int) -> set[bytes]:
        ordered = sorted((c.change for c in self.changes), key=lambda c: c.member_commitment)
        return set(members_at(ordered, instant))

    def anchored_commitments(self, change: int) -> set[bytes]:
        return {c.change.member_commitment for c in self.changes if c.change.change == change}


def _batch_finding(message: str, batch: int) -> ApportionmentInvalid:
    return ApportionmentInvalid(f"membership log batch {batch}: {message}", reason="membership_log_batch", batch=batch)


def read_membership_log(contract: Any, sessions: sessionmaker[Session], head: int) -> AnchoredLog:
    """Every batch of ``contract`` (a MembershipLog) at block ``head``, with its leaves from the database."""
    log = AnchoredLog()
    count = int(contract.functions.batchCount().call(block_identifier=head))
    log.batches = count
    with sessions() as session:
        rows = session.execute(
            select(
                MembershipBatch.root,
                MembershipLogEntry.change,
                MembershipLogEntry.commitment,
                MembershipLogEntry.effective_at,
            )
            .join(MembershipBatch, MembershipBatch.id == MembershipLogEntry.batch_id)
            .order_by(MembershipLogEntry.batch_id, MembershipLogEntry.leaf_index)
        ).all()
    leaves: dict[bytes, list[MembershipChange]] = defaultdict(list)
    for root, change, commitment, effective_at in rows:
        leaves[bytes(root)].append(MembershipChange(int(change), bytes(commitment), int(effective_at)))
    previous = _ZERO32
    for n in range(1, count + 1):
        raw = tuple(contract.functions.batch(n).call(block_identifier=head))
        root, prev_root, leaf_count, block_number, timestamp = (
            bytes(raw[0]),
            bytes(raw[1]),
            int(raw[2]),
            int(raw[3]),
            int(raw[4]),
        )
        if prev_root != previous:
            log.broken.append(_batch_finding("prevRoot is not the previous batch's root", n))
        previous = root
        changes = leaves.get(root)
        if not changes:
            log.broken.append(_batch_finding("the database holds no leaves for this anchored root", n))
            continue
        tree = batch_tree([c.leaf_hash() for c in changes])
        if tree.root != root or tree.leaf_count != leaf_count:
            log.broken.append(
                _batch_finding(
                    f"the database's {len(changes)} leaves do not rebuild the anchored root of {leaf_count} leaves", n
                )
            )
            continue
        log.changes.extend(AnchoredChange(c, n, block_number, timestamp) for c in changes)
    return log


def _named(sessions: sessionmaker[Session], commitments: Iterable[bytes]) -> dict[bytes, str]:
    wanted = list(commitments)
    if not wanted:
        return {}
    with sessions() as session:
        query = select(Member.commitment, Member.id).where(Member.commitment.in_(wanted))
        return {bytes(c): str(i) for c, i in session.execute(query)}


def late_findings(log: AnchoredLog, deadline: int | None, launch_block: int | None) -> list[ApportionmentInvalid]:
    """Changes anchored more than ``deadline`` seconds after they count from (None: not checked).

    Changes anchored before ``launch_block`` (the block of the plan's first claim or first
    published period, whichever came first; None: neither yet) are the plan's launch roster:
    members carried over from before the plan was on chain, whose effective dates precede any
    anchoring by nature. They are not held to the deadline; their dates are taken on the
    operator's word (``launchRoster`` in ``backend.audit.trust``), and no change after the launch
    can join them."""
    if deadline is None or launch_block is None:
        return []
    return [
        ApportionmentInvalid(
            f"membership log batch {a.batch_id}: the {'join' if a.change.is_join else 'exit'} of member "
            f"0x{a.change.member_commitment.hex()} effective at {a.change.effective_at} was anchored at "
            f"{a.timestamp}, later than the anchoring deadline of {deadline} s",
            reason="membership_log_late",
            batch=a.batch_id,
            block=a.block_number,
            member="0x" + a.change.member_commitment.hex(),
        )
        for a in log.changes
        if a.block_number >= launch_block and a.timestamp - a.change.effective_at > deadline
    ]


def period_findings(
    log: AnchoredLog,
    sessions: sessionmaker[Session],
    record: PeriodRecord,
    ledger: set[bytes],
    *,
    snapshot_at: datetime,
    block: int,
    deadline: int | None,
    head_time: int,
) -> list[ApportionmentInvalid]:
    """Findings for one period: its ledger's members against the members the anchored log counts."""
    pid = record.period_id
    where = f"period {pid} (block {block})"
    instant = int(snapshot_at.timestamp())
    findings: list[ApportionmentInvalid] = []
    if deadline is not None:
        anchored = log.anchored_commitments(JOIN)
        with sessions() as session:
            pending = session.execute(
                select(MembershipLogEntry.commitment, MembershipLogEntry.member_id, MembershipLogEntry.effective_at)
                .where(MembershipLogEntry.change == JOIN, MembershipLogEntry.effective_at <= instant)
                .order_by(MembershipLogEntry.commitment)
            ).all()
        for commitment, member_id, effective_at in pending:
            if bytes(commitment) not in anchored and head_time - int(effective_at) > deadline:
                findings.append(
                    ApportionmentInvalid(
                        f"{where}: membership_log_unanchored: the join of member 0x{bytes(commitment).hex()} "
                        f"(members row id={member_id}) effective at {int(effective_at)}, before the snapshot, is not "
                        f"in the anchored membership log {head_time - int(effective_at)} s later (deadline "
                        f"{deadline} s)",
                        reason="membership_log_unanchored",
                        period=pid,
                        block=block,
                        member="0x" + bytes(commitment).hex(),
                        row=f"id={member_id}",
                    )
                )
    if not log.replayable:
        return findings
    counted = log.members_at(instant)
    left_out, added = sorted(counted - ledger), sorted(ledger - counted)
    rows = _named(sessions, left_out[:MAX_NAMED])
    for c in left_out[:MAX_NAMED]:
        findings.append(
            ApportionmentInvalid(
                f"{where}: membership_log: member 0x{c.hex()} (members row id={rows.get(c)}) was under protection at "
                "the snapshot by the anchored membership log (join anchored, no exit) but is not in the period's "
                "ledger",
                reason="membership_log",
                side="left_out",
                period=pid,
                block=block,
                member="0x" + c.hex(),
                row=f"id={rows.get(c)}",
            )
        )
    for c in added[:MAX_NAMED]:
        findings.append(
            ApportionmentInvalid(
                f"{where}: membership_log: member 0x{c.hex()} is in the period's ledger but the anchored membership "
                "log does not count it under protection at the snapshot",
                reason="membership_log",
                side="added",
                period=pid,
                block=block,
                member="0x" + c.hex(),
            )
        )
    unnamed = len(left_out) + len(added) - min(len(left_out), MAX_NAMED) - min(len(added), MAX_NAMED)
    if unnamed > 0:
        findings.append(
            ApportionmentInvalid(
                f"{where}: membership_log: {unnamed} more member(s) differ from the anchored log",
                reason="membership_log",
                period=pid,
                block=block,
            )
        )
    return findings
