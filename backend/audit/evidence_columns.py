"""Step 7 for ``evidence_items`` and ``anchor_items``: which column of a row changed, when its
stored leaf hash and proof still reach the on-chain root but the row no longer rebuilds that leaf.

The stored values are used only as witnesses (see ``backend.audit.evidence``): ``cid`` when the
store does not have it, ``commitment`` when it no longer opens with the row's salt, a value swapped
with another suspect row when one fits, else ``claim_ref`` by elimination.
"""

from __future__ import annotations

from backend.audit.anchors import short
from backend.audit.database import DbItem
from backend.audit.evidence_run import EvidenceRun, opens_commitment
from backend.proofs.errors import LeafEncodingError
from backend.proofs.leaves import evidence_leaf_hash

__all__ = ["diagnose_deferred", "evidence_changed", "stored_hash_differs"]


def stored_hash_differs(run: EvidenceRun, item: DbItem, group_leaves: set[bytes]) -> None:
    label = f"id={item.id}"
    if item.leaf_hash in group_leaves:
        run.mirror(
            f"anchor_items {label}: its stored leaf hash is another row's leaf (ref_id changed)",
            "ref_id",
            "anchor_items",
            label,
            ["ref_id"],
        )
    else:
        run.mirror(
            f"anchor_items {label}: stored leaf_hash {short(item.leaf_hash)} is not the leaf recomputed from "
            "its evidence row, which is the one anchored",
            "leaf_hash",
            "anchor_items",
            label,
            ["leaf_hash"],
        )


def evidence_changed(run: EvidenceRun, item: DbItem, store_problem: tuple[str, str] | None) -> None:
    label = f"id={item.evidence_id}"
    if store_problem is not None and store_problem[0] in ("not_found", "invalid_cid"):
        run.mirror(
            f"evidence_items {label}: cid is not the anchored one (the store does not have it)",
            "evidence_field",
            "evidence_items",
            label,
            ["cid"],
        )
    elif not opens_commitment(item):
        run.mirror(
            f"evidence_items {label}: commitment is not the anchored one (it no longer opens with the row's salt)",
            "evidence_field",
            "evidence_items",
            label,
            ["commitment"],
        )
    else:
        run.deferred.append((item, item.leaf_hash))


def diagnose_deferred(run: EvidenceRun) -> None:
    """Columns swapped between suspect rows are found by trying the other suspects' values."""
    suspects = run.deferred
    pools = {name: {getattr(item, name) for item, _ in suspects} for name in ("cid", "claim_ref", "commitment")}
    for item, anchored in suspects:
        found = None
        for name, pool in pools.items():
            for value in pool:
                if value == getattr(item, name):
                    continue
                values = {"claim_ref": item.claim_ref, "cid": item.cid, "commitment": item.commitment, name: value}
                if any(v is None for v in values.values()):
                    continue
                try:
                    candidate = evidence_leaf_hash(
                        bytes(values["claim_ref"] or b""),
                        bytes(values["commitment"] or b""),
                        bytes(values["cid"] or b""),
                    )
                except LeafEncodingError:
                    continue
                if candidate == anchored:
                    found = name
                    break
            if found:
                break
        column = found or "claim_ref"
        why = "another row's value fits the anchored leaf" if found else "cid is stored and the commitment opens"
        run.mirror(
            f"evidence_items id={item.evidence_id}: {column} is not the anchored one ({why})",
            "evidence_field",
            "evidence_items",
            f"id={item.evidence_id}",
            [column],
        )
