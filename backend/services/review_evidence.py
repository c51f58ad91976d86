"""Opening and verifying a claim's evidence for the claimant or an assigned reviewer.

Opening decrypts after logging the access (:mod:`backend.services.review_access_log`); verifying
re-derives each item's content commitment and CID from the stored bytes and checks its inclusion
in the claim's evidence root on ClaimLedger and in its anchored ``EvidenceNotary`` batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.notary import NotaryBatchLookup, NotaryClient
from backend.db.models import AnchorBatch, AnchorItem, Claim, EvidenceItem
from backend.errors import NotFound
from backend.proofs.commitments import content_commitment
from backend.proofs.leaves import evidence_leaf_hash
from backend.proofs.merkle import MerkleTree, verify_proof
from backend.services.anchoring import unpack_proof
from backend.services.auth import Principal
from backend.services.claims import claim_leaf_hashes, hex32, is_claimant, ledger
from backend.services.context import ServiceContext
from backend.services.review import _assignment
from backend.services.review_access_log import log_access
from evidence_store import SealedEvidence, compute_cid, open_evidence
from evidence_store.crypto import WrappedKey, decrypt_stream
from evidence_store.errors import EvidenceStoreError
from evidence_store.multiformats import CID


def _sealed(item: EvidenceItem) -> Any:
    return SealedEvidence(
        cid=CID.from_bytes(item.cid),
        commitment=item.commitment,
        salt=item.salt,
        plaintext_sha256=item.plaintext_sha256,
        wrapped_dek=item.wrapped_dek,
        kid=item.kek_id or "",
        size=item.size,
    )


def readable_evidence(session: Session, principal: Principal, claim_pk: str, evidence_id: str) -> EvidenceItem:
    """The evidence item if the caller may see its plaintext: the claimant or an assigned reviewer."""
    claim = session.get(Claim, claim_pk)
    item = session.get(EvidenceItem, evidence_id)
    if claim is None or item is None or item.claim_pk != claim.id:
        raise NotFound("no such evidence")
    if is_claimant(session, principal, claim):
        return item
    if principal.role == "reviewer":
        try:
            _assignment(session, principal, claim.id)  # 403 for a conflicted reviewer
        except NotFound:
            raise NotFound("no such evidence") from None
        return item
    raise NotFound("no such evidence")


@dataclass(frozen=True)
class OpenedEvidence:
    evidence_id: str
    media_type: str
    size: int
    original_name: str | None
    chunks: Iterator[bytes]


def open_claim_evidence(ctx: ServiceContext, principal: Principal, claim_pk: str, evidence_id: str) -> OpenedEvidence:
    """Verified plaintext for the claimant or an assigned reviewer; the decryption is logged first."""
    with ctx.sessions() as session:
        item = readable_evidence(session, principal, claim_pk, evidence_id)
        sealed = _sealed(item)
        # The original file name is the claimant's own: reviewers never see it, not even in a download.
        meta = (item.id, item.media_type, item.size, item.original_name if principal.role == "member" else None)
    chunks = open_evidence(ctx.store, ctx.keyring, sealed)  # raises eagerly (shredded, key)
    purpose = "claimant_download" if principal.role == "member" else "review_download"
    log_access(ctx, evidence_id, principal.account_id, purpose)
    return OpenedEvidence(*meta, chunks=chunks)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # pass | fail | pending
    detail: str


@dataclass(frozen=True)
class EvidenceVerification:
    evidence_id: str
    verified: bool
    checks: list[Check]


def verify_claim_evidence(
    ctx: ServiceContext, principal: Principal, claim_pk: str, evidence_id: str
) -> EvidenceVerification:
    """The four checks of the module docstring, for an assigned reviewer (the decryption is logged)."""
    with ctx.sessions() as session:
        claim, _ = _assignment(session, principal, claim_pk)
        item = session.get(EvidenceItem, evidence_id)
        if item is None or item.claim_pk != claim.id:
            raise NotFound("no such evidence")
        anchor = session.scalars(select(AnchorItem).where(AnchorItem.ref_id == item.id)).first()
        batch = session.get(AnchorBatch, anchor.batch_id) if anchor and anchor.batch_id is not None else None
        claim_leaves = claim_leaf_hashes(session, claim)
        claim_root, claim_onchain_id = claim.evidence_root, claim.claim_id
        cid = CID.from_bytes(item.cid)

    checks: list[Check] = []
    digest: bytes | None = None
    size = 0
    # 1. decrypt
    if item.wrapped_dek is None:
        checks.append(Check("decrypt", "fail", "the data key was crypto-shredded"))
    else:
        try:
            dek = ctx.keyring.unwrap(WrappedKey(item.kek_id or "", item.wrapped_dek))
            log_access(ctx, item.id, principal.account_id, "review_verify")
            hasher = hashlib.sha256()
            for chunk in decrypt_stream(dek, ctx.store.cat(cid)):
                hasher.update(chunk)
                size += len(chunk)
            digest = hasher.digest()
            checks.append(
                Check("decrypt", "pass", "key unwrapped; every block matched its CID; every segment authenticated")
            )
        except EvidenceStoreError as exc:
            checks.append(Check("decrypt", "fail", f"{exc.code}: {exc.message}"))
    # 2. re-hash
    if digest is None:
        checks.append(Check("rehash", "fail", "no authenticated plaintext to hash"))
    else:
        problems = []
        if digest != item.plaintext_sha256:
            problems.append("sha256 of the plaintext differs from the recorded digest")
        if size != item.size:
            problems.append(f"plaintext is {size} bytes, {item.size} recorded")
        try:
            rederived = compute_cid(ctx.store.cat(cid), cid_version=cid.version)
            if rederived != cid:
                problems.append(f"the ciphertext re-derives to {rederived}, not the recorded CID")
        except EvidenceStoreError as exc:
            problems.append(f"ciphertext unreadable: {exc.code}")
        checks.append(
            Check("rehash", "fail" if problems else "pass", "; ".join(problems) or "sha256, size and CID re-derive")
        )
    # 3. commitment
    basis = digest if digest is not None else item.plaintext_sha256
    if content_commitment(basis, item.salt) == item.commitment:
        checks.append(Check("commitment", "pass", "keccak256(sha256 ‖ salt) equals the leaf's content commitment"))
    else:
        checks.append(
            Check("commitment", "fail", "keccak256(sha256 ‖ salt) differs from the leaf's content commitment")
        )
    # 4. inclusion
    checks.append(_inclusion_check(ctx, item, anchor, batch, claim_leaves, claim_root, claim_onchain_id))
    verified = all(c.status == "pass" for c in checks)
    return EvidenceVerification(item.id, verified, checks)


def _inclusion_check(
    ctx: ServiceContext,
    item: EvidenceItem,
    anchor: AnchorItem | None,
    batch: AnchorBatch | None,
    claim_leaves: list[bytes],
    claim_root: bytes,
    claim_id: bytes,
) -> Check:
    leaf = evidence_leaf_hash(item.claim_ref, item.commitment, item.cid)
    if anchor is None or batch is None or batch.status != "confirmed" or batch.onchain_id is None:
        return Check("inclusion", "pending", "not anchored yet: the commitment is queued for the next batch")
    onchain_root = ledger(ctx).claim(claim_id).evidence_root
    tree = MerkleTree.from_leaf_hashes(claim_leaves)
    if leaf not in claim_leaves:
        return Check("inclusion", "fail", "the leaf is not among the claim's evidence leaves")
    if tree.root != claim_root or onchain_root != claim_root:
        return Check("inclusion", "fail", "the claim's evidence root on chain does not match its leaves")
    if not verify_proof(onchain_root, leaf, tree.proof(claim_leaves.index(leaf))):
        return Check("inclusion", "fail", "the leaf does not prove into the claim's evidence root")
    lookup = NotaryBatchLookup(NotaryClient(ctx.w3, ctx.contracts["EvidenceNotary"]))
    proof = unpack_proof(anchor.proof)
    onchain = lookup.batch(batch.onchain_id)
    if onchain is None or onchain.root != batch.root:
        return Check("inclusion", "fail", f"batch {batch.onchain_id} on chain does not hold the recorded root")
    if not lookup.verify(batch.onchain_id, leaf, proof):
        return Check("inclusion", "fail", f"EvidenceNotary.verify rejected the proof in batch {batch.onchain_id}")
    return Check(
        "inclusion",
        "pass",
        f"proof verified on chain in batch {batch.onchain_id} (root {hex32(batch.root)}, block {onchain.block});"
        " leaf is in the claim's evidence root on ClaimLedger",
    )
