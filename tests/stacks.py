"""Real stacks for tests: anvil, deployed EvidenceNotary, migrated DB, worker factory."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.chain.anvil import AnvilNode, rpc_call
from backend.chain.client import account, connect, contract_at
from backend.chain.compiler import load_artifact
from backend.chain.deploy import SuiteRoles, deploy_suite
from backend.chain.notary import NotaryClient
from backend.chain.transactions import TransactionSender, register_errors
from backend.config import ANVIL_DEV_KEYS, Settings
from backend.db.engine import make_engine, migrate, session_factory
from backend.runtime import Runtime, build_runtime
from backend.services.anchoring import AnchoringWorker
from backend.services.rules import RuleSet

# What a test stack keeps beside a runtime (its anvil node, the rule set it published): kept here,
# not on the runtime, which holds only what the product uses.
_NODES: weakref.WeakKeyDictionary[Runtime, AnvilNode] = weakref.WeakKeyDictionary()
_RULES: weakref.WeakKeyDictionary[Runtime, RuleSet] = weakref.WeakKeyDictionary()


def keep_node(runtime: Runtime, node: AnvilNode) -> None:
    _NODES[runtime] = node


def node_of(runtime: Runtime) -> AnvilNode:
    """The anvil node the test stack started ``runtime`` on."""
    return _NODES[runtime]


def keep_rules(runtime: Runtime, rules: RuleSet) -> None:
    _RULES[runtime] = rules


def rules_of(runtime: Runtime) -> RuleSet:
    """The rule set the test stack published for ``runtime``."""
    return _RULES[runtime]


@dataclass
class NotaryStack:
    node: AnvilNode
    engine: Engine
    sessions: sessionmaker[Session]
    w3: Web3
    notary: NotaryClient
    notary_sender: TransactionSender
    operator_sender: TransactionSender
    workers: list[AnchoringWorker] = field(default_factory=list)

    def worker(self, **kwargs: Any) -> AnchoringWorker:
        kwargs.setdefault("confirmations", 0)
        kwargs.setdefault("max_batch", 100)
        kwargs.setdefault("max_wait", 0)
        kwargs.setdefault("holder", f"test-{len(self.workers)}")
        worker = AnchoringWorker(self.sessions, self.w3, self.notary, self.notary_sender, **kwargs)
        self.workers.append(worker)
        return worker

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            rpc_call(self.node.url, "evm_mine")

    def reorg(self, depth: int) -> None:
        """A real reorg: replace the last ``depth`` blocks with empty ones (anvil_reorg)."""
        rpc_call(self.node.url, "anvil_reorg", [depth, []])

    def anchored_events(self) -> list[dict[str, Any]]:
        logs = self.notary.contract.events.BatchAnchored().get_logs(from_block=0)
        return [dict(entry["args"]) for entry in logs]


def build_stack(node: AnvilNode, db_url: str) -> NotaryStack:
    migrate(db_url)
    engine = make_engine(db_url)
    w3 = connect(node.url)
    operator = TransactionSender(w3, account(ANVIL_DEV_KEYS[0]))
    notary_sender = TransactionSender(w3, account(ANVIL_DEV_KEYS[1]))
    record = deploy_suite(
        w3,
        operator,
        SuiteRoles.with_dev_admin(operator.address, notary_sender.address),
    )
    artifact = load_artifact("EvidenceNotary")
    register_errors([artifact["abi"]])
    notary = NotaryClient(w3, contract_at(w3, record.address("EvidenceNotary"), artifact))
    return NotaryStack(node, engine, session_factory(engine), w3, notary, notary_sender, operator)


@pytest.fixture
def stack(anvil: AnvilNode, sqlite_url: str) -> Iterator[NotaryStack]:
    built = build_stack(anvil, sqlite_url)
    yield built
    built.engine.dispose()


@pytest.fixture
def stack_factory(tmp_path: Path, anvil_factory: Callable[..., AnvilNode]) -> Iterator[Callable[..., NotaryStack]]:
    stacks: list[NotaryStack] = []

    def build(db_url: str | None = None, **anvil_kwargs: Any) -> NotaryStack:
        url = db_url or f"sqlite:///{tmp_path / f'hubao-{len(stacks)}.db'}"
        built = build_stack(anvil_factory(**anvil_kwargs), url)
        stacks.append(built)
        return built

    yield build
    for built in stacks:
        built.engine.dispose()


@pytest.fixture
def runtime_factory(tmp_path: Path, anvil_factory: Callable[..., AnvilNode]) -> Iterator[Callable[..., Runtime]]:
    """A full backend runtime (deployed contracts, migrated DB, evidence store) on a fresh anvil."""
    runtimes: list[Runtime] = []

    def build(node: AnvilNode | None = None, **overrides: Any) -> Runtime:
        node = node or anvil_factory()
        values: dict[str, Any] = {
            "rpc_url": node.url,
            "data_dir": tmp_path / f"data-{len(runtimes)}",
            "confirmations": 0,
            "batch_max_wait": 0,
            "anchoring": False,
            "log_level": "WARNING",
        }
        values.update(overrides)
        runtime = build_runtime(Settings(**values))
        keep_node(runtime, node)
        runtimes.append(runtime)
        return runtime

    yield build
    for runtime in runtimes:
        runtime.close()


@pytest.fixture
def runtime(runtime_factory: Callable[..., Runtime]) -> Runtime:
    return runtime_factory()
