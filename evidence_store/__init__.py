"""Hubao evidence store: Kubo-compatible content addressing, blockstores, encryption, CAR, Kubo RPC.

Entry points: :func:`open_store` (the configured backend), :func:`seal_evidence` /
:func:`open_evidence` (encrypted, committed evidence), :func:`compute_cid` (``ipfs add
--only-hash``). Errors: :mod:`evidence_store.errors`. No environment variable is read here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Submodules load on first use (PEP 562): ``hubao cid`` needs ``unixfs`` only, not the Kubo client
# (requests, ipfshttpclient) or the crypto stack, which cost about 0.4 s to import.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("DirectoryKeyring", "Keyring", "StaticKeyring", "WrappedKey", "content_commitment"), "crypto"),
    **dict.fromkeys(
        (
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
        ),
        "errors",
    ),
    **dict.fromkeys(("BlockStat", "EvidenceStore", "PinType"), "interface"),
    "KuboStore": "kubo",
    "LocalBlockstore": "local",
    "CID": "multiformats",
    **dict.fromkeys(
        ("SealedEvidence", "open_evidence", "rewrap_sealed", "seal_evidence", "shred", "verify_sealed_commitment"),
        "sealing",
    ),
    "compute_cid": "unixfs",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


LOCAL_SUBDIR = "evidence"


def open_store(ipfs_api: str | None, data_dir: Path, timeout: float) -> EvidenceStore:
    """A Kubo-backed store when ``ipfs_api`` is set, else the embedded blockstore in
    ``data_dir / "evidence"``. Opening does not contact Kubo (call ``version()`` to check it)."""
    if ipfs_api:
        from evidence_store.kubo import KuboStore

        return KuboStore(ipfs_api, timeout)
    from evidence_store.local import LocalBlockstore

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
