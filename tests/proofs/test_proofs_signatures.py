"""``recover_address`` (audit step 3's ecrecover) agrees with eth-account and refuses what does not recover."""

from __future__ import annotations

import random

from eth_account import Account

from backend.proofs.signatures import recover_address

SEED = 20261129


def test_recover_address_returns_the_signer_of_a_digest() -> None:
    rng = random.Random(SEED)
    for _ in range(20):
        signer = Account.from_key(rng.randbytes(32))
        digest = rng.randbytes(32)
        signature = bytes(Account.unsafe_sign_hash(digest, signer.key).signature)
        assert signature[64] in (27, 28)
        assert recover_address(digest, signature) == signer.address.lower()
        flipped = signature[:64] + bytes([55 - signature[64]])  # the other recovery id: another key
        assert recover_address(digest, flipped) not in (None, signer.address.lower())


def test_recover_address_refuses_malformed_signatures() -> None:
    rng = random.Random(SEED)
    signer = Account.from_key(rng.randbytes(32))
    digest = rng.randbytes(32)
    signature = bytes(Account.unsafe_sign_hash(digest, signer.key).signature)
    assert recover_address(digest, signature[:64]) is None  # too short
    assert recover_address(digest, signature + b"\x00") is None  # too long
    assert recover_address(digest, signature[:64] + b"\x01") is None  # v must be 27 or 28
    assert recover_address(digest, bytes(64) + b"\x1b") is None  # r = s = 0: no key
