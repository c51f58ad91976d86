"""Database models. Rows that mirror chain state are checked against the chain by the auditor.

Hashes and CIDs are stored as raw bytes (``LargeBinary``); ids exposed by the API are random
strings so they cannot be enumerated. Times are timezone-aware UTC.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id() -> str:
    return secrets.token_hex(16)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class EvidenceItem(Base):
    """One encrypted evidence file in the evidence store and its commitment."""

    __tablename__ = "evidence_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    claim_ref: Mapped[bytes] = mapped_column(LargeBinary(32))
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Private to the claimant and the operator: never logged, never on chain.
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    plaintext_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    cid: Mapped[bytes] = mapped_column(LargeBinary(128))  # binary CID of the ciphertext DAG
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(64))
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary(256), nullable=True)
    kek_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shredded_at: Mapped[datetime | None] = mapped_column(nullable=True)

    anchor: Mapped[AnchorItem | None] = relationship(back_populates="evidence", uselist=False)


class AnchorBatch(Base):
    """One Merkle batch: built locally, then sent, then confirmed at depth, or orphaned by a reorg."""

    __tablename__ = "anchor_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prev_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf_count: Mapped[int] = mapped_column(Integer)
    # built → sent → confirmed; orphaned when its anchor left the chain (items re-queued)
    status: Mapped[str] = mapped_column(String(16), default="built", index=True)
    tx_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    tx_nonce: Mapped[int | None] = mapped_column(Integer, nullable=True)
    onchain_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    items: Mapped[list[AnchorItem]] = relationship(back_populates="batch")


class AnchorItem(Base):
    """Transactional outbox row: written in the same DB transaction as the item it anchors."""

    __tablename__ = "anchor_items"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id", name="uq_anchor_items_kind_ref"),
        Index("ix_anchor_items_pending", "batch_id", "enqueued_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "evidence"
    ref_id: Mapped[str] = mapped_column(ForeignKey("evidence_items.id"), index=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("anchor_batches.id"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    proof: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # concatenated 32-byte nodes

    batch: Mapped[AnchorBatch | None] = relationship(back_populates="items")
    evidence: Mapped[EvidenceItem] = relationship(back_populates="anchor")


class WorkerLease(Base):
    """A named lease so that only one process runs a singleton worker (the anchoring leader)."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column()
    fencing_token: Mapped[int] = mapped_column(BigInteger, default=0)
