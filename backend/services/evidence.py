"""Accepting evidence: stream → encrypt → content-addressed store → DB row + outbox row, atomically.

The plaintext exists only in memory, chunk by chunk: it is encrypted as it streams into the
store (RELIABILITY.md D6). The evidence row and its anchoring outbox row are written in one
database transaction, so an accepted item is never lost to the anchoring worker; a failure
before that commit leaves at most an orphaned ciphertext in the store (swept by GC once unpinned).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import AnchorItem, EvidenceItem
from backend.errors import PayloadTooLarge, UnsupportedMediaType
from backend.proofs.leaves import evidence_leaf_hash
from evidence_store import seal_evidence
from evidence_store.crypto import Keyring
from evidence_store.interface import EvidenceStore

log = logging.getLogger(__name__)

# Magic bytes of the accepted document types; the declared Content-Type must agree (D8).
MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


@dataclass(frozen=True)
class AcceptedEvidence:
    evidence_id: str
    cid: bytes
    commitment: bytes
    salt: bytes
    plaintext_sha256: bytes
    size: int
    media_type: str


def checked_stream(chunks: Iterable[bytes], media_type: str, max_bytes: int) -> Iterator[bytes]:
    """Pass ``chunks`` through, refusing a wrong type (first bytes) or more than ``max_bytes``."""
    if media_type not in MAGIC:
        raise UnsupportedMediaType(f"{media_type!r} is not accepted: send application/pdf, image/png or image/jpeg")
    head = b""
    total = 0
    checked = False
    for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"evidence is larger than the {max_bytes}-byte limit")
        if not checked:
            head += chunk
            if len(head) < 8 and total < 8:
                continue
            if not head.startswith(MAGIC[media_type]):
                raise UnsupportedMediaType(f"the file's bytes are not {media_type}")
            checked = True
            chunk, head = head, b""
        yield chunk
    if not checked:
        if not head or not head.startswith(MAGIC[media_type]):
            raise UnsupportedMediaType(f"the file's bytes are not {media_type}")
        yield head


def accept_evidence(
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    keyring: Keyring,
    *,
    claim_ref: bytes,
    chunks: Iterable[bytes],
    media_type: str,
    max_bytes: int,
    uploader_id: str | None = None,
    claim_pk: str | None = None,
    original_name: str | None = None,
) -> AcceptedEvidence:
    """Encrypt and store the upload, then record it and queue its commitment for anchoring."""
    sealed = seal_evidence(store, keyring, checked_stream(chunks, media_type, max_bytes))
    cid = sealed.cid.to_bytes()
    with sessions.begin() as session:
        item = EvidenceItem(
            claim_ref=claim_ref,
            commitment=sealed.commitment,
            salt=sealed.salt,
            plaintext_sha256=sealed.plaintext_sha256,
            cid=cid,
            size=sealed.size,
            media_type=media_type,
            wrapped_dek=sealed.wrapped_dek,
            kek_id=sealed.kid,
            uploader_id=uploader_id,
            claim_pk=claim_pk,
            original_name=original_name,
        )
        session.add(item)
        session.flush()
        session.add(
            AnchorItem(kind="evidence", ref_id=item.id, leaf_hash=evidence_leaf_hash(claim_ref, sealed.commitment, cid))
        )
        evidence_id = item.id
    log.info("evidence accepted", extra={"evidence_id": evidence_id, "size": sealed.size})
    return AcceptedEvidence(
        evidence_id, cid, sealed.commitment, sealed.salt, sealed.plaintext_sha256, sealed.size, media_type
    )
