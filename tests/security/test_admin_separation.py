"""The contracts' admin is an account apart from every key the server holds (C1, D14).

``build_runtime`` deploys with ``DEFAULT_ADMIN_ROLE`` on ``HUBAO_ADMIN_ADDRESS`` (anvil account 9
by default on 31337), ``OPERATOR_ROLE`` on the deploying operator key and ``NOTARY_ROLE`` on the
notary key. On a real anvil: neither server key can grant or revoke a working role or move the
admin — estimated, the call reverts ``AccessControlUnauthorizedAccount(caller, DEFAULT_ADMIN_ROLE)``;
mined anyway, the transaction fails and no role changes. The admin account can (positive control),
and the operator still keeps the reviewer and juror rosters (their role admin is OPERATOR_ROLE).
A reused deployment whose admin is not the configured one is refused in production
(``PROD_ADMIN_MISMATCH``) and reused with a warning in development.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from web3.contract import Contract

from backend.chain.anvil import AnvilNode, rpc_call
from backend.chain.client import account
from backend.chain.roster import REVIEWER
from backend.chain.transactions import ContractReverted, TransactionSender
from backend.config import ANVIL_DEV_ADMIN_INDEX, ANVIL_DEV_KEYS
from backend.errors import ConfigError
from backend.runtime import Runtime
from backend.services.rule_sets import roster_for
from evidence_store.crypto import DirectoryKeyring
from tests.stacks import node_of

pytestmark = pytest.mark.xdist_group(name="security-admin")

ADMIN_ROLE = b"\x00" * 32
OPERATOR_ROLE = keccak(text="OPERATOR_ROLE")
NOTARY_ROLE = keccak(text="NOTARY_ROLE")
REVIEWER_ROLE = keccak(text="REVIEWER_ROLE")
DEV_ADMIN = account(ANVIL_DEV_KEYS[ANVIL_DEV_ADMIN_INDEX]).address
STRANGER = account(ANVIL_DEV_KEYS[8]).address
WORKING_ROLE = {"EvidenceNotary": NOTARY_ROLE, "ClaimLedger": OPERATOR_ROLE, "Apportionment": OPERATOR_ROLE}


def _tx(contract: Contract, fn: str, args: list[Any], **extra: Any) -> Any:
    return {"to": contract.address, "data": contract.encode_abi(fn, args=args), **extra}


def _admin_calls(runtime: Runtime) -> list[tuple[str, str, list[Any]]]:
    """(contract, function, args) that only DEFAULT_ADMIN_ROLE may call."""
    calls: list[tuple[str, str, list[Any]]] = []
    for name, role in WORKING_ROLE.items():
        holder = runtime.notary.address if role == NOTARY_ROLE else runtime.operator.address
        calls += [
            (name, "grantRole", [role, STRANGER]),
            (name, "revokeRole", [role, holder]),
            (name, "beginDefaultAdminTransfer", [STRANGER]),
            (name, "changeDefaultAdminDelay", [0]),
        ]
    return calls


def test_admin_is_an_account_apart_from_the_server_keys(runtime: Runtime) -> None:
    assert runtime.settings.admin_account() == DEV_ADMIN
    assert DEV_ADMIN not in {runtime.operator.address, runtime.notary.address}
    for name, role in WORKING_ROLE.items():
        contract = runtime.contracts[name]
        assert contract.functions.defaultAdmin().call() == DEV_ADMIN, name
        for server_key in (runtime.operator.address, runtime.notary.address):
            assert not contract.functions.hasRole(ADMIN_ROLE, server_key).call(), name
        holder = runtime.notary.address if role == NOTARY_ROLE else runtime.operator.address
        assert contract.functions.hasRole(role, holder).call(), name
        assert not contract.functions.hasRole(role, DEV_ADMIN).call(), name


@pytest.mark.parametrize("key", ["operator", "notary"])
def test_server_keys_cannot_grant_revoke_or_move_the_admin(runtime: Runtime, key: str) -> None:
    sender: TransactionSender = getattr(runtime, key)
    for name, fn, args in _admin_calls(runtime):
        contract = runtime.contracts[name]
        # Estimated first (what the backend does): the revert is decoded by name.
        with pytest.raises(ContractReverted) as info:
            sender.transact(_tx(contract, fn, args))
        assert info.value.error == "AccessControlUnauthorizedAccount", (name, fn, info.value)
        assert (info.value.args_[0].lower(), info.value.args_[1]) == (sender.address.lower(), ADMIN_ROLE)
        # Mined anyway (fixed gas, no estimate): the chain itself refuses.
        with pytest.raises(ContractReverted):
            sender.transact(_tx(contract, fn, args, gas=200_000))
    for name, role in WORKING_ROLE.items():
        contract = runtime.contracts[name]
        assert not contract.functions.hasRole(role, STRANGER).call()
        assert contract.functions.defaultAdmin().call() == DEV_ADMIN
        assert contract.functions.pendingDefaultAdmin().call()[0] == "0x" + "00" * 20
        assert contract.functions.defaultAdminDelay().call() == 86400


def test_the_admin_grants_and_revokes_the_operator_keeps_the_rosters(runtime: Runtime) -> None:
    admin = TransactionSender(runtime.w3, account(ANVIL_DEV_KEYS[ANVIL_DEV_ADMIN_INDEX]))
    ledger = runtime.contracts["ClaimLedger"]
    admin.transact(_tx(ledger, "grantRole", [OPERATOR_ROLE, STRANGER]))
    assert ledger.functions.hasRole(OPERATOR_ROLE, STRANGER).call()
    admin.transact(_tx(ledger, "revokeRole", [OPERATOR_ROLE, STRANGER]))
    assert not ledger.functions.hasRole(OPERATOR_ROLE, STRANGER).call()
    # The admin holds no working role: it cannot keep a roster itself.
    with pytest.raises(ContractReverted) as info:
        admin.transact(_tx(ledger, "grantRole", [REVIEWER_ROLE, STRANGER]))
    assert info.value.error == "AccessControlUnauthorizedAccount"
    # Nor can the operator at once: it announces on the RosterTimelock, which grants after its delay.
    with pytest.raises(ContractReverted) as info:
        runtime.operator.transact(_tx(ledger, "grantRole", [REVIEWER_ROLE, STRANGER]))
    assert info.value.error == "AccessControlUnauthorizedAccount"
    roster_for(runtime).grant_role(REVIEWER, STRANGER)
    assert ledger.functions.hasRole(REVIEWER_ROLE, STRANGER).call()


def test_reused_deployment_with_another_admin(
    runtime_factory: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    first = runtime_factory()
    node, data_dir = node_of(first), first.settings.data_dir
    deployed = {name: c.address for name, c in first.contracts.items()}
    first.close()
    with caplog.at_level(logging.WARNING, logger="backend.runtime"):
        again = runtime_factory(node, data_dir=data_dir, admin_address=STRANGER)
    assert {name: c.address for name, c in again.contracts.items()} == deployed  # reused, not redeployed
    assert any("administered by another account" in r.getMessage() for r in caplog.records)


def test_production_refuses_a_reused_deployment_with_another_admin(
    runtime_factory: Callable[..., Runtime], anvil_factory: Callable[..., AnvilNode], tmp_path: Path
) -> None:
    node = anvil_factory(chain_id=31338)  # production refuses anvil's 31337 and its public keys
    keys = {"deployer_key": "0x" + "11" * 32, "notary_key": "0x" + "22" * 32}
    for key in keys.values():
        rpc_call(node.url, "anvil_setBalance", [account(key).address, hex(10**20)])
    keks = tmp_path / "keks"  # the deployment's key-encryption keys, as a mounted secret would be
    DirectoryKeyring(keks).create_kek()
    production = {
        "env": "production",
        "docs_enabled": False,
        "rule_set_delay": 86_400,
        "roster_delay": 86_400,
        "jwt_secret": "a production secret of at least 32 bytes",
        "keys_dir": keks,
        **keys,
    }
    first = runtime_factory(node, admin_address="0x" + "ab" * 20, **production)
    assert first.contracts["ClaimLedger"].functions.defaultAdmin().call().lower() == "0x" + "ab" * 20
    data_dir = first.settings.data_dir
    first.close()
    with pytest.raises(ConfigError) as refused:
        runtime_factory(node, data_dir=data_dir, admin_address="0x" + "cd" * 20, **production)
    assert refused.value.code == "PROD_ADMIN_MISMATCH"
