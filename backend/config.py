"""Settings: the one place that reads the environment (prefix ``HUBAO_``).

Library code (``evidence_store``, services) takes explicit arguments; only the CLI and the app
factory build a :class:`Settings`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.errors import ConfigError

# anvil's well-known development accounts (mnemonic "test test ... junk"). Public knowledge: never
# acceptable on any chain other than the local one (chain id 31337).
ANVIL_CHAIN_ID = 31337
ANVIL_DEV_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every ``HUBAO_*`` setting. The README's configuration table lists the same fields."""

    model_config = SettingsConfigDict(env_prefix="HUBAO_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = Field(
        "development", description="`production` refuses development keys, anvil chain id, CORS *, /docs"
    )
    data_dir: Path = Field(Path(".data"), description="chain state, SQLite file, local evidence blocks")
    rpc_url: str | None = Field(None, description="external JSON-RPC URL; unset = spawn anvil on loopback")
    rpc_timeout: float = Field(10.0, gt=0, description="JSON-RPC request timeout in seconds")
    chain_port: int = Field(8545, description="port of the spawned anvil (127.0.0.1)")
    chain_id: int = Field(ANVIL_CHAIN_ID, description="chain id of the spawned anvil")
    block_time: float = Field(
        1.0, ge=0, description="block time of the spawned anvil in seconds (0 = mine on every transaction)"
    )
    deployer_key: SecretStr | None = Field(
        None,
        description="private key that deploys the contracts and operates them (OPERATOR role; anvil key 0 on 31337)",
    )
    admin_address: str | None = Field(
        None,
        description="address that administers the contracts (DEFAULT_ADMIN: grants OPERATOR/NOTARY roles); "
        "its key never reaches the server (anvil account 9 on 31337)",
    )
    notary_key: SecretStr | None = Field(
        None, description="private key of the anchoring worker (NOTARY role; anvil key 1 on 31337)"
    )
    rule_set_delay: int = Field(
        0,
        ge=0,
        le=2**32,
        description="seconds from a rule set's anchoring to its coming into force (ClaimLedger RULE_SET_DELAY, "
        "fixed at deployment; production needs at least a day)",
    )
    roster_delay: int = Field(
        0,
        ge=0,
        le=2**32,
        description="seconds between announcing a reviewer/juror roster change and its taking effect (the "
        "RosterTimelock's minimum delay, fixed at deployment; production needs at least a day)",
    )
    confirmations: int = Field(2, ge=0, description="blocks an anchor must be buried under to count")
    batch_max_size: int = Field(1000, ge=1, description="max items per anchored batch")
    batch_max_wait: float = Field(2.0, ge=0, description="seconds an item waits before a partial batch")
    evidence_anchoring_deadline: int = Field(
        3600, gt=0, description="seconds within which queued evidence must be anchored (else an audit finding)"
    )
    review_opening_deadline: int = Field(
        86400,
        gt=0,
        description="seconds within which a filing's review must be opened on chain (else an audit finding)",
    )
    filing_onchain_deadline: int = Field(
        3600,
        gt=0,
        le=2**32,
        description="seconds after accepting a filing by which the operator promises it is on chain "
        "(the onChainBy of the signed filing receipt; a filing not on chain by then is provable censorship)",
    )
    anchoring: bool = Field(
        True, description="run the anchoring relay and workflow clock in this process (one leader each)"
    )
    apportionment_auto: bool = Field(
        True,
        description="publish each apportionment period on its own once the chain passes its notice instant "
        "(part of the workflow clock, one leader)",
    )
    apportionment_notice_days: list[int] = Field(
        default_factory=lambda: [7, 21], description="apportionment notice days of each month (1-28)"
    )
    apportionment_debit_days: list[int] = Field(
        default_factory=lambda: [14, 28], description="debit day paired with each notice day (same month)"
    )
    apportionment_timezone: str = Field(
        "Asia/Shanghai", description="time zone of the apportionment calendar (periods start at 00:00 there)"
    )
    reorg_policy: Literal["halt", "requeue"] = Field(
        "halt", description="a confirmed anchor that leaves the chain: halt (DEEP_REORG) or re-send it"
    )
    fault_inject: Literal["after_sign", "after_send", "after_receipt"] | None = Field(
        None, description="tests only: SIGKILL this process at that anchoring step (refused in production)"
    )
    chain_sender_lease: float = Field(
        5.0,
        ge=1.0,
        le=300.0,
        description="seconds the lease of a key's elected chain sender (sender:<chain id>:<address>) lives; "
        "a sender that dies is replaced within about 4/3 of it",
    )
    chain_sender_poll: float = Field(
        0.05,
        gt=0,
        le=5.0,
        description="seconds between the elected sender's reads of the chain outbox for rows other hosts "
        "queued (this host's rows wake it at once); at most a third of the lease",
    )
    chain_sender_timeout: float = Field(
        60.0,
        gt=0,
        le=3600.0,
        description="seconds a caller waits for its transaction to be signed before CHAIN_SENDER_TIMEOUT "
        "(its row cancelled); at least twice the lease, so a sender's replacement is waited for",
    )
    database_url: str | None = Field(None, description="SQLAlchemy URL; unset = SQLite in the data dir")
    database_pool_size: int = Field(
        20,
        ge=1,
        le=1000,
        description="database connections each process keeps open and reuses, and never exceeds: a request "
        "finding them all in use waits for one (PostgreSQL starts a server process per connection, ~5-10 ms of "
        "CPU; every host and API worker has its own pool, and the chain outbox one more of 5)",
    )
    database_pool_timeout: float = Field(
        30.0,
        gt=0,
        le=600.0,
        description="seconds a request waits for a free database connection before 503 DATABASE_BUSY",
    )
    ipfs_api: str | None = Field(
        None, description="Kubo RPC endpoint (URL or multiaddr); unset = embedded local blockstore"
    )
    ipfs_timeout: float = Field(30.0, gt=0, description="Kubo RPC read timeout in seconds")
    solc_binary: Path | None = Field(None, description="native solc to use instead of the npm build")
    api_host: str = Field("127.0.0.1", description="address the API binds to")
    api_port: int = Field(8000, description="port the API binds to")
    api_workers: int = Field(
        1, ge=1, description="API worker processes sharing the port (each uses one core; 1 = serve in-process)"
    )
    api_max_in_flight: int = Field(
        200,
        ge=1,
        le=100_000,
        description="HTTP requests one API process serves at once; more are answered 503 OVERLOADED "
        "with Retry-After (GET /health exempt)",
    )
    upload_max_bytes: int = Field(20 * 1024 * 1024, gt=0, description="max evidence upload size")
    evidence_uploads_per_day: int = Field(
        20, ge=1, description="standalone evidence uploads (POST /evidence) per account per rolling day"
    )
    head_timeout: float = Field(10.0, gt=0, description="seconds a connection gets to send a whole request head")
    body_idle_timeout: float = Field(
        10.0, gt=0, description="seconds a request body may stall (no byte) before 408 and close"
    )
    body_min_rate: float = Field(
        1024.0, ge=0, description="bytes/s a request body must average once the grace period has passed"
    )
    body_min_rate_grace: float = Field(
        10.0, ge=0, description="seconds of a request body before its average rate is checked"
    )
    jwt_secret: SecretStr | None = Field(
        None,
        description="JWT signing secret, the same on every host; unset = generated per data dir (not in production)",
    )
    trusted_proxies: list[str] = Field(
        ["127.0.0.1"],
        description="addresses or CIDR ranges of reverse proxies whose X-Forwarded-For/-Proto name the client "
        "(login throttling and registration quotas count per client); [] = trust no header",
    )
    keys_dir: Path | None = Field(
        None,
        description="directory of the key-encryption keys (<kid>.kek, CURRENT), the same on every host; "
        "unset = <data dir>/keys, generated on first use (not in production)",
    )
    session_max_age: int = Field(
        43200,
        ge=60,
        le=30 * 86400,
        description="seconds a sign-in session lasts at most: its 30-minute tokens are refreshed "
        "(POST /auth/refresh) until then, and never after sign-out",
    )
    login_limit_account: str = Field(
        "10/15minutes", description="failed sign-ins allowed per account in a moving window (then 429)"
    )
    login_limit_client: str = Field(
        "50/15minutes", description="failed sign-ins allowed per client address in a moving window (then 429)"
    )
    rate_limit_storage: str = Field(
        "memory://", description="where sign-in counts live: memory:// (per process) or redis://host:port"
    )
    cors_origins: list[str] = Field(default_factory=list, description="allowed CORS origins")
    docs_enabled: bool = Field(True, description="serve OpenAPI docs at /docs")
    log_level: str = Field("INFO", description="log level")
    log_json: bool = Field(False, description="log as JSON lines")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"malformed database URL {value!r}: use e.g. sqlite:///path.db") from exc
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql")
        return value

    @field_validator("admin_address")
    @classmethod
    def _check_admin_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from eth_utils.address import is_checksum_address, is_hex_address, to_checksum_address

        if not is_hex_address(value):
            raise ValueError(f"not an address (0x and 40 hex digits): {value!r}")
        digits = value[2:]
        if digits not in (digits.lower(), digits.upper()) and not is_checksum_address(value):
            raise ValueError(f"bad EIP-55 checksum (a mistyped address?): {value!r}")
        if int(value, 16) == 0:
            raise ValueError("the zero address cannot administer the contracts")
        return str(to_checksum_address(value))

    @field_validator("rpc_url")
    @classmethod
    def _check_rpc_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https", "ws", "wss"} or not parts.netloc:
            raise ValueError(f"malformed RPC URL {value!r}: use e.g. http://127.0.0.1:8545")
        return value

    @model_validator(mode="after")
    def _check_chain_sender(self) -> Settings:
        # The sender renews its lease between polls: a poll as long as the lease would let it lapse.
        if self.chain_sender_poll * 3 > self.chain_sender_lease:
            raise ValueError(
                f"HUBAO_CHAIN_SENDER_POLL ({self.chain_sender_poll} s) must be at most a third of "
                f"HUBAO_CHAIN_SENDER_LEASE ({self.chain_sender_lease} s)"
            )
        # A caller that gives up before a dead sender's lease has passed fails every failover.
        if self.chain_sender_timeout < 2 * self.chain_sender_lease:
            raise ValueError(
                f"HUBAO_CHAIN_SENDER_TIMEOUT ({self.chain_sender_timeout} s) must be at least twice "
                f"HUBAO_CHAIN_SENDER_LEASE ({self.chain_sender_lease} s): callers would give up during every takeover"
            )
        return self

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir if self.data_dir.is_absolute() else (Path.cwd() / self.data_dir)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'hubao.db'}"

    @property
    def chain_url(self) -> str:
        return self.rpc_url or f"http://127.0.0.1:{self.chain_port}"

    def deployer_private_key(self) -> str:
        return _key_or_dev_default(self.deployer_key, 0)

    def notary_private_key(self) -> str:
        return _key_or_dev_default(self.notary_key, 1)

    def admin_account(self) -> str:
        """The contracts' admin (checksummed); anvil account 9 when HUBAO_ADMIN_ADDRESS is unset."""
        return self.admin_address or _address_of(ANVIL_DEV_KEYS[ANVIL_DEV_ADMIN_INDEX])

    def check_keys_for_chain(self, chain_id: int) -> None:
        """Refuse anvil's public development keys (and accounts) on any chain but the local one."""
        if chain_id == ANVIL_CHAIN_ID:
            return
        for name, key in (
            ("HUBAO_DEPLOYER_KEY", self.deployer_private_key()),
            ("HUBAO_NOTARY_KEY", self.notary_private_key()),
        ):
            if key.lower() in ANVIL_DEV_KEYS:
                raise ConfigError(
                    f"{name} is one of anvil's public development keys, refused on chain id {chain_id}: "
                    f"set {name} to a private key of your own",
                    code="DEV_KEY_ON_FOREIGN_CHAIN",
                )
        if self.admin_account() in _anvil_dev_addresses():
            raise ConfigError(
                f"HUBAO_ADMIN_ADDRESS is one of anvil's public development accounts, refused on chain id "
                f"{chain_id}: set HUBAO_ADMIN_ADDRESS to an account of your own (hardware wallet or multisig)",
                code="DEV_KEY_ON_FOREIGN_CHAIN",
            )

    def ensure_data_dir(self) -> Path:
        """Create the data directory and prove it is writable, or stop with one clear line."""
        path = self.resolved_data_dir
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"data directory {path} is not writable ({exc.strerror}): set HUBAO_DATA_DIR to a writable path",
                code="DATA_DIR_NOT_WRITABLE",
            ) from exc
        return path

    def check_production_safety(self, chain_id: int) -> None:
        """In production refuse the configurations RELIABILITY.md D14 lists."""
        if self.env != "production":
            return
        problems: list[tuple[str, str]] = []
        for name, key in (("deployer", self.deployer_key), ("notary", self.notary_key)):
            if key is None or key.get_secret_value().lower() in ANVIL_DEV_KEYS:
                problems.append(("PROD_DEV_KEY", f"production needs a private {name} key of your own"))
        problems.extend(self._admin_problems())
        if chain_id == ANVIL_CHAIN_ID:
            problems.append(("PROD_ANVIL_CHAIN", "production refuses chain id 31337 (anvil)"))
        if self.ipfs_api and not _is_loopback_endpoint(self.ipfs_api):
            problems.append(("PROD_REMOTE_KUBO_RPC", "Kubo RPC is admin-level: keep HUBAO_IPFS_API on loopback"))
        if "*" in self.cors_origins:
            problems.append(("PROD_CORS_WILDCARD", "production refuses CORS origin '*'"))
        if self.fault_inject:
            problems.append(("PROD_FAULT_INJECTION", "HUBAO_FAULT_INJECT is for tests only"))
        if self.docs_enabled:
            problems.append(("PROD_DOCS_ENABLED", "set HUBAO_DOCS_ENABLED=false in production"))
        if self.jwt_secret is None:
            problems.append(("PROD_JWT_SECRET_UNSET", "production needs HUBAO_JWT_SECRET, the same on every host"))
        if self.keys_dir is None:
            problems.append(
                ("PROD_KEYS_DIR_UNSET", "production needs HUBAO_KEYS_DIR, the key-encryption keys every host shares")
            )
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value().encode()) < 32:
            problems.append(("PROD_WEAK_JWT_SECRET", "production needs a HUBAO_JWT_SECRET of at least 32 bytes"))
        if self.rule_set_delay < 86_400:
            problems.append(("PROD_RULE_SET_DELAY", "production needs HUBAO_RULE_SET_DELAY of at least 86400 seconds"))
        if self.roster_delay < 86_400:
            problems.append(("PROD_ROSTER_DELAY", "production needs HUBAO_ROSTER_DELAY of at least 86400 seconds"))
        if problems:
            code, message = problems[0]
            raise ConfigError(message, code=code)

    def _admin_problems(self) -> list[tuple[str, str]]:
        """Production: the admin is an account of its own, apart from the keys the server holds."""
        if self.admin_address is None:
            return [("PROD_ADMIN_UNSET", "production needs HUBAO_ADMIN_ADDRESS, an admin account of your own")]
        if self.admin_address in _anvil_dev_addresses():
            return [("PROD_DEV_KEY", "production refuses an anvil development account as HUBAO_ADMIN_ADDRESS")]
        held = {
            "PROD_ADMIN_IS_OPERATOR": (self.deployer_key, "the operator (HUBAO_DEPLOYER_KEY)"),
            "PROD_ADMIN_IS_NOTARY": (self.notary_key, "the notary (HUBAO_NOTARY_KEY)"),
        }
        for code, (key, who) in held.items():
            try:
                holds_admin = key is not None and _address_of(key.get_secret_value()) == self.admin_address
            except ValueError:  # not a private key at all: the runtime says so when it loads it
                holds_admin = False
            if holds_admin:
                return [
                    (code, f"production refuses an admin that is also {who}: the server must not hold the admin key")
                ]
        return []


ANVIL_DEV_ADMIN_INDEX = 9  # dev default admin: an anvil account the server never signs with


def _address_of(private_key: str) -> str:
    from eth_account import Account

    return str(Account.from_key(private_key).address)


@functools.cache
def _anvil_dev_addresses() -> frozenset[str]:
    return frozenset(_address_of(key) for key in ANVIL_DEV_KEYS)


def _key_or_dev_default(key: SecretStr | None, index: int) -> str:
    return key.get_secret_value() if key is not None else ANVIL_DEV_KEYS[index]


def _is_loopback_endpoint(endpoint: str) -> bool:
    if endpoint.startswith("/"):  # multiaddr /ip4/127.0.0.1/tcp/5001
        parts = endpoint.split("/")
        return len(parts) > 2 and parts[2] in {"127.0.0.1", "::1", "localhost"}
    host = urlsplit(endpoint).hostname or ""
    return host in {"127.0.0.1", "::1", "localhost"}


def load_settings() -> Settings:
    """Build settings from the environment, turning validation errors into one ConfigError line."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["loc"]:
            message = f"HUBAO_{str(first['loc'][0]).upper()}: {first['msg']}"
        else:  # a rule across settings: its message names them
            message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(message, code="INVALID_SETTING") from exc


def known_setting_names() -> set[str]:
    """Environment variable names the settings understand (docker-compose is checked against them)."""
    return {"HUBAO_" + name.upper() for name in Settings.model_fields}


__all__ = [
    "ANVIL_CHAIN_ID",
    "ANVIL_DEV_ADMIN_INDEX",
    "ANVIL_DEV_KEYS",
    "REPO_ROOT",
    "Settings",
    "known_setting_names",
    "load_settings",
]
