"""The evidence store's exception tree.

    EvidenceStoreError              base: ``code`` (stable, machine-readable), ``message``, structured fields
    ├── NotFound                    unknown CID (block not in the store)
    ├── IntegrityError              bytes do not hash to their CID ("digest mismatch"); names the CID
    │   └── CidMismatch             a backend answered a different CID than the one computed here
    ├── DecryptionError             wrong key, tampered / truncated / reordered ciphertext
    │   └── UnknownKeyId            no KEK with the given ``kid`` in the keyring
    ├── EvidenceShredded            the data key was deleted (crypto-shredding): unreadable for good
    ├── WrapLimitExceeded           a KEK reached its wrap budget (2^31 wraps): rotate the KEK
    ├── StoreUnavailable            the backend cannot be reached (daemon down)
    ├── StoreTimeout                the backend did not answer within the read timeout (hung daemon)
    ├── InvalidCid                  text or bytes that are not a CID this package supports
    ├── InvalidData                 malformed input: dag-pb / UnixFS node, CAR file, ciphertext header
    ├── NotPinned                   pin/rm of something that is not pinned (or only indirectly)
    └── GcAborted                   GC found a pinned DAG broken (missing or corrupt block); nothing removed

Every error of this tree means no unverified byte was handed to the caller. The backend maps these
classes to HTTP statuses by class name (``backend.api.errors.extra_mappings``); ``code`` is the
stable identifier in API bodies. ``EvidenceShredded`` is deliberately not a ``DecryptionError``:
a shredded file is gone (410), a wrong key is a refusal (403).
"""

from __future__ import annotations

from typing import Any


class EvidenceStoreError(Exception):
    """Base error: ``code`` is machine-readable and stable, ``message`` is for humans."""

    code = "EVIDENCE_STORE_ERROR"

    def __init__(self, message: str, *, code: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields

    def __str__(self) -> str:
        return self.message


class NotFound(EvidenceStoreError):
    code = "EVIDENCE_NOT_FOUND"

    def __init__(self, cid: str, message: str | None = None) -> None:
        super().__init__(message or f"block {cid} not found", cid=cid)
        self.cid = cid


class IntegrityError(EvidenceStoreError):
    code = "EVIDENCE_INTEGRITY"

    def __init__(self, cid: str, message: str | None = None) -> None:
        super().__init__(message or f"block {cid}: digest mismatch", cid=cid)
        self.cid = cid


class CidMismatch(IntegrityError):
    code = "EVIDENCE_CID_MISMATCH"

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(expected, f"backend returned CID {actual}, computed {expected}: digest mismatch")
        self.expected = expected
        self.actual = actual
        self.fields["actual"] = actual


class DecryptionError(EvidenceStoreError):
    code = "EVIDENCE_DECRYPTION_FAILED"


class UnknownKeyId(DecryptionError):
    code = "EVIDENCE_UNKNOWN_KID"

    def __init__(self, kid: str) -> None:
        super().__init__(f"no key-encryption key with kid {kid!r}", kid=kid)
        self.kid = kid


class EvidenceShredded(EvidenceStoreError):
    code = "EVIDENCE_SHREDDED"


class WrapLimitExceeded(EvidenceStoreError):
    code = "EVIDENCE_KEK_WRAP_LIMIT"


class StoreUnavailable(EvidenceStoreError):
    code = "EVIDENCE_STORE_UNAVAILABLE"


class StoreTimeout(EvidenceStoreError):
    code = "EVIDENCE_STORE_TIMEOUT"


class InvalidCid(EvidenceStoreError):
    code = "EVIDENCE_INVALID_CID"


class InvalidData(EvidenceStoreError):
    code = "EVIDENCE_INVALID_DATA"


class NotPinned(EvidenceStoreError):
    code = "EVIDENCE_NOT_PINNED"


class GcAborted(EvidenceStoreError):
    code = "EVIDENCE_GC_ABORTED"


__all__ = [
    "CidMismatch",
    "DecryptionError",
    "EvidenceShredded",
    "EvidenceStoreError",
    "GcAborted",
    "IntegrityError",
    "InvalidCid",
    "InvalidData",
    "NotFound",
    "NotPinned",
    "StoreTimeout",
    "StoreUnavailable",
    "UnknownKeyId",
    "WrapLimitExceeded",
]
