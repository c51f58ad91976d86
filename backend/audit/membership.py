"""Step 6 with the operator's database: each published period's members = the database's members
under protection at its snapshot, member by member.

``backend.apportionment.audit.check_membership_mirror`` compares the roots; when they differ, the
period's ledger file (fetched by its CID, every block re-hashed) and the database's sharing members
are compared as sets, and each member on one side only is named by its commitment (and, when the
database has it, its ``members`` row): a member the period left out (the others paid more), or one
it charged whom the database does not count. Commitments are salted: naming one reveals nothing.

This is a check of the period against the operator's own mirror; the check against the public,
anchored membership log is ``backend.audit.membership_log``. Both merge two ascending streams
(``merge_differences``): memory does not grow with the members. The ledger's side is
``ledger_commitments``: the file's rows as stored when they are strictly ascending (as published),
else sorted on disk first (``ExternalSort``, under the audit's scratch directory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.apportionment import audit as period_audit
from backend.apportionment.chain_inputs import sharing_members
from backend.apportionment.ledger import ShareLedgerReader
from backend.apportionment.ledger_format import ROW_SIZE
from backend.apportionment.left_out import fetched_ledger, ledger_members
from backend.apportionment.schedule import ApportionmentSchedule
from backend.audit.errors import ApportionmentInvalid
from backend.audit.external_sort import ExternalSort
from backend.chain.apportionment import PeriodRecord
from backend.db.models import Member

__all__ = ["MAX_NAMED", "ledger_commitments", "ledger_members", "membership_mirror_findings", "merge_differences"]

MAX_NAMED = 20  # members named one by one on each side; the rest are counted
_S32 = np.dtype("S32")


def _commitment_blocks(reader: ShareLedgerReader) -> Iterator[bytes]:
    """The ledger's member commitments, packed 32 bytes each, a block of rows at a time."""
    for block in reader.row_blocks():
        rows = np.frombuffer(block, dtype=np.uint8).reshape(-1, ROW_SIZE)
        yield rows[:, :32].tobytes()


def _strictly_ascending(reader: ShareLedgerReader) -> bool:
    previous = b""
    for block in _commitment_blocks(reader):
        keys = np.frombuffer(block, dtype=_S32)
        if block[:32] <= previous or not bool(np.all(keys[:-1] < keys[1:])):
            return False
        previous = block[-32:]
    return True


def ledger_commitments(reader: ShareLedgerReader, scratch_dir: str | os.PathLike[str] | None = None) -> Iterator[bytes]:
    """The ledger's members, ascending and each once, streamed (as a set would give them, sorted).

    A file whose rows are strictly ascending (as published; checked in one pass, whatever its flag
    says) is read as stored; any other is sorted on disk under ``scratch_dir`` first, repeated
    members kept once. Memory: a block of rows (or one sorted partition).
    """
    if reader.ascending and _strictly_ascending(reader):
        for block in _commitment_blocks(reader):
            for off in range(0, len(block), 32):
                yield block[off : off + 32]
        return
    with ExternalSort(32, scratch_dir, unique=True) as ordered:
        for block in _commitment_blocks(reader):
            ordered.add(block)
        ordered.finish()
        for block in ordered.chunks():
            for off in range(0, len(block), 32):
                yield block[off : off + 32]


def merge_differences(
    database: Iterator[bytes], ledger: Iterator[bytes], named: int
) -> tuple[list[bytes], list[bytes], int]:
    """Merge two ascending streams: the first ``named`` commitments only in ``database``, the first
    ``named`` only in ``ledger``, and how many more differ (streamed: a few commitments held)."""
    left_out: list[bytes] = []
    not_counted: list[bytes] = []
    more = 0
    a, b = next(database, None), next(ledger, None)
    while a is not None or b is not None:
        if a is not None and b is not None and a == b:
            a, b = next(database, None), next(ledger, None)
        elif b is None or (a is not None and a < b):
            assert a is not None
            if len(left_out) < named:
                left_out.append(a)
            else:
                more += 1
            a = next(database, None)
        else:
            if len(not_counted) < named:
                not_counted.append(b)
            else:
                more += 1
            b = next(ledger, None)
    return left_out, not_counted, more


def membership_mirror_findings(
    sessions: sessionmaker[Session],
    store: Any,
    record: PeriodRecord,
    *,
    schedule: ApportionmentSchedule,
    block: int,
    scratch_dir: str | os.PathLike[str] | None = None,
) -> list[ApportionmentInvalid]:
    """Findings (reason ``membership_db``) when the database's sharing members are not the period's."""
    pid = record.period_id
    with sessions() as session:
        check = period_audit.check_membership_mirror(session, record, schedule=schedule)
        if check.ok:
            return []
        with fetched_ledger(store, record, scratch_dir) as reader:
            left_out, not_counted, unnamed = merge_differences(
                sharing_members(session, schedule.period(pid).snapshot_at),
                ledger_commitments(reader, scratch_dir),
                MAX_NAMED,
            )
    with sessions() as session:
        named = left_out[:MAX_NAMED]
        query = select(Member.commitment, Member.id).where(Member.commitment.in_(named))
        rows = {bytes(c): str(i) for c, i in session.execute(query)} if named else {}
    where = f"period {pid} (block {block})"
    findings = [
        ApportionmentInvalid(
            f"{where}: membership_db: member {'0x' + c.hex()} (members row id={rows.get(c)}) was under protection at "
            "the snapshot in the database but is not in the period's ledger",
            reason="membership_db",
            period=pid,
            block=block,
            member="0x" + c.hex(),
            row=f"id={rows.get(c)}",
        )
        for c in named
    ]
    findings += [
        ApportionmentInvalid(
            f"{where}: membership_db: member {'0x' + c.hex()} is in the period's ledger but the database does not "
            "count it under protection at the snapshot",
            reason="membership_db",
            period=pid,
            block=block,
            member="0x" + c.hex(),
        )
        for c in not_counted[:MAX_NAMED]
    ]
    if unnamed > 0 or not findings:
        findings.append(
            ApportionmentInvalid(
                f"{where}: membership_db: {check.detail}"
                + (f"; {unnamed} more member(s) differ" if unnamed > 0 else ""),
                reason="membership_db",
                period=pid,
                block=block,
            )
        )
    return findings
