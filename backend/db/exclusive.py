"""One process at a time through a named start-up step, across every host of one database.

Hosts that start together on a fresh database would each migrate it, deploy a contract suite and
anchor the default rule set. :func:`exclusive` serializes such a step: on PostgreSQL with a
session-level advisory lock (released by the server when the holder's connection dies, so a host
killed mid-step blocks no one); on SQLite, whose hosts all see the database file, with an
``flock`` on a file beside it (released by the kernel when the process dies). The next process
in then finds the step done (the migration at head, the deployment recorded) and does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from backend.db.engine import make_engine

__all__ = ["exclusive", "lock_key"]


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of ``name`` (stable across hosts and releases)."""
    return int.from_bytes(hashlib.sha256(b"hubao/exclusive/" + name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def exclusive(url: str, name: str) -> Iterator[None]:
    """Hold the lock ``name`` of the database at ``url`` for the block (waits for another holder)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key(name)})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})
                    conn.commit()
        finally:
            engine.dispose()
        return
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        yield  # a private in-memory database: no other process sees it
        return
    path = Path(f"{database}.{name}.lock")
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
