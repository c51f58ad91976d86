"""The composition root: builds settings-derived resources once per process.

``build_runtime`` is called by the app lifespan and by CLI commands; nothing else constructs Web3
clients, engines, contract handles or the evidence store. Library code receives these explicitly.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract import Contract

from backend.chain.client import account, connect, contract_at
from backend.chain.compiler import load_artifact
from backend.chain.deploy import SUITE, DeploymentRecord, SuiteRoles, admin_mismatches, ensure_deployed
from backend.chain.notary import NotaryClient
from backend.chain.transactions import TransactionSender, nonce_lock_path, register_errors
from backend.config import Settings
from backend.db.engine import check_database, make_engine, migrate, session_factory
from backend.db.lease import Lease
from backend.errors import ConfigError
from backend.services.anchoring import AnchoringWorker
from backend.services.auth import load_or_create_secret

log = logging.getLogger(__name__)


def crash_at(point: str) -> Callable[[str], None]:
    """Fault hook for crash tests (RELIABILITY.md A9): SIGKILL this process at ``point``."""

    def hook(reached: str) -> None:
        if reached == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


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
    keyring: Any = None  # evidence_store.Keyring
    jwt_secret: bytes = b""
    extras: dict[str, Any] = field(default_factory=dict)

    def sender(self, signer: LocalAccount) -> TransactionSender:
        """A sender for ``signer`` (a juror's or reviewer's key) whose nonces are allocated under the
        lock every process on this data dir takes for that key."""
        lock = nonce_lock_path(self.settings.resolved_data_dir, self.deployment.chain_id, signer.address)
        return TransactionSender(self.w3, signer, lock_path=lock)

    def anchoring_worker(self, holder: str | None = None) -> AnchoringWorker:
        """The anchoring relay configured by the settings (one per process; the lease elects a leader)."""
        s = self.settings
        return AnchoringWorker(
            self.sessions,
            self.w3,
            NotaryClient(self.w3, self.contracts["EvidenceNotary"]),
            self.notary,
            confirmations=s.confirmations,
            max_batch=s.batch_max_size,
            max_wait=s.batch_max_wait,
            holder=holder or f"{socket.gethostname()}:{os.getpid()}",
            reorg_policy=s.reorg_policy,
            fault=crash_at(s.fault_inject) if s.fault_inject else None,
        )

    def start_background(self) -> None:
        """Run the singleton workers in background threads until :meth:`close`.

        Each runs in every replica; a database lease lets exactly one of them act at a time.
        """
        if "background" in self.extras:
            return
        stop = threading.Event()
        worker = self.anchoring_worker()

        def anchoring() -> None:
            try:
                worker.run_forever(stop)
            except Exception:  # DeepReorg or a bug: the relay stops, /health shows the backlog
                log.exception("anchoring relay stopped")

        schedule = None
        if self.settings.apportionment_auto:
            from backend.apportionment.scheduler import plan_schedule

            schedule = plan_schedule(self.settings)  # a bad calendar stops start-up here

        def workflow_clock() -> None:
            # Finalize notices, draw, tally and redraw juries as chain time passes their windows;
            # queue filings left FILED (a crash or an RPC outage between the database and the chain);
            # publish every apportionment period the chain's clock has closed (scheduler module).
            from backend.apportionment.scheduler import publish_due_periods
            from backend.services.filing import resume_pending_filings
            from backend.services.jury import advance

            lease = Lease(self.sessions, "workflow", worker.lease.holder)
            while not stop.wait(5.0):
                try:
                    if lease.acquire():
                        resume_pending_filings(self)
                        advance(self)
                        if schedule is not None:
                            publish_due_periods(self, schedule=schedule, lease=lease)
                except Exception:
                    log.exception("workflow clock cycle failed; retrying")
            lease.release()

        threads = [threading.Thread(target=fn, name=fn.__name__, daemon=True) for fn in (anchoring, workflow_clock)]
        for thread in threads:
            thread.start()
        self.extras["background"] = (threads, stop)

    def stop_background(self) -> None:
        running = self.extras.pop("background", None)
        if running is not None:
            threads, stop = running
            stop.set()
            for thread in threads:
                thread.join(timeout=30)

    def close(self) -> None:
        self.stop_background()
        relay = self.extras.pop("filing_relay", None)  # services.filing.FilingRelay
        if relay is not None:
            relay.close()
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
    w3 = connect(settings.chain_url, timeout=settings.rpc_timeout)
    chain_id = w3.eth.chain_id
    settings.check_keys_for_chain(chain_id)
    settings.check_production_safety(chain_id)
    # The same keys sign in every process on this data dir (API workers, CLI): a shared nonce lock.
    operator, notary = (
        TransactionSender(w3, signer, lock_path=nonce_lock_path(data_dir, chain_id, signer.address))
        for signer in (account(settings.deployer_private_key()), account(settings.notary_private_key()))
    )
    admin = settings.admin_account()
    record, fresh = ensure_deployed(
        w3,
        operator,
        SuiteRoles(admin=admin, operator=operator.address, notary=notary.address),
        data_dir / "deployment.json",
    )
    if fresh:
        log.info("contracts deployed", extra={"chain_id": chain_id})
    else:
        _check_admin(settings, admin, admin_mismatches(w3, record, admin))
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
        keyring=open_keyring(data_dir / "keys"),
        jwt_secret=(
            settings.jwt_secret.get_secret_value().encode()
            if settings.jwt_secret
            else load_or_create_secret(data_dir / "keys" / "jwt.secret")
        ),
    )


def _check_admin(settings: Settings, admin: str, mismatches: list[str]) -> None:
    """A reused deployment whose admin is not the configured one: refused in production, a warning otherwise."""
    if not mismatches:
        return
    message = (
        f"the deployed contracts are administered by another account than HUBAO_ADMIN_ADDRESS ({admin}): "
        f"{', '.join(mismatches)}; move the admin with beginDefaultAdminTransfer/acceptDefaultAdminTransfer"
    )
    if settings.env == "production":
        raise ConfigError(message, code="PROD_ADMIN_MISMATCH")
    log.warning(message)


def open_keyring(directory: Path) -> Any:
    """The key-encryption keys (one file per key id); a first KEK is created on first use.

    Production deployments replace this directory with a KMS-backed keyring behind the same
    ``Keyring`` protocol.
    """
    from evidence_store.crypto import DirectoryKeyring, FileWrapCounter

    directory.mkdir(parents=True, exist_ok=True)
    # Wrap counts reserved 64 at a time: one durable write per 64 uploads, not per upload.
    keyring = DirectoryKeyring(directory, counter=FileWrapCounter(directory, block=64))
    if not keyring.kids():
        keyring.create_kek()
    return keyring


def open_evidence_store(settings: Settings) -> Any:
    """The configured evidence store (embedded blockstore unless HUBAO_IPFS_API is set)."""
    from evidence_store import open_store

    return open_store(settings.ipfs_api, settings.resolved_data_dir, settings.ipfs_timeout)
