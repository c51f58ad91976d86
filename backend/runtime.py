"""The composition root: builds settings-derived resources once per process.

``build_runtime`` is called by the app lifespan and by CLI commands; nothing else constructs Web3
clients, engines, contract handles or the evidence store. Library code receives these explicitly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract import Contract

from backend.chain.client import account, connect, contract_at
from backend.chain.compiler import load_artifact
from backend.chain.deploy import SUITE, DeploymentRecord, SuiteRoles, ensure_deployed
from backend.chain.transactions import TransactionSender, register_errors
from backend.config import Settings
from backend.db.engine import check_database, make_engine, migrate, session_factory

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    w3: Web3
    deployment: DeploymentRecord
    contracts: dict[str, Contract]
    operator: TransactionSender
    notary: TransactionSender
    store: Any = None  # evidence_store.EvidenceStore
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.engine.dispose()
        closer = getattr(self.store, "close", None)
        if callable(closer):
            closer()


def build_runtime(settings: Settings, *, migrate_db: bool = True) -> Runtime:
    """Connect to (and if needed migrate) the database, the chain and the evidence store; deploy."""
    data_dir = settings.ensure_data_dir()
    engine = make_engine(settings.sqlalchemy_url)
    check_database(engine)
    if migrate_db:
        migrate(settings.sqlalchemy_url)
    w3 = connect(settings.chain_url)
    chain_id = w3.eth.chain_id
    settings.check_keys_for_chain(chain_id)
    settings.check_production_safety(chain_id)
    operator = TransactionSender(w3, account(settings.deployer_private_key()))
    notary = TransactionSender(w3, account(settings.notary_private_key()))
    record, fresh = ensure_deployed(
        w3, operator, SuiteRoles(admin=operator.address, notary=notary.address), data_dir / "deployment.json"
    )
    if fresh:
        log.info("contracts deployed", extra={"chain_id": chain_id})
    contracts = {}
    for spec in SUITE:
        artifact = load_artifact(spec.name)
        register_errors([artifact["abi"]])
        contracts[spec.name] = contract_at(w3, record.address(spec.name), artifact)
    store = open_evidence_store(settings)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        w3=w3,
        deployment=record,
        contracts=contracts,
        operator=operator,
        notary=notary,
        store=store,
    )


def open_evidence_store(settings: Settings) -> Any:
    """The configured evidence store (embedded blockstore unless HUBAO_IPFS_API is set)."""
    from evidence_store import open_store  # type: ignore[attr-defined]

    return open_store(settings.ipfs_api, settings.resolved_data_dir, settings.ipfs_timeout)
