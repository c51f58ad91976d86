"""Evidence receipts built from the database and the deployment, for the claimant and the public."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import AnchorBatch, AnchorItem, EvidenceItem
from backend.errors import Conflict, NotFound
from backend.proofs.leaves import EvidenceLeaf
from backend.proofs.merkle import MerkleTree
from backend.proofs.receipts import EvidenceReceipt, make_evidence_receipt


class NotYetAnchored(Conflict):
    """The evidence is queued or its anchor is not yet final: no receipt yet (retry later)."""

    code = "NOT_YET_ANCHORED"


def evidence_receipt(
    session: Session, evidence_id: str, *, chain_id: int, contract: str, private: bool = False
) -> EvidenceReceipt:
    """The version-1 receipt of one evidence item; ``private`` adds the claimant's salt and digest."""
    evidence = session.get(EvidenceItem, evidence_id)
    if evidence is None:
        raise NotFound("no such evidence")
    item = session.scalars(select(AnchorItem).where(AnchorItem.ref_id == evidence_id)).first()
    batch = session.get(AnchorBatch, item.batch_id) if item is not None and item.batch_id is not None else None
    if item is None or batch is None or batch.status != "confirmed" or item.leaf_index is None:
        raise NotYetAnchored("the evidence is not anchored at the finality depth yet; retry shortly")
    leaves = session.scalars(
        select(AnchorItem.leaf_hash).where(AnchorItem.batch_id == batch.id).order_by(AnchorItem.leaf_index)
    ).all()
    tree = MerkleTree.from_leaf_hashes(list(leaves))
    assert batch.onchain_id is not None
    assert batch.block_number is not None
    assert batch.tx_hash is not None
    return make_evidence_receipt(
        tree=tree,
        index=item.leaf_index,
        leaf=EvidenceLeaf(evidence.claim_ref, evidence.commitment, evidence.cid),
        chain_id=chain_id,
        contract=contract,
        batch_id=batch.onchain_id,
        prev_root=batch.prev_root,
        anchor_tx=batch.tx_hash,
        anchor_block=batch.block_number,
        salt=evidence.salt if private else None,
        plaintext_sha256=evidence.plaintext_sha256 if private else None,
    )
