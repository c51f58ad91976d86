"""Steps 5 and 7: every evidence item against the chain and the store; every mirrored row against both.

Nothing stored is trusted. For each outbox row the leaf hash is **recomputed** from its evidence
row's ``(claimRef, contentCommitment, cid)`` (CT "Yeti" lesson, RELIABILITY.md F5) and proven
against the **on-chain** root of its batch — by rebuilding the batch's tree from the recomputed
leaves, or, when that fails, by folding the stored proof. The stored leaf hash and proof are then
compared with what was recomputed, and used only as *witnesses* to say which column changed:

* recomputed leaf ≠ stored leaf hash, and the stored hash + stored proof reach the on-chain root
  → the evidence row changed (the anchored leaf is the stored one). Which column: ``cid`` when the
  store does not have it, ``commitment`` when it no longer opens with the row's salt, a value
  swapped with another suspect row when one fits, else ``claim_ref`` by elimination;
* recomputed leaf reaches the root but the stored hash differs → ``leaf_hash`` (or ``ref_id``
  when the stored hash is another item's leaf);
* the proof reaches another batch's on-chain root → ``batch_id``.

``salt`` + ``plaintext_sha256`` are checked to open the (proven) commitment; when they do not,
the auditor cannot tell which of the two changed and names both.

Step 5 findings name the evidence item (``row=id=…``); step 7 findings name table, row and the
column(s). Pure apart from the ``store_check`` and chain look-up callables it is given.

This module walks the items batch by batch; the pairing of ``anchor_batches`` rows with chain
batches is ``backend.audit.batch_rows``, the diagnosis of which evidence column changed is
``backend.audit.evidence_columns``, and the state they share is ``backend.audit.evidence_run``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import groupby

from backend.audit.batch_rows import match_batches
from backend.audit.database import DbBatch, DbItem
from backend.audit.errors import EvidenceNotProven
from backend.audit.evidence_columns import diagnose_deferred, evidence_changed, stored_hash_differs
from backend.audit.evidence_run import (
    ChainLookups,
    EvidenceRun,
    EvidenceVerdict,
    StoreCheck,
    fold_proof,
    opens_commitment,
    recomputed_leaf,
)
from backend.proofs.merkle import MerkleTree

__all__ = ["ChainLookups", "EvidenceVerdict", "StoreCheck", "check_evidence_and_mirror"]


def check_evidence_and_mirror(
    chain: ChainLookups,
    db_batches: Sequence[DbBatch],
    items: Iterable[DbItem],
    *,
    store_check: StoreCheck | None,
    orphans: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvidenceVerdict:
    """Steps 5 and 7 over the operator's rows (see module docstring)."""
    run = EvidenceRun(chain, store_check)
    match = match_batches(run, db_batches)
    rows_by_id = {row.id: row for row in db_batches}
    reported_missing: set[int] = set()
    for batch_id, group_iter in groupby(items, key=lambda i: i.batch_id):
        group = list(group_iter)
        run.items += len(group)
        row = rows_by_id.get(batch_id) if batch_id is not None else None
        if batch_id is not None and row is None and batch_id not in reported_missing:
            reported_missing.add(batch_id)
            run.mirror(
                f"anchor_batches row id={batch_id} is missing, yet {len(group)} anchor_items rows point to it",
                "missing_row",
                "anchor_batches",
                f"id={batch_id}",
                ["row"],
            )
        _check_group(run, row, match.get(batch_id) if batch_id is not None else None, group)
        if progress is not None:
            progress(len(group))
    diagnose_deferred(run)
    for n, stored in sorted(chain.storage.items()):
        proven = run.included.get(n, 0)
        if proven < stored.leaf_count:
            run.verdict.evidence.append(
                EvidenceNotProven(
                    f"batch {n}: {stored.leaf_count - proven} of its {stored.leaf_count} anchored leaves "
                    "are not accounted for by any evidence item",
                    reason="unaccounted_leaves",
                    batch=n,
                )
            )
    for evidence_id in orphans or ():
        run.rows_checked["evidence_items"] += 1
        run.mirror(
            f"evidence_items row id={evidence_id} has no anchor_items row: it was never queued, or its row was removed",
            "not_queued",
            "evidence_items",
            f"id={evidence_id}",
            ["id"],
        )
    run.verdict.evidence_checked = {
        "items": run.items,
        "fetched": run.fetched,
        "pending": run.pending,
        "batches": len(chain.storage),
    }
    run.verdict.mirror_checked = dict(run.rows_checked)
    return run.verdict


# -- anchor_items / evidence_items -----------------------------------------------------------------


def _check_group(run: EvidenceRun, row: DbBatch | None, n: int | None, group: list[DbItem]) -> None:
    chain = run.chain
    stored = chain.storage.get(n) if n is not None else None
    root = stored.root if stored is not None else None
    # Items are proven against the chain whenever their batch row mirrors an anchored batch, even
    # when the row's status is wrong; proofs are expected once the row says (or shows) it is final.
    confirmed = row is not None and stored is not None
    proofs_expected = row is not None and (
        row.status == "confirmed" or row.onchain_id is not None or row.block_number is not None
    )
    leaves = [recomputed_leaf(item) for item in group]
    tree: MerkleTree | None = None
    if confirmed and stored is not None and len(group) == stored.leaf_count and all(leaves):
        candidate = MerkleTree.from_leaf_hashes([leaf for leaf in leaves if leaf is not None])
        if candidate.root == root:
            tree = candidate
    if confirmed and stored is not None and len(group) != stored.leaf_count:
        assert row is not None
        run.mirror(
            f"anchor_items: {len(group)} rows point to anchor_batches id={row.id}, the chain's batch {n} has "
            f"{stored.leaf_count} leaves",
            "item_count",
            "anchor_items",
            f"batch_id={row.id}",
            ["batch_id"],
        )
    if confirmed and stored is not None and len(group) == stored.leaf_count:
        _leaf_indexes(run, group)
    group_leaves = {leaf for leaf in leaves if leaf is not None}
    for index, (item, leaf) in enumerate(zip(group, leaves, strict=True)):
        run.rows_checked["anchor_items"] += 1
        label = f"id={item.id}"
        if item.kind != "evidence":
            run.mirror(
                f"anchor_items {label}: kind {item.kind!r}, expected 'evidence'",
                "field",
                "anchor_items",
                label,
                ["kind"],
            )
        if item.evidence_id is None:
            run.mirror(
                f"anchor_items {label}: ref_id points to evidence_items id={item.ref_id}, which does not exist "
                "(the evidence row was deleted or ref_id altered)",
                "dangling_ref",
                "anchor_items",
                label,
                ["ref_id"],
            )
            continue
        run.rows_checked["evidence_items"] += 1
        store_problem = _fetch(run, item)
        if leaf is None:
            run.mirror(
                f"evidence_items id={item.evidence_id}: its fields are not a valid evidence leaf",
                "field",
                "evidence_items",
                f"id={item.evidence_id}",
                ["claim_ref", "cid", "commitment"],
            )
            continue
        if not confirmed:
            _unanchored_item(run, row, item, leaf)
            continue
        assert n is not None
        assert root is not None
        included_in: int | None = None
        if tree is not None:
            included_in = n
            if item.proof is None and not proofs_expected:
                pass  # anchored, awaiting confirmations: proofs are written when it is confirmed
            elif item.leaf_hash == leaf and item.proof != b"".join(tree.proof(index)):
                run.mirror(
                    f"anchor_items {label}: stored proof is not the proof of its leaf in batch {n}",
                    "field",
                    "anchor_items",
                    label,
                    ["proof"],
                )
        elif fold_proof(leaf, item.proof) == root:
            included_in = n
        if included_in is not None:
            if item.leaf_hash != leaf:
                stored_hash_differs(run, item, group_leaves)
            if not opens_commitment(item):
                run.mirror(
                    f"evidence_items id={item.evidence_id}: keccak256(plaintext_sha256 ‖ salt) does not open the "
                    "anchored commitment",
                    "commitment_opening",
                    "evidence_items",
                    f"id={item.evidence_id}",
                    ["plaintext_sha256", "salt"],
                )
        elif item.leaf_hash == leaf:
            other = _other_batch(run, fold_proof(leaf, item.proof), n)
            if other is not None:
                included_in = other
                run.mirror(
                    f"anchor_items {label}: batch_id points to the row of batch {n}, but its leaf is proven in "
                    f"the chain's batch {other}",
                    "wrong_batch",
                    "anchor_items",
                    label,
                    ["batch_id"],
                )
            else:
                run.mirror(
                    f"anchor_items {label}: its leaf is not proven in the chain's batch {n} and its proof "
                    "reaches no anchored root",
                    "not_included",
                    "anchor_items",
                    label,
                    ["batch_id", "proof"],
                )
        elif fold_proof(item.leaf_hash, item.proof) == root:
            # The stored hash and proof still reach the on-chain root: the evidence row changed.
            run.included[n] = run.included.get(n, 0) + 1  # the anchored leaf exists; its row is wrong
            evidence_changed(run, item, store_problem)
        elif item.leaf_hash in group_leaves:
            run.mirror(
                f"anchor_items {label}: its stored leaf hash is another row's leaf (ref_id changed)",
                "ref_id",
                "anchor_items",
                label,
                ["ref_id"],
            )
        else:
            run.mirror(
                f"anchor_items {label}: neither the recomputed nor the stored leaf is proven in batch {n}",
                "not_included",
                "anchor_items",
                label,
                ["leaf_hash", "proof"],
            )
        if included_in is not None:
            run.included[included_in] = run.included.get(included_in, 0) + 1
        else:
            run.evidence(
                f"evidence item id={item.evidence_id}: its leaf, recomputed from claimRef, commitment and cid, is not "
                f"included in the on-chain root of batch {n}",
                "not_included",
                item,
                batch=n,
            )


def _fetch(run: EvidenceRun, item: DbItem) -> tuple[str, str] | None:
    if run.store_check is None or item.cid is None:
        return None
    run.fetched += 1
    problem = run.store_check(item.cid)
    if problem is not None:
        reason, message = problem
        run.evidence(f"evidence item id={item.evidence_id}: {message}", reason, item)
    return problem


def _unanchored_item(run: EvidenceRun, row: DbBatch | None, item: DbItem, leaf: bytes) -> None:
    label = f"id={item.id}"
    if row is None and item.batch_id is not None:
        # Its batch row is gone: the item may still be anchored — its proof says where.
        other = _other_batch(run, fold_proof(leaf, item.proof), None)
        if other is not None:
            run.included[other] = run.included.get(other, 0) + 1
            return
    run.pending += 1
    if item.leaf_hash != leaf:
        run.mirror(
            f"anchor_items {label}: stored leaf hash ≠ the leaf recomputed from its evidence row (not anchored yet)",
            "leaf_hash",
            "anchor_items",
            label,
            ["leaf_hash"],
        )
    if item.proof is not None and (row is None or row.status != "confirmed"):
        run.mirror(
            f"anchor_items {label}: holds a proof although its batch is not confirmed",
            "field",
            "anchor_items",
            label,
            ["proof"],
        )


def _other_batch(run: EvidenceRun, folded: bytes | None, current: int | None) -> int | None:
    if folded is None:
        return None
    n = next((k for k, s in run.chain.storage.items() if s.root == folded), None)
    if n is None:
        n = run.chain.batch_id_of(folded) or None
    return n if n != current else None


def _leaf_indexes(run: EvidenceRun, group: list[DbItem]) -> None:
    counts: dict[int | None, int] = {}
    for item in group:
        counts[item.leaf_index] = counts.get(item.leaf_index, 0) + 1
    for item in group:
        i = item.leaf_index
        if i is None or not 0 <= i < len(group) or counts[i] > 1:
            run.mirror(
                f"anchor_items id={item.id}: leaf_index {i!r} is not a unique position in 0..{len(group) - 1}",
                "field",
                "anchor_items",
                f"id={item.id}",
                ["leaf_index"],
            )
