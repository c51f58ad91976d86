"""The anchoring lease: one holder at a time on SQLite and PostgreSQL, takeover after expiry."""

from __future__ import annotations

from datetime import timedelta

from backend.db.engine import make_engine, migrate, session_factory
from backend.db.lease import Lease
from backend.db.models import utcnow


def test_lease_has_one_holder_until_it_expires(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    first = Lease(sessions, "anchoring", "worker-a", ttl=10)
    second = Lease(sessions, "anchoring", "worker-b", ttl=10)
    now = utcnow()
    assert first.acquire(now) is True
    assert second.acquire(now) is False
    assert first.acquire(now + timedelta(seconds=5)) is True  # renewal by the holder
    assert second.acquire(now + timedelta(seconds=9)) is False
    assert second.acquire(now + timedelta(seconds=16)) is True  # expired: taken over
    assert second.token == (first.token or 0) + 1  # fencing token moved on
    assert first.still_held() is False
    engine.dispose()


def test_released_lease_is_free_for_another_holder(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    first = Lease(sessions, "anchoring", "worker-a")
    second = Lease(sessions, "anchoring", "worker-b")
    assert first.acquire()
    assert first.still_held()
    first.release()
    assert second.acquire()
    assert second.still_held()
    engine.dispose()
