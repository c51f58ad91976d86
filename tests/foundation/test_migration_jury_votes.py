"""Migration 0010: an existing database keeps its jury history, and loses every salt and unrevealed vote.

A database at 0009 with jury seats as the server-held-key era wrote them (a revealed vote with its
salt, a committed but unrevealed vote with its salt) is upgraded: ``vote_salt`` is gone, the revealed
vote and every commitment stay, the unrevealed vote is wiped; the salts' bytes are in no file of the
database any more (SQLite, secure_delete).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import inspect

from backend.db.engine import make_engine, migrate

SALT_REVEALED = bytes.fromhex("a1" * 32)
SALT_SECRET = bytes.fromhex("b2" * 32)
COMMITMENTS = (bytes.fromhex("c3" * 32), bytes.fromhex("d4" * 32))


def _row(db: sqlite3.Connection, table: str, **given: object) -> None:
    """A row of ``table`` with ``given`` values and a placeholder in every other NOT NULL column."""
    values = dict(given)
    for _cid, name, kind, notnull, default, _pk in db.execute(f"PRAGMA table_info({table})").fetchall():
        if name in values or not notnull or default is not None:
            continue
        kind = kind.upper()
        values[name] = (
            b"\x00" * 32
            if "BLOB" in kind
            else 0
            if ("INT" in kind or "BOOL" in kind)
            else f"{table}-{name}-{given['id']}"
        )
    names = ", ".join(values)
    db.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(values))})", list(values.values()))


def test_upgrade_drops_salts_and_unrevealed_votes_and_keeps_history(tmp_path: Path) -> None:
    path = tmp_path / "hubao.db"
    migrate(f"sqlite:///{path}", "0009")
    db = sqlite3.connect(path)
    _row(db, "accounts", id="juror-a")
    _row(db, "accounts", id="juror-b")
    _row(db, "claims", id="claim-1")
    rows = [
        (1, "claim-1", 1, "juror-a", COMMITMENTS[0], True, SALT_REVEALED, True),
        (2, "claim-1", 1, "juror-b", COMMITMENTS[1], False, SALT_SECRET, False),
    ]
    db.executemany(
        "INSERT INTO jury_seats (id, claim_pk, round, juror_id, commitment, vote, vote_salt, revealed)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    db.close()
    assert any(SALT_SECRET in f.read_bytes() for f in tmp_path.glob("hubao.db*"))  # there before the upgrade

    migrate(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    assert "vote_salt" not in {c["name"] for c in inspect(engine).get_columns("jury_seats")}
    with engine.connect() as connection:
        seats = connection.exec_driver_sql("SELECT id, commitment, vote, revealed FROM jury_seats ORDER BY id").all()
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    assert [(s[0], bytes(s[1]), s[2], bool(s[3])) for s in seats] == [
        (1, COMMITMENTS[0], True, True),  # revealed: public on chain, kept
        (2, COMMITMENTS[1], None, False),  # committed, not revealed: the vote is nobody's business yet
    ]
    for file in tmp_path.glob("hubao.db*"):
        content = file.read_bytes()
        assert SALT_SECRET not in content, file.name
        assert SALT_REVEALED not in content, file.name
