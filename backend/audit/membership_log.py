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

Replay (``backend.proofs.membership_log.members_at_packed``): under protection at the snapshot
instant ``t`` when the latest change effective at or before ``t`` is a join.

Bounded memory at any member count (issue 18 item 5): the anchored batches are read one at a time
(its leaves from the database, its root from the chain: one batch in memory); each verified
batch's changes are packed (41-byte records) into an on-disk ``ExternalSort`` under the audit's
scratch directory, sorted once by (commitment, effectiveAt, change) a partition at a time; then
each period replays the sorted runs a chunk at a time and merges the members it counts with the
period's ledger file (stored in commitment order) — ``backend.audit.membership.merge_differences``,
the same merge the database mirror uses. The unanchored-join query streams in commitment order
against the sorted anchored joins. ``AnchoredLog.close`` removes the scratch files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.apportionment.ledger import ShareLedgerReader
from backend.audit.errors import ApportionmentInvalid
from backend.audit.external_sort import BUFFER_BYTES, SORT_BYTES, ExternalSort
from backend.audit.membership import ledger_commitments, merge_differences
from backend.chain.apportionment import PeriodRecord
from backend.db.models import Member, MembershipBatch, MembershipLogEntry
from backend.proofs.membership_log import (
    CHANGE_RECORD,
    CHANGE_RECORD_SIZE,
    JOIN,
    MembershipChange,
    batch_tree,
    members_at_packed,
    pack_change,
)

__all__ = ["MAX_NAMED", "AnchoredBatch", "AnchoredLog", "anchored_batches", "read_membership_log"]

MAX_NAMED = 20  # members named one by one on each side of a period; the rest are counted
_ZERO32 = bytes(32)
_PENDING_ROWS = 10_000  # rows fetched at a time by the unanchored-join query


@dataclass(frozen=True)
class AnchoredBatch:
    """One ``MembershipLog.batch(n)`` as the chain holds it at the audited head."""

    number: int
    root: bytes
    prev_root: bytes
    leaf_count: int
    block_number: int
    timestamp: int


def anchored_batches(contract: Any, head: int) -> Iterator[AnchoredBatch]:
    """Every batch of ``contract`` (a MembershipLog) at block ``head``, read one at a time."""
    count = int(contract.functions.batchCount().call(block_identifier=head))
    for n in range(1, count + 1):
        raw = tuple(contract.functions.batch(n).call(block_identifier=head))
        yield AnchoredBatch(n, bytes(raw[0]), bytes(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]))


@dataclass
class AnchoredLog:
    """The membership log as anchored at the audited head, with what could not be verified.

    The verified changes are on disk, sorted (``ExternalSort`` of packed change records); the
    object owns them until ``close``.
    """

    changes: ExternalSort
    broken: list[ApportionmentInvalid] = field(default_factory=list)
    late: list[ApportionmentInvalid] = field(default_factory=list)
    batches: int = 0

    def __enter__(self) -> AnchoredLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.changes.close()

    @property
    def replayable(self) -> bool:
        return not self.broken

    @property
    def change_count(self) -> int:
        return self.changes.count

    def members_at(self, instant: int) -> Iterator[bytes]:
        """The members under protection at ``instant``, ascending (one sorted chunk in memory)."""
        for block in members_at_packed(self.changes.chunks(), instant):
            for off in range(0, len(block), 32):
                yield block[off : off + 32]

    def anchored_commitments(self, change: int) -> Iterator[bytes]:
        """The commitments with an anchored change of kind ``change``, ascending, each once."""
        last = b""
        for chunk in self.changes.chunks():
            records = np.frombuffer(chunk, dtype=CHANGE_RECORD)
            commitments = records["commitment"][records["change"] == change]
            if not len(commitments):
                continue
            keep = np.empty(len(commitments), dtype=bool)
            keep[0] = commitments[:1].tobytes() != last
            np.not_equal(commitments[1:], commitments[:-1], out=keep[1:])
            block = commitments[keep].tobytes()
            for off in range(0, len(block), 32):
                yield block[off : off + 32]
            last = commitments[-1:].tobytes()


def _batch_finding(message: str, batch: int) -> ApportionmentInvalid:
    return ApportionmentInvalid(f"membership log batch {batch}: {message}", reason="membership_log_batch", batch=batch)


def _late_finding(change: MembershipChange, batch: AnchoredBatch, deadline: int) -> ApportionmentInvalid:
    return ApportionmentInvalid(
        f"membership log batch {batch.number}: the {'join' if change.is_join else 'exit'} of member "
        f"0x{change.member_commitment.hex()} effective at {change.effective_at} was anchored at "
        f"{batch.timestamp}, later than the anchoring deadline of {deadline} s",
        reason="membership_log_late",
        batch=batch.number,
        block=batch.block_number,
        member="0x" + change.member_commitment.hex(),
    )


def read_membership_log(
    batches: Iterable[AnchoredBatch],
    sessions: sessionmaker[Session],
    *,
    scratch_dir: str | os.PathLike[str] | None = None,
    deadline: int | None = None,
    launch_block: int | None = None,
    buffer_bytes: int = BUFFER_BYTES,
    sort_bytes: int = SORT_BYTES,
) -> AnchoredLog:
    """The anchored ``batches`` (``anchored_batches``), each with its leaves from the database.

    One batch at a time: its leaves are the ``membership_log`` rows of the database batch with the
    anchored root, in leaf order; they must rebuild that root with the anchored leaf count, and
    each batch's ``prevRoot`` must be the root before it (else a ``membership_log_batch`` finding in
    ``broken``). Verified changes go to a sorted scratch store under ``scratch_dir`` (the caller
    closes the log to remove it). Changes anchored more than ``deadline`` seconds after they count
    from are ``late`` (None: not checked), except those anchored before ``launch_block``: the
    plan's launch roster (members carried over from before the plan was on chain, whose effective
    dates precede any anchoring by nature; their dates are taken on the operator's word,
    ``launchRoster`` in ``backend.audit.trust``). None: no launch yet, nothing judged late.
    """
    log = AnchoredLog(ExternalSort(CHANGE_RECORD_SIZE, scratch_dir, buffer_bytes=buffer_bytes, sort_bytes=sort_bytes))
    try:
        previous = _ZERO32
        with sessions() as session:
            for batch in batches:
                n = batch.number
                log.batches += 1
                if batch.prev_root != previous:
                    log.broken.append(_batch_finding("prevRoot is not the previous batch's root", n))
                previous = batch.root
                rows = session.execute(
                    select(MembershipLogEntry.change, MembershipLogEntry.commitment, MembershipLogEntry.effective_at)
                    .join(MembershipBatch, MembershipBatch.id == MembershipLogEntry.batch_id)
                    .where(MembershipBatch.root == batch.root)
                    .order_by(MembershipLogEntry.batch_id, MembershipLogEntry.leaf_index)
                )
                changes = [MembershipChange(int(c), bytes(m), int(e)) for c, m, e in rows]
                if not changes:
                    log.broken.append(_batch_finding("the database holds no leaves for this anchored root", n))
                    continue
                tree = batch_tree([c.leaf_hash() for c in changes])
                if tree.root != batch.root or tree.leaf_count != batch.leaf_count:
                    log.broken.append(
                        _batch_finding(
                            f"the database's {len(changes)} leaves do not rebuild the anchored root of "
                            f"{batch.leaf_count} leaves",
                            n,
                        )
                    )
                    continue
                log.changes.add(b"".join(pack_change(c.change, c.member_commitment, c.effective_at) for c in changes))
                if deadline is not None and launch_block is not None and batch.block_number >= launch_block:
                    log.late.extend(
                        _late_finding(c, batch, deadline)
                        for c in changes
                        if batch.timestamp - c.effective_at > deadline
                    )
        log.changes.finish()
    except BaseException:
        log.close()
        raise
    return log


def _named(sessions: sessionmaker[Session], commitments: Iterable[bytes]) -> dict[bytes, str]:
    wanted = list(commitments)
    if not wanted:
        return {}
    with sessions() as session:
        query = select(Member.commitment, Member.id).where(Member.commitment.in_(wanted))
        return {bytes(c): str(i) for c, i in session.execute(query)}


class _SortedLookup:
    """Membership tests against an ascending stream of unique commitments, for keys asked in
    ascending order (a merge: one commitment held); a key below the one before restarts the stream."""

    def __init__(self, stream: Callable[[], Iterator[bytes]]) -> None:
        self._stream = stream
        self._it = stream()
        self._current = next(self._it, None)
        self._asked = b""

    def __contains__(self, key: bytes) -> bool:
        if key < self._asked:
            self._it = self._stream()
            self._current = next(self._it, None)
        self._asked = key
        while self._current is not None and self._current < key:
            self._current = next(self._it, None)
        return self._current == key


def period_findings(
    log: AnchoredLog,
    sessions: sessionmaker[Session],
    record: PeriodRecord,
    ledger: ShareLedgerReader,
    *,
    snapshot_at: datetime,
    block: int,
    deadline: int | None,
    head_time: int,
    scratch_dir: str | os.PathLike[str] | None = None,
) -> list[ApportionmentInvalid]:
    """Findings for one period: its ledger's members against the members the anchored log counts.

    Streamed: the log's members at the snapshot and the ledger's members are merged in commitment
    order (a ledger file not in strictly ascending order is sorted under ``scratch_dir`` first).
    """
    pid = record.period_id
    where = f"period {pid} (block {block})"
    instant = int(snapshot_at.timestamp())
    findings: list[ApportionmentInvalid] = []
    if deadline is not None:
        anchored = _SortedLookup(lambda: log.anchored_commitments(JOIN))
        with sessions() as session:
            pending = session.execute(
                select(MembershipLogEntry.commitment, MembershipLogEntry.member_id, MembershipLogEntry.effective_at)
                .where(MembershipLogEntry.change == JOIN, MembershipLogEntry.effective_at <= instant)
                .order_by(MembershipLogEntry.commitment)
                .execution_options(yield_per=_PENDING_ROWS)
            )
            for commitment, member_id, effective_at in pending:
                if head_time - int(effective_at) > deadline and bytes(commitment) not in anchored:
                    findings.append(
                        ApportionmentInvalid(
                            f"{where}: membership_log_unanchored: the join of member 0x{bytes(commitment).hex()} "
                            f"(members row id={member_id}) effective at {int(effective_at)}, before the snapshot, is "
                            f"not in the anchored membership log {head_time - int(effective_at)} s later (deadline "
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
    left_out, added, unnamed = merge_differences(
        log.members_at(instant), ledger_commitments(ledger, scratch_dir), MAX_NAMED
    )
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
