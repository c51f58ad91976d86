"""The deployment record in the shared database: every host of one database uses one suite.

``backend.chain.deploy.ensure_deployed`` reads and writes the record through a
:class:`~backend.chain.deploy.RecordStore`; this is the one the runtime gives it. The first host
to start on a fresh database deploys and records the suite here (under the ``deploy`` start-up
lock, :mod:`backend.db.exclusive`); every later host, whatever its data directory, reuses it.
"""

from __future__ import annotations

import socket
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from backend.chain.deploy import DeploymentRecord, FileRecordStore
from backend.db.models import DeploymentRow, utcnow

__all__ = ["DatabaseRecordStore"]

SUITE_ROW = "suite"


class DatabaseRecordStore:
    """The suite's record in the ``deployments`` table (one row), with a copy in ``copy`` (this
    host's ``<data dir>/deployment.json``, which ``hubao audit`` and other tools read).

    A database without a row yet, on a data directory whose file has one (a host from before the
    database kept it), starts from the file's record; :meth:`keep` then stores it here.
    """

    def __init__(self, sessions: sessionmaker[Session], copy: Path | None = None) -> None:
        self.sessions = sessions
        self.copy = FileRecordStore(copy) if copy is not None else None

    def load(self) -> DeploymentRecord | None:
        with self.sessions() as session:
            row = session.get(DeploymentRow, SUITE_ROW)
            if row is not None:
                return DeploymentRecord.from_json(row.record)
        return self.copy.load() if self.copy is not None else None

    def keep(self, record: DeploymentRecord) -> None:
        """Store ``record`` where it is missing or differs (the database row, the file copy)."""
        with self.sessions() as session:
            row = session.get(DeploymentRow, SUITE_ROW)
            stored = None if row is None else row.record
        if stored != record.to_json():
            self._save_row(record)
        if self.copy is not None and self.copy.load() != record:
            self.copy.save(record)

    def save(self, record: DeploymentRecord) -> None:
        self._save_row(record)
        if self.copy is not None:
            self.copy.save(record)

    def _save_row(self, record: DeploymentRecord) -> None:
        with self.sessions.begin() as session:
            row = session.get(DeploymentRow, SUITE_ROW)
            if row is None:
                session.add(DeploymentRow(name=SUITE_ROW, record=record.to_json(), written_by=socket.gethostname()))
            else:
                row.record = record.to_json()
                row.written_by = socket.gethostname()
                row.updated_at = utcnow()
