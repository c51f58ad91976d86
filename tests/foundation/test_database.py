"""Persistence: migrations run on SQLite and PostgreSQL, idempotently; clear errors when unreachable."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from backend.db.engine import check_database, current_revision, make_engine, migrate, session_factory
from backend.db.models import EvidenceItem
from backend.errors import DatabaseError


def test_migrate_creates_schema_and_is_idempotent(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)
    engine = make_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    assert {"evidence_items", "anchor_items", "anchor_batches", "worker_leases", "alembic_version"} <= tables
    assert current_revision(engine) is not None
    engine.dispose()


def test_models_round_trip_binary_fields(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        item = EvidenceItem(
            claim_ref=b"\x01" * 32,
            commitment=b"\x02" * 32,
            salt=b"\x03" * 32,
            plaintext_sha256=b"\x04" * 32,
            cid=b"\x12\x20" + b"\x05" * 32,
            size=10,
            media_type="application/pdf",
        )
        session.add(item)
        session.flush()
        item_id = item.id
    with sessions() as session:
        loaded = session.get(EvidenceItem, item_id)
        assert loaded is not None
        assert loaded.cid == b"\x12\x20" + b"\x05" * 32
        assert loaded.created_at.tzinfo is not None
    engine.dispose()


def test_check_database_names_unreachable_server() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseError, match=r"cannot reach the database postgresql\+psycopg://nobody@127.0.0.1:1/none"):
        check_database(engine)


def test_migrations_form_one_chain_numbered_as_their_files() -> None:
    """Each migration file NNNN_*.py has revision "NNNN" and revises the one before: a file renamed
    without its ids (or two sessions' migrations with one number) leaves alembic two heads."""
    import re
    from pathlib import Path

    versions = Path(__file__).resolve().parents[2] / "backend" / "db" / "migrations" / "versions"
    files = sorted(versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    previous = None
    for path in files:
        text = path.read_text()
        revision = re.search(r'^revision = "([^"]+)"', text, re.M)
        down = re.search(r'^down_revision = (None|"[^"]+")', text, re.M)
        assert revision is not None, path.name
        assert down is not None, path.name
        assert revision.group(1) == path.name[:4], f"{path.name} says revision {revision.group(1)}"
        expected = "None" if previous is None else f'"{previous}"'
        assert down.group(1) == expected, f"{path.name} revises {down.group(1)}, not {expected}"
        previous = revision.group(1)


def test_migration_0014_auth_sessions_downgrades_and_upgrades_again(db_url: str) -> None:
    """0014 adds auth_sessions (per-device sign-out); its downgrade drops the table, rows included,
    and the upgrade after it brings back the same table and indexes."""
    from alembic import command
    from sqlalchemy import text

    from backend.db.engine import alembic_config

    migrate(db_url)
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, username, username_key, password_hash, role, token_version, disabled,"
                " created_at) VALUES ('a1', 'ann', 'ann', 'x', 'member', 0, false, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO auth_sessions (id, account_id, device, created_at, last_seen_at, expires_at)"
                " VALUES ('s1', 'a1', 'Firefox on Linux', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    head = current_revision(engine)
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("auth_sessions")}
    assert {"ix_auth_sessions_account_id", "ix_auth_sessions_expires_at"} <= indexes

    command.downgrade(alembic_config(db_url), "0013")
    assert current_revision(engine) == "0013"
    assert "auth_sessions" not in set(inspect(engine).get_table_names())

    migrate(db_url)
    assert current_revision(engine) == head
    assert {ix["name"] for ix in inspect(engine).get_indexes("auth_sessions")} == indexes
    engine.dispose()


def test_a_pooled_connection_closed_while_idle_is_replaced(postgres_url: str) -> None:
    """The server ended a pooled connection (a restart, an idle timeout): after PING_AFTER_IDLE the
    pool pings it at checkout and hands out a fresh one; a connection used moments ago is not
    pinged (no round trip per checkout)."""
    from sqlalchemy import text

    from backend.db import engine as engine_module

    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as conn:  # used moments ago: the same connection, not pinged
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        admin = make_engine(postgres_url)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        admin.dispose()
        original = engine_module.PING_AFTER_IDLE
        engine_module.PING_AFTER_IDLE = 0.0
        try:
            with engine.connect() as conn:  # pinged, found dead, replaced: the statement succeeds
                again = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        finally:
            engine_module.PING_AFTER_IDLE = original
        assert again != first
    finally:
        engine.dispose()
