"""Step 7 for ``anchor_batches``: each row paired with the chain batch it mirrors, field by field.

A row is paired by its root, else (a confirmed row whose root was altered) by its on-chain id; a
chain batch no row mirrors, and a confirmed row whose root is not on chain, are named. Pure apart
from the chain look-ups in ``EvidenceRun.chain``.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.audit.anchors import short
from backend.audit.database import DbBatch
from backend.audit.evidence_run import BATCH_STATUSES, EvidenceRun

__all__ = ["match_batches"]


def match_batches(run: EvidenceRun, rows: Sequence[DbBatch]) -> dict[int, int]:
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


def _unmatched_row(run: EvidenceRun, row: DbBatch) -> None:
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
