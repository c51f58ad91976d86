"""Database models. Rows that mirror chain state are checked against the chain by the auditor.

Hashes and CIDs are stored as raw bytes (``LargeBinary``); ids exposed by the API are random
strings so they cannot be enumerated. Times are timezone-aware UTC.
"""

from __future__ import annotations

import secrets
import unicodedata
from datetime import UTC, date, datetime
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
    Table,
    Text,
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


def table_of(model: type[Base]) -> Table:
    """The table of ``model``, for Core statements on hot paths: ``insert(table_of(Claim))`` with
    column dicts skips the ORM's bulk-persistence layer (about half the CPU per statement)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class EvidenceItem(Base):
    """One encrypted evidence file in the evidence store and its commitment."""

    __tablename__ = "evidence_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    claim_ref: Mapped[bytes] = mapped_column(LargeBinary(32))
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Private to the claimant and the operator: never logged, never on chain.
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    plaintext_sha256: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)  # duplicate check (0004)
    cid: Mapped[bytes] = mapped_column(LargeBinary(128))  # binary CID of the ciphertext DAG
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(64))
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary(256), nullable=True)
    kek_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shredded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    claim_pk: Mapped[str | None] = mapped_column(ForeignKey("claims.id"), nullable=True, index=True)
    uploader_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    original_name: Mapped[str | None] = mapped_column(String(255), nullable=True)  # escaped metadata only

    anchor: Mapped[AnchorItem | None] = relationship(back_populates="evidence", uselist=False)


class BatchColumns:
    """One anchored Merkle batch (evidence or membership log): built locally, then sent, then
    confirmed at depth, or orphaned by a reorg (``backend.services.anchoring``)."""

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


class AnchorBatch(BatchColumns, Base):
    """One evidence batch, anchored in ``EvidenceNotary``."""

    __tablename__ = "anchor_batches"

    items: Mapped[list[AnchorItem]] = relationship(back_populates="batch")


class AnchorItem(Base):
    """Transactional outbox row: written in the same DB transaction as the item it anchors."""

    __tablename__ = "anchor_items"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id", name="uq_anchor_items_kind_ref"),
        Index("ix_anchor_items_pending", "batch_id", "id"),  # formation order (migration 0003)
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


class ChainOutboxRow(Base):
    """A transaction to send with one of the deployment's keys (``backend.services.chain_outbox``).

    Hosts only insert rows (``queued``); the elected sender of the key assigns the nonce and signs
    (``signed``: nonce, hash and the raw bytes any later leader rebroadcasts unchanged, with the
    fencing token of the lease it signed under), then records the outcome (``mined`` /
    ``reverted`` with the block) or why it was never sent (``failed``: error code, name and
    JSON-safe args, and the revert data the caller decodes). ``label`` says what it is (a function
    selector), never personal data.
    """

    __tablename__ = "chain_outbox"
    __table_args__ = (
        # The sender's queries: the queued rows of one key in id order, its signed rows in nonce order.
        Index("ix_chain_outbox_key_status_id", "chain_id", "sender", "status", "id"),
        Index("ix_chain_outbox_key_status_nonce", "chain_id", "sender", "status", "nonce"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(42))
    to: Mapped[str | None] = mapped_column(String(42), nullable=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[str] = mapped_column(String(80), default="0")  # wei, decimal (uint256 fits no SQL integer)
    gas: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    label: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    fencing_token: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    error_args: Mapped[str | None] = mapped_column(String, nullable=True)  # JSON
    revert_data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


# --- accounts, membership, rule sets, claims (issue: membership and the claims workflow) ----------


def username_key(username: str) -> str:
    """The form usernames are compared in: NFKC-normalised, case-folded (``Alice`` is ``alice``)."""
    return unicodedata.normalize("NFKC", username).casefold()


def _username_key_default(context: Any) -> str:
    return username_key(context.get_current_parameters()["username"])


class Account(Base):
    """A login. Roles: member, reviewer, juror, auditor, operator (one role per account)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("username_key", name="uq_accounts_username_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # ``auth.username_key(username)``: unique, so ``Alice`` cannot register beside ``alice``. Rows that
    # collided before revision 0006 keep their name; the later ones hold ``key#id`` here.
    username_key: Mapped[str] = mapped_column(String(128), default=_username_key_default)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), index=True)
    # Reviewers and jurors sign EIP-712 messages; their keys are encrypted at rest under a KEK.
    signing_address: Mapped[str | None] = mapped_column(String(42), nullable=True, unique=True)
    signing_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary(256), nullable=True)
    token_version: Mapped[int] = mapped_column(Integer, default=0)  # bump to revoke every token
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuthSession(Base):
    """One sign-in (a device's session): its tokens carry ``sid``; the session ends on its own at
    ``expires_at`` (sign-in + ``HUBAO_SESSION_MAX_AGE``; its short tokens are refreshed until then)
    or when revoked (sign-out of this device, of every device, or by an operator). Kept for the
    owner's list of devices: no IP address, only a short description of the browser (``device``),
    and deleted once ended by age (``backend.services.auth``)."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    device: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Each refresh moves the session to its next generation (its tokens carry ``gen``); a token of
    # an older one refreshed again, after the grace, ends the session (``backend.services.auth``).
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rotated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ServerHeldKey(Base):
    """A participant signing key this server generated and sealed (the legacy custody), kept after the
    key is retired: the audit counts every verdict or vote such a key signed as one an operator-held
    secret could have made (issue 14 item 5). Devices' keys never get a row."""

    __tablename__ = "server_held_keys"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SharedSecret(Base):
    """The fingerprint of one secret every host of the deployment must hold (``jwt`` or ``kek:<kid>``)."""

    __tablename__ = "shared_secrets"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    first_host: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeploymentRow(Base):
    """The contract suite's deployment record (``backend.chain.deploy.DeploymentRecord`` as JSON):
    one for every host on this database, so a host with its own data directory uses the suite
    another host deployed instead of deploying its own (issue 18)."""

    __tablename__ = "deployments"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # "suite"
    record: Mapped[str] = mapped_column(Text)
    written_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(Base):
    """Plan membership of one account. On chain only ``commitment`` (salted) ever appears."""

    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), unique=True)
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    birth_date: Mapped[date] = mapped_column()
    credit_score: Mapped[int] = mapped_column(Integer)
    joined_at: Mapped[datetime] = mapped_column()
    waiting_ends_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)  # active | ended
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rule_set_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    join_tx: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)


class RuleSetRecord(Base):
    """A versioned rule set: canonical JSON, its keccak hash, and the anchoring transaction."""

    __tablename__ = "rule_sets"

    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    canonical_json: Mapped[str] = mapped_column(String)
    active: Mapped[bool] = mapped_column(default=True)
    anchor_tx: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Claim(Base):
    """A claim; ``claim_id`` is its id on chain (ClaimLedger), ``id`` the API's opaque id."""

    __tablename__ = "claims"
    __table_args__ = (UniqueConstraint("member_id", "idempotency_key", name="uq_claims_member_idempotency"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    claim_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    illness_code: Mapped[str] = mapped_column(String(16))
    diagnosis_date: Mapped[date] = mapped_column()
    age_at_diagnosis: Mapped[int] = mapped_column(Integer)
    payout_fen: Mapped[int] = mapped_column(BigInteger)
    rule_set_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    evidence_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The claimant device's key for this claim (bound in claim_id): its address only, never a key.
    # NULL for claims filed before ClaimLedger 2.0.0.
    # Indexed: every filing checks that its claim key was never used (migration 0013).
    claimant_key: Mapped[str | None] = mapped_column(String(42), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    flags: Mapped[str] = mapped_column(String(256), default="")  # comma-separated, e.g. DUPLICATE_EVIDENCE
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    final_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The client's Idempotency-Key of the filing: a retry with the same key answers this claim.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ClaimEvent(Base):
    """The claim timeline: one row per on-chain step (block, transaction) or off-chain note."""

    __tablename__ = "claim_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_pk: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    detail: Mapped[str] = mapped_column(String, default="{}")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewAssignment(Base):
    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("claim_pk", "reviewer_id", name="uq_review_assignment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_pk: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    verdict: Mapped[str | None] = mapped_column(String(8), nullable=True)  # APPROVE | REJECT
    reason_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    report_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(65), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Relation(Base):
    """A declared relation between a reviewer/juror account and a member (never assigned to them)."""

    __tablename__ = "relations"
    __table_args__ = (UniqueConstraint("account_id", "member_id", name="uq_relation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))


class Objection(Base):
    __tablename__ = "objections"
    __table_args__ = (UniqueConstraint("claim_pk", "member_id", name="uq_objection_per_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_pk: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    # Plain text only in rows from before revision 0008 (sealed at the next start, then ""): the
    # reason is ``reason_sealed`` (backend.services.sealed_text), encrypted like the reports.
    reason: Mapped[str] = mapped_column(String(500))
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class JurySeat(Base):
    __tablename__ = "jury_seats"
    __table_args__ = (UniqueConstraint("claim_pk", "round", "juror_id", name="uq_jury_seat"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_pk: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    juror_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    # The juror's commitment (public on chain). The salt is derived and kept on the juror's device;
    # the vote is known here only once revealed on chain (migration 0010 dropped vote_salt).
    commitment: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    vote: Mapped[bool | None] = mapped_column(nullable=True)
    revealed: Mapped[bool] = mapped_column(default=False)


class EvidenceAccess(Base):
    """Hash-chained log of every decryption of evidence (who, what, when): tamper-evident (E5)."""

    __tablename__ = "evidence_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence_items.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)


# --- the membership log (issue 15 item 4): joins and exits anchored in MembershipLog -----------------


class MembershipBatch(BatchColumns, Base):
    """One membership-log batch, anchored in ``MembershipLog`` (an EvidenceNotary instance)."""

    __tablename__ = "membership_batches"


class MembershipLogEntry(Base):
    """Outbox row of one join or exit, written in the same transaction as the ``members`` change.

    The leaf ``(change, commitment, effective_at)`` is ``backend.proofs.membership_log``'s; the
    reason of an exit stays in ``members.end_reason``, off chain.
    """

    __tablename__ = "membership_log"
    __table_args__ = (
        UniqueConstraint("member_id", "change", name="uq_membership_log_member_change"),
        Index("ix_membership_log_pending", "batch_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    change: Mapped[int] = mapped_column(Integer)  # 1 join, 2 exit
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    effective_at: Mapped[int] = mapped_column(BigInteger)  # Unix seconds
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("membership_batches.id"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    proof: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # concatenated 32-byte nodes
