"""The filing relay: concurrent filings share ClaimLedger transactions (group commit).

A filing is durable once :func:`~backend.services.claim_filing.record_claim` has committed the claim
(status ``FILED``) with its evidence; what is left is relaying it to the chain —
``FILED → UNDER_REVIEW`` on ClaimLedger — and assigning its reviewers. Sent one by one, that is two
operator transactions per claim (``fileClaim``, ``openReview``), serialized under the operator's
nonce lock: the chain round trips bound the filing rate whatever the rest costs.

One relay per process (``ServiceContext.filing_relay``, the thread of
:mod:`backend.services.filing_relay`), which repeatedly:

1. takes every claim waiting (at most :data:`~backend.services.filing_relay.MAX_BATCH`) — under
   load, the ones queued while the previous transaction was in flight; there is no wait timer, so
   a lone filing goes at once and batches grow with the load by themselves;
2. loads those still ``FILED`` (one query; a claim another process finished is simply done);
3. sends **one** ``fileForReview`` carrying all of them. If it reverts, one claim is bad (say its
   rule set was retired meanwhile): each is then sent alone, so a bad claim fails only itself;
4. in one database transaction moves the rows ``FILED →`` the chain's state, guarded by
   ``status = 'FILED'`` (a row another process already moved is left alone), records
   ``ClaimFiled`` / ``ReviewOpened`` with their block and transaction — from the receipt, or, for
   a claim the contract found already opened (a process that stopped after its transaction),
   from the chain's logs — and assigns the reviewers;
5. wakes the requests waiting for those claims (each gets ``None`` or its claim's exception).

Exactly once: ``fileForReview`` leaves a claim already past ``FILED`` alone (no event, no revert),
and the guarded update records a claim once, so two processes relaying the same claim, or a
process re-relaying after a crash, are harmless. A claim left ``FILED`` (the process stopped
between the database commit and the chain, or the RPC was down) is queued again by
:func:`resume_pending_filings`, which the workflow clock runs (:mod:`backend.background`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from backend.chain.ledger_types import ClaimFiling, ClaimState, LedgerEvent, LedgerTx
from backend.chain.transactions import AlreadyKnown, ContractReverted, NonceTooLow, ReplacementUnderpriced
from backend.db.models import Claim, ClaimEvent, EvidenceItem, Member, table_of, utcnow
from backend.proofs.commitments import claim_member_commitment
from backend.services.claims import FINAL_STATES, event_row, hex32, ledger
from backend.services.context import ServiceContext
from backend.services.filing_relay import FiledState
from backend.services.review import apply_review_panels, plan_review_panels

log = logging.getLogger(__name__)

# A FILED claim older than this is taken for abandoned by its request and queued again.
RESUME_AFTER = timedelta(seconds=30)
# Sends retried when another sender of the operator key took the nonce in between.
_NONCE_RETRIES = 3

Outcome = LedgerTx | BaseException


@dataclass(frozen=True)
class PendingFiling:
    """A ``FILED`` claim and what ``fileForReview`` needs for it."""

    claim_pk: str
    filing: ClaimFiling


def load_filings(ctx: ServiceContext, claim_pks: Iterable[str]) -> list[PendingFiling]:
    """The claims among ``claim_pks`` still ``FILED`` in the database, ready to send (two queries)."""
    pks = list(dict.fromkeys(claim_pks))
    with ctx.sessions() as session:
        rows = session.execute(
            select(Claim, Member)
            .join(Member, Member.id == Claim.member_id)
            .where(Claim.id.in_(pks), Claim.status == "FILED")
        ).all()
        refs = dict(
            session.execute(
                select(EvidenceItem.claim_pk, EvidenceItem.claim_ref).where(
                    EvidenceItem.claim_pk.in_([claim.id for claim, _ in rows])
                )
            ).all()
        )
    return [
        PendingFiling(
            claim.id,
            ClaimFiling(
                claim.claim_id,
                claim_member_commitment(member.id, member.salt, refs[claim.id]),
                claim.evidence_root,
                claim.rule_set_hash,
                claim.payout_fen,
                claim.claimant_key or "",
            ),
        )
        for claim, member in rows
    ]


def send_filings(ctx: ServiceContext, pending: list[PendingFiling]) -> dict[str, Outcome]:
    """One ``fileForReview`` for all of ``pending``; if it reverts, one per claim. Claim → its
    transaction or the error that claim got."""
    if not pending:
        return {}
    try:
        tx = _send(ctx, pending)
    except ContractReverted as exc:
        if len(pending) == 1:
            return {pending[0].claim_pk: exc}
        log.warning("a filing batch reverted; sending its claims one by one", extra={"claims": len(pending)})
        outcomes: dict[str, Outcome] = {}
        for one in pending:
            outcomes.update(send_filings(ctx, [one]))
        return outcomes
    except Exception as exc:  # chain down, dropped: every claim stays FILED for a later round
        return {p.claim_pk: exc for p in pending}
    return {p.claim_pk: tx for p in pending}


def _send(ctx: ServiceContext, pending: list[PendingFiling]) -> LedgerTx:
    for attempt in range(_NONCE_RETRIES + 1):
        try:
            return ledger(ctx).file_for_review([p.filing for p in pending])
        except (NonceTooLow, AlreadyKnown, ReplacementUnderpriced):
            if attempt == _NONCE_RETRIES:
                raise
    raise AssertionError("unreachable")


def record_filings(
    ctx: ServiceContext,
    pending: list[PendingFiling],
    outcomes: dict[str, Outcome],
    filed: dict[str, FiledState] | None = None,
) -> dict[str, BaseException]:
    """Record what the chain did for the claims that were sent, in one database transaction.

    Returns the claims that failed (their send's error, or this transaction's), to hand to the
    waiting requests; every other claim is recorded, or was already recorded by another process.
    ``filed``, when given, receives the state of each claim this call moved.
    """
    failed: dict[str, BaseException] = {
        p.claim_pk: o for p in pending if isinstance(o := outcomes[p.claim_pk], BaseException)
    }
    sent = [p for p in pending if p.claim_pk not in failed]
    if not sent:
        return failed
    client = ledger(ctx)
    events: dict[bytes, list[tuple[LedgerEvent, LedgerTx]]] = {p.filing.claim_id: [] for p in sent}
    for tx in {id(t): t for p in sent if isinstance(t := outcomes[p.claim_pk], LedgerTx)}.values():
        for event in tx.events:
            claim_id = bytes(event.args.get("claimId", b""))
            if event.name in ("ClaimFiled", "ReviewOpened") and claim_id in events:
                events[claim_id].append((event, tx))
    target: dict[str, ClaimState] = {}
    earlier = [p for p in sent if not any(e.name == "ReviewOpened" for e, _ in events[p.filing.claim_id])]
    try:
        if earlier:  # opened by an earlier transaction (a crash after it, or another process)
            for event in client.filing_events([p.filing.claim_id for p in earlier]):
                events[bytes(event.args["claimId"])].append((event, LedgerTx(event.tx_hash, event.block_number, ())))
            for p in earlier:
                target[p.claim_pk] = client.state(p.filing.claim_id)
        for p in sent:
            target.setdefault(p.claim_pk, ClaimState.UNDER_REVIEW)
        moved = _commit(ctx, sent, events, target)
    except Exception as exc:
        failed.update({p.claim_pk: exc for p in sent})
        return failed
    if filed is not None:
        filed.update(moved)
    return failed


def _commit(
    ctx: ServiceContext,
    sent: list[PendingFiling],
    events: dict[bytes, list[tuple[LedgerEvent, LedgerTx]]],
    target: dict[str, ClaimState],
) -> dict[str, FiledState]:
    """Reads first, then the writes in one burst — Core statements, one per table and state (a
    round writes every claim of it here): on SQLite the write lock is held only for them. Returns
    the state of every claim moved."""

    with ctx.sessions.begin() as session:
        claims = session.scalars(
            select(Claim)
            .where(Claim.id.in_([p.claim_pk for p in sent]), Claim.status == "FILED")
            .order_by(Claim.filed_at, Claim.id)
        ).all()
        opened = [c for c in claims if target[c.id] == ClaimState.UNDER_REVIEW]
        panels = plan_review_panels(ctx, session, opened)
        by_state: dict[ClaimState, list[str]] = {}
        for claim in claims:
            if target[claim.id] not in (ClaimState.NONE, ClaimState.FILED):  # a mined fileForReview opened it
                by_state.setdefault(target[claim.id], []).append(claim.id)
        now = utcnow()
        moved: dict[str, datetime | None] = {}  # claim → its final_at
        for state, pks in by_state.items():  # guarded: a row another process moved meanwhile stays its
            values: dict[str, Any] = {"status": state.name, "updated_at": now}
            if state.name in FINAL_STATES:  # found further along (decided while this process was away)
                values["final_at"] = func.coalesce(Claim.final_at, now)
            moved.update(
                session.execute(
                    update(Claim)
                    .where(Claim.id.in_(pks), Claim.status == "FILED")
                    .values(**values)
                    .returning(Claim.id, Claim.final_at)
                    .execution_options(synchronize_session=False)
                ).all()
            )
        rows: list[dict[str, Any]] = []
        for claim in claims:
            if claim.id not in moved:
                continue
            seen: set[tuple[bytes, int]] = set()
            for event, tx in sorted(events[claim.claim_id], key=lambda et: (et[0].block_number, et[0].log_index)):
                if (event.tx_hash, event.log_index) in seen:
                    continue
                seen.add((event.tx_hash, event.log_index))
                if event.name == "ClaimFiled":
                    rows.append(
                        event_row(claim.id, "ClaimFiled", tx, claimId=hex32(claim.claim_id), payoutFen=claim.payout_fen)
                    )
                else:
                    rows.append(event_row(claim.id, "ReviewOpened", tx))
        if rows:
            session.execute(insert(table_of(ClaimEvent)), rows)
        apply_review_panels(session, [c for c in opened if c.id in moved], panels, touch=False)
        return {c.id: FiledState(target[c.id].name, now, moved[c.id]) for c in claims if c.id in moved}


def relay_filings(
    ctx: ServiceContext, claim_pks: Iterable[str], filed: dict[str, FiledState] | None = None
) -> dict[str, BaseException]:
    """Steps 2–4 of the module docstring for ``claim_pks``, in the calling thread; the failures
    (``filed`` receives the state of each claim moved)."""
    pending = load_filings(ctx, claim_pks)
    return record_filings(ctx, pending, send_filings(ctx, pending), filed)


def resume_pending_filings(ctx: ServiceContext, older_than: timedelta = RESUME_AFTER) -> int:
    """Queue every claim ``FILED`` for longer than ``older_than`` (its request is gone: a crash, an
    RPC outage); returns how many. Does not wait for them."""
    cutoff = utcnow() - older_than
    with ctx.sessions() as session:
        pks = session.scalars(
            select(Claim.id).where(Claim.status == "FILED", Claim.filed_at < cutoff).order_by(Claim.filed_at)
        ).all()
    relay = ctx.filing_relay
    for claim_pk in pks:
        relay.submit(claim_pk)
    if pks:
        log.info("pending filings queued again", extra={"claims": len(pks)})
    return len(pks)
