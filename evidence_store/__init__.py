"""Hubao evidence store: Kubo-compatible content addressing, blockstores, encryption, CAR, Kubo RPC.

Entry points: :func:`open_store` (the configured backend), :func:`seal_evidence` /
:func:`open_evidence` (encrypted, committed evidence), :func:`compute_cid` (``ipfs add
--only-hash``). Errors: :mod:`evidence_store.errors`. No environment variable is read here.
"""

from __future__ import annotations

from pathlib import Path

from evidence_store.crypto import DirectoryKeyring, Keyring, StaticKeyring, WrappedKey, content_commitment
from evidence_store.errors import (
    CidMismatch,
    DecryptionError,
    EvidenceShredded,
    EvidenceStoreError,
    GcAborted,
    IntegrityError,
    InvalidCid,
    InvalidData,
    NotFound,
    NotPinned,
    StoreTimeout,
    StoreUnavailable,
    UnknownKeyId,
    WrapLimitExceeded,
)
from evidence_store.interface import BlockStat, EvidenceStore, PinType
from evidence_store.kubo import KuboStore
from evidence_store.local import LocalBlockstore
from evidence_store.multiformats import CID
from evidence_store.sealing import (
    SealedEvidence,
    open_evidence,
    rewrap_sealed,
    seal_evidence,
    shred,
    verify_sealed_commitment,
)
from evidence_store.unixfs import compute_cid

LOCAL_SUBDIR = "evidence"


def open_store(ipfs_api: str | None, data_dir: Path, timeout: float) -> EvidenceStore:
    """A Kubo-backed store when ``ipfs_api`` is set, else the embedded blockstore in
    ``data_dir / "evidence"``. Opening does not contact Kubo (call ``version()`` to check it)."""
    if ipfs_api:
        return KuboStore(ipfs_api, timeout)
    return LocalBlockstore(data_dir / LOCAL_SUBDIR)


__all__ = [
    "CID",
    "LOCAL_SUBDIR",
    "BlockStat",
    "CidMismatch",
    "DecryptionError",
    "DirectoryKeyring",
    "EvidenceShredded",
    "EvidenceStore",
    "EvidenceStoreError",
    "GcAborted",
    "IntegrityError",
    "InvalidCid",
    "InvalidData",
    "Keyring",
    "KuboStore",
    "LocalBlockstore",
    "NotFound",
    "NotPinned",
    "PinType",
    "SealedEvidence",
    "StaticKeyring",
    "StoreTimeout",
    "StoreUnavailable",
    "UnknownKeyId",
    "WrapLimitExceeded",
    "WrappedKey",
    "compute_cid",
    "content_commitment",
    "open_evidence",
    "open_store",
    "rewrap_sealed",
    "seal_evidence",
    "shred",
    "verify_sealed_commitment",
]
