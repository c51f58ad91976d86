"""Shared fixtures: real anvil on a free loopback port, real SQLite / PostgreSQL, the ASGI app.

The chain suite runs on anvil: many tests use anvil-only methods (``anvil_setCode``,
``anvil_reorg``, ``anvil_setBalance``, ``anvil_dumpState``, ``evm_setNextBlockTimestamp``). The
end-to-end scenario also runs on ganache 7.9.2 and hardhat 2.22 (and on ``HUBAO_TEST_RPC_URL``):
``tests/chains/test_matrix.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.chain.anvil import AnvilNode
from backend.config import Settings
from tests.scratch_db import postgres_reachable, scratch_database


@pytest.fixture
def anvil_factory(tmp_path: Path) -> Iterator[Callable[..., AnvilNode]]:
    """Start anvil nodes (stopped at teardown). Keyword arguments go to :class:`AnvilNode`."""
    nodes: list[AnvilNode] = []

    def start(**kwargs: Any) -> AnvilNode:
        kwargs.setdefault("log_path", tmp_path / f"anvil-{len(nodes)}.log")
        node = AnvilNode(**kwargs).start()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.kill()


@pytest.fixture
def anvil(anvil_factory: Callable[..., AnvilNode]) -> AnvilNode:
    """A fresh automining anvil for one test."""
    return anvil_factory()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards (skipped loudly if no server)."""
    reason = postgres_reachable()
    if reason is not None:
        import warnings

        warnings.warn(f"SKIPPING PostgreSQL tests: {reason}", stacklevel=1)
        pytest.skip(reason)
    with scratch_database("hubao_t") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hubao.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Both database backends: every test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "log_level": "WARNING"}
        values.update(overrides)
        return Settings(**values)

    return build
