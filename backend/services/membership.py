"""Plan membership: eligibility at joining, the waiting period, and the ways a membership ends.

Rules come from the rule set in force (DESIGN.md "Plan rules"): age from ``min_age_days`` (30 days)
up to ``max_join_age_years`` (59 full years) at joining, credit score ≥ ``min_credit_score``, every
health-declaration answer "no". Membership ends at the ``end_age_years`` (60th) birthday, on exit,
or on termination. Dates are calendar dates and instants are UTC; a birthday on 29 February
falls on 1 March in common years.

Nothing personal of a member goes on chain: the member's on-chain identity is the salted
``member_commitment(member id, salt)`` kept here, which the apportionment snapshot and claims use.
Each join and each end of a membership queues one leaf for the public membership log (commitment,
join or exit, effective instant; ``backend.services.membership_log``) in the same transaction.

Errors (all carry a stable ``code``):

    NotEligible (InvalidInput, 422)   NOT_ELIGIBLE_AGE | NOT_ELIGIBLE_CREDIT | NOT_ELIGIBLE_HEALTH
    InvalidInput (422)                HEALTH_ANSWERS_MISMATCH, INVALID_END_REASON
    Forbidden (403)                   NOT_A_MEMBER_ACCOUNT (only member-role accounts join)
    AlreadyMember (Conflict, 409)     ALREADY_A_MEMBER
    MembershipEnded (Conflict, 409)   MEMBERSHIP_ENDED (an ended membership cannot be resumed)
    PlanWindingDown (Conflict, 409)   PLAN_WINDING_DOWN (the operator has begun wind-down: no new joins)
    NotAMember (NotFound, 404)        NOT_A_MEMBER
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.chain.apportionment import ApportionmentClient
from backend.db.models import Account, Member, new_public_id
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.proofs.commitments import member_commitment, new_salt
from backend.proofs.membership_log import EXIT as LOG_EXIT
from backend.proofs.membership_log import JOIN
from backend.services.context import ServiceContext
from backend.services.membership_log import record_change
from backend.services.rule_sets import current_rule_set
from backend.services.rules import DEFAULT_RULES, RuleSet

ACTIVE: Final = "active"
ENDED: Final = "ended"
EXIT: Final = "EXIT"
AGE_LIMIT: Final = "AGE_LIMIT"
_REASON_RE: Final = re.compile(r"^[A-Z][A-Z_]{1,31}$")

APPORTIONMENT = "Apportionment"  # its name in the deployment (backend.chain.deploy.SUITE)


class NotEligible(InvalidInput):
    """Joining refused by a plan rule; ``code`` names the rule."""

    code = "NOT_ELIGIBLE"


class AlreadyMember(Conflict):
    code = "ALREADY_A_MEMBER"


class MembershipEnded(Conflict):
    code = "MEMBERSHIP_ENDED"


class NotAMember(NotFound):
    code = "NOT_A_MEMBER"


class PlanWindingDown(Conflict):
    """Joining refused: the plan is winding down (DESIGN.md "Plan rules" → Wind-down)."""

    code = "PLAN_WINDING_DOWN"


# --- calendar ------------------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February → 1 March in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return date(day.year + years, 3, 1)


def age_in_years(birth_date: date, on: date) -> int:
    """Full years of age on ``on`` (the birthday itself counts)."""
    years = on.year - birth_date.year
    return years if add_years(birth_date, years) <= on else years - 1


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def end_of_membership(birth_date: date, rules: RuleSet) -> datetime:
    """00:00 UTC of the ``end_age_years`` birthday: the instant the membership ends by age."""
    return start_of_day(add_years(birth_date, rules.end_age_years))


def _instant(today: date | datetime) -> datetime:
    if isinstance(today, datetime):
        if today.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware UTC")
        return today.astimezone(UTC)
    return start_of_day(today)


# --- eligibility ---------------------------------------------------------------------------------


def check_eligibility(
    rules: RuleSet, birth_date: date, credit_score: int, health_answers: Sequence[bool], today: date
) -> None:
    """Raise :class:`NotEligible` (or InvalidInput) unless the applicant may join on ``today``."""
    if len(health_answers) != len(rules.health_questions):
        raise InvalidInput(
            f"answer each of the {len(rules.health_questions)} health questions", code="HEALTH_ANSWERS_MISMATCH"
        )
    if (today - birth_date).days < rules.min_age_days:
        raise NotEligible(
            f"applicants must be at least {rules.min_age_days} days old", code="NOT_ELIGIBLE_AGE", rule="min_age_days"
        )
    if age_in_years(birth_date, today) > rules.max_join_age_years:
        raise NotEligible(
            f"applicants must be at most {rules.max_join_age_years} years old (full years) when joining",
            code="NOT_ELIGIBLE_AGE",
            rule="max_join_age_years",
        )
    if credit_score < rules.min_credit_score:
        raise NotEligible(
            f"a credit score of at least {rules.min_credit_score} is required",
            code="NOT_ELIGIBLE_CREDIT",
            rule="min_credit_score",
        )
    declared = [i + 1 for i, answer in enumerate(health_answers) if answer]
    if declared:
        raise NotEligible(
            f"every health question must be answered 'no' (question {', '.join(map(str, declared))} was 'yes')",
            code="NOT_ELIGIBLE_HEALTH",
            rule="health_questions",
        )


# --- lifecycle -----------------------------------------------------------------------------------


def join(
    session: Session,
    ctx: ServiceContext | None,
    account: Account,
    birth_date: date,
    credit_score: int,
    health_answers: Sequence[bool],
    today: date | datetime,
) -> Member:
    """Make ``account`` a member under the rule set in force (added to ``session``, flushed).

    ``today`` is the joining day (00:00 UTC) or the exact joining instant (aware datetime).
    Joining writes nothing on chain; ``ctx`` (when given) is read for the wind-down flag the
    ``Apportionment`` contract holds: once wind-down has begun every join is refused
    (``PlanWindingDown``). ``waiting_ends_at = joined_at + waiting_period_days``.
    """
    if account.role != "member":
        raise Forbidden("only member accounts can join the plan", code="NOT_A_MEMBER_ACCOUNT")
    if ctx is not None and plan_winding_down(ctx):
        raise PlanWindingDown("the plan is winding down and accepts no new members")
    existing = session.scalars(select(Member).where(Member.account_id == account.id)).first()
    if existing is not None:
        if existing.status == ACTIVE:
            raise AlreadyMember("this account is already a member")
        raise MembershipEnded("this account's membership has ended and cannot be resumed")
    rules, rule_set_hash = current_rule_set(session)
    joined_at = _instant(today)
    check_eligibility(rules, birth_date, credit_score, health_answers, joined_at.date())
    member_id = new_public_id()
    salt = new_salt()
    member = Member(
        id=member_id,
        account_id=account.id,
        commitment=member_commitment(member_id, salt),
        salt=salt,
        birth_date=birth_date,
        credit_score=credit_score,
        joined_at=joined_at,
        waiting_ends_at=joined_at + timedelta(days=rules.waiting_period_days),
        status=ACTIVE,
        rule_set_hash=rule_set_hash,
    )
    session.add(member)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent join of the same account (session must roll back)
        raise AlreadyMember("this account is already a member") from exc
    record_change(session, member, JOIN, joined_at)  # queued for the public log, same transaction
    session.flush()
    return member


def plan_winding_down(ctx: ServiceContext) -> bool:
    """True once the operator has begun wind-down (the chain's flag; False without Apportionment)."""
    contract = ctx.contracts.get(APPORTIONMENT)
    return contract is not None and ApportionmentClient(ctx.w3, contract).wind_down()


def member_of(session: Session, account_id: str) -> Member:
    """The membership of an account (active or ended); NotAMember when it never joined."""
    member = session.scalars(select(Member).where(Member.account_id == account_id)).first()
    if member is None:
        raise NotAMember("this account has not joined the plan")
    return member


def _end(session: Session, member: Member, reason: str, at: datetime) -> Member:
    if member.status != ACTIVE:
        raise MembershipEnded("this membership has already ended")
    member.status = ENDED
    member.ended_at = at
    member.end_reason = reason
    record_change(session, member, LOG_EXIT, at)  # the reason stays off the public log
    return member


def join_plan(
    ctx: ServiceContext,
    account_id: str,
    birth_date: date,
    credit_score: int,
    health_answers: Sequence[bool],
    now: datetime,
) -> Member:
    """:func:`join` for the account ``account_id`` at ``now``, in a transaction of its own, committed."""
    with ctx.sessions.begin() as session:
        return join(session, ctx, _account(session, account_id), birth_date, credit_score, health_answers, now)


def leave_plan(sessions: sessionmaker[Session], account_id: str, now: datetime) -> Member:
    """:func:`exit` for the account ``account_id`` at ``now``, in a transaction of its own, committed."""
    with sessions.begin() as session:
        return exit(session, _account(session, account_id), now)


def _account(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("no such account", code="ACCOUNT_NOT_FOUND")
    return account


def exit(session: Session, account: Account, now: datetime) -> Member:
    """The member leaves the plan at ``now`` (reason ``EXIT``)."""
    member = _end(session, member_of(session, account.id), EXIT, _instant(now))
    session.flush()
    return member


def terminate(session: Session, member_id: str, reason: str, now: datetime) -> Member:
    """End a membership for ``reason`` (an upper-case code, e.g. ``WAITING_PERIOD``, ``FRAUD``)."""
    if not _REASON_RE.match(reason):
        raise InvalidInput("reason must be an upper-case code such as WAITING_PERIOD", code="INVALID_END_REASON")
    member = session.get(Member, member_id)
    if member is None:
        raise NotAMember("no such member")
    _end(session, member, reason, _instant(now))
    session.flush()
    return member


def end_at_sixty(session: Session, today: date) -> int:
    """End every active membership whose ``end_age_years`` birthday is on or before ``today``.

    Each ends at 00:00 UTC of that birthday (reason ``AGE_LIMIT``), even when this sweep runs
    later. Returns how many memberships ended.
    """
    rules, _ = current_rule_set(session)
    # Coarse SQL bound (one spare day for 29 February), exact check per row.
    latest_birth = add_years(today, -rules.end_age_years) + timedelta(days=1)
    candidates = session.scalars(
        select(Member).where(Member.status == ACTIVE, Member.birth_date <= latest_birth).order_by(Member.id)
    )
    ended = 0
    for member in candidates:
        ends = end_of_membership(member.birth_date, rules)
        if ends.date() <= today:
            _end(session, member, AGE_LIMIT, ends)
            ended += 1
    session.flush()
    return ended


def end_at_age_limit(ctx: ServiceContext, today: date) -> int:
    """The workflow clock's daily sweep: :func:`end_at_sixty` for ``today`` in a transaction of its own.

    Each membership it ends queues its exit for the public membership log, so the audit's replay
    stops counting the member at the birthday as :func:`protected_members_at` does. 0 while no
    rule set is published.
    """
    with ctx.sessions.begin() as session:
        try:
            return end_at_sixty(session, today)
        except NotFound:
            return 0


def _protected_query(
    session: Session, columns: Sequence[Any], instant: datetime, include_waiting: bool
) -> tuple[Select[Any], RuleSet, datetime]:
    """``SELECT columns`` of the members under protection at ``instant`` (bar the exact age check)."""
    at = _instant(instant)
    try:
        rules, _ = current_rule_set(session)
    except NotFound:  # nothing published yet: no member can have joined through join()
        rules = DEFAULT_RULES
    earliest_birth = add_years(at.date(), -rules.end_age_years) - timedelta(days=1)
    query = select(*columns).where(
        Member.joined_at <= at,
        or_(Member.ended_at.is_(None), Member.ended_at > at),
        Member.birth_date >= earliest_birth,
    )
    if not include_waiting:
        query = query.where(Member.waiting_ends_at <= at)
    return query, rules, at


def protected_members_at(
    session: Session, instant: datetime, *, include_waiting: bool = True, batch: int = 1000
) -> Iterator[Member]:
    """Members under protection at ``instant``, in id order, streamed in batches.

    A member counts when ``joined_at <= instant``, the membership had not ended by ``instant``
    (``ended_at`` unset or later) and the ``end_age_years`` birthday is later than ``instant``
    (whether or not :func:`end_at_sixty` has run). With ``include_waiting=False`` members still
    inside their waiting period are left out. The age limit is the rule set in force (the
    default rules while none is published).

    Members in their waiting period are **protected for sharing**: they pay shares from the day
    they join (as in Xiang Hu Bao) although they cannot claim until it ends, so the apportionment
    keeps the default ``include_waiting=True`` (see :func:`protected_commitments_at`).
    """
    query, rules, at = _protected_query(session, (Member,), instant, include_waiting)
    for member in session.scalars(query.order_by(Member.id).execution_options(yield_per=batch)):
        if end_of_membership(member.birth_date, rules) > at:
            yield member


def _birth_cutoff(at: datetime, rules: RuleSet) -> date:
    """The earliest birth date whose ``end_of_membership`` is after ``at`` (exact).

    ``end_of_membership`` never decreases with the birth date (29 February maps to 1 March), so
    the members still under the age limit at ``at`` are exactly ``birth_date >= cutoff``: the
    database can apply the whole protection rule, and rows stream without their birth dates.
    """
    day = add_years(at.date(), -rules.end_age_years) - timedelta(days=3)  # ends on or before at's day
    while end_of_membership(day, rules) <= at:
        day += timedelta(days=1)
    return day


def protected_commitment_pages(
    session: Session, instant: datetime, *, include_waiting: bool = True, batch: int = 65_536
) -> Iterator[list[bytes]]:
    """The commitments of :func:`protected_members_at`, in ascending byte order, in pages.

    The apportionment's sharing members (``include_waiting=True``: members in their waiting
    period share costs from joining; they only cannot claim). One column is read: the age limit
    is applied by the database (``_birth_cutoff``), which returns the rows in
    ``ORDER BY commitment`` (the unique index on ``members.commitment``) through a server-side
    cursor, ``batch`` rows per page, in the session's transaction. On PostgreSQL the cursor is a
    binary psycopg cursor on the session's own connection, running the statement SQLAlchemy
    compiles (bytea arrives as bytes, no per-row conversion, about 0.3 µs per member where the
    ORM's text rows cost 1.5 µs); elsewhere (SQLite) SQLAlchemy streams it (``yield_per``).
    Nothing of the whole population is held in this process: one page at a time.
    """
    query, rules, at = _protected_query(session, (Member.commitment,), instant, include_waiting)
    query = query.where(Member.birth_date >= _birth_cutoff(at, rules)).order_by(Member.commitment)
    connection = session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        compiled = query.compile(dialect=connection.dialect)
        with driver.cursor(name=f"hubao_members_{new_public_id()}", binary=True) as cursor:  # type: ignore[union-attr]
            cursor.itersize = batch
            cursor.execute(compiled.string, compiled.params)
            while rows := cursor.fetchmany(batch):
                yield [row[0] for row in rows]
        return
    result = session.execute(query.execution_options(yield_per=batch))
    for page in result.scalars().partitions(batch):
        yield [bytes(c) for c in page]


def protected_commitments_at(
    session: Session, instant: datetime, *, include_waiting: bool = True, batch: int = 65_536
) -> Iterator[bytes]:
    """The commitments of :func:`protected_commitment_pages`, one at a time (ascending bytes)."""
    for page in protected_commitment_pages(session, instant, include_waiting=include_waiting, batch=batch):
        yield from page
