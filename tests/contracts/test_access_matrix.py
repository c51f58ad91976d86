"""RELIABILITY C1: the access-control matrix of EvidenceNotary, on a real anvil.

Every external state-changing function of the compiled ABI is listed in ``MATRIX`` with the
callers that may call it. For every other caller (admin, notary, pending admin, an account with no
role) the call must revert with the listed custom error, decoded by name through the backend's
revert decoder, with the caller (and the missing role) as its arguments. Each allowed caller is a
positive control: the same call from it does not revert. The test fails when the ABI gains a
state-changing function that the matrix does not list (or the matrix lists one the ABI lacks).

Guards other than ``AccessControlUnauthorizedAccount`` are OpenZeppelin's own for the two
self-gated calls: ``acceptDefaultAdminTransfer`` (only the pending admin:
``AccessControlInvalidDefaultAdmin``) and ``renounceRole`` (only for one's own account:
``AccessControlBadConfirmation``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import solcx
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from backend.chain.anvil import AnvilNode
from backend.chain.compiler import COMPILER_SETTINGS, ContractsLayout, resolve_solc
from backend.chain.transactions import ContractReverted, classify, register_errors
from backend.config import REPO_ROOT

pytestmark = pytest.mark.xdist_group("access-matrix")

CALLERS = ("admin", "notary", "pending_admin", "none")
ADMIN_ROLE = b"\x00" * 32
NOTARY_ROLE = keccak(text="NOTARY_ROLE")
ZERO = b"\x00" * 32
ROOT = keccak(text="access-matrix root")
UNAUTHORIZED = "AccessControlUnauthorizedAccount"


@dataclass(frozen=True)
class Deployment:
    w3: Web3
    notary: Contract
    addr: Mapping[str, str]


@dataclass(frozen=True)
class Guard:
    allowed: frozenset[str]
    error: str
    args: Callable[[Deployment, str], list[Any]]
    # Expected arguments of the custom error for a forbidden caller.
    error_args: Callable[[Deployment, str], tuple[Any, ...]]


def _needs(role: bytes) -> Callable[[Deployment, str], tuple[Any, ...]]:
    return lambda d, caller: (d.addr[caller], role)


def _other_account(d: Deployment, caller: str) -> str:
    return d.addr["admin" if caller == "notary" else "notary"]


MATRIX: dict[str, Guard] = {
    "anchor(bytes32,uint64,bytes32)": Guard(
        frozenset({"notary"}), UNAUTHORIZED, lambda d, c: [ROOT, 1, ZERO], _needs(NOTARY_ROLE)
    ),
    "grantRole(bytes32,address)": Guard(
        frozenset({"admin"}), UNAUTHORIZED, lambda d, c: [NOTARY_ROLE, d.addr["none"]], _needs(ADMIN_ROLE)
    ),
    "revokeRole(bytes32,address)": Guard(
        frozenset({"admin"}), UNAUTHORIZED, lambda d, c: [NOTARY_ROLE, d.addr["notary"]], _needs(ADMIN_ROLE)
    ),
    "beginDefaultAdminTransfer(address)": Guard(
        frozenset({"admin"}), UNAUTHORIZED, lambda d, c: [d.addr["none"]], _needs(ADMIN_ROLE)
    ),
    "cancelDefaultAdminTransfer()": Guard(frozenset({"admin"}), UNAUTHORIZED, lambda d, c: [], _needs(ADMIN_ROLE)),
    "changeDefaultAdminDelay(uint48)": Guard(
        frozenset({"admin"}), UNAUTHORIZED, lambda d, c: [2 * 86400], _needs(ADMIN_ROLE)
    ),
    "rollbackDefaultAdminDelay()": Guard(frozenset({"admin"}), UNAUTHORIZED, lambda d, c: [], _needs(ADMIN_ROLE)),
    "acceptDefaultAdminTransfer()": Guard(
        frozenset({"pending_admin"}),
        "AccessControlInvalidDefaultAdmin",
        lambda d, c: [],
        lambda d, c: (d.addr[c],),
    ),
    # Renouncing *someone else's* role: nobody may (the own-account case is the positive control).
    "renounceRole(bytes32,address)": Guard(
        frozenset(),
        "AccessControlBadConfirmation",
        lambda d, c: [NOTARY_ROLE, _other_account(d, c)],
        lambda d, c: (),
    ),
}

FORBIDDEN = [(fn, caller) for fn, guard in MATRIX.items() for caller in CALLERS if caller not in guard.allowed]
ALLOWED = [(fn, caller) for fn, guard in MATRIX.items() for caller in sorted(guard.allowed)]


def _compile_notary() -> dict[str, Any]:
    layout = ContractsLayout()
    sources = {
        f"contracts/src/{name}": {"content": (layout.sources / name).read_text(encoding="utf-8")}
        for name in ("EvidenceNotary.sol", "IEvidenceNotary.sol")
    }
    output = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": sources,
            "settings": {**COMPILER_SETTINGS, "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}},
        },
        solc_binary=resolve_solc(layout),
        base_path=str(REPO_ROOT),
        allow_paths=[str(REPO_ROOT), str(layout.node_modules)],
    )
    compiled: dict[str, Any] = output["contracts"]["contracts/src/EvidenceNotary.sol"]["EvidenceNotary"]
    return compiled


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    compiled = _compile_notary()
    abi = compiled["abi"]
    register_errors([abi])
    node = AnvilNode(log_path=Path(tmp_path_factory.mktemp("anvil")) / "anvil.log").start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        accounts = w3.eth.accounts  # anvil's unlocked dev accounts
        addr = dict(zip(CALLERS, accounts[:4], strict=True))
        factory = w3.eth.contract(abi=abi, bytecode=compiled["evm"]["bytecode"]["object"])
        tx = factory.constructor(addr["admin"], addr["notary"]).transact({"from": addr["admin"]})
        address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
        notary = w3.eth.contract(address=address, abi=abi)
        assert isinstance(notary, Contract)
        # The pending admin exists and its delay has passed, so that acceptDefaultAdminTransfer
        # can succeed for it (positive control) and the other callers fail on identity alone.
        tx = notary.functions.beginDefaultAdminTransfer(addr["pending_admin"]).transact({"from": addr["admin"]})
        w3.eth.wait_for_transaction_receipt(tx)
        w3.provider.make_request("evm_increaseTime", [int(notary.functions.defaultAdminDelay().call()) + 1])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        yield Deployment(w3, notary, addr)
    finally:
        node.kill()


def _call(d: Deployment, fn_signature: str, caller: str) -> Any:
    name = fn_signature.split("(", 1)[0]
    fn = d.notary.get_function_by_signature(fn_signature)
    assert fn.fn_name == name
    return fn(*MATRIX[fn_signature].args(d, caller)).call({"from": d.addr[caller]})


def test_access_matrix_lists_every_state_changing_function(deployment: Deployment) -> None:
    in_abi = {
        f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
        for item in deployment.notary.abi
        if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")
    }
    assert sorted(in_abi - MATRIX.keys()) == [], "state-changing functions missing from MATRIX"
    assert sorted(MATRIX.keys() - in_abi) == [], "MATRIX lists functions the ABI does not have"


@pytest.mark.parametrize(("fn_signature", "caller"), FORBIDDEN, ids=[f"{f.split('(')[0]}-{c}" for f, c in FORBIDDEN])
def test_call_reverts_for_forbidden_caller(deployment: Deployment, fn_signature: str, caller: str) -> None:
    guard = MATRIX[fn_signature]
    with pytest.raises(ContractLogicError) as info:
        _call(deployment, fn_signature, caller)
    reverted = classify(info.value)
    assert isinstance(reverted, ContractReverted), f"not a revert: {info.value!r}"
    expected_args = guard.error_args(deployment, caller)
    decoded = tuple(
        Web3.to_checksum_address(a) if isinstance(a, str) and a.startswith("0x") and len(a) == 42 else a
        for a in reverted.args_
    )
    assert (reverted.error, decoded) == (guard.error, expected_args)


@pytest.mark.parametrize(("fn_signature", "caller"), ALLOWED, ids=[f"{f.split('(')[0]}-{c}" for f, c in ALLOWED])
def test_call_succeeds_for_allowed_caller(deployment: Deployment, fn_signature: str, caller: str) -> None:
    result = _call(deployment, fn_signature, caller)
    if fn_signature.startswith("anchor("):
        assert result == 1


def test_renounce_role_succeeds_for_own_account(deployment: Deployment) -> None:
    d = deployment
    d.notary.functions.renounceRole(NOTARY_ROLE, d.addr["notary"]).call({"from": d.addr["notary"]})
    assert d.notary.functions.hasRole(NOTARY_ROLE, d.addr["notary"]).call()  # eth_call changed nothing


def test_matrix_covers_every_caller_for_every_function() -> None:
    pairs = {(fn, c) for fn, c in FORBIDDEN} | {(fn, c) for fn, c in ALLOWED}
    assert len(FORBIDDEN) >= 25
    assert {fn for fn, _ in pairs} == set(MATRIX)
    assert all((fn, c) in pairs for fn in MATRIX for c in CALLERS)
