"""Each process keeps a bounded pool of database connections (HUBAO_DATABASE_POOL_SIZE) and never
opens more: a burst of requests reuses them (on PostgreSQL a new connection is a server process,
~5-10 ms of CPU: the claims benchmark measured 0.7 new connections per filing under a 50-request
burst with SQLAlchemy's default 5 + 10 overflow), and a request that finds every connection busy
for HUBAO_DATABASE_POOL_TIMEOUT answers 503 DATABASE_BUSY with Retry-After instead of a 500."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from backend.runtime import Runtime
from tests.accounts.support import Api, make_account, token_for


def test_a_burst_opens_no_connection_beyond_the_pool(runtime_factory: Callable[..., Runtime]) -> None:
    runtime = runtime_factory(database_pool_size=3)
    api = Api(runtime)
    token = token_for(runtime, make_account(runtime, "member"))
    opened: list[int] = []
    event.listen(runtime.engine, "connect", lambda *_a: opened.append(1))
    statuses: list[int] = []

    def ask() -> None:
        statuses.append(api.get("/auth/sessions", token).status_code)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 16
    pool: Any = runtime.engine.pool
    assert pool.size() == 3
    assert len(opened) <= 3  # the pool's connections, reused; none opened and closed per request
    assert pool.checkedout() == 0


def test_every_connection_busy_answers_503_database_busy(runtime_factory: Callable[..., Runtime]) -> None:
    runtime = runtime_factory(database_pool_size=1, database_pool_timeout=0.2)
    api = Api(runtime)
    token = token_for(runtime, make_account(runtime, "member"))
    with runtime.engine.connect():  # the one connection, held (a long transaction elsewhere)
        busy = api.get("/auth/sessions", token)
    assert busy.status_code == 503
    assert busy.json()["code"] == "DATABASE_BUSY"
    assert busy.headers["Retry-After"] == "5"
    assert api.get("/auth/sessions", token).status_code == 200  # released: served again
