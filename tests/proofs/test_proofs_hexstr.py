"""EIP-55 addresses of backend/proofs/hexstr.py against eth-utils (the reference implementation)."""

from __future__ import annotations

import pytest
from eth_utils.address import is_checksum_address as eth_is_checksum_address
from eth_utils.address import to_checksum_address as eth_to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.proofs.hexstr import is_address_hex, is_checksum_address, to_checksum_address

_addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(address=_addresses)
def test_to_checksum_address_equals_eth_utils(address: str) -> None:
    expected = eth_to_checksum_address(address)
    assert to_checksum_address(address) == expected
    assert to_checksum_address(address.upper().replace("0X", "0x")) == expected
    assert is_checksum_address(expected) is True


@settings(max_examples=300, deadline=None, derandomize=True)
@given(address=_addresses, flips=st.sets(st.integers(min_value=2, max_value=41), min_size=1, max_size=3))
def test_is_checksum_address_equals_eth_utils_on_altered_case(address: str, flips: set[int]) -> None:
    chars = list(eth_to_checksum_address(address))
    for i in flips:
        chars[i] = chars[i].swapcase()
    altered = "".join(chars)
    assert is_checksum_address(altered) is eth_is_checksum_address(altered)


@pytest.mark.parametrize(
    "text",
    ["", "0x", "0x" + "a" * 39, "0x" + "a" * 41, "0X" + "a" * 40, "0x" + "g" * 40, "0x" + "1_" * 20, 42, None],
)
def test_is_checksum_address_refuses_what_is_not_an_address(text: object) -> None:
    assert is_address_hex(text) is False
    assert is_checksum_address(text) is False


def test_to_checksum_address_matches_eip55_examples() -> None:
    # The test vectors of EIP-55 itself.
    for address in (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ):
        assert to_checksum_address(address.lower()) == address
        assert is_checksum_address(address)
    assert not is_checksum_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")  # all lower case is not EIP-55
