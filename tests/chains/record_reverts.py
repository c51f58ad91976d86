"""Record how anvil, ganache and hardhat report reverts: writes tests/chains/fixtures/revert_bodies.json.

    PYTHONPATH=$PWD .venv/bin/python -m tests.chains.record_reverts

Each node (tests/chains/nodes.py) gets RevertProbe.sol (compiled for shanghai, which all three
run); for every probe function the raw JSON-RPC response bodies of ``eth_call``,
``eth_estimateGas`` and ``eth_sendRawTransaction`` (fixed gas, so the node does not simulate
first) are stored with the probe's ABI. tests/chains/test_revert_decoding.py replays them through
web3 into :func:`backend.chain.transactions.classify`, without any node.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import solcx
from eth_account import Account
from eth_utils.address import to_checksum_address

from backend.chain.compiler import ContractsLayout, resolve_solc
from backend.config import ANVIL_DEV_KEYS
from tests.chains.nodes import KINDS, start_node

HERE = Path(__file__).parent
FIXTURE = HERE / "fixtures" / "revert_bodies.json"
# (function, arguments as ABI-encoded hex after the selector)
CALLS: list[tuple[str, str]] = [
    ("noArgs()", ""),
    ("withArgs()", ""),
    ("reason()", ""),
    ("panic(uint256)", f"{5:064x}"),
    ("empty()", ""),
]


def compile_probe() -> dict[str, Any]:
    source = (HERE / "RevertProbe.sol").read_text(encoding="utf-8")
    std = {
        "language": "Solidity",
        "sources": {"RevertProbe.sol": {"content": source}},
        "settings": {
            "evmVersion": "shanghai",
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    out = solcx.compile_standard(std, solc_binary=resolve_solc(ContractsLayout()))
    contract = out["contracts"]["RevertProbe.sol"]["RevertProbe"]
    return {"abi": contract["abi"], "bytecode": "0x" + contract["evm"]["bytecode"]["object"]}


def _rpc(url: str, method: str, params: list[Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response: dict[str, Any] = httpx.post(url, json=body, timeout=30).json()
    return response


def _selector(signature: str) -> str:
    from eth_utils.crypto import keccak

    return keccak(text=signature)[:4].hex()


def record(kind: str, probe: dict[str, Any], directory: Path) -> list[dict[str, Any]]:
    node = start_node(kind, directory)
    try:
        url = node.url
        key = Account.from_key(ANVIL_DEV_KEYS[0])
        chain_id = int(_rpc(url, "eth_chainId", [])["result"], 16)
        nonce = int(_rpc(url, "eth_getTransactionCount", [key.address, "pending"])["result"], 16)
        gas_price = int(_rpc(url, "eth_gasPrice", [])["result"], 16) * 2
        deploy = key.sign_transaction(
            {"data": probe["bytecode"], "gas": 500_000, "gasPrice": gas_price, "nonce": nonce, "chainId": chain_id}
        )
        tx_hash = _rpc(url, "eth_sendRawTransaction", ["0x" + deploy.raw_transaction.hex()])["result"]
        receipt = None
        for _ in range(100):
            receipt = _rpc(url, "eth_getTransactionReceipt", [tx_hash])["result"]
            if receipt:
                break
            time.sleep(0.1)
        assert receipt, "the probe was not mined"
        assert receipt["status"] == "0x1", receipt
        address = to_checksum_address(receipt["contractAddress"])
        nonce += 1
        bodies: list[dict[str, Any]] = []
        for signature, args in CALLS:
            data = "0x" + _selector(signature) + args
            call = {"from": key.address, "to": address, "data": data}
            for method, params in (("eth_call", [call, "latest"]), ("eth_estimateGas", [call])):
                bodies.append({"function": signature, "method": method, "response": _rpc(url, method, params)})
            raw = key.sign_transaction(
                {
                    "to": address,
                    "data": data,
                    "gas": 100_000,
                    "gasPrice": gas_price,
                    "nonce": nonce,
                    "chainId": chain_id,
                }
            )
            sent = _rpc(url, "eth_sendRawTransaction", ["0x" + raw.raw_transaction.hex()])
            mined_anyway = isinstance(sent.get("error", {}).get("data"), dict) and sent["error"]["data"].get("txHash")
            if "result" in sent or mined_anyway:  # hardhat mines a reverting transaction, then answers an error
                nonce += 1
            bodies.append({"function": signature, "method": "eth_sendRawTransaction", "response": sent})
        stale = key.sign_transaction(
            {"to": address, "data": "0x", "gas": 100_000, "gasPrice": gas_price, "nonce": 0, "chainId": chain_id}
        )
        bodies.append(
            {
                "function": "nonce 0 again",
                "method": "eth_sendRawTransaction",
                "response": _rpc(url, "eth_sendRawTransaction", ["0x" + stale.raw_transaction.hex()]),
            }
        )
        client = _rpc(url, "web3_clientVersion", [])
        for body in bodies:
            body["client"] = client.get("result")
        return bodies
    finally:
        node.kill()


def main(kinds: list[str]) -> None:
    probe = compile_probe()
    existing = json.loads(FIXTURE.read_text()) if FIXTURE.exists() else {"nodes": {}}
    existing["probe"] = probe
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            existing["nodes"][kind] = record(kind, probe, Path(tmp))
            print(f"{kind}: {len(existing['nodes'][kind])} bodies")
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(existing, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or list(KINDS))
