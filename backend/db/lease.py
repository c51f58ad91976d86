"""Named leases in the database: one holder at a time for singleton workers (anchoring leader).

A lease is taken with a single conditional UPDATE (free, expired, or already ours), so it works the
same on SQLite and PostgreSQL without advisory locks. Each takeover increments a fencing token;
the holder re-checks the token right before any irreversible action (sending a transaction).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import WorkerLease, utcnow


class Lease:
    def __init__(self, sessions: sessionmaker[Session], name: str, holder: str, ttl: float = 15.0) -> None:
        self.sessions = sessions
        self.name = name
        self.holder = holder
        self.ttl = timedelta(seconds=ttl)
        self.token: int | None = None

    def acquire(self, now: datetime | None = None) -> bool:
        """Take or renew the lease; True while this holder has it."""
        now = now or utcnow()
        expires = now + self.ttl
        with self.sessions.begin() as session:
            ours = _rowcount(
                session.execute(
                    update(WorkerLease)
                    .where(WorkerLease.name == self.name, WorkerLease.holder == self.holder)
                    .values(expires_at=expires)
                )
            )
            if ours:
                self.token = session.scalar(select(WorkerLease.fencing_token).where(WorkerLease.name == self.name))
                return True
            taken = _rowcount(
                session.execute(
                    update(WorkerLease)
                    .where(WorkerLease.name == self.name, WorkerLease.expires_at < now)
                    .values(holder=self.holder, expires_at=expires, fencing_token=WorkerLease.fencing_token + 1)
                )
            )
            if taken:
                self.token = session.scalar(select(WorkerLease.fencing_token).where(WorkerLease.name == self.name))
                return True
            exists = session.get(WorkerLease, self.name) is not None
        if exists:
            self.token = None
            return False
        try:
            with self.sessions.begin() as session:
                session.add(WorkerLease(name=self.name, holder=self.holder, expires_at=expires, fencing_token=1))
        except IntegrityError:
            return self.acquire(now)
        self.token = 1
        return True

    def still_held(self) -> bool:
        """True when the lease is ours with the same fencing token (checked before irreversible steps)."""
        if self.token is None:
            return False
        with self.sessions() as session:
            row = session.get(WorkerLease, self.name)
            return (
                row is not None
                and row.holder == self.holder
                and row.fencing_token == self.token
                and row.expires_at > utcnow()
            )

    def fence(self, session: Session, now: datetime | None = None) -> bool:
        """Renew the lease inside ``session``'s transaction if it is still ours with the same
        fencing token; False when it is not (it expired, or a newer holder took it).

        Run it as the transaction's first statement: its UPDATE holds the lease row's lock
        (PostgreSQL) or the database's write lock (SQLite) until the transaction ends, so no
        takeover commits in between and everything the transaction writes was written under this
        token (the chain outbox signs nonces this way)."""
        if self.token is None:
            return False
        now = now or utcnow()
        renewed = _rowcount(
            session.execute(
                update(WorkerLease)
                .where(
                    WorkerLease.name == self.name,
                    WorkerLease.holder == self.holder,
                    WorkerLease.fencing_token == self.token,
                    WorkerLease.expires_at > now,
                )
                .values(expires_at=now + self.ttl)
            )
        )
        return renewed == 1

    def release(self) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(WorkerLease)
                .where(WorkerLease.name == self.name, WorkerLease.holder == self.holder)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        self.token = None


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
