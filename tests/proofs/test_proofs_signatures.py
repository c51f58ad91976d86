"""``recover_address`` (audit step 3's ecrecover) agrees with eth-account and refuses what does not recover."""

from __future__ import annotations

import random

from eth_account import Account

from backend.proofs.signatures import SECP256K1_HALF_N, is_high_s, recover_address

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


def test_the_high_s_twin_of_a_signature_recovers_to_the_same_signer_and_is_flagged() -> None:
    """eth-account signs low-s (as ECDSA.recover requires); (r, n - s, v ^ 1) is the same signer's
    other valid form — is_high_s tells them apart."""
    n = 2 * SECP256K1_HALF_N + 1
    rng = random.Random(SEED)
    for _ in range(20):
        signer = Account.from_key(rng.randbytes(32))
        digest = rng.randbytes(32)
        signature = bytes(Account.unsafe_sign_hash(digest, signer.key).signature)
        twin = signature[:32] + (n - int.from_bytes(signature[32:64], "big")).to_bytes(32, "big")
        twin += bytes([55 - signature[64]])
        assert (is_high_s(signature), is_high_s(twin)) == (False, True)
        assert recover_address(digest, twin) == recover_address(digest, signature) == signer.address.lower()
