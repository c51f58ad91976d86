"""Deployment of the contract suite and the deployment record that lets restarts reuse it.

The record holds the chain id, the genesis block hash, and per contract its address, deployment
block and transaction, and the sha256 of the artifact deployed. It lives in a :class:`RecordStore`:
the runtime keeps it in the database every host shares (``backend.db.deployments``, so a second
host uses the first's suite) with a copy in ``<data dir>/deployment.json`` (:class:`FileRecordStore`)
for the tools that read a file. On start-up the record is reused only when the chain is the same
one (chain id and genesis hash) and the code at every address equals the committed artifact's
runtime code; otherwise the suite is deployed again and the log says why (a chain reset loses the
contracts with the blocks).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BlockNotFound

from backend.chain.client import account
from backend.chain.compiler import ContractsLayout, artifact_json, load_artifact
from backend.chain.transactions import Sender
from backend.config import ANVIL_DEV_ADMIN_INDEX, ANVIL_DEV_KEYS
from backend.errors import ContractMismatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuiteRoles:
    """Addresses the constructors need.

    ``admin`` holds ``DEFAULT_ADMIN_ROLE`` on every contract (grants and revokes the working roles,
    transfers the admin); ``operator`` (the deploying key) and ``notary`` hold the working roles.
    Keeping the admin apart means a leaked server key cannot hand out ``OPERATOR_ROLE`` or
    ``NOTARY_ROLE``, and the admin can revoke it.
    """

    admin: str
    operator: str
    notary: str
    #: ClaimLedger's immutable ``RULE_SET_DELAY``: seconds from a rule set's anchoring to its coming
    #: into force (``HUBAO_RULE_SET_DELAY_SECONDS``; production refuses less than a day).
    rule_set_delay_seconds: int = 0
    #: The RosterTimelock's minimum delay: seconds from announcing a reviewer/juror roster change to
    #: its taking effect (``HUBAO_ROSTER_DELAY``; production refuses less than a day).
    roster_delay_seconds: int = 0

    @classmethod
    def with_dev_admin(
        cls, operator: str, notary: str, rule_set_delay_seconds: int = 0, roster_delay_seconds: int = 0
    ) -> SuiteRoles:
        """Roles on a local anvil: the admin is the dev admin account (one the server never signs with)."""
        return cls(
            admin=str(account(ANVIL_DEV_KEYS[ANVIL_DEV_ADMIN_INDEX]).address),
            operator=operator,
            notary=notary,
            rule_set_delay_seconds=rule_set_delay_seconds,
            roster_delay_seconds=roster_delay_seconds,
        )


@dataclass(frozen=True)
class DeployedAddress:
    """A constructor argument that is the address of a contract deployed earlier in the suite."""

    contract: str


@dataclass(frozen=True)
class ContractSpec:
    """One deployment of the suite: its name in the record, and the artifact it deploys (its name
    unless the same code is deployed twice, as ``MembershipLog`` deploys ``EvidenceNotary``)."""

    name: str
    constructor_args: Callable[[SuiteRoles], list[Any]]
    artifact: str = ""

    @property
    def artifact_name(self) -> str:
        return self.artifact or self.name


def _notary_args(roles: SuiteRoles) -> list[Any]:
    return [roles.admin, roles.notary]


def _roster_timelock_args(roles: SuiteRoles) -> list[Any]:
    # The operator announces roster changes; the admin (whose key never reaches the server) may cancel them.
    return [roles.roster_delay_seconds, roles.operator, roles.admin]


def _claim_ledger_args(roles: SuiteRoles) -> list[Any]:
    return [roles.admin, roles.operator, roles.rule_set_delay_seconds, DeployedAddress("RosterTimelock")]


def _apportionment_args(roles: SuiteRoles) -> list[Any]:
    return [roles.admin, roles.operator, DeployedAddress("ClaimLedger")]


# Deployment order matters when a constructor takes another contract's address.
SUITE: tuple[ContractSpec, ...] = (
    ContractSpec("EvidenceNotary", _notary_args),
    # Holds ClaimLedger's ROSTER_ROLE: reviewer/juror grants and revocations are announced, then delayed.
    ContractSpec("RosterTimelock", _roster_timelock_args),
    ContractSpec("ClaimLedger", _claim_ledger_args),
    # The operator publishes periods; their rule sets and claim totals are read from ClaimLedger.
    ContractSpec("Apportionment", _apportionment_args),
    # The membership log: a second EvidenceNotary (same code and hash chain), anchored by the relay.
    ContractSpec("MembershipLog", _notary_args, artifact="EvidenceNotary"),
)


def artifact_name(contract: str) -> str:
    """The artifact a deployed contract of the suite carries (``MembershipLog`` → ``EvidenceNotary``)."""
    return next((spec.artifact_name for spec in SUITE if spec.name == contract), contract)


@dataclass
class DeployedContract:
    address: str
    block: int
    tx: str
    artifact_sha256: str


@dataclass
class DeploymentRecord:
    chain_id: int
    genesis_hash: str
    contracts: dict[str, DeployedContract] = field(default_factory=dict)
    deployed_at: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DeploymentRecord:
        raw = json.loads(text)
        contracts = {name: DeployedContract(**c) for name, c in raw.get("contracts", {}).items()}
        return cls(
            chain_id=raw["chain_id"],
            genesis_hash=raw["genesis_hash"],
            contracts=contracts,
            deployed_at=raw.get("deployed_at", ""),
        )

    def address(self, name: str) -> str:
        return self.contracts[name].address


def artifact_sha256(artifact: dict[str, Any]) -> str:
    return hashlib.sha256(artifact_json(artifact).encode()).hexdigest()


def runtime_code_matches(w3: Web3, address: str, artifact: dict[str, Any]) -> bool:
    """True when the code at ``address`` is the artifact's runtime code (immutables masked)."""
    onchain = bytes(w3.eth.get_code(Web3.to_checksum_address(address)))
    expected = bytes.fromhex(artifact["deployedBytecode"].removeprefix("0x"))
    if len(onchain) != len(expected):
        return False
    mask_on, mask_exp = bytearray(onchain), bytearray(expected)
    for refs in artifact.get("immutableReferences", {}).values():
        for ref in refs:
            start, length = int(ref["start"]), int(ref["length"])
            mask_on[start : start + length] = b"\0" * length
            mask_exp[start : start + length] = b"\0" * length
    return mask_on == mask_exp


def genesis_hash(w3: Web3) -> str:
    return "0x" + bytes(w3.eth.get_block(0)["hash"]).hex()


def has_genesis(w3: Web3, recorded: str) -> bool:
    """True when ``recorded`` is this chain's genesis block: block 0's hash, or a block 0 the node
    still holds under that hash. anvil adds a fresh block 0 each time it loads a ``--state`` file
    and answers block 0 with any of them, so after a few restarts of ``make run`` (a kill -9 among
    them) block 0 named another hash than the one recorded, and the whole suite was redeployed
    beside the history it had notarized."""
    if recorded == genesis_hash(w3):
        return True
    try:
        block = w3.eth.get_block(HexBytes(recorded))
    except (BlockNotFound, ValueError):
        return False
    return int(block["number"]) == 0


def check_record(
    w3: Web3, record: DeploymentRecord, suite: tuple[ContractSpec, ...] = SUITE, layout: ContractsLayout | None = None
) -> str | None:
    """None when the record still describes this chain; otherwise the reason it does not."""
    if record.chain_id != w3.eth.chain_id:
        return f"chain id changed ({record.chain_id} → {w3.eth.chain_id})"
    if not has_genesis(w3, record.genesis_hash):
        return "the chain was reset (different genesis block)"
    for spec in suite:
        deployed = record.contracts.get(spec.name)
        if deployed is None:
            return f"{spec.name} is not in the deployment record"
        artifact = load_artifact(spec.artifact_name, layout)
        if not runtime_code_matches(w3, deployed.address, artifact):
            if len(w3.eth.get_code(Web3.to_checksum_address(deployed.address))) == 0:
                return f"{spec.name} is gone from {deployed.address} (chain reset or lost blocks)"
            return f"{spec.name} at {deployed.address} does not match the committed artifact"
    return None


def admin_mismatches(
    w3: Web3,
    record: DeploymentRecord,
    admin: str,
    suite: tuple[ContractSpec, ...] = SUITE,
    layout: ContractsLayout | None = None,
) -> list[str]:
    """Contracts of the record whose on-chain ``defaultAdmin()`` is not ``admin``, each with its admin."""
    found = []
    for spec in suite:
        if spec.name == "RosterTimelock":  # no admin: it administers itself (admin only cancels)
            continue
        contract = w3.eth.contract(
            address=Web3.to_checksum_address(record.address(spec.name)),
            abi=load_artifact(spec.artifact_name, layout)["abi"],
        )
        onchain = str(contract.functions.defaultAdmin().call())
        if onchain.lower() != admin.lower():
            found.append(f"{spec.name} (admin {onchain})")
    return found


def deploy_suite(
    w3: Web3,
    sender: Sender,
    roles: SuiteRoles,
    suite: tuple[ContractSpec, ...] = SUITE,
    layout: ContractsLayout | None = None,
) -> DeploymentRecord:
    """Deploy every contract of the suite and return the new record."""
    record = DeploymentRecord(
        chain_id=w3.eth.chain_id,
        genesis_hash=genesis_hash(w3),
        deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    for spec in suite:
        artifact = load_artifact(spec.artifact_name, layout)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        args = [
            record.address(arg.contract) if isinstance(arg, DeployedAddress) else arg
            for arg in spec.constructor_args(roles)
        ]
        tx = factory.constructor(*args).build_transaction({"from": sender.address, "nonce": 0, "gas": 8_000_000})
        tx.pop("nonce", None)
        receipt = sender.transact(tx)
        address = receipt["contractAddress"]
        if address is None or not runtime_code_matches(w3, address, artifact):
            raise ContractMismatch(f"{spec.name} deployed at {address} does not carry the artifact's code")
        record.contracts[spec.name] = DeployedContract(
            address=str(address),
            block=int(receipt["blockNumber"]),
            tx="0x" + bytes(receipt["transactionHash"]).hex(),
            artifact_sha256=artifact_sha256(artifact),
        )
        log.info("deployed %s at %s (block %d)", spec.name, address, receipt["blockNumber"])
    return record


class RecordStore(Protocol):
    """Where the deployment record is kept: :meth:`load` is None while there is none."""

    def load(self) -> DeploymentRecord | None: ...

    def save(self, record: DeploymentRecord) -> None: ...


class FileRecordStore:
    """The record as a JSON file (``<data dir>/deployment.json``), replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> DeploymentRecord | None:
        if not self.path.exists():
            return None
        return DeploymentRecord.from_json(self.path.read_text(encoding="utf-8"))

    def save(self, record: DeploymentRecord) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(record.to_json(), encoding="utf-8")
        tmp.replace(self.path)


def ensure_deployed(
    w3: Web3,
    sender: Sender,
    roles: SuiteRoles,
    store: RecordStore | Path,
    suite: tuple[ContractSpec, ...] = SUITE,
    layout: ContractsLayout | None = None,
) -> tuple[DeploymentRecord, bool]:
    """Reuse the record in ``store`` (a path: :class:`FileRecordStore`) when it still holds; else
    deploy and save. Returns (record, deployed_now).

    A record that holds for every contract it names but lacks some of the suite's (the suite grew,
    e.g. ``MembershipLog``) is extended: only the missing ones are deployed (deployed_now False).
    Callers that share ``store`` between processes serialize this call (``backend.db.exclusive``).
    """
    records = FileRecordStore(store) if isinstance(store, Path) else store
    record = records.load()
    if record is not None:
        reason = check_record(w3, record, suite, layout)
        if reason is None:
            log.info("reusing deployment from %s", record.deployed_at)
            return record, False
        missing = tuple(spec for spec in suite if spec.name not in record.contracts)
        present = tuple(spec for spec in suite if spec.name in record.contracts)
        if missing and present and check_record(w3, record, present, layout) is None:
            record.contracts.update(deploy_suite(w3, sender, roles, missing, layout).contracts)
            records.save(record)
            log.warning("extended the deployment with %s", ", ".join(spec.name for spec in missing))
            return record, False
        log.warning("redeploying contracts: %s", reason)
    record = deploy_suite(w3, sender, roles, suite, layout)
    records.save(record)
    return record, True
