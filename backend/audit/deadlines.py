"""Deadlines the operator must keep, checked against the chain's clock: evidence anchored within
the maximum delay after it was queued (step 5). The review-opening deadline of a filing is checked
by the claim replay itself (``backend.audit.claims``, step 3), where the filing's block time is.

When an item was queued (``anchor_items.enqueued_at``) is the operator's word — the chain only
says when its batch was anchored — so an operator who back-dates nothing but delays anchoring is
caught, and one who rewrites ``enqueued_at`` is not (the report lists it among its trust
assumptions). Times are compared on the chain's clock: a batch's block timestamp, and for items
not anchored yet, the audited head's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from backend.audit.chain import ChainBatch
from backend.audit.database import DbBatch, DbQueued
from backend.audit.errors import EvidenceAnchoringOverdue

__all__ = ["evidence_anchoring_overdue"]


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="seconds")


def evidence_anchoring_overdue(
    db_batches: Sequence[DbBatch],
    storage: Mapping[int, ChainBatch],
    earliest: Mapping[int | None, datetime],
    queued_before: Callable[[int | None, datetime], DbQueued | None],
    *,
    head: int,
    head_time: int,
    max_delay: int,
) -> list[EvidenceAnchoringOverdue]:
    """Items anchored more than ``max_delay`` seconds after they were queued, and items still not
    anchored ``max_delay`` seconds before the head; one finding per batch row (or for the unbatched
    rows), naming how many and the oldest.

    ``earliest`` is the oldest ``enqueued_at`` per batch row (``None``: not batched); a batch row
    counts as anchored when its root is one of the chain's batches in ``storage``. A confirmed row
    whose root is not there was audited before the checkpoint, or is named by step 7.
    """
    by_root = {b.root: b for b in storage.values()}
    findings: list[EvidenceAnchoringOverdue] = []
    pending: list[int | None] = [None]
    for row in db_batches:
        chain = by_root.get(row.root)
        if chain is None:
            if row.status != "confirmed":
                pending.append(row.id)
            continue
        first = earliest.get(row.id)
        cutoff = chain.timestamp - max_delay
        if first is None or first >= _at(cutoff):
            continue
        late = queued_before(row.id, _at(cutoff))
        if late is None:
            continue
        findings.append(
            EvidenceAnchoringOverdue(
                f"the chain's batch {chain.batch_id} (block {chain.block_number}, anchored at "
                f"{_iso(_at(chain.timestamp))}) holds {late.count} evidence item(s) queued more than {max_delay} s "
                f"before it; the first, evidence item id={late.first_ref_id}, at {_iso(late.first_enqueued_at)}",
                reason="anchored_late",
                row=f"id={late.first_ref_id}",
                batch=chain.batch_id,
                block=chain.block_number,
            )
        )
    cutoff = head_time - max_delay
    for batch_id in pending:
        first = earliest.get(batch_id)
        if first is None or first >= _at(cutoff):
            continue
        waiting = queued_before(batch_id, _at(cutoff))
        if waiting is None:
            continue
        where = "not batched" if batch_id is None else f"in anchor_batches id={batch_id}, not on chain"
        findings.append(
            EvidenceAnchoringOverdue(
                f"{waiting.count} evidence item(s) {where} were queued more than {max_delay} s before the audited "
                f"head (block {head}, {_iso(_at(head_time))}) and are not anchored; the first, evidence item "
                f"id={waiting.first_ref_id}, at {_iso(waiting.first_enqueued_at)}",
                reason="not_anchored",
                row=f"id={waiting.first_ref_id}",
                block=head,
            )
        )
    return findings
