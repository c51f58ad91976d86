"""Accepting evidence: stream → encrypt → content-addressed store → DB row + outbox row, atomically.

The plaintext exists only in memory, chunk by chunk: it is encrypted as it streams into the
store (RELIABILITY.md D6). The evidence row and its anchoring outbox row are written in one
database transaction (:func:`accept_evidence`'s own, or — claim filing — the claim's, through
:func:`seal_upload` then :func:`insert_evidence_rows`), so an accepted item is never lost to the
anchoring worker; a failure before that commit leaves at most an orphaned ciphertext in the
store (swept by GC once unpinned).
A refused upload (too large, wrong type, client gone) does not even leave that: the blocks it
had written are deleted at once (D5: a refused upload grows the disk by < 1 MiB).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import AnchorItem, EvidenceItem, Member, new_public_id, table_of, utcnow
from backend.errors import Forbidden, InvalidInput, PayloadTooLarge, TooManyRequests, UnsupportedMediaType
from backend.proofs.leaves import evidence_leaf_hash
from evidence_store import seal_evidence
from evidence_store.crypto import Keyring
from evidence_store.interface import EvidenceStore
from evidence_store.local import LocalBlockstore
from evidence_store.multiformats import CID
from evidence_store.unixfs import FileDagBuilder

log = logging.getLogger(__name__)

# Magic bytes of the accepted document types; the declared Content-Type must agree (D8).
MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


@dataclass(frozen=True)
class AcceptedEvidence:
    """An upload sealed into the store: what its database rows (:func:`insert_evidence_rows`) hold."""

    evidence_id: str
    cid: bytes
    commitment: bytes
    salt: bytes = field(repr=False)
    plaintext_sha256: bytes = field(repr=False)
    size: int
    media_type: str
    claim_ref: bytes = b""
    wrapped_dek: bytes = field(default=b"", repr=False)
    kek_id: str = ""


def size_text(size: int) -> str:
    """``20 MiB`` for 20971520: what a person reads for a byte count."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def check_uploader(sessions: sessionmaker[Session], account_id: str, per_day: int, now: datetime | None = None) -> None:
    """Refuse a standalone upload (POST /evidence: each one is stored and queued for anchoring,
    notary gas) by an account that is not an active member of the plan (Forbidden ``NOT_A_MEMBER``)
    or that made ``per_day`` of them in the last day (TooManyRequests ``UPLOAD_QUOTA``, retry_after)."""
    now = now or datetime.now(UTC)
    with sessions() as session:
        status = session.scalars(select(Member.status).where(Member.account_id == account_id)).first()
        if status != "active":
            raise Forbidden("evidence is uploaded by members of the plan: join it first", code="NOT_A_MEMBER")
        recent = session.scalars(
            select(EvidenceItem.created_at)
            .where(
                EvidenceItem.uploader_id == account_id,
                EvidenceItem.claim_pk.is_(None),
                EvidenceItem.created_at >= now - timedelta(days=1),
            )
            .order_by(EvidenceItem.created_at)
        ).all()
    if len(recent) >= per_day:
        oldest = recent[0] if recent[0].tzinfo else recent[0].replace(tzinfo=UTC)
        retry = max(1, int((oldest + timedelta(days=1) - now).total_seconds()) + 1)
        raise TooManyRequests(
            f"at most {per_day} evidence uploads a day; try again in {retry} seconds",
            code="UPLOAD_QUOTA",
            retry_after=retry,
        )


def checked_stream(
    chunks: Iterable[bytes], media_type: str, max_bytes: int, name: str | None = None
) -> Iterator[bytes]:
    """Pass ``chunks`` through, refusing a wrong type (first bytes), an empty file or more than
    ``max_bytes``; each refusal names the file (``name``, as the client sent it)."""
    label = f"{name!r}" if name else "the file"
    if media_type not in MAGIC:
        raise UnsupportedMediaType(
            f"{label} is {media_type!r}, which is not accepted: send application/pdf, image/png or image/jpeg"
        )
    head = b""
    total = 0
    checked = False
    for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"{label} is larger than the {size_text(max_bytes)} limit per file")
        if not checked:
            head += chunk
            if len(head) < 8 and total < 8:
                continue
            if not head.startswith(MAGIC[media_type]):
                raise UnsupportedMediaType(f"the bytes of {label} are not {media_type}")
            checked = True
            chunk, head = head, b""
        yield chunk
    if not checked:
        if not head:
            raise InvalidInput(f"{label} is empty (0 bytes): choose the document again", code="EMPTY_FILE")
        if not head.startswith(MAGIC[media_type]):
            raise UnsupportedMediaType(f"the bytes of {label} are not {media_type}")
        yield head


class _BlockTrail:
    """An :class:`EvidenceStore` proxy whose ``add`` remembers the blocks it writes, so a refused
    upload's blocks can be deleted (``discard``) instead of waiting unpinned for GC.

    The embedded :class:`LocalBlockstore` reports the blocks it stores (``on_block``); for any
    other store the CIDs come from a second :class:`FileDagBuilder` fed the same bytes (same
    chunker, same CIDs as the store's own add), which hashes but keeps no data. Stores without
    ``block_rm`` (Kubo) are left to their own GC.
    """

    def __init__(self, store: EvidenceStore) -> None:
        self._store = store
        self._cids: list[CID] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def add(self, chunks: Iterable[bytes], *, cid_version: int = 0, pin: bool = True) -> CID:
        if isinstance(self._store, LocalBlockstore):  # it reports its blocks: no second hashing pass
            return self._store.add(chunks, cid_version=cid_version, pin=pin, on_block=self._cids.append)
        shadow = FileDagBuilder(cid_version, sink=lambda cid, _block: self._cids.append(cid))

        def tee() -> Iterator[bytes]:
            for chunk in chunks:
                shadow.write(chunk)
                yield chunk

        return self._store.add(tee(), cid_version=cid_version, pin=pin)

    def discard(self) -> None:
        remove = getattr(self._store, "block_rm", None)
        if remove is None:
            return
        for cid in self._cids:
            try:
                remove(cid)
            except Exception:  # a leftover block is GC's business; never mask the refusal
                log.warning("could not delete a refused upload's block")
                return


def seal_upload(
    store: EvidenceStore,
    keyring: Keyring,
    *,
    claim_ref: bytes,
    chunks: Iterable[bytes],
    media_type: str,
    max_bytes: int,
    name: str | None = None,
) -> AcceptedEvidence:
    """Check, encrypt and store the upload; no database row yet (:func:`insert_evidence_rows`).

    A refused upload (type, size, client gone) leaves no block behind.
    """
    trail = _BlockTrail(store)
    try:
        sealed = seal_evidence(trail, keyring, checked_stream(chunks, media_type, max_bytes, name))
    except BaseException:
        trail.discard()
        raise
    return AcceptedEvidence(
        evidence_id=new_public_id(),
        cid=sealed.cid.to_bytes(),
        commitment=sealed.commitment,
        salt=sealed.salt,
        plaintext_sha256=sealed.plaintext_sha256,
        size=sealed.size,
        media_type=media_type,
        claim_ref=claim_ref,
        wrapped_dek=sealed.wrapped_dek or b"",
        kek_id=sealed.kid,
    )


def insert_evidence_rows(
    session: Session,
    files: Sequence[tuple[AcceptedEvidence, str | None, bytes | None]],
    *,
    uploader_id: str | None = None,
    claim_pk: str | None = None,
    queued_at: datetime | None = None,
) -> None:
    """Insert, in ``session``'s transaction, the evidence rows of ``files`` — (upload, original
    name, leaf hash or None to compute it) — and their anchoring outbox rows: one bulk statement
    per table, on the tables themselves (Core, not the ORM's bulk layer: every upload and filing
    passes here). ``queued_at`` is when they were queued for anchoring on the deadline's clock
    (:func:`backend.services.chain_clock.queue_time`); the wall clock when not given."""
    evidence, anchors = evidence_rows(files, uploader_id=uploader_id, claim_pk=claim_pk, queued_at=queued_at)
    insert_rows(session, evidence, anchors)


def evidence_rows(
    files: Sequence[tuple[AcceptedEvidence, str | None, bytes | None]],
    *,
    uploader_id: str | None = None,
    claim_pk: str | None = None,
    queued_at: datetime | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``evidence_items`` and ``anchor_items`` rows :func:`insert_evidence_rows` writes (a
    group of filings writes many claims' rows at once: :func:`insert_rows`)."""
    evidence = [
        {
            "id": accepted.evidence_id,
            "claim_ref": accepted.claim_ref,
            "commitment": accepted.commitment,
            "salt": accepted.salt,
            "plaintext_sha256": accepted.plaintext_sha256,
            "cid": accepted.cid,
            "size": accepted.size,
            "media_type": accepted.media_type,
            "wrapped_dek": accepted.wrapped_dek,
            "kek_id": accepted.kek_id,
            "uploader_id": uploader_id,
            "claim_pk": claim_pk,
            "original_name": name,
        }
        for accepted, name, _ in files
    ]
    anchors = [
        {
            "kind": "evidence",
            "ref_id": accepted.evidence_id,
            "enqueued_at": queued_at or utcnow(),
            "leaf_hash": leaf
            if leaf is not None
            else evidence_leaf_hash(accepted.claim_ref, accepted.commitment, accepted.cid),
        }
        for accepted, _, leaf in files
    ]
    return evidence, anchors


def insert_rows(session: Session, evidence: list[dict[str, Any]], anchors: list[dict[str, Any]]) -> None:
    """Rows of :func:`evidence_rows` (of one upload or of many filings), one statement per table."""
    if evidence:
        session.execute(insert(table_of(EvidenceItem)), evidence)
    if anchors:
        session.execute(insert(table_of(AnchorItem)), anchors)


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
    queued_at: datetime | None = None,
) -> AcceptedEvidence:
    """Encrypt and store the upload, then record it and queue its commitment for anchoring."""
    accepted = seal_upload(
        store,
        keyring,
        claim_ref=claim_ref,
        chunks=chunks,
        media_type=media_type,
        max_bytes=max_bytes,
        name=original_name,
    )
    with sessions.begin() as session:
        insert_evidence_rows(
            session,
            [(accepted, original_name, None)],
            uploader_id=uploader_id,
            claim_pk=claim_pk,
            queued_at=queued_at,
        )
    log.info("evidence accepted", extra={"evidence_id": accepted.evidence_id, "size": accepted.size})
    return accepted
