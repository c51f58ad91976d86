"""The scratch-database helper tests and benchmarks share (``tests/scratch_db.py``)."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.chain.anvil import free_port
from tests.scratch_db import POSTGRES_ADMIN_URL, database_url, postgres_reachable, scratch_database

pytestmark = pytest.mark.postgres


def _exists(name: str) -> bool:
    engine = create_engine(database_url(make_url(POSTGRES_ADMIN_URL).database or "postgres"))
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}))
    finally:
        engine.dispose()


def test_scratch_database_is_fresh_and_dropped_even_when_a_session_is_still_open() -> None:
    reason = postgres_reachable()
    if reason is not None:
        pytest.skip(reason)
    with scratch_database("hubao_t_scratch") as url:
        name = make_url(url).database
        assert name is not None
        assert name.startswith("hubao_t_scratch_")
        engine = create_engine(url)
        left_open = engine.connect()  # a test that forgot to close: dropping must not hang on it
        assert left_open.scalar(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")) == 0
        assert _exists(name)
    assert not _exists(name)
    with contextlib.suppress(Exception):  # its server session was ended by the drop
        left_open.close()
    engine.dispose()


def test_postgres_reachable_names_an_unreachable_server_without_its_password() -> None:
    url = f"postgresql+psycopg://postgres:s3cret@127.0.0.1:{free_port()}/test"
    reason = postgres_reachable(url)
    assert reason is not None
    assert reason.startswith(f"PostgreSQL at postgresql+psycopg://postgres:***@127.0.0.1:{make_url(url).port}/test")
    assert "s3cret" not in reason


def test_database_url_keeps_the_server_and_names_the_driver() -> None:
    admin = "postgresql://postgres@db.example:5433/test"
    assert database_url("hubao_x", admin) == "postgresql+psycopg://postgres@db.example:5433/hubao_x"
    assert database_url("hubao_x", admin, driver="postgresql") == "postgresql://postgres@db.example:5433/hubao_x"
    with pytest.raises(ValueError, match="not a plain database name"), scratch_database('x"; DROP DATABASE x', admin):
        pass
