"""Seal evidence (encrypt, commit, store) and open it again (fetch, verify, decrypt), streaming.

What the backend calls. ``seal_evidence`` never holds the whole file: plaintext flows through
sha256 and the segment cipher straight into the store's DAG builder. ``open_evidence`` yields
only plaintext that passed every check: each block re-hashed against its CID, each segment
authenticated (AES-GCM with index / final flag / context bound), and at the end the plaintext's
sha256 and size compared with what was sealed.

Crypto-shredding: :func:`shred` drops the wrapped data key; :func:`open_evidence` then raises
:class:`EvidenceShredded` while :func:`verify_sealed_commitment` still checks the commitment.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from evidence_store.crypto import (
    Keyring,
    WrappedKey,
    content_commitment,
    decrypt_stream,
    encrypt_stream,
    new_data_key,
    rewrap,
    verify_commitment,
)
from evidence_store.errors import EvidenceShredded, IntegrityError
from evidence_store.interface import EvidenceStore
from evidence_store.multiformats import CID


@dataclass(frozen=True, slots=True)
class SealedEvidence:
    """Everything needed to find, open and prove one evidence file.

    ``cid`` names the stored ciphertext; ``commitment`` = keccak256(abi.encode(plaintext_sha256,
    salt)) is what goes into Merkle leaves; ``salt`` and ``plaintext_sha256`` stay off chain (the
    claimant's receipt carries the salt). ``wrapped_dek`` is ``None`` once shredded.
    """

    cid: CID
    commitment: bytes
    # Kept out of repr: salt + digest would let a log reader brute-force the plaintext.
    salt: bytes = field(repr=False)
    plaintext_sha256: bytes = field(repr=False)
    wrapped_dek: bytes | None = field(repr=False)
    kid: str
    size: int

    @property
    def shredded(self) -> bool:
        return self.wrapped_dek is None


def seal_evidence(
    store: EvidenceStore,
    keyring: Keyring,
    plaintext_stream: Iterable[bytes],
    *,
    context: bytes = b"",
    cid_version: int = 1,
) -> SealedEvidence:
    """Encrypt ``plaintext_stream`` under a fresh data key, store (and pin) the ciphertext.

    ``context`` (e.g. the claim reference) is bound into every segment: the ciphertext only opens
    with the same context. The data key is wrapped (and the KEK's wrap counted) before anything is
    stored, so a refused wrap stores nothing.
    """
    dek = new_data_key()
    wrapped = keyring.wrap(dek)
    salt = secrets.token_bytes(32)
    digest = hashlib.sha256()
    size = 0

    def tap() -> Iterator[bytes]:
        nonlocal size
        for chunk in plaintext_stream:
            digest.update(chunk)
            size += len(chunk)
            yield chunk

    cid = store.add(encrypt_stream(dek, tap(), context=context), cid_version=cid_version, pin=True)
    plaintext_sha256 = digest.digest()
    return SealedEvidence(
        cid=cid,
        commitment=content_commitment(plaintext_sha256, salt),
        salt=salt,
        plaintext_sha256=plaintext_sha256,
        wrapped_dek=wrapped.blob,
        kid=wrapped.kid,
        size=size,
    )


def open_evidence(
    store: EvidenceStore, keyring: Keyring, sealed: SealedEvidence, *, context: bytes = b""
) -> Iterator[bytes]:
    """Verified plaintext of ``sealed``, chunk by chunk.

    Raises eagerly (before the first chunk) :class:`EvidenceShredded`, :class:`UnknownKeyId`,
    :class:`DecryptionError` for a key that does not unwrap, and :class:`NotFound`; while
    streaming, :class:`IntegrityError` / :class:`DecryptionError` stop the stream.
    """
    if sealed.wrapped_dek is None:
        raise EvidenceShredded(f"evidence {sealed.cid} was crypto-shredded: its data key is gone", cid=str(sealed.cid))
    dek = keyring.unwrap(WrappedKey(sealed.kid, sealed.wrapped_dek))
    ciphertext = store.cat(sealed.cid)
    return _verified_plaintext(dek, ciphertext, sealed, context)


def _verified_plaintext(
    dek: bytes, ciphertext: Iterator[bytes], sealed: SealedEvidence, context: bytes
) -> Iterator[bytes]:
    digest = hashlib.sha256()
    size = 0
    for chunk in decrypt_stream(dek, ciphertext, context=context):
        digest.update(chunk)
        size += len(chunk)
        yield chunk
    if size != sealed.size or digest.digest() != sealed.plaintext_sha256:
        raise IntegrityError(str(sealed.cid), f"evidence {sealed.cid}: plaintext digest mismatch")


def shred(sealed: SealedEvidence) -> SealedEvidence:
    """The same record without its data key: unreadable for good, commitment still checkable."""
    return replace(sealed, wrapped_dek=None)


def rewrap_sealed(keyring: Keyring, sealed: SealedEvidence) -> SealedEvidence:
    """Re-wrap the data key under the keyring's current KEK (ciphertext and CID unchanged)."""
    if sealed.wrapped_dek is None:
        raise EvidenceShredded(f"evidence {sealed.cid} was crypto-shredded", cid=str(sealed.cid))
    new = rewrap(keyring, WrappedKey(sealed.kid, sealed.wrapped_dek))
    return replace(sealed, wrapped_dek=new.blob, kid=new.kid)


def verify_sealed_commitment(sealed: SealedEvidence) -> bool:
    """Commitment == keccak256(abi.encode(plaintext_sha256, salt)); needs no key."""
    return verify_commitment(sealed.commitment, sealed.plaintext_sha256, sealed.salt)


__all__ = [
    "SealedEvidence",
    "open_evidence",
    "rewrap_sealed",
    "seal_evidence",
    "shred",
    "verify_sealed_commitment",
]
