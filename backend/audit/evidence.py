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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from backend.audit.anchors import short
from backend.audit.chain import AnchorEvent, ChainBatch
from backend.audit.database import DbBatch, DbItem
from backend.audit.errors import DatabaseMismatch, EvidenceNotProven
from backend.proofs.commitments import content_commitment
from backend.proofs.errors import LeafEncodingError, MerkleError
from backend.proofs.leaves import evidence_leaf_hash
from backend.proofs.merkle import MerkleTree, process_proof

__all__ = ["ChainLookups", "EvidenceVerdict", "StoreCheck", "check_evidence_and_mirror"]

StoreCheck = Callable[[bytes], tuple[str, str] | None]
"""``store_check(cid)`` → ``None`` when the store serves bytes that re-hash to the CID, else
``(reason, message)`` with reason ``not_found`` | ``corrupt`` | ``invalid_cid`` | ``unavailable``."""

BATCH_STATUSES = ("built", "sent", "confirmed")


@dataclass(frozen=True)
class ChainLookups:
    """The chain as steps 5/7 see it: batches in scope plus look-ups for anything outside it."""

    storage: dict[int, ChainBatch]  # batches in scope, by id
    events: dict[int, AnchorEvent]  # their BatchAnchored events (missing when pruned)
    batch_id_of: Callable[[bytes], int]  # any root → its batch id (0: not anchored)
    block_hash: Callable[[int], bytes | None]  # hash of a block (None: not served)
    start_id: int = 1


@dataclass
class EvidenceVerdict:
    evidence: list[EvidenceNotProven] = field(default_factory=list)  # step 5
    mirror: list[DatabaseMismatch] = field(default_factory=list)  # step 7
    evidence_checked: dict[str, int] = field(default_factory=dict)
    mirror_checked: dict[str, int] = field(default_factory=dict)


def _mismatch(message: str, reason: str, table: str, row: str, fields: list[str]) -> DatabaseMismatch:
    return DatabaseMismatch(message, reason=reason, table=table, row=row, fields=fields)


def _leaf(item: DbItem) -> bytes | None:
    if item.claim_ref is None or item.commitment is None or item.cid is None:
        return None
    try:
        return evidence_leaf_hash(item.claim_ref, item.commitment, item.cid)
    except LeafEncodingError:
        return None


def _fold(leaf: bytes | None, packed: bytes | None) -> bytes | None:
    if leaf is None or packed is None or len(packed) % 32:
        return None
    try:
        return process_proof(leaf, [packed[i : i + 32] for i in range(0, len(packed), 32)])
    except MerkleError:
        return None


def _opens(item: DbItem) -> bool:
    s, d, c = item.salt, item.plaintext_sha256, item.commitment
    if s is None or d is None or c is None or len(s) != 32 or len(d) != 32:
        return False
    return content_commitment(d, s) == c


@dataclass
class _Run:
    chain: ChainLookups
    store_check: StoreCheck | None
    verdict: EvidenceVerdict = field(default_factory=EvidenceVerdict)
    included: dict[int, int] = field(default_factory=dict)  # chain batch id → proven items
    deferred: list[tuple[DbItem, bytes]] = field(default_factory=list)  # evidence changed, column unknown
    items: int = 0
    fetched: int = 0
    pending: int = 0
    rows_checked: dict[str, int] = field(
        default_factory=lambda: {"anchor_batches": 0, "anchor_items": 0, "evidence_items": 0}
    )

    def mirror(self, message: str, reason: str, table: str, row: str, fields: list[str]) -> None:
        self.verdict.mirror.append(_mismatch(message, reason, table, row, fields))

    def evidence(self, message: str, reason: str, item: DbItem, batch: int | None = None) -> None:
        self.verdict.evidence.append(
            EvidenceNotProven(message, reason=reason, row=f"id={item.evidence_id or item.ref_id}", batch=batch)
        )


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
    run = _Run(chain, store_check)
    match = _match_batches(run, db_batches)
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
    _diagnose_deferred(run)
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


# -- anchor_batches ------------------------------------------------------------------------------


def _match_batches(run: _Run, rows: Sequence[DbBatch]) -> dict[int, int]:
    """Pair each row with the chain batch it mirrors (by root, else by on-chain id); check its fields."""
    chain = run.chain
    root_to_id = {s.root: n for n, s in chain.storage.items()}
    held = {row.root for row in rows}
    match: dict[int, int] = {}
    matched_ids: set[int] = set()
    for row in rows:
        run.rows_checked["anchor_batches"] += 1
        label = f"id={row.id}"
        n = root_to_id.get(row.root)
        root_altered = False
        if n is None and row.status == "confirmed" and row.onchain_id in chain.storage:
            candidate = chain.storage[row.onchain_id]
            if candidate.root not in held:
                n, root_altered = row.onchain_id, True
        if n is None:
            older = chain.batch_id_of(row.root) if row.status == "confirmed" else 0
            if 0 < older < chain.start_id:
                continue  # audited before the checkpoint
            _unmatched_row(run, row)
            continue
        match[row.id] = n
        matched_ids.add(n)
        stored = chain.storage[n]
        has_chain_fields = row.onchain_id is not None or row.block_number is not None or row.block_hash is not None
        if row.status != "confirmed":
            if row.status not in BATCH_STATUSES or has_chain_fields:
                run.mirror(
                    f"anchor_batches {label}: status {row.status!r}, but the chain's batch {n} is anchored and the "
                    "row carries its on-chain fields",
                    "status",
                    "anchor_batches",
                    label,
                    ["status"],
                )
            continue  # sent, awaiting confirmations
        if root_altered:
            run.mirror(
                f"anchor_batches {label}: root {short(row.root)} ≠ the chain's batch {n} root {short(stored.root)}",
                "field",
                "anchor_batches",
                label,
                ["root"],
            )
        event = chain.events.get(n)
        block_hash = event.block_hash if event is not None else chain.block_hash(stored.block_number)
        checks: list[tuple[str, object, object]] = [
            ("onchain_id", row.onchain_id, n),
            ("prev_root", row.prev_root, stored.prev_root),
            ("leaf_count", row.leaf_count, stored.leaf_count),
            ("block_number", row.block_number, stored.block_number),
        ]
        if block_hash is not None:
            checks.append(("block_hash", row.block_hash, block_hash))
        if event is not None:
            checks.append(("tx_hash", row.tx_hash, event.tx_hash))
        for name, ours, theirs in checks:
            if ours != theirs:
                run.mirror(
                    f"anchor_batches {label}: {name} {_show(ours)} ≠ chain {_show(theirs)} (batch {n})",
                    "field",
                    "anchor_batches",
                    label,
                    [name],
                )
    for n, stored in sorted(run.chain.storage.items()):
        if n not in matched_ids:
            run.mirror(
                f"the chain's batch {n} (root {short(stored.root)}, block {stored.block_number}) "
                "has no anchor_batches row",
                "missing_row",
                "anchor_batches",
                f"onchain_id={n}",
                ["row"],
            )
    return match


def _unmatched_row(run: _Run, row: DbBatch) -> None:
    label = f"id={row.id}"
    if row.status not in BATCH_STATUSES:
        run.mirror(
            f"anchor_batches {label}: unknown status {row.status!r}", "status", "anchor_batches", label, ["status"]
        )
    elif row.status == "confirmed":
        run.mirror(
            f"anchor_batches {label}: confirmed, but root {short(row.root)} is not on chain (inserted row)",
            "not_on_chain",
            "anchor_batches",
            label,
            ["row"] if row.onchain_id in run.chain.storage or row.onchain_id is None else ["onchain_id"],
        )
    elif row.onchain_id is not None or row.block_number is not None or row.block_hash is not None:
        run.mirror(
            f"anchor_batches {label}: status {row.status!r} with on-chain fields, but its root is not on chain",
            "status",
            "anchor_batches",
            label,
            ["status"],
        )


def _show(value: object) -> str:
    if isinstance(value, bytes):
        return short(value)
    return repr(value)


# -- anchor_items / evidence_items -----------------------------------------------------------------


def _check_group(run: _Run, row: DbBatch | None, n: int | None, group: list[DbItem]) -> None:
    chain = run.chain
    stored = chain.storage.get(n) if n is not None else None
    root = stored.root if stored is not None else None
    # Items are proven against the chain whenever their batch row mirrors an anchored batch, even
    # when the row's status is wrong; proofs are expected once the row says (or shows) it is final.
    confirmed = row is not None and stored is not None
    proofs_expected = row is not None and (
        row.status == "confirmed" or row.onchain_id is not None or row.block_number is not None
    )
    leaves = [_leaf(item) for item in group]
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
        elif _fold(leaf, item.proof) == root:
            included_in = n
        if included_in is not None:
            if item.leaf_hash != leaf:
                _stored_hash_differs(run, item, group_leaves)
            if not _opens(item):
                run.mirror(
                    f"evidence_items id={item.evidence_id}: keccak256(plaintext_sha256 ‖ salt) does not open the "
                    "anchored commitment",
                    "commitment_opening",
                    "evidence_items",
                    f"id={item.evidence_id}",
                    ["plaintext_sha256", "salt"],
                )
        elif item.leaf_hash == leaf:
            other = _other_batch(run, _fold(leaf, item.proof), n)
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
        elif _fold(item.leaf_hash, item.proof) == root:
            # The stored hash and proof still reach the on-chain root: the evidence row changed.
            run.included[n] = run.included.get(n, 0) + 1  # the anchored leaf exists; its row is wrong
            _evidence_changed(run, item, store_problem)
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


def _fetch(run: _Run, item: DbItem) -> tuple[str, str] | None:
    if run.store_check is None or item.cid is None:
        return None
    run.fetched += 1
    problem = run.store_check(item.cid)
    if problem is not None:
        reason, message = problem
        run.evidence(f"evidence item id={item.evidence_id}: {message}", reason, item)
    return problem


def _unanchored_item(run: _Run, row: DbBatch | None, item: DbItem, leaf: bytes) -> None:
    label = f"id={item.id}"
    if row is None and item.batch_id is not None:
        # Its batch row is gone: the item may still be anchored — its proof says where.
        other = _other_batch(run, _fold(leaf, item.proof), None)
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


def _other_batch(run: _Run, folded: bytes | None, current: int | None) -> int | None:
    if folded is None:
        return None
    n = next((k for k, s in run.chain.storage.items() if s.root == folded), None)
    if n is None:
        n = run.chain.batch_id_of(folded) or None
    return n if n != current else None


def _stored_hash_differs(run: _Run, item: DbItem, group_leaves: set[bytes]) -> None:
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


def _leaf_indexes(run: _Run, group: list[DbItem]) -> None:
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


def _evidence_changed(run: _Run, item: DbItem, store_problem: tuple[str, str] | None) -> None:
    label = f"id={item.evidence_id}"
    if store_problem is not None and store_problem[0] in ("not_found", "invalid_cid"):
        run.mirror(
            f"evidence_items {label}: cid is not the anchored one (the store does not have it)",
            "evidence_field",
            "evidence_items",
            label,
            ["cid"],
        )
    elif not _opens(item):
        run.mirror(
            f"evidence_items {label}: commitment is not the anchored one (it no longer opens with the row's salt)",
            "evidence_field",
            "evidence_items",
            label,
            ["commitment"],
        )
    else:
        run.deferred.append((item, item.leaf_hash))


def _diagnose_deferred(run: _Run) -> None:
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
