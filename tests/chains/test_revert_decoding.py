"""Reverts are decoded whatever shape the node reports them in: the error bodies recorded from
anvil 1.7, ganache 7.9.2 and hardhat 2.22 (tests/chains/record_reverts.py) go through web3 exactly
as a live node's would, into :func:`backend.chain.transactions.classify`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.providers import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from backend.chain.transactions import (
    ContractReverted,
    NonceTooLow,
    classify,
    decode_revert,
    register_errors,
    revert_data,
)

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "revert_bodies.json").read_text())
PROBE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
REF = keccak(text="ref")
# What each probe function must decode to, on every node and through every method.
EXPECTED: dict[str, tuple[str, tuple[Any, ...]]] = {
    "noArgs()": ("ProbeNoArgs", ()),
    "withArgs()": ("ProbeWithArgs", (42, REF)),
    "reason()": ("Error", ("probe reason",)),
    "panic(uint256)": ("Panic", (0x32,)),
    "empty()": ("Unknown", ()),
}


class Recorded(BaseProvider):
    """Answers every request with one recorded response body (and the chain id)."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__()
        self.response = response

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": 1, "result": "0x7a69"}
        return self.response  # type: ignore[return-value]


def _raise_through_web3(method: str, response: dict[str, Any]) -> BaseException:
    w3 = Web3(Recorded(response))
    call = {"from": PROBE, "to": PROBE, "data": "0x"}
    try:
        if method == "eth_call":
            w3.eth.call(call)  # type: ignore[arg-type]
        elif method == "eth_estimateGas":
            w3.eth.estimate_gas(call)  # type: ignore[arg-type]
        else:
            w3.eth.send_raw_transaction(b"\x02")
    except Exception as exc:
        return exc
    raise AssertionError(f"{method} with {response} raised nothing")


def _cases() -> list[Any]:
    cases = []
    for node, bodies in FIXTURE["nodes"].items():
        for body in bodies:
            if "error" not in body["response"]:
                continue  # the node took the transaction (the revert shows in its receipt)
            cases.append(pytest.param(body, id=f"{node}-{body['method']}-{body['function']}"))
    return cases


@pytest.fixture(autouse=True, scope="module")
def _probe_errors() -> None:
    register_errors([FIXTURE["probe"]["abi"]])


@pytest.mark.parametrize("body", _cases())
def test_recorded_error_bodies_classify_to_the_error_the_contract_raised(body: dict[str, Any]) -> None:
    exc = _raise_through_web3(body["method"], body["response"])
    typed = classify(exc)
    if body["function"] == "nonce 0 again":
        assert isinstance(typed, NonceTooLow), typed
        return
    assert isinstance(typed, ContractReverted), typed
    assert (typed.error, typed.args_) == EXPECTED[body["function"]]


def test_every_node_and_method_was_recorded() -> None:
    assert set(FIXTURE["nodes"]) == {"anvil", "ganache", "hardhat"}
    for node, bodies in FIXTURE["nodes"].items():
        seen = {(b["function"], b["method"]) for b in bodies}
        for function in EXPECTED:
            for method in ("eth_call", "eth_estimateGas", "eth_sendRawTransaction"):
                assert (function, method) in seen, (node, function, method)
    # hardhat reports a reverting transaction at send time, nested: {"data": {"message", "data", "txHash"}}
    hardhat_sends = [b for b in FIXTURE["nodes"]["hardhat"] if b["method"] == "eth_sendRawTransaction"]
    assert all("error" in b["response"] for b in hardhat_sends)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("0x400dd930", ("ProbeNoArgs", ())),
        (bytes.fromhex("400dd930"), ("ProbeNoArgs", ())),
        ({"data": {"data": {"result": "0x400dd930"}}}, ("ProbeNoArgs", ())),
        ({"message": "reverted", "data": None, "result": "0x400dd930"}, ("ProbeNoArgs", ())),
        ("Reverted 0x400dd930", ("ProbeNoArgs", ())),
        ("execution reverted (return data: 0x400dd930) at 0xdeadbeefdeadbeef", ("ProbeNoArgs", ())),
        ([None, {"data": "0x400dd930"}], ("ProbeNoArgs", ())),
    ],
    ids=["hex", "bytes", "nested", "result-key", "reverted-prefix", "hex-in-message", "list"],
)
def test_every_shape_of_revert_data_is_found(shape: object, expected: tuple[str, tuple[Any, ...]]) -> None:
    exc = ContractLogicError("execution reverted", data=shape)  # type: ignore[arg-type]
    assert decode_revert(revert_data(exc)) == expected
    assert (classify(exc).error, classify(exc).args_) == expected  # type: ignore[union-attr]


def test_an_address_in_a_message_is_not_taken_for_revert_data() -> None:
    exc = Web3RPCError("execution reverted: sender 0x5FbDB2315678afecb367f032d93F642f64180aa3 not allowed")
    assert revert_data(exc) is None
    typed = classify(exc)
    assert isinstance(typed, ContractReverted)
    assert typed.error == "Unknown"


def test_invalid_opcode_is_named() -> None:
    """ganache running code for a newer EVM: no revert data, "invalid opcode" in the message."""
    error = {"code": -32000, "message": "VM Exception while processing transaction: invalid opcode"}
    response = {"jsonrpc": "2.0", "id": 1, "error": error}
    typed = classify(_raise_through_web3("eth_call", response))
    assert isinstance(typed, ContractReverted)
    assert typed.error == "InvalidOpcode"
