"""Ethereum ``ecrecover``: the address whose key made a 65-byte ``r ‖ s ‖ v`` signature over a digest.

Verification-critical (audit step 3 checks every recorded verdict's signer with it) and pure:
libsecp256k1 through coincurve, no hashing of the message (the digest is given), the address is
the last 20 bytes of ``keccak256`` of the uncompressed public key. ``v`` is 27 or 28 (what
ClaimLedger's verdict signatures carry); anything else does not recover.
"""

from __future__ import annotations

import coincurve

from backend.proofs.keccak import keccak256

__all__ = ["SECP256K1_HALF_N", "is_high_s", "recover_address"]

# secp256k1's group order halved: OpenZeppelin's ECDSA.recover (what ClaimLedger verifies verdicts
# with) refuses an ``s`` above it — (r, n − s, v ^ 1) is a second valid signature of the same signer
# (malleability), so only the low-s form is ever accepted on chain.
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def is_high_s(signature: bytes) -> bool:
    """Whether the ``s`` of a 65-byte ``r ‖ s ‖ v`` signature is in the upper half of the group."""
    return len(signature) == 65 and int.from_bytes(signature[32:64], "big") > SECP256K1_HALF_N


def recover_address(digest: bytes, signature: bytes) -> str | None:
    """The lowercase ``0x`` address whose key made ``signature`` over ``digest``; None if unrecoverable."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([signature[64] - 27]), digest, hasher=None
        )
    except ValueError:
        return None
    return "0x" + keccak256(key.format(compressed=False)[1:])[12:].hex()
