"""ClaimLedger events of plain fields are decoded by slicing their 32-byte words: the result equals
web3's decoding of the same log (addresses checksummed), and a malformed word is refused as eth_abi
refuses it."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from web3 import Web3

from backend.chain.claims import CLAIM_EVENTS, _EventCodec, _word
from backend.chain.compiler import load_artifact

ABI: list[dict[str, Any]] = [dict(item) for item in load_artifact("ClaimLedger")["abi"]]
ADDRESS = "0x" + "42" * 20


def _random_value(kind: str, rng: random.Random) -> Any:
    if kind == "address":
        return Web3.to_checksum_address("0x" + rng.randbytes(20).hex())
    if kind == "bool":
        return rng.random() < 0.5
    if kind.startswith("bytes"):
        return rng.randbytes(int(kind[5:]))
    bits = int(kind.lstrip("uint") or 256)
    if kind.startswith("int"):
        return rng.randrange(-(2 ** (bits - 1)), 2 ** (bits - 1))
    return rng.choice([0, 2**bits - 1, rng.randrange(2**bits)])


@pytest.mark.parametrize("seed", range(5))
def test_plain_events_decode_as_web3_decodes_them(seed: int) -> None:
    rng = random.Random(seed)
    contract = Web3().eth.contract(address=Web3.to_checksum_address(ADDRESS), abi=ABI)
    plain = [item for item in ABI if item.get("type") == "event" and _EventCodec(item).plain]
    assert {"ClaimFiled", "ReviewOpened"} <= {item["name"] for item in plain}
    assert len([item for item in plain if item["name"] in CLAIM_EVENTS]) >= 10
    for item in plain:
        codec = _EventCodec(item)
        values = {i["name"]: _random_value(str(i["type"]), rng) for i in item["inputs"]}
        indexed = [i for i in item["inputs"] if i.get("indexed")]
        data = [i for i in item["inputs"] if not i.get("indexed")]
        log = {
            "address": Web3.to_checksum_address(ADDRESS),
            "topics": [codec.topic, *(abi_encode([i["type"]], [values[i["name"]]]) for i in indexed)],
            "data": abi_encode([i["type"] for i in data], [values[i["name"]] for i in data]),
            "blockNumber": 1,
            "transactionHash": b"\x00" * 32,
            "logIndex": 0,
            "transactionIndex": 0,
            "blockHash": b"\x00" * 32,
            "removed": False,
        }
        by_web3 = dict(getattr(contract.events, codec.name)().process_log(log)["args"])
        assert codec.decode(log) == by_web3 == values, codec.name


def test_malformed_words_are_refused() -> None:
    with pytest.raises(ValueError):
        _word("address", b"\x01" + bytes(31))  # dirty high bytes
    with pytest.raises(ValueError):
        _word("bool", bytes(31) + b"\x02")
    with pytest.raises(ValueError):
        _word("uint64", (2**64).to_bytes(32, "big"))
    with pytest.raises(ValueError):
        _word("bytes32", bytes(31))
    assert _word("int8", (2**256 - 1).to_bytes(32, "big")) == -1
    assert _word("uint256", (2**256 - 1).to_bytes(32, "big")) == 2**256 - 1
