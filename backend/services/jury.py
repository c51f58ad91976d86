"""The jury of disputed claims: the draw, commit-reveal votes and the tally.

**Jury draw** (reproducible from chain data; :func:`jury_order` is the whole algorithm)::

    seed      = hash of the latest block B before the draw (B's number and hash are recorded in
                the timeline; when the draw is mined in B + 1 it equals JuryDrawn.seed)
    eligible  = juror accounts, enabled, holding JUROR_ROLE on chain, minus the claimant, every
                objector, the claim's reviewers, every account related (Relation) to the claimant
                or an objector, and the jurors of the claim's earlier rounds
    order     = eligible sorted by keccak256(seed ‖ address as 20 bytes), ascending (ties impossible)
    jury      = the first jurySize of that order (jurySize from the claim's anchored rule set)

**Votes** — the server keeps each juror's salt, computes ``voteCommitment(claimId, juror, approve,
salt)`` (bound to the juror's address, RELIABILITY C3) and sends ``commitVote`` / ``revealVote``
from the juror's own key (topped up with gas by the operator). ``tallyJury`` after the reveal
window decides by simple majority of revealed votes (ties reject); a round below the minimum
turnout is voided and :func:`~backend.services.workflow.advance` draws a new one.

The public notice and objections that send a claim to a jury are in :mod:`backend.services.notice`;
the workflow clock's step (:func:`~backend.services.workflow.advance`) in :mod:`backend.services.workflow`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.claims import ClaimState, LedgerTx
from backend.chain.eip712 import vote_commitment
from backend.chain.roster import JUROR
from backend.chain.transactions import ContractReverted, TransactionSender
from backend.db.models import Account, Claim, ClaimEvent, JurySeat, Member, Objection, ReviewAssignment
from backend.errors import Conflict, Forbidden, NotFound
from backend.proofs.commitments import new_salt
from backend.proofs.keccak import keccak256
from backend.services.accounts import JUROR_MIN_BALANCE_WEI, JUROR_TOP_UP_WEI, signing_account
from backend.services.auth import Principal
from backend.services.claims import age_band_label, flags_of, get_claim, hex32, ledger, record_event, set_status
from backend.services.context import ServiceContext
from backend.services.review import related_account_ids
from backend.services.review_verdicts import read_report
from backend.services.rule_sets import roster_for, rule_set_by_hash
from backend.services.sealed_text import objection_aad, open_text


def chain_now(ctx: ServiceContext) -> int:
    """The latest block's timestamp: every window is judged in block time, as the contract does."""
    return int(ctx.w3.eth.get_block("latest")["timestamp"])


def jury_order(seed: bytes, addresses: Sequence[str]) -> list[str]:
    """``addresses`` sorted by ``keccak256(seed ‖ address)`` (the draw's whole ordering rule)."""
    return sorted(addresses, key=lambda a: keccak256(seed + bytes.fromhex(a[2:].lower())))


def _current_round(session: Session, claim: Claim) -> int:
    return int(session.scalar(select(func.max(JurySeat.round)).where(JurySeat.claim_pk == claim.id)) or 0)


def eligible_jurors(ctx: ServiceContext, session: Session, claim: Claim) -> list[Account]:
    """Juror accounts that may sit on ``claim``'s jury (see the module docstring)."""
    claimant = session.get(Member, claim.member_id)
    assert claimant is not None
    objectors = list(session.scalars(select(Objection.member_id).where(Objection.claim_pk == claim.id)))
    objector_accounts = set(session.scalars(select(Member.account_id).where(Member.id.in_(objectors))))
    reviewers = set(session.scalars(select(ReviewAssignment.reviewer_id).where(ReviewAssignment.claim_pk == claim.id)))
    earlier = set(session.scalars(select(JurySeat.juror_id).where(JurySeat.claim_pk == claim.id)))
    excluded = {
        claimant.account_id,
        *objector_accounts,
        *reviewers,
        *earlier,
        *related_account_ids(session, [claimant.id, *objectors]),
    }
    roster = roster_for(ctx)
    accounts = session.scalars(
        select(Account).where(
            Account.role == "juror", Account.disabled.is_(False), Account.signing_address.is_not(None)
        )
    ).all()
    return [
        a
        for a in accounts
        if a.id not in excluded and a.signing_address is not None and roster.has_role(JUROR, a.signing_address)
    ]


def draw_jury(ctx: ServiceContext, session: Session, claim: Claim) -> list[str]:
    """Draw and seat a new jury round for a DISPUTED claim with no open round; returns addresses."""
    if claim.status != "DISPUTED":
        raise Conflict(f"the claim is {claim.status}, not disputed", code="INVALID_STATE")
    client = ledger(ctx)
    onchain = client.claim(claim.claim_id)
    if onchain.commit_ends != 0:
        raise Conflict("a jury round is open", code="JURY_ALREADY_DRAWN")
    size = client.rule_set(claim.rule_set_hash).jury_size
    by_address = {a.signing_address: a for a in eligible_jurors(ctx, session, claim) if a.signing_address}
    seed_block = ctx.w3.eth.get_block("latest")
    seed = bytes(seed_block["hash"])
    jurors = jury_order(seed, list(by_address))[:size]
    if len(jurors) < size:
        record_event(session, claim, "jury_short", needed=size, eligible=len(jurors))
        raise Conflict(f"only {len(jurors)} eligible jurors for a jury of {size}", code="NOT_ENOUGH_JURORS")
    tx = client.draw_jury(claim.claim_id, jurors)
    drawn = tx.event("JuryDrawn")
    assert drawn is not None
    round_ = int(drawn.args["round"])
    for address in jurors:
        session.add(JurySeat(claim_pk=claim.id, round=round_, juror_id=by_address[address].id))
    record_event(
        session,
        claim,
        "JuryDrawn",
        tx,
        round=round_,
        seedBlock=int(seed_block["number"]),
        seedHash=hex32(seed),
        contractSeed=hex32(bytes(drawn.args["seed"])),
        jurors=list(jurors),
        commitEnds=int(drawn.args["commitEnds"]),
        revealEnds=int(drawn.args["revealEnds"]),
    )
    session.flush()
    return jurors


@dataclass(frozen=True)
class JuryAssignment:
    id: str
    claim_id: str
    round: int
    status: str
    illness_code: str
    payout_fen: int
    commit_ends: int
    reveal_ends: int
    committed: bool
    revealed: bool
    vote: bool | None


def _seat(session: Session, principal: Principal, claim_pk: str) -> tuple[Claim, JurySeat]:
    """The claim and the caller's seat in its latest round; anything else is the nonexistent-id 404."""
    if principal.role != "juror":
        raise NotFound("no such claim")
    claim = session.get(Claim, claim_pk)
    if claim is None:
        raise NotFound("no such claim")
    seat = session.scalars(
        select(JurySeat).where(
            JurySeat.claim_pk == claim.id,
            JurySeat.juror_id == principal.account_id,
            JurySeat.round == _current_round(session, claim),
        )
    ).first()
    if seat is None:
        raise NotFound("no such claim")
    return claim, seat


def _round_windows(session: Session, claim: Claim, round_: int) -> tuple[int, int]:
    import json

    for row in session.scalars(
        select(ClaimEvent).where(ClaimEvent.claim_pk == claim.id, ClaimEvent.kind == "JuryDrawn")
    ):
        detail = json.loads(row.detail)
        if detail.get("round") == round_:
            return int(detail["commitEnds"]), int(detail["revealEnds"])
    return 0, 0


def jury_assignments(session: Session, principal: Principal) -> list[JuryAssignment]:
    """The calling juror's seats, newest first."""
    if principal.role != "juror":
        raise Forbidden("only jurors have jury assignments")
    rows = session.execute(
        select(JurySeat, Claim)
        .join(Claim, Claim.id == JurySeat.claim_pk)
        .where(JurySeat.juror_id == principal.account_id)
        .order_by(JurySeat.id.desc())
    ).all()
    out = []
    for seat, claim in rows:
        commit_ends, reveal_ends = _round_windows(session, claim, seat.round)
        out.append(
            JuryAssignment(
                claim.id,
                "0x" + claim.claim_id.hex(),
                seat.round,
                claim.status,
                claim.illness_code,
                claim.payout_fen,
                commit_ends,
                reveal_ends,
                seat.commitment is not None,
                seat.revealed,
                seat.vote,
            )
        )
    return out


@dataclass(frozen=True)
class JuryCase:
    assignment: JuryAssignment
    age_band: str
    flags: list[str]
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    objections: list[str] = field(default_factory=list)
    appealed: bool = False


def jury_case(ctx: ServiceContext, session: Session, principal: Principal, claim_pk: str) -> JuryCase:
    """What a seated juror decides on: redacted claim, the reviewers' verdicts and reports, objections."""
    claim, seat = _seat(session, principal, claim_pk)
    assignment = next(a for a in jury_assignments(session, principal) if a.id == claim.id and a.round == seat.round)
    verdicts = []
    for review in session.scalars(
        select(ReviewAssignment).where(
            ReviewAssignment.claim_pk == claim.id, ReviewAssignment.submitted_at.is_not(None)
        )
    ):
        verdicts.append(
            {
                "verdict": review.verdict,
                "reasonCode": review.reason_code,
                "reportHash": hex32(review.report_hash),
                "report": read_report(ctx, session, claim, review.reviewer_id),
            }
        )
    objections = objection_reasons(ctx, session, claim.id)
    appealed = (
        session.scalars(
            select(ClaimEvent.id).where(ClaimEvent.claim_pk == claim.id, ClaimEvent.kind == "ClaimAppealed")
        ).first()
        is not None
    )
    rules = rule_set_by_hash(session, claim.rule_set_hash)
    return JuryCase(
        assignment, age_band_label(rules, claim.age_at_diagnosis), flags_of(claim), verdicts, objections, appealed
    )


def _juror_sender(ctx: ServiceContext, juror: Account) -> TransactionSender:
    assert juror.signing_address is not None
    roster_for(ctx).fund(juror.signing_address, JUROR_MIN_BALANCE_WEI, JUROR_TOP_UP_WEI)
    return ctx.sender(signing_account(ctx, juror))  # shares the key's nonce lock across processes


def _closed(exc: ContractReverted, names: tuple[str, ...], message: str, code: str) -> Conflict | None:
    return Conflict(message, code=code) if exc.error in names else None


def commit_vote(ctx: ServiceContext, principal: Principal, claim_pk: str, approve: bool) -> JuryAssignment:
    """Commit the calling juror's vote; the salt is generated and kept by the server."""
    client = ledger(ctx)
    with ctx.sessions.begin() as session:
        claim, seat = _seat(session, principal, claim_pk)
        juror = session.get(Account, principal.account_id)
        assert juror is not None
        assert juror.signing_address is not None
        if claim.status != "DISPUTED":
            raise Conflict(f"the claim is {claim.status}: voting is over", code="VOTING_CLOSED")
        if (
            seat.commitment is not None
            and client.ballot(claim.claim_id, seat.round, juror.signing_address).commitment == seat.commitment
        ):
            raise Conflict("you already committed a vote in this round", code="ALREADY_COMMITTED")
        commit_ends, _ = _round_windows(session, claim, seat.round)
        if chain_now(ctx) >= commit_ends:
            raise Conflict("the commit window is closed", code="COMMIT_CLOSED")
        salt = new_salt()
        seat.vote, seat.vote_salt = approve, salt
        seat.commitment = vote_commitment(claim.claim_id, juror.signing_address, approve, salt)
        round_, commitment = seat.round, seat.commitment
        sender = _juror_sender(ctx, juror)
    # The salt is committed to the database before the vote can exist on chain: it is never lost.
    try:
        tx = client.commit_vote(claim.claim_id, commitment, juror=sender)
    except ContractReverted as exc:
        raise _closed(exc, ("ClaimLedgerCommitClosed",), "the commit window is closed", "COMMIT_CLOSED") or exc from exc
    with ctx.sessions.begin() as session:
        claim = get_claim(session, claim_pk)
        record_event(session, claim, "VoteCommitted", tx, round=round_)
    with ctx.sessions() as session:
        return next(a for a in jury_assignments(session, principal) if a.id == claim_pk and a.round == round_)


def reveal_vote(ctx: ServiceContext, principal: Principal, claim_pk: str) -> JuryAssignment:
    """Reveal the calling juror's committed vote (during the reveal window)."""
    client = ledger(ctx)
    with ctx.sessions() as session:
        claim, seat = _seat(session, principal, claim_pk)
        juror = session.get(Account, principal.account_id)
        assert juror is not None
        if seat.commitment is None or seat.vote is None or seat.vote_salt is None:
            raise Conflict("you have not committed a vote in this round", code="NOT_COMMITTED")
        if seat.revealed:
            raise Conflict("your vote is already revealed", code="ALREADY_REVEALED")
        commit_ends, reveal_ends = _round_windows(session, claim, seat.round)
        now = chain_now(ctx)
        if now < commit_ends:
            raise Conflict(
                f"the reveal window opens when the commit window ends (chain time {commit_ends}, now {now})",
                code="REVEAL_NOT_OPEN",
            )
        if now >= reveal_ends:
            raise Conflict(f"the reveal window closed at chain time {reveal_ends}", code="REVEAL_CLOSED")
        vote, salt, round_, seat_id, claim_id = seat.vote, seat.vote_salt, seat.round, seat.id, claim.claim_id
        sender = _juror_sender(ctx, juror)
    try:
        tx = client.reveal_vote(claim_id, vote, salt, juror=sender)
    except ContractReverted as exc:
        raise _closed(exc, ("ClaimLedgerRevealClosed",), "the reveal window is closed", "REVEAL_CLOSED") or exc from exc
    with ctx.sessions.begin() as session:
        seat_row = session.get(JurySeat, seat_id)
        assert seat_row is not None
        seat_row.revealed = True
        record_event(session, get_claim(session, claim_pk), "VoteRevealed", tx, round=round_)
    with ctx.sessions() as session:
        return next(a for a in jury_assignments(session, principal) if a.id == claim_pk and a.round == round_)


def tally_jury(ctx: ServiceContext, session: Session, claim: Claim) -> LedgerTx:
    """Close the open round after its reveal window: APPROVED / REJECTED (final) or voided."""
    if claim.status != "DISPUTED":
        raise Conflict(f"the claim is {claim.status}, not disputed", code="INVALID_STATE")
    round_ = _current_round(session, claim)
    _, reveal_ends = _round_windows(session, claim, round_)
    if round_ == 0 or chain_now(ctx) < reveal_ends:
        raise Conflict("the jury is still voting", code="VOTING_OPEN", reveal_ends=reveal_ends)
    tx = ledger(ctx).tally_jury(claim.claim_id)
    tallied = tx.event("JuryTallied")
    if tallied is not None:
        outcome = ClaimState(int(tallied.args["outcome"]))
        record_event(
            session,
            claim,
            "JuryTallied",
            tx,
            round=round_,
            outcome=outcome.name,
            approvals=int(tallied.args["approvals"]),
            rejections=int(tallied.args["rejections"]),
            jurySize=int(tallied.args["jurySize"]),
        )
        set_status(claim, outcome)
        claim.reason_code = None if outcome == ClaimState.APPROVED else "JURY_REJECTED"
    else:
        voided = tx.event("JuryRoundVoided")
        assert voided is not None
        record_event(
            session,
            claim,
            "JuryRoundVoided",
            tx,
            round=round_,
            revealed=int(voided.args["revealed"]),
            minTurnout=int(voided.args["minTurnout"]),
        )
    return tx


def objection_reasons(ctx: ServiceContext, session: Session, claim_pk: str) -> list[str]:
    """The objections' reasons for ``claim_pk``, decrypted (for the jury), oldest first; a row from
    before revision 0008 not yet sealed (``notice.seal_legacy_objections``) is read as stored."""
    rows = session.scalars(select(Objection).where(Objection.claim_pk == claim_pk).order_by(Objection.id)).all()
    return [
        open_text(ctx.keyring, bytes(row.reason_sealed), objection_aad(row.claim_pk, row.member_id))
        if row.reason_sealed is not None
        else row.reason
        for row in rows
    ]
