"""Salted commitments: what goes on chain instead of document hashes, member ids and claim ids.

Verification-critical (DESIGN.md "Evidence: privacy first"), pinned by the "commitments" section
of ``tests/vectors/receipt_evidence.json``. All functions are pure; salts are 32 random bytes made
by ``new_salt`` and kept off chain.

* **Content commitment** of an evidence file::

      contentCommitment = keccak256(abi.encode(bytes32 sha256(plaintext), bytes32 salt))
                        = keccak256(sha256(plaintext) ‖ salt)          (both words are static)

  The salt is why the commitment cannot be brute-forced from a guessed document; it travels
  only in the claimant's own receipt.
* **Member commitment** — a member's identity on chain::

      keccak256(abi.encode(bytes32 MEMBER_COMMITMENT_DOMAIN, bytes32 salt, string memberId))

* **Claim reference** — the ``claimRef`` of an evidence leaf::

      keccak256(abi.encode(bytes32 CLAIM_REF_DOMAIN, bytes32 salt, string claimId))

  The domain words (keccak256 of a fixed ASCII tag) keep a member commitment from ever equalling
  a claim reference made from the same string and salt. In Solidity each is
  ``keccak256(abi.encode(DOMAIN, salt, id))``.
* **Claim member commitment** — the ``memberCommitment`` filed with one claim: a fresh member
  commitment per claim, so two claims of one member cannot be linked on chain, yet re-derivable by
  whoever holds the member's secret salt::

      saltC = keccak256(CLAIM_MEMBER_SALT_DOMAIN ‖ memberSalt ‖ claimRef)     (raw concatenation)
      claimMemberCommitment = member_commitment(memberId, saltC)

  ``memberSalt`` (the member row's 32-byte salt) and ``claimRef`` (32 bytes) are concatenated
  as given, without ABI padding, after the 32-byte domain word.
* **Payment reference** — the ``paymentRef`` of ``ClaimLedger.recordPayout``::

      keccak256(abi.encode(bytes32 PAYMENT_REF_DOMAIN, bytes32 salt, string reference))

  ``reference`` is the operator's payment record (bank transfer id, …) in UTF-8; the salt keeps a
  guessable reference from being confirmed against the chain.
* **Report hash** — the ``reportHash`` of a signed verdict::

      keccak256(abi.encode(bytes32 keccak256(utf8(report)), bytes32 salt))
                        = keccak256(keccak256(utf8(report)) ‖ salt)

  Salted, because a short report ("diagnosis confirmed") would be brute-forced from a plain hash.

Domain words: ``keccak256`` of the ASCII tags ``hubao.member-commitment.v1``,
``hubao.claim-ref.v1``, ``hubao.claim-member-salt.v1`` and ``hubao.payment-ref.v1``. Every hash
here is pinned by ``tests/vectors/receipt_evidence.json`` ("commitments") or
``tests/vectors/protocol_hashes.json``.
"""

from __future__ import annotations

import hashlib
import secrets
from uuid import UUID

from backend.proofs.errors import LeafEncodingError
from backend.proofs.keccak import keccak256
from backend.proofs.leaves import abi_encode

__all__ = [
    "CLAIM_MEMBER_SALT_DOMAIN",
    "CLAIM_REF_DOMAIN",
    "MEMBER_COMMITMENT_DOMAIN",
    "PAYMENT_REF_DOMAIN",
    "SALT_BYTES",
    "claim_member_commitment",
    "claim_ref",
    "content_commitment",
    "content_commitment_of",
    "member_commitment",
    "new_salt",
    "payment_ref",
    "plaintext_sha256",
    "report_hash",
]

SALT_BYTES = 32
MEMBER_COMMITMENT_DOMAIN: bytes = keccak256(b"hubao.member-commitment.v1")
CLAIM_REF_DOMAIN: bytes = keccak256(b"hubao.claim-ref.v1")
CLAIM_MEMBER_SALT_DOMAIN: bytes = keccak256(b"hubao.claim-member-salt.v1")
PAYMENT_REF_DOMAIN: bytes = keccak256(b"hubao.payment-ref.v1")


def new_salt() -> bytes:
    """32 bytes from the operating system's CSPRNG."""
    return secrets.token_bytes(SALT_BYTES)


def _check_bytes32(value: bytes, name: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise LeafEncodingError(f"{name} must be 32 bytes", field=name)
    return bytes(value)


def plaintext_sha256(plaintext: bytes) -> bytes:
    """SHA-256 of the plaintext document (never published; input of ``content_commitment``)."""
    return hashlib.sha256(plaintext).digest()


def content_commitment(plaintext_sha256: bytes, salt: bytes) -> bytes:
    """``keccak256(abi.encode(bytes32 plaintextSha256, bytes32 salt))``."""
    return keccak256(_check_bytes32(plaintext_sha256, "plaintext_sha256") + _check_bytes32(salt, "salt"))


def content_commitment_of(plaintext: bytes, salt: bytes) -> bytes:
    """Content commitment of a whole plaintext document."""
    return content_commitment(plaintext_sha256(plaintext), salt)


def _id_text(identifier: str | UUID, name: str) -> str:
    text = str(identifier) if isinstance(identifier, UUID) else identifier
    if not isinstance(text, str) or not text:
        raise LeafEncodingError(f"{name} must be a non-empty string or UUID", field=name)
    return text


def member_commitment(member_id: str | UUID, salt: bytes) -> bytes:
    """Salted commitment to a member id (UUIDs in their canonical lower-case string form)."""
    text = _id_text(member_id, "member_id")
    return keccak256(
        abi_encode(("bytes32", "bytes32", "string"), (MEMBER_COMMITMENT_DOMAIN, _check_bytes32(salt, "salt"), text))
    )


def claim_ref(claim_id: str | UUID, salt: bytes) -> bytes:
    """The ``claimRef`` of evidence leaves for claim ``claim_id`` (salted, so ids stay unlinkable)."""
    text = _id_text(claim_id, "claim_id")
    return keccak256(
        abi_encode(("bytes32", "bytes32", "string"), (CLAIM_REF_DOMAIN, _check_bytes32(salt, "salt"), text))
    )


def claim_member_commitment(member_id: str | UUID, member_salt: bytes, claim_ref: bytes) -> bytes:
    """The ``memberCommitment`` filed with one claim (see the module docstring).

    ``member_salt`` and ``claim_ref`` are hashed as given (no length check), so an auditor can
    re-derive the commitment from whatever a database row holds and simply find it different.
    """
    return member_commitment(member_id, keccak256(CLAIM_MEMBER_SALT_DOMAIN + member_salt + claim_ref))


def payment_ref(reference: str, salt: bytes) -> bytes:
    """``keccak256(abi.encode(bytes32 PAYMENT_REF_DOMAIN, bytes32 salt, string reference))``."""
    return keccak256(abi_encode(("bytes32", "bytes32", "string"), (PAYMENT_REF_DOMAIN, salt, reference)))


def report_hash(report: str, salt: bytes) -> bytes:
    """``keccak256(abi.encode(bytes32 keccak256(utf8(report)), bytes32 salt))``."""
    return keccak256(keccak256(report.encode("utf-8")) + _check_bytes32(salt, "salt"))
