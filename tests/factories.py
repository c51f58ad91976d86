"""Builders for test data (deterministic from a seed)."""

from __future__ import annotations

import hashlib
import random

from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import AnchorItem, EvidenceItem
from backend.proofs.commitments import content_commitment
from backend.proofs.leaves import evidence_leaf_hash


def fake_cid(data: bytes) -> bytes:
    """Binary CIDv1 (raw codec, sha2-256) of ``data``: a well-formed CID without a store."""
    return b"\x01\x55\x12\x20" + hashlib.sha256(data).digest()


def queue_evidence(sessions: sessionmaker[Session], count: int, seed: int = 0) -> list[str]:
    """Insert ``count`` evidence rows with their outbox rows (as the upload path does); return ids."""
    rng = random.Random(seed)
    ids: list[str] = []
    with sessions.begin() as session:
        for _ in range(count):
            plaintext = rng.randbytes(64)
            salt = rng.randbytes(32)
            digest = hashlib.sha256(plaintext).digest()
            claim_ref = rng.randbytes(32)
            commitment = content_commitment(digest, salt)
            cid = fake_cid(rng.randbytes(32))
            item = EvidenceItem(
                claim_ref=claim_ref,
                commitment=commitment,
                salt=salt,
                plaintext_sha256=digest,
                cid=cid,
                size=len(plaintext),
                media_type="application/pdf",
            )
            session.add(item)
            session.flush()
            session.add(
                AnchorItem(kind="evidence", ref_id=item.id, leaf_hash=evidence_leaf_hash(claim_ref, commitment, cid))
            )
            ids.append(item.id)
    return ids
