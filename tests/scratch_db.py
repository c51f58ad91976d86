"""Scratch PostgreSQL databases for tests and benchmarks: one uniquely named database per use,
created on the server at :data:`POSTGRES_ADMIN_URL` and dropped afterwards.

The one copy of this code: ``tests/conftest.py`` (the ``postgres_url`` fixture), the multi-host
cluster (``benchmarks/cluster.py``) and the benchmarks that run on PostgreSQL use it. The product
never imports it.

* :func:`postgres_reachable` — None when the server answers, else one line saying why not;
* :func:`scratch_database` — a context manager: create, yield the SQLAlchemy URL, drop;
* :func:`create_database` / :func:`drop_database` / :func:`database_url` — the same in steps, for
  a database whose name other processes are given (``benchmarks/bench_apportionment.py``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

POSTGRES_ADMIN_URL = os.environ.get("HUBAO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def database_url(name: str, admin_url: str = POSTGRES_ADMIN_URL, driver: str = "postgresql+psycopg") -> str:
    """The URL of database ``name`` on the admin URL's server (``driver`` ``postgresql`` gives the
    plain libpq form ``psycopg.connect`` takes)."""
    url = make_url(admin_url).set(drivername=driver, database=name)
    return url.render_as_string(hide_password=False)


def _admin(admin_url: str) -> Engine:
    return create_engine(
        database_url(make_url(admin_url).database or "postgres", admin_url), isolation_level="AUTOCOMMIT"
    )


def postgres_reachable(admin_url: str = POSTGRES_ADMIN_URL) -> str | None:
    """None when the PostgreSQL server answers; otherwise why not (one line, no password)."""
    try:
        engine = _admin(admin_url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL at {make_url(admin_url).render_as_string()} unreachable: {exc.__class__.__name__}"


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name


def create_database(name: str, admin_url: str = POSTGRES_ADMIN_URL) -> str:
    """Create database ``name`` (dropped first if a crashed run left it); its SQLAlchemy URL."""
    drop_database(_checked(name), admin_url)
    engine = _admin(admin_url)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{_checked(name)}"'))
    finally:
        engine.dispose()
    return database_url(name, admin_url)


def drop_database(name: str, admin_url: str = POSTGRES_ADMIN_URL) -> None:
    """Drop database ``name`` if it exists, ending the sessions still connected to it."""
    _checked(name)
    engine = _admin(admin_url)
    try:
        with engine.connect() as conn:
            if conn.dialect.server_version_info >= (13,):  # type: ignore[operator]
                # Atomic: a process still running (a host's sender polling) cannot reconnect
                # between the sessions' end and the drop, as it could with the two steps below.
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                return
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        engine.dispose()


@contextmanager
def scratch_database(prefix: str = "hubao_scratch", admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A fresh, empty database named ``<prefix>_<random>``: yields its SQLAlchemy URL, drops it
    afterwards (also when the body raised)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = create_database(name, admin_url)
    try:
        yield url
    finally:
        drop_database(name, admin_url)


__all__ = [
    "POSTGRES_ADMIN_URL",
    "create_database",
    "database_url",
    "drop_database",
    "postgres_reachable",
    "scratch_database",
]
