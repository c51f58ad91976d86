"""Engine and session factory (SQLite by default, PostgreSQL by URL), and running migrations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from backend.errors import DatabaseError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


# A pooled connection idle longer than this is pinged before it is handed out (a server restart or
# an idle timeout may have closed it); one in use more recently is not (SQLAlchemy's pool_pre_ping
# costs a round trip on every checkout, ~0.2 ms of CPU, several times per request).
PING_AFTER_IDLE = 5.0


def make_engine(url: str, **extra: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    kwargs: dict[str, Any] = {**extra}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling for connections idle over :data:`PING_AFTER_IDLE` (the
    custom recipe of SQLAlchemy's "Dealing with Disconnects"): a dead one is replaced before use.
    A connection that dies while in use fails its statement; SQLAlchemy then invalidates the pool's
    older connections, so the next checkouts reconnect."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return  # new, or used moments ago
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as exc:
            raise DisconnectionError("a pooled database connection was closed while idle") from exc


def chain_outbox_url(url: str) -> str:
    """The database that holds the chain outbox and its senders' leases (``chain_outbox``,
    ``worker_leases``): the same one, except for SQLite a sibling file ``<name>.chain-outbox``.

    Services send some transactions while their own write transaction is open (an objection is
    recorded with its ``objectBySig`` receipt). SQLite has one write lock per file: the sender's
    writes would wait for a transaction that waits for the sender. PostgreSQL locks rows, so one
    database serves both (through a pool of its own, see ``backend.runtime``). SQLite deployments
    are one host by nature; the sibling file is as durable as the main one.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return url
    return parsed.set(database=f"{parsed.database}.chain-outbox").render_as_string(hide_password=False)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def database_sessions(url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the database at ``url``, reached and migrated first, the engine disposed after:
    what a command that needs the database only (not the chain or the evidence store) opens."""
    engine = make_engine(url)
    try:
        check_database(engine)
        migrate(url)  # hosts migrating at once take turns (migrations/env.py)
        yield session_factory(engine)
    finally:
        engine.dispose()


def check_database(engine: Engine) -> None:
    """Raise DatabaseError (one line) when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise DatabaseError(
            f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: "
            f"{str(exc.orig).strip().splitlines()[0]}",
            code="DATABASE_UNREACHABLE",
        ) from exc


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` to ``revision`` (idempotent)."""
    try:
        command.upgrade(alembic_config(url), revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"migration failed: {exc.__class__.__name__}: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        rev: str | None = MigrationContext.configure(conn).get_current_revision()
        return rev
