"""Step 6 with the operator's database: each published period's members = the database's members
under protection at its snapshot, member by member.

``backend.apportionment.audit.check_membership_mirror`` compares the roots; when they differ, the
period's ledger file (fetched by its CID, every block re-hashed) and the database's sharing members
are compared as sets, and each member on one side only is named by its commitment (and, when the
database has it, its ``members`` row): a member the period left out (the others paid more), or one
it charged whom the database does not count. Commitments are salted: naming one reveals nothing.

This is a check of the period against the operator's own mirror; the check against the public,
anchored membership log is ``backend.audit.membership_log``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.apportionment import audit as period_audit
from backend.apportionment.chain_inputs import sharing_members
from backend.apportionment.left_out import fetched_ledger, ledger_members
from backend.apportionment.schedule import ApportionmentSchedule
from backend.audit.errors import ApportionmentInvalid
from backend.chain.apportionment import PeriodRecord
from backend.db.models import Member

__all__ = ["MAX_NAMED", "ledger_members", "membership_mirror_findings"]

MAX_NAMED = 20  # members named one by one on each side; the rest are counted


def _differences(
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
) -> list[ApportionmentInvalid]:
    """Findings (reason ``membership_db``) when the database's sharing members are not the period's."""
    pid = record.period_id
    with sessions() as session:
        check = period_audit.check_membership_mirror(session, record, schedule=schedule)
        if check.ok:
            return []
        with fetched_ledger(store, record) as reader:
            ledger: Iterator[bytes] = (row.member_commitment for row in reader.rows())
            if not reader.ascending:  # not as published: compare as sets
                ledger = iter(sorted(set(ledger)))
            left_out, not_counted, unnamed = _differences(
                sharing_members(session, schedule.period(pid).snapshot_at), ledger, MAX_NAMED
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
