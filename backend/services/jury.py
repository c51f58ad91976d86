"""The jury of disputed claims: the on-chain draw, juror votes signed by the juror's key, the tally.

**Jury draw** — on chain (ClaimLedger 2.0.0): an objection, an appeal or a voided round makes the
contract fix a future block ``drawBlock`` (``JuryDrawScheduled``); once it is past, anyone may call
``drawJury``, which seats ``jurySize`` jurors from the on-chain roster by a partial Fisher–Yates
shuffle seeded with ``keccak256(abi.encode(blockhash(drawBlock), claimId, round))``
(:mod:`backend.chain.jury_draw` is the same rule in Python; the audit recomputes every draw). The
service picks nobody: :func:`backend.services.jury_seats.draw_jury` only sends ``drawJury``
when it is due (the workflow clock calls it) and records the seats the contract chose.

**Votes** are made with the juror's own key, on their device (the web UI's keystore, a browser
wallet, or ``hubao sign vote``); the server holds only the juror's address and relays:

    salt       = keccak256(the juror's signature of VoteSalt(claimId, round))   never sent before the reveal
    commitment = keccak256(abi.encode(claimId, round, juror, approve, salt))    (eip712.vote_commitment)
    commit     : {commitment, signature of VoteCommit(claimId, round, commitment)} → commitVoteBySig
    reveal     : {approve, salt} → revealVote(claimId, juror, approve, salt) (anyone may send it)

The server stores no juror key, no salt and no vote before the reveal: ``jury_seats.commitment``
(public, on chain anyway) until then, ``jury_seats.vote`` only from the reveal. It cannot commit or
reveal for a juror (ClaimLedger checks the juror's signature and the commitment), nor read a vote
early. A juror may also send commit and reveal to ClaimLedger directly (``hubao sign vote --rpc``):
the seat's state is read from the chain. ``tallyJury`` after the reveal window decides by simple
majority of revealed votes (ties reject); a round below the minimum turnout is voided and
the contract schedules a new draw.

The public notice and objections that send a claim to a jury are in :mod:`backend.services.notice`;
the workflow clock's step (:func:`~backend.services.workflow.advance`) in :mod:`backend.services.workflow`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain import eip712, typed_data
from backend.chain.ledger_types import ClaimState, LedgerTx
from backend.chain.transactions import ContractReverted
from backend.db.models import Account, Claim, ClaimEvent, JurySeat, Objection, ReviewAssignment
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.services.auth import Principal
from backend.services.claims import age_band_label, flags_of, get_claim, hex32, ledger, record_event, set_status
from backend.services.context import ServiceContext
from backend.services.jury_seats import chain_now, current_round
from backend.services.review_verdicts import read_report
from backend.services.rule_sets import rule_set_by_hash
from backend.services.sealed_text import objection_aad, open_text


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
            JurySeat.round == current_round(session, claim),
        )
    ).first()
    if seat is None:
        raise NotFound("no such claim")
    return claim, seat


def _round_windows(session: Session, claim: Claim, round_: int) -> tuple[int, int]:
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
class VoteDocuments:
    """What the juror's device needs to commit or reveal: the seat's address, the round, the
    on-chain commitment (None until committed) and the VoteSalt document to derive the salt from."""

    juror: str | None
    claim_id: str
    round: int
    commitment: str | None
    salt_typed_data: dict[str, Any]


@dataclass(frozen=True)
class JuryCase:
    assignment: JuryAssignment
    age_band: str
    flags: list[str]
    vote: VoteDocuments
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    objections: list[str] = field(default_factory=list)
    appealed: bool = False


def vote_documents(ctx: ServiceContext, claim: Claim, round_: int, juror: Account) -> VoteDocuments:
    """The seat's vote section (:class:`VoteDocuments`), with the commitment read from the chain
    (the juror may have committed directly, without the operator)."""
    client = ledger(ctx)
    address = juror.signing_address
    commitment = None
    if address is not None:
        onchain = client.ballot(claim.claim_id, round_, address).commitment
        commitment = None if onchain == bytes(32) else "0x" + onchain.hex()
    document = typed_data.vote_salt_document(client.domain().as_dict(), claim_id=claim.claim_id, round_=round_)
    return VoteDocuments(address, "0x" + claim.claim_id.hex(), round_, commitment, document)


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
    juror = session.get(Account, principal.account_id)
    assert juror is not None
    vote = vote_documents(ctx, claim, seat.round, juror)
    if vote.commitment is not None and not assignment.committed:  # committed straight on chain
        assignment = replace(assignment, committed=True)
    return JuryCase(
        assignment,
        age_band_label(rules, claim.age_at_diagnosis),
        flags_of(claim),
        vote,
        verdicts,
        objections,
        appealed,
    )


def _closed(exc: ContractReverted, names: tuple[str, ...], message: str, code: str) -> Conflict | None:
    return Conflict(message, code=code) if exc.error in names else None


def _signature(raw: bytes) -> bytes:
    if len(raw) != 65:
        raise InvalidInput("a signature is 65 bytes r ‖ s ‖ v", code="BAD_SIGNATURE", field="signature")
    return raw


def _juror_address(juror: Account) -> str:
    """The caller's own registered address; a juror still on a server-held key (or none) cannot vote."""
    if juror.signing_address is None or juror.signing_key_encrypted is not None:
        raise Conflict(
            "register your own signing key to vote: the server does not vote for jurors",
            code="KEY_NOT_REGISTERED",
        )
    return juror.signing_address


def commit_vote(
    ctx: ServiceContext, principal: Principal, claim_pk: str, commitment: bytes, signature: bytes
) -> JuryAssignment:
    """Relay the calling juror's device-signed commit ``{commitment, VoteCommit signature}``.

    The server learns a hash it cannot open: no vote, no salt. It checks the signature against the
    juror's registered address first (ClaimLedger checks it again) so a bad one costs no gas.
    """
    client = ledger(ctx)
    _signature(signature)
    if len(commitment) != 32:
        raise InvalidInput("a commitment is 32 bytes", code="INVALID_COMMITMENT", field="commitment")
    with ctx.sessions() as session:
        claim, seat = _seat(session, principal, claim_pk)
        juror = session.get(Account, principal.account_id)
        assert juror is not None
        address = _juror_address(juror)
        if claim.status != "DISPUTED":
            raise Conflict(f"the claim is {claim.status}: voting is over", code="VOTING_CLOSED")
        round_, claim_id, seat_id = seat.round, claim.claim_id, seat.id
        if client.ballot(claim_id, round_, address).commitment != bytes(32):
            raise Conflict("you already committed a vote in this round", code="ALREADY_COMMITTED")
        commit_ends, _ = _round_windows(session, claim, round_)
        if chain_now(ctx) >= commit_ends:
            raise Conflict("the commit window is closed", code="COMMIT_CLOSED")
    document = typed_data.vote_commit_document(
        client.domain().as_dict(), claim_id=claim_id, round_=round_, commitment=commitment
    )
    try:
        signer = typed_data.recover_signer(document, signature)
    except InvalidInput as exc:
        raise Forbidden(f"the commit is not signed: {exc.message}", code="VOTE_NOT_SIGNED") from exc
    if signer != address:
        raise Forbidden("the commit was not signed by your registered key", code="VOTE_NOT_SIGNED")
    try:
        tx = client.commit_vote_by_sig(claim_id, address, commitment, signature)
    except ContractReverted as exc:  # e.g. a zero commitment, or the window closed meanwhile
        closed = _closed(exc, ("ClaimLedgerCommitClosed",), "the commit window is closed", "COMMIT_CLOSED")
        raise closed or Conflict(f"ClaimLedger refused the commit ({exc.error})", code="COMMIT_REFUSED") from exc
    with ctx.sessions.begin() as session:
        seat_row = session.get(JurySeat, seat_id)
        assert seat_row is not None
        seat_row.commitment = commitment
        record_event(session, get_claim(session, claim_pk), "VoteCommitted", tx, round=round_)
    with ctx.sessions() as session:
        return next(a for a in jury_assignments(session, principal) if a.id == claim_pk and a.round == round_)


def reveal_vote(ctx: ServiceContext, principal: Principal, claim_pk: str, approve: bool, salt: bytes) -> JuryAssignment:
    """Relay the opening ``{approve, salt}`` the juror's device sends at reveal time.

    Only the juror can derive the salt, and the commitment binds claim, round and juror, so the
    opening needs no further signature; it is checked against the on-chain commitment first.
    """
    client = ledger(ctx)
    if len(salt) != 32:
        raise InvalidInput("a salt is 32 bytes", code="INVALID_SALT", field="salt")
    with ctx.sessions() as session:
        claim, seat = _seat(session, principal, claim_pk)
        juror = session.get(Account, principal.account_id)
        assert juror is not None
        address = _juror_address(juror)
        round_, claim_id, seat_id = seat.round, claim.claim_id, seat.id
        ballot = client.ballot(claim_id, round_, address)
        if ballot.commitment == bytes(32):
            raise Conflict("you have not committed a vote in this round", code="NOT_COMMITTED")
        if ballot.revealed or seat.revealed:
            raise Conflict("your vote is already revealed", code="ALREADY_REVEALED")
        commit_ends, reveal_ends = _round_windows(session, claim, round_)
        now = chain_now(ctx)
        if now < commit_ends:
            raise Conflict(
                f"the reveal window opens when the commit window ends (chain time {commit_ends}, now {now})",
                code="REVEAL_NOT_OPEN",
            )
        if now >= reveal_ends:
            raise Conflict(f"the reveal window closed at chain time {reveal_ends}", code="REVEAL_CLOSED")
    if eip712.vote_commitment(claim_id, round_, address, approve, salt) != ballot.commitment:
        raise InvalidInput("this vote and salt do not open your commitment", code="COMMITMENT_MISMATCH")
    try:
        tx = client.reveal_vote(claim_id, address, approve, salt)
    except ContractReverted as exc:
        closed = _closed(exc, ("ClaimLedgerRevealClosed",), "the reveal window is closed", "REVEAL_CLOSED")
        raise closed or Conflict(f"ClaimLedger refused the reveal ({exc.error})", code="REVEAL_REFUSED") from exc
    revealed = tx.event("VoteRevealed")
    with ctx.sessions.begin() as session:
        seat_row = session.get(JurySeat, seat_id)
        assert seat_row is not None
        seat_row.commitment = ballot.commitment
        seat_row.revealed = True
        # the vote as the chain recorded it, only now that it is public
        seat_row.vote = bool(revealed.args["approve"]) if revealed is not None else approve
        record_event(session, get_claim(session, claim_pk), "VoteRevealed", tx, round=round_)
    with ctx.sessions() as session:
        return next(a for a in jury_assignments(session, principal) if a.id == claim_pk and a.round == round_)


def tally_jury(ctx: ServiceContext, session: Session, claim: Claim) -> LedgerTx:
    """Close the open round after its reveal window: APPROVED / REJECTED (final) or voided."""
    if claim.status != "DISPUTED":
        raise Conflict(f"the claim is {claim.status}, not disputed", code="INVALID_STATE")
    round_ = current_round(session, claim)
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
        scheduled = tx.event("JuryDrawScheduled")
        if scheduled is not None:
            record_event(
                session,
                claim,
                "JuryDrawScheduled",
                tx,
                round=int(scheduled.args["round"]),
                drawBlock=int(scheduled.args["drawBlock"]),
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
