"""RELIABILITY C1 for Apportionment: every state-changing function × every caller, on a real anvil.

The committed artifact is deployed the way ``backend.chain.deploy`` does it: admin = the dev admin
account (anvil 9), operator = anvil 0. Callers: the admin, the operator, a pending admin (whose
transfer delay has passed), and an account with no role. For every (function, caller) pair the
matrix does not allow, ``eth_call`` reverts with the named guard and its arguments; every allowed
pair passes the guard (it succeeds, or fails a later, non-access check such as
``ApportionmentZeroArgument`` for an all-zero period). The test fails when the ABI gains a
state-changing function the matrix does not list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from backend.chain.anvil import AnvilNode, rpc_call
from backend.chain.client import account, connect, contract_at
from backend.chain.compiler import load_artifact
from backend.chain.transactions import ContractReverted, TransactionSender, classify, register_errors
from backend.config import ANVIL_DEV_ADMIN_INDEX, ANVIL_DEV_KEYS

pytestmark = pytest.mark.xdist_group("apportionment-access")

ADMIN_ROLE = b"\x00" * 32
OPERATOR_ROLE = keccak(text="OPERATOR_ROLE")
UNAUTHORIZED = "AccessControlUnauthorizedAccount"
CALLERS = ("admin", "operator", "pending_admin", "none")


@dataclass(frozen=True)
class Guard:
    allowed: frozenset[str]
    args: Callable[[dict[str, str]], list[Any]]
    error: str = UNAUTHORIZED
    role: bytes | None = ADMIN_ROLE  # the role named in AccessControlUnauthorizedAccount


def _zero_period() -> tuple[Any, ...]:
    [fn] = [i for i in load_artifact("Apportionment")["abi"] if i.get("name") == "publishPeriod"]
    zero = {"bool": False, "bytes": b"", "bytes32": b"\x00" * 32}
    return tuple(zero.get(c["type"], 0) for c in fn["inputs"][0]["components"])


MATRIX: dict[str, Guard] = {
    "publishPeriod": Guard(frozenset({"operator"}), lambda a: [_zero_period()], role=OPERATOR_ROLE),
    "beginWindDown": Guard(frozenset({"operator"}), lambda a: [], role=OPERATOR_ROLE),
    "grantRole": Guard(frozenset({"admin"}), lambda a: [OPERATOR_ROLE, a["none"]]),
    "revokeRole": Guard(frozenset({"admin"}), lambda a: [OPERATOR_ROLE, a["operator"]]),
    "beginDefaultAdminTransfer": Guard(frozenset({"admin"}), lambda a: [a["none"]]),
    "cancelDefaultAdminTransfer": Guard(frozenset({"admin"}), lambda a: []),
    "changeDefaultAdminDelay": Guard(frozenset({"admin"}), lambda a: [2 * 86400]),
    "rollbackDefaultAdminDelay": Guard(frozenset({"admin"}), lambda a: []),
    # Self-gated by OpenZeppelin: only the pending admin accepts, only the holder renounces.
    "acceptDefaultAdminTransfer": Guard(
        frozenset({"pending_admin"}), lambda a: [], error="AccessControlInvalidDefaultAdmin", role=None
    ),
    "renounceRole": Guard(
        frozenset({"operator"}),
        lambda a: [OPERATOR_ROLE, a["operator"]],
        error="AccessControlBadConfirmation",
        role=None,
    ),
}
FORBIDDEN = [(fn, caller) for fn, guard in MATRIX.items() for caller in CALLERS if caller not in guard.allowed]
ALLOWED = [(fn, caller) for fn, guard in MATRIX.items() for caller in sorted(guard.allowed)]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Contract, dict[str, str]]]:
    node = AnvilNode(log_path=tmp_path_factory.mktemp("apportionment-access") / "anvil.log").start()
    try:
        w3 = connect(node.url)
        artifact = load_artifact("Apportionment")
        register_errors([artifact["abi"]])
        admin = TransactionSender(w3, account(ANVIL_DEV_KEYS[ANVIL_DEV_ADMIN_INDEX]))
        operator = TransactionSender(w3, account(ANVIL_DEV_KEYS[0]))
        addr = {
            "admin": admin.address,
            "operator": operator.address,
            "pending_admin": account(ANVIL_DEV_KEYS[3]).address,
            "none": account(ANVIL_DEV_KEYS[8]).address,
        }
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = operator.transact(
            # Access guards come before any read of ClaimLedger: any non-zero address stands in for it here.
            factory.constructor(addr["admin"], addr["operator"], addr["none"]).build_transaction({"gas": 6_000_000})
        )
        contract = contract_at(w3, str(receipt["contractAddress"]), artifact)
        # A pending admin whose delay has passed, so that acceptDefaultAdminTransfer can pass its guard.
        admin.transact(
            {"to": contract.address, "data": contract.encode_abi("beginDefaultAdminTransfer", [addr["pending_admin"]])}
        )
        rpc_call(node.url, "evm_increaseTime", [int(contract.functions.defaultAdminDelay().call()) + 1])
        rpc_call(node.url, "evm_mine")
        yield contract, addr
    finally:
        node.kill()


def _call(contract: Contract, fn: str, caller: str, addr: dict[str, str]) -> None:
    getattr(contract.functions, fn)(*MATRIX[fn].args(addr)).call({"from": addr[caller]})


def test_matrix_lists_every_state_changing_function() -> None:
    abi = load_artifact("Apportionment")["abi"]
    mutating = {
        i["name"] for i in abi if i.get("type") == "function" and i["stateMutability"] in {"nonpayable", "payable"}
    }
    assert mutating == set(MATRIX), f"not in the matrix: {mutating - set(MATRIX)}; stale: {set(MATRIX) - mutating}"
    assert all((fn, c) in {*FORBIDDEN, *ALLOWED} for fn in MATRIX for c in CALLERS)


@pytest.mark.parametrize(("fn", "caller"), FORBIDDEN, ids=[f"{f}-{c}" for f, c in FORBIDDEN])
def test_forbidden_caller_reverts_with_the_named_guard(
    deployed: tuple[Contract, dict[str, str]], fn: str, caller: str
) -> None:
    contract, addr = deployed
    with pytest.raises(ContractLogicError) as info:
        _call(contract, fn, caller, addr)
    reverted = classify(info.value)
    assert isinstance(reverted, ContractReverted)
    guard = MATRIX[fn]
    expected: tuple[Any, ...] = ()
    if guard.error == UNAUTHORIZED:
        expected = (addr[caller].lower(), guard.role)
    elif guard.error == "AccessControlInvalidDefaultAdmin":
        expected = (addr[caller].lower(),)
    args = tuple(a.lower() if isinstance(a, str) else a for a in reverted.args_)
    assert (reverted.error, args) == (guard.error, expected)


@pytest.mark.parametrize(("fn", "caller"), ALLOWED, ids=[f"{f}-{c}" for f, c in ALLOWED])
def test_allowed_caller_passes_the_guard(deployed: tuple[Contract, dict[str, str]], fn: str, caller: str) -> None:
    contract, addr = deployed
    try:
        _call(contract, fn, caller, addr)
    except ContractLogicError as exc:
        reverted = classify(exc)
        assert isinstance(reverted, ContractReverted)
        # Past the access guard: only the all-zero period fails, on its first argument check.
        assert (fn, reverted.error, reverted.args_) == ("publishPeriod", "ApportionmentZeroArgument", (1,))
