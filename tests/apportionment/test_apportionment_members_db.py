"""The sharing-member stream on both databases: byte order, paging and the protection rule."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from backend.apportionment.chain_inputs import (
    count_sharing_members,
    packed_members,
    sharing_members,
    snapshot_sharing_members,
)
from backend.db.engine import make_engine, migrate, session_factory
from backend.db.models import Account, Member
from backend.services.membership import protected_commitments_at, protected_members_at

AT = datetime(2031, 3, 6, 16, tzinfo=UTC)  # 2031-03-07 00:00 in Asia/Shanghai


def test_sharing_members_stream_in_byte_order_with_the_protection_rule(db_url: str, tmp_path: Path) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    rng = random.Random(7)
    firsts = list(range(256))
    rng.shuffle(firsts)  # commitments whose first byte spans 0x00..0xff: ordering must be unsigned
    expected: list[bytes] = []
    with sessions.begin() as session:
        for i, first in enumerate(firsts):
            commitment = bytes([first]) + rng.randbytes(31)
            kind = i % 6
            joined = AT - timedelta(days=10 if kind == 1 else 400)  # kind 1: still in its waiting period
            if kind == 2:
                joined = AT + timedelta(seconds=1)  # joins after the snapshot
            ended = AT if kind == 3 else (AT + timedelta(days=1) if kind == 4 else None)  # ends at / after it
            birth = date(1980, 1, 1) if kind != 5 else date(1971, 3, 6)  # kind 5: 60 on the snapshot day
            account = Account(username=f"u{i}", password_hash="x", role="member")
            session.add(account)
            session.flush()
            session.add(
                Member(
                    account_id=account.id,
                    commitment=commitment,
                    salt=bytes(32),
                    birth_date=birth,
                    credit_score=700,
                    joined_at=joined,
                    waiting_ends_at=joined + timedelta(days=90),
                    status="active" if ended is None else "ended",
                    ended_at=ended,
                    rule_set_hash=bytes(32),
                )
            )
            if kind in (0, 1, 4):
                expected.append(commitment)
    expected.sort()
    try:
        with sessions() as session:
            streamed = list(protected_commitments_at(session, AT, batch=7))
            reference = sorted(bytes(m.commitment) for m in protected_members_at(session, AT))
            assert streamed == reference == expected
            assert list(sharing_members(session, AT, chunk_rows=5)) == expected
            assert count_sharing_members(session, AT) == len(expected)
            path = tmp_path / "snapshot.members"
            assert snapshot_sharing_members(session, AT, path) == len(expected)
        assert list(packed_members(path)) == expected
        assert path.stat().st_size == 32 * len(expected)
    finally:
        engine.dispose()
