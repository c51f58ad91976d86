"""One real runtime (anvil + deployed contracts + migrated SQLite + keyring) per test module."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from backend.chain.anvil import AnvilNode
from backend.config import Settings
from backend.runtime import Runtime, build_runtime
from backend.services.bootstrap import bootstrap
from tests.stacks import runtime_factory

__all__ = ["fresh_runtime", "plan_runtime", "runtime_factory"]


@pytest.fixture(scope="module")
def plan_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A bootstrapped runtime shared by the tests of one module (each test uses fresh usernames)."""
    root = tmp_path_factory.mktemp("plan")
    node = AnvilNode(log_path=root / "anvil.log").start()
    settings = Settings(
        rpc_url=node.url,
        data_dir=root / "data",
        confirmations=0,
        batch_max_wait=0,
        anchoring=False,
        log_level="WARNING",
    )
    runtime = build_runtime(settings)
    try:
        bootstrap(runtime)
        yield runtime
    finally:
        runtime.close()
        node.kill()


@pytest.fixture
def fresh_runtime(runtime_factory: Callable[..., Runtime]) -> Runtime:
    """A bootstrapped runtime of its own, for tests that change the rule set in force."""
    runtime = runtime_factory()
    bootstrap(runtime)
    return runtime
