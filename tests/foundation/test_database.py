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
