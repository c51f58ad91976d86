"""The evidence access log (RELIABILITY.md E5): every decryption of evidence is recorded first, in a
hash chain (``access_entry_hash``, :mod:`backend.proofs.access_log`) that :func:`verify_access_log`
re-walks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.db.models import EvidenceAccess, utcnow
from backend.proofs.access_log import access_entry_hash
from backend.services.context import ServiceContext

GENESIS = b"\x00" * 32
_access_lock = threading.Lock()  # one chain, no forks: appends are serialised in this process


def log_access(ctx: ServiceContext, evidence_id: str, account_id: str, purpose: str) -> EvidenceAccess:
    """Append one row to the hash-chained access log (serialised: one chain, no forks)."""
    with _access_lock, ctx.sessions.begin() as session:
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(7268211)"))  # across processes
        last = session.scalars(select(EvidenceAccess).order_by(EvidenceAccess.id.desc()).limit(1)).first()
        prev = last.entry_hash if last is not None else GENESIS
        at = utcnow()
        row = EvidenceAccess(
            evidence_id=evidence_id,
            account_id=account_id,
            purpose=purpose,
            at=at,
            prev_hash=prev,
            entry_hash=access_entry_hash(prev, evidence_id, account_id, purpose, at),
        )
        session.add(row)
    return row


@dataclass(frozen=True)
class AccessLogReport:
    ok: bool
    rows: int
    bad_row: int | None = None
    problem: str | None = None


def verify_access_log(session: Session) -> AccessLogReport:
    """Recompute the access log's hash chain; the first row that does not fit is named."""
    prev = GENESIS
    count = 0
    for row in session.scalars(select(EvidenceAccess).order_by(EvidenceAccess.id)):
        count += 1
        if row.prev_hash != prev:
            return AccessLogReport(False, count, row.id, "prev_hash does not link to the row before (row deleted?)")
        expected = access_entry_hash(row.prev_hash, row.evidence_id, row.account_id, row.purpose, row.at)
        if row.entry_hash != expected:
            return AccessLogReport(False, count, row.id, "entry_hash does not match the row's contents (row edited)")
        prev = row.entry_hash
    return AccessLogReport(True, count)
