"""Review: reviewer assignment, the queue, evidence verification and decryption, signed verdicts.

* **Assignment** — ``review_quorum`` (the claim's anchored rule set) reviewers per claim: accounts
  with the reviewer role and a signing key, never the claimant, never an account with a declared
  :class:`~backend.db.models.Relation` to the claimant, never the same reviewer twice; the least
  loaded first, ties broken by ``keccak256(claimId ‖ accountId)`` so the choice is reproducible.
* **Evidence verification** — four checks, each ``pass`` / ``fail`` / ``pending`` with a detail:
  ``decrypt`` (the data key unwraps, every ciphertext block re-hashes to its CID, every AES-GCM
  segment authenticates), ``rehash`` (sha256 of the plaintext and its size equal the recorded ones,
  and the CID re-derives from the ciphertext bytes), ``commitment`` (``keccak256(sha256 ‖ salt)``
  is the leaf's content commitment), ``inclusion`` (the leaf's proof verifies in
  ``EvidenceNotary.verify`` against the anchored batch, and the leaf is in the claim's evidence
  root filed on ClaimLedger). ``verified`` is true only when all four pass.
* **Access log** (RELIABILITY.md E5) — every decryption appends an :class:`EvidenceAccess` row to a
  hash chain: ``entry_hash = keccak256(prev_hash ‖ canonical JSON {evidenceId, accountId, purpose,
  at})``, the first ``prev_hash`` is 32 zero bytes. :func:`verify_access_log` recomputes the chain and
  names the first row that does not fit (edited, deleted before it, or inserted out of order).
  Deleting the newest rows is only caught once the head is anchored (not done yet).
* **Verdicts** — the report is stored encrypted in the evidence store (never on chain); on chain
  only ``reportHash = keccak256(abi.encode(keccak256(report), salt))`` — salted, because a short
  report ("diagnosis confirmed") would be brute-forced from a plain hash. The verdict is signed
  server-side with the reviewer's EIP-712 key (signature kept before relaying, so a retry relays the
  same one) and relayed by the operator. If someone else relayed that signed verdict first (C3), the
  relay reverts on the used nonce, and the verdict counts as recorded when the chain holds our
  digest for this reviewer.

This module holds the assignment, the queue and the reviewer's view; the access log is in
:mod:`backend.services.review_access_log`, opening and verifying evidence in
:mod:`backend.services.review_evidence`, verdicts in :mod:`backend.services.review_verdicts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from backend.db.models import Account, Claim, ClaimEvent, Member, Relation, ReviewAssignment, table_of, utcnow
from backend.errors import Forbidden, NotFound
from backend.proofs.keccak import keccak256
from backend.services.auth import Principal
from backend.services.claims import ClaimView, claim_view, event_row, flags_of, hex32, ledger
from backend.services.context import ServiceContext
from backend.services.rules import REASON_CODES


def reason_code_number(verdict: str, reason: str | None) -> int:
    """The ``uint16`` on chain: 0 for approvals, else 1 + the index in ``REASON_CODES``."""
    if verdict == "APPROVE":
        return 0
    assert reason is not None
    return 1 + REASON_CODES.index(reason)


def related_account_ids(session: Session, member_ids: list[str]) -> set[str]:
    if not member_ids:
        return set()
    return set(session.scalars(select(Relation.account_id).where(Relation.member_id.in_(member_ids))).all())


def assign_reviewers(ctx: ServiceContext, session: Session, claim: Claim) -> list[str]:
    """Fill the claim's review panel up to the rule set's quorum; returns the assigned account ids."""
    return assign_reviewers_many(ctx, session, [claim])[claim.id]


def assign_reviewers_many(ctx: ServiceContext, session: Session, claims: list[Claim]) -> dict[str, list[str]]:
    """:func:`assign_reviewers` for several claims at once (the filing relay's batch): reviewer
    roster, open load and relations are read once. Returns claim id → assigned account ids."""
    panels = plan_review_panels(ctx, session, claims)
    apply_review_panels(session, claims, panels)
    return {claim_pk: panel.chosen for claim_pk, panel in panels.items()}


@dataclass(frozen=True)
class ReviewPanel:
    """Who :func:`plan_review_panels` chose for one claim."""

    chosen: list[str]
    had: int
    quorum: int


def plan_review_panels(ctx: ServiceContext, session: Session, claims: list[Claim]) -> dict[str, ReviewPanel]:
    """Reads only: each claim's reviewers up to its rule set's quorum — never the claimant, never a
    related reviewer, never one already on the panel; least open load first (each claim sees the
    load the ones before it add), ties broken by ``keccak256(claimId ‖ account id)``."""
    if not claims:
        return {}
    chain = ledger(ctx)
    current: dict[str, set[str]] = {c.id: set() for c in claims}
    for claim_pk, reviewer_id in session.execute(
        select(ReviewAssignment.claim_pk, ReviewAssignment.reviewer_id).where(
            ReviewAssignment.claim_pk.in_(list(current))
        )
    ).all():
        current[claim_pk].add(reviewer_id)
    members = {
        m.id: m for m in session.scalars(select(Member).where(Member.id.in_({c.member_id for c in claims}))).all()
    }
    related: dict[str, set[str]] = {member_id: set() for member_id in members}
    for member_id, account_id in session.execute(
        select(Relation.member_id, Relation.account_id).where(Relation.member_id.in_(list(members)))
    ).all():
        related[member_id].add(account_id)
    load: dict[str, int] = {
        reviewer_id: int(count)
        for reviewer_id, count in session.execute(
            select(ReviewAssignment.reviewer_id, func.count())
            .where(ReviewAssignment.verdict.is_(None))
            .group_by(ReviewAssignment.reviewer_id)
        ).all()
    }
    candidates = session.scalars(
        select(Account).where(
            Account.role == "reviewer", Account.disabled.is_(False), Account.signing_address.is_not(None)
        )
    ).all()
    panels: dict[str, ReviewPanel] = {}
    for claim in claims:
        quorum = chain.review_quorum(claim.rule_set_hash)
        member = members[claim.member_id]
        have = current[claim.id]
        excluded = {member.account_id, *have, *related[member.id]}
        ranked = sorted(
            (a for a in candidates if a.id not in excluded),
            key=lambda a: (load.get(a.id, 0), keccak256(claim.claim_id + a.id.encode())),
        )
        chosen = [a.id for a in ranked[: max(0, quorum - len(have))]]
        for account_id in chosen:
            load[account_id] = load.get(account_id, 0) + 1
        panels[claim.id] = ReviewPanel(chosen, len(have), quorum)
    return panels


def apply_review_panels(
    session: Session, claims: list[Claim], panels: dict[str, ReviewPanel], *, touch: bool = True
) -> None:
    """Write the assignments :func:`plan_review_panels` chose, with their timeline rows: one Core
    insert per table (the filing relay writes a whole round here). ``touch``: bump each claim's
    ``updated_at`` (the relay's own status update already does)."""
    assignments: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for claim in claims:
        panel = panels[claim.id]
        assignments.extend({"claim_pk": claim.id, "reviewer_id": account_id} for account_id in panel.chosen)
        if panel.chosen:
            events.append(
                event_row(claim.id, "reviewers_assigned", count=panel.had + len(panel.chosen), quorum=panel.quorum)
            )
        if panel.had + len(panel.chosen) < panel.quorum:
            events.append(event_row(claim.id, "reviewers_short", needed=panel.quorum - panel.had - len(panel.chosen)))
        if touch and (panel.chosen or panel.had + len(panel.chosen) < panel.quorum):
            claim.updated_at = utcnow()
    if assignments:
        session.execute(insert(table_of(ReviewAssignment)), assignments)
    if events:
        session.execute(insert(table_of(ClaimEvent)), events)
    session.flush()


def fill_short_panels(ctx: ServiceContext) -> list[str]:
    """Give reviewers to claims under review whose panel is still short of its quorum: when their
    review opened, too few reviewers had registered a key (``reviewers_short`` on the timeline), and
    nothing assigned them later, so they waited for ever (found by the QA walk-through: a plan whose
    reviewers registered their keys after the first filing). Run when a reviewer registers a key.
    Returns the claims given reviewers."""
    with ctx.sessions.begin() as session:
        assigned = (
            select(func.count())
            .select_from(ReviewAssignment)
            .where(ReviewAssignment.claim_pk == Claim.id)
            .correlate(Claim)
            .scalar_subquery()
        )
        rows = session.execute(
            select(Claim.id, Claim.rule_set_hash, assigned).where(Claim.status == "UNDER_REVIEW")
        ).all()
        if not rows:
            return []
        chain = ledger(ctx)
        quorum = {rule_set: chain.review_quorum(rule_set) for rule_set in {bytes(r.rule_set_hash) for r in rows}}
        short = [r.id for r in rows if r[2] < quorum[bytes(r.rule_set_hash)]]
        if not short:
            return []
        claims = list(session.scalars(select(Claim).where(Claim.id.in_(short)).order_by(Claim.filed_at, Claim.id)))
        panels = plan_review_panels(ctx, session, claims)
        filled = [c for c in claims if panels[c.id].chosen]
        apply_review_panels(session, filled, panels)
        return [c.id for c in filled]


def _assignment(session: Session, principal: Principal, claim_pk: str) -> tuple[Claim, ReviewAssignment]:
    """The claim and the caller's assignment to it; anything else is the nonexistent-id 404.

    An assignment never puts a reviewer on their own or a related member's claim; should one exist
    anyway (a relation declared after the assignment, an edited row), the reviewer gets 403
    ``REVIEWER_CONFLICTED`` for everything on that claim — verdict, evidence, report.
    """
    if principal.role != "reviewer":
        raise NotFound("no such claim")
    assignment = session.scalars(
        select(ReviewAssignment).where(
            ReviewAssignment.claim_pk == claim_pk, ReviewAssignment.reviewer_id == principal.account_id
        )
    ).first()
    claim = session.get(Claim, claim_pk)
    if assignment is None or claim is None:
        raise NotFound("no such claim")
    member = session.get(Member, claim.member_id)
    if member is not None and (
        member.account_id == principal.account_id or principal.account_id in related_account_ids(session, [member.id])
    ):
        raise Forbidden("a reviewer may not act on their own or a related member's claim", code="REVIEWER_CONFLICTED")
    return claim, assignment


@dataclass(frozen=True)
class QueueEntry:
    id: str
    claim_id: str
    status: str
    illness_code: str
    flags: list[str]
    assigned_at: datetime
    verdict: str | None


def review_queue(session: Session, principal: Principal, *, pending_only: bool = False) -> list[QueueEntry]:
    """Claims assigned to the calling reviewer (open ones first)."""
    if principal.role != "reviewer":
        raise Forbidden("only reviewers have a review queue")
    stmt = (
        select(ReviewAssignment, Claim)
        .join(Claim, Claim.id == ReviewAssignment.claim_pk)
        .where(ReviewAssignment.reviewer_id == principal.account_id)
        .order_by(ReviewAssignment.verdict.is_not(None), ReviewAssignment.assigned_at)
    )
    if pending_only:
        stmt = stmt.where(ReviewAssignment.verdict.is_(None), Claim.status == "UNDER_REVIEW")
    return [
        QueueEntry(c.id, "0x" + c.claim_id.hex(), c.status, c.illness_code, flags_of(c), a.assigned_at, a.verdict)
        for a, c in session.execute(stmt).all()
    ]


@dataclass(frozen=True)
class ReviewDetail:
    claim: ClaimView
    member_age_at_diagnosis: int
    waiting_ends_at: datetime
    joined_at: datetime
    verdict: str | None
    reason_code: str | None
    report_hash: str | None


def review_detail(session: Session, principal: Principal, claim_pk: str) -> ReviewDetail:
    """What an assigned reviewer needs: the claim, its flags and evidence list, membership dates."""
    claim, assignment = _assignment(session, principal, claim_pk)
    member = session.get(Member, claim.member_id)
    assert member is not None
    return ReviewDetail(
        claim=claim_view(session, claim),
        member_age_at_diagnosis=claim.age_at_diagnosis,
        waiting_ends_at=member.waiting_ends_at,
        joined_at=member.joined_at,
        verdict=assignment.verdict,
        reason_code=assignment.reason_code,
        report_hash=hex32(assignment.report_hash),
    )
