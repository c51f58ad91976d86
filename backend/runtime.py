"""The composition root: builds settings-derived resources once per process and wires them.

``build_runtime`` is called by the app lifespan and by CLI commands; nothing else constructs Web3
clients, engines, contract handles or the evidence store. The :class:`Runtime` it returns is the
services' :class:`~backend.services.context.ServiceContext` (services receive it, never import
this module), completed with the per-process filing relay and wind-down gate; it starts and stops
the background loops of :mod:`backend.background` and closes everything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.apportionment.wind_down import WindDownGate
from backend.background import BackgroundLoops, anchoring_worker
from backend.chain.claims import ClaimLedgerClient
from backend.chain.client import account, connect, contract_at
from backend.chain.compiler import load_artifact
from backend.chain.deploy import SUITE, SuiteRoles, admin_mismatches, ensure_deployed
from backend.chain.node import artifacts_evm_version, check_evm
from backend.chain.transactions import Sender, register_errors
from backend.config import Settings
from backend.db.deployments import DatabaseRecordStore
from backend.db.engine import chain_outbox_url, check_database, make_engine, migrate, session_factory
from backend.db.exclusive import exclusive
from backend.db.shared_secrets import check_shared_secrets, jwt_fingerprint
from backend.errors import ConfigError
from backend.proofs.keccak import speed_up_eth_hash
from backend.services.anchoring import EVIDENCE, AnchoringWorker, Outbox
from backend.services.auth import load_or_create_secret
from backend.services.chain_outbox import ChainOutbox
from backend.services.claim_filing import write_filings
from backend.services.context import ServiceContext
from backend.services.filing import relay_filings
from backend.services.filing_relay import FilingRelay
from backend.services.filing_writer import FilingWriter
from backend.services.login_throttle import LoginThrottle, check_storage
from evidence_store import open_store
from evidence_store.crypto import DirectoryKeyring, FileWrapCounter
from evidence_store.interface import EvidenceStore

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Runtime(ServiceContext):
    """The :class:`ServiceContext` of this process plus what only the composition root handles:
    the per-process helpers wired at construction, the background loops and closing it all."""

    background: BackgroundLoops | None = field(default=None, init=False)
    login_throttle: LoginThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.filing_relay = FilingRelay(partial(relay_filings, self))
        self.filing_writer = FilingWriter(partial(write_filings, self), lambda prepared: prepared.draft.claim_pk)
        self.claim_filing_gate = WindDownGate(self)
        self.login_throttle = LoginThrottle.from_config(
            self.settings.rate_limit_storage, self.settings.login_limit_account, self.settings.login_limit_client
        )

    def anchoring_worker(self, holder: str | None = None, outbox: Outbox = EVIDENCE) -> AnchoringWorker:
        """The anchoring relay of ``outbox`` (evidence unless told; see :func:`backend.background.anchoring_worker`)."""
        return anchoring_worker(self, holder, outbox)

    def start_background(self) -> None:
        """Run the background loops (:mod:`backend.background`) until :meth:`close`."""
        if self.background is None:
            self.background = BackgroundLoops(self)
            self.background.start()

    def stop_background(self) -> None:
        if self.background is not None:
            self.background.stop()
            self.background = None

    def close(self) -> None:
        self.stop_background()
        self.filing_relay.close()
        self.filing_writer.close()
        if self.chain_outbox is not None:
            self.chain_outbox.close()
        self.engine.dispose()
        self.store.close()


def build_runtime(settings: Settings, *, migrate_db: bool = True) -> Runtime:
    """Connect to (and if needed migrate) the database, the chain and the evidence store; deploy."""
    data_dir = settings.ensure_data_dir()
    speed_up_eth_hash()  # web3's and eth-account's keccak on the verified fast backend
    # A bounded pool, no overflow: a burst of requests reuses the connections instead of opening
    # and closing one each beyond the pool (on PostgreSQL a server process start, ~5-10 ms of CPU;
    # measured: 0.7 new connections per filing under a 50-request burst with SQLAlchemy's 5 + 10).
    engine = make_engine(
        settings.sqlalchemy_url,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=settings.database_pool_timeout,
    )
    check_database(engine)
    if migrate_db:
        migrate(settings.sqlalchemy_url)  # hosts migrating at once take turns (migrations/env.py)
    w3 = connect(settings.chain_url, timeout=settings.rpc_timeout)
    chain_id = w3.eth.chain_id
    settings.check_keys_for_chain(chain_id)
    settings.check_production_safety(chain_id)
    artifacts = {spec.name: load_artifact(spec.artifact_name) for spec in SUITE}
    # A node that cannot execute the contracts' opcodes is refused before anything is deployed.
    check_evm(w3, artifacts_evm_version(list(artifacts.values())), settings.chain_url)
    # The host's other resources, checked before anything is deployed or sent (after the settings'
    # own checks above, which name the unsafe setting first): a host whose HUBAO_KEYS_DIR was
    # missing or empty deployed the contracts and only then stopped on it; one whose sign-in
    # counter store did not answer started and answered every sign-in 500.
    keyring = open_keyring(settings.keys_dir, data_dir) if settings.keys_dir else open_keyring(data_dir / "keys")
    check_storage(settings.rate_limit_storage)
    # The same keys sign in every process and host (API workers, replicas, CLI): every chain write
    # is a row of the database outbox, sent by the one elected sender of its key. Its own pool (and
    # for SQLite its own file: chain_outbox_url), so a service holding a transaction while it sends
    # never waits for itself.
    sessions = session_factory(engine)
    outbox_url = chain_outbox_url(settings.sqlalchemy_url)
    if migrate_db and outbox_url != settings.sqlalchemy_url:
        migrate(outbox_url)
    chain_outbox = ChainOutbox(
        session_factory(make_engine(outbox_url)),
        w3,
        ttl=settings.chain_sender_lease,
        poll=settings.chain_sender_poll,
        sign_timeout=settings.chain_sender_timeout,
        owns_engine=True,
    )
    operator, notary = (
        chain_outbox.sender(signer)
        for signer in (account(settings.deployer_private_key()), account(settings.notary_private_key()))
    )
    try:
        return _complete_runtime(
            settings, engine, sessions, w3, chain_outbox, (operator, notary), artifacts, data_dir, keyring
        )
    except BaseException:
        chain_outbox.close()
        raise


def _complete_runtime(
    settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    w3: Web3,
    chain_outbox: ChainOutbox,
    senders: tuple[Sender, Sender],
    artifacts: dict[str, Any],
    data_dir: Path,
    keyring: DirectoryKeyring,
) -> Runtime:
    """Deploy (or check) the contracts and open the stores: the rest of :func:`build_runtime`."""
    chain_id = chain_outbox.chain_id
    operator, notary = senders
    admin = settings.admin_account()
    # One suite for every host of the database: the first to start deploys it, the others (in turn,
    # under the lock) find it recorded there and reuse it; the data dir keeps a copy for tools.
    records = DatabaseRecordStore(sessions, copy=data_dir / "deployment.json")
    with exclusive(settings.sqlalchemy_url, "deploy"):
        record, fresh = ensure_deployed(
            w3,
            operator,
            SuiteRoles(
                admin=admin,
                operator=operator.address,
                notary=notary.address,
                rule_set_delay_seconds=settings.rule_set_delay,
                roster_delay_seconds=settings.roster_delay,
            ),
            records,
        )
        records.keep(record)
    if fresh:
        log.info("contracts deployed", extra={"chain_id": chain_id})
    else:
        _check_admin(settings, admin, admin_mismatches(w3, record, admin))
    contracts = {}
    for spec in SUITE:
        artifact = artifacts[spec.name]
        register_errors([artifact["abi"]])
        contracts[spec.name] = contract_at(w3, record.address(spec.name), artifact)
    store = open_evidence_store(settings)
    jwt_secret = (
        settings.jwt_secret.get_secret_value().encode()
        if settings.jwt_secret
        else load_or_create_secret(data_dir / "keys" / "jwt.secret")
    )
    # Hosts of one deployment share these: a host whose secrets differ is refused here (issue 18 item 2).
    check_shared_secrets(
        sessions,
        {"jwt": jwt_fingerprint(jwt_secret), **{f"kek:{kid}": keyring.kek_fingerprint(kid) for kid in keyring.kids()}},
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        w3=w3,
        deployment=record,
        contracts=contracts,
        operator=operator,
        notary=notary,
        claim_ledger=ClaimLedgerClient(w3, contracts["ClaimLedger"], operator),
        store=store,
        keyring=keyring,
        jwt_secret=jwt_secret,
        chain_outbox=chain_outbox,
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


def open_keyring(directory: Path, counters: Path | None = None) -> DirectoryKeyring:
    """The key-encryption keys (one file per key id).

    Without ``counters`` the directory is this host's own (``<data dir>/keys``) and a first KEK is
    created on first use. With ``counters`` the directory is provided by the deployment
    (``HUBAO_KEYS_DIR``, e.g. a mounted secret shared by every host, possibly read-only): it must
    hold a KEK, and each host counts its wraps in ``counters`` (its data directory). Per-host counts
    keep each host under 2^31 wraps per KEK; two hosts stay within AES-GCM's 2^32 random-nonce bound,
    more need a shared counter or a KEK rotation schedule. KMS-backed keyrings fit the same
    ``Keyring`` protocol.
    """
    provided = counters is not None
    if not provided:
        directory.mkdir(parents=True, exist_ok=True)
    elif not directory.is_dir():
        raise ConfigError(
            f"HUBAO_KEYS_DIR {directory} is not a directory: make it once with `hubao evidence-store init-keys "
            f"{directory}` and give the same directory to every host",
            code="KEYS_DIR_MISSING",
        )
    counter_dir = (counters / "kek-wraps") if counters is not None else directory
    counter_dir.mkdir(parents=True, exist_ok=True)
    # Wrap counts reserved 64 at a time: one durable write per 64 uploads, not per upload.
    keyring = DirectoryKeyring(directory, counter=FileWrapCounter(counter_dir, block=64))
    if not keyring.kids():
        if provided:
            raise ConfigError(
                f"HUBAO_KEYS_DIR {directory} holds no key-encryption key: make one with `hubao evidence-store "
                f"init-keys {directory}` and give the same directory to every host",
                code="KEYS_DIR_EMPTY",
            )
        keyring.create_kek()
    return keyring


def open_evidence_store(settings: Settings) -> EvidenceStore:
    """The configured evidence store (embedded blockstore unless HUBAO_IPFS_API is set)."""
    return open_store(settings.ipfs_api, settings.resolved_data_dir, settings.ipfs_timeout)
