"""Membership: every eligibility edge, the waiting period, exit, termination, the end at sixty,
who is protected at an instant, and the member routes (incl. mass assignment and join loops)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.db.models import Account, Member
from backend.errors import Forbidden, InvalidInput, NotFound
from backend.proofs.commitments import member_commitment
from backend.runtime import Runtime
from backend.services import membership
from backend.services.membership import (
    AlreadyMember,
    MembershipEnded,
    NotAMember,
    NotEligible,
    add_years,
    age_in_years,
    end_at_sixty,
    protected_members_at,
)
from backend.services.rules import DEFAULT_RULES
from tests.accounts.support import PASSWORD, Api, make_account, new_name, token_for

pytestmark = pytest.mark.xdist_group(name="accounts-membership")

TODAY = date(2025, 6, 15)
NO = [False, False, False]


def _join(
    runtime: Runtime,
    birth_date: date,
    *,
    credit: int = 700,
    answers: list[bool] | None = None,
    today: date | datetime = TODAY,
) -> Member:
    account = make_account(runtime, "member")
    with runtime.sessions.begin() as session:
        fresh = session.get(Account, account.id)
        assert fresh is not None
        return membership.join(session, runtime, fresh, birth_date, credit, NO if answers is None else answers, today)


def _member_count(runtime: Runtime, account_id: str) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Member).where(Member.account_id == account_id)) or 0)


# --- eligibility edges ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth_date", "code"),
    [
        (TODAY - timedelta(days=29), "NOT_ELIGIBLE_AGE"),
        (TODAY - timedelta(days=30), None),
        (add_years(TODAY, -60) + timedelta(days=1), None),  # 59 years 364 days
        (add_years(TODAY, -60), "NOT_ELIGIBLE_AGE"),  # the 60th birthday itself
        (TODAY + timedelta(days=1), "NOT_ELIGIBLE_AGE"),  # not born yet
    ],
    ids=["29-days", "30-days", "59y364d", "60y", "unborn"],
)
def test_join_enforces_the_age_window(plan_runtime: Runtime, birth_date: date, code: str | None) -> None:
    if code is None:
        member = _join(plan_runtime, birth_date)
        assert member.status == "active"
    else:
        with pytest.raises(NotEligible) as refused:
            _join(plan_runtime, birth_date)
        assert refused.value.code == code


def test_join_edge_ages_are_what_they_claim() -> None:
    assert (TODAY - (TODAY - timedelta(days=29))).days == 29
    almost_sixty = add_years(TODAY, -60) + timedelta(days=1)
    assert age_in_years(almost_sixty, TODAY) == 59
    assert (TODAY - add_years(almost_sixty, 59)).days == 364
    assert age_in_years(add_years(TODAY, -60), TODAY) == 60


@pytest.mark.parametrize(("credit", "code"), [(599, "NOT_ELIGIBLE_CREDIT"), (600, None)])
def test_join_enforces_the_credit_score(plan_runtime: Runtime, credit: int, code: str | None) -> None:
    birth = date(1990, 1, 1)
    if code is None:
        assert _join(plan_runtime, birth, credit=credit).credit_score == 600
    else:
        with pytest.raises(NotEligible, match="at least 600") as refused:
            _join(plan_runtime, birth, credit=credit)
        assert refused.value.code == code


@pytest.mark.parametrize("yes_at", [0, 1, 2])
def test_join_refuses_any_yes_health_answer(plan_runtime: Runtime, yes_at: int) -> None:
    answers = [i == yes_at for i in range(3)]
    with pytest.raises(NotEligible, match=f"question {yes_at + 1} was 'yes'") as refused:
        _join(plan_runtime, date(1990, 1, 1), answers=answers)
    assert refused.value.code == "NOT_ELIGIBLE_HEALTH"


@pytest.mark.parametrize("answers", [[], [False, False], [False] * 4])
def test_join_needs_one_answer_per_question(plan_runtime: Runtime, answers: list[bool]) -> None:
    with pytest.raises(InvalidInput) as refused:
        _join(plan_runtime, date(1990, 1, 1), answers=answers)
    assert refused.value.code == "HEALTH_ANSWERS_MISMATCH"


def test_join_on_a_leap_day_birthday_counts_the_sixtieth_from_the_first_of_march(plan_runtime: Runtime) -> None:
    born = date(2040, 2, 29)  # 2100 is a common year
    assert add_years(born, 60) == date(2100, 3, 1)
    assert age_in_years(born, date(2100, 2, 28)) == 59
    assert _join(plan_runtime, born, today=date(2100, 2, 28)).status == "active"
    with pytest.raises(NotEligible):
        _join(plan_runtime, born, today=date(2100, 3, 1))


def test_join_refuses_staff_accounts(plan_runtime: Runtime) -> None:
    auditor = make_account(plan_runtime, "auditor")
    with plan_runtime.sessions() as session, pytest.raises(Forbidden):
        membership.join(session, plan_runtime, auditor, date(1990, 1, 1), 700, NO, TODAY)


# --- the membership record ---------------------------------------------------------------------


def test_join_records_waiting_period_commitment_and_rule_set(plan_runtime: Runtime) -> None:
    joined = datetime(2025, 6, 15, 10, 30, tzinfo=UTC)
    member = _join(plan_runtime, date(1985, 3, 2), today=joined)
    assert member.joined_at == joined
    assert member.waiting_ends_at == joined + timedelta(days=DEFAULT_RULES.waiting_period_days)
    assert member.waiting_ends_at == datetime(2025, 9, 13, 10, 30, tzinfo=UTC)
    assert len(member.salt) == 32
    assert member.commitment == member_commitment(member.id, member.salt)
    assert member.rule_set_hash == DEFAULT_RULES.hash()
    by_day = _join(plan_runtime, date(1985, 3, 2), today=date(2025, 6, 15))
    assert by_day.joined_at == datetime(2025, 6, 15, tzinfo=UTC)
    assert by_day.commitment != member.commitment


def test_join_twice_is_a_conflict(plan_runtime: Runtime) -> None:
    member = _join(plan_runtime, date(1990, 1, 1))
    with plan_runtime.sessions() as session:
        account = session.get(Account, member.account_id)
        assert account is not None
        with pytest.raises(AlreadyMember):
            membership.join(session, plan_runtime, account, date(1990, 1, 1), 700, NO, TODAY)
    assert _member_count(plan_runtime, member.account_id) == 1


def test_exit_ends_the_membership_once(plan_runtime: Runtime) -> None:
    member = _join(plan_runtime, date(1990, 1, 1))
    left = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
    with plan_runtime.sessions.begin() as session:
        account = session.get(Account, member.account_id)
        assert account is not None
        ended = membership.exit(session, account, left)
        assert (ended.status, ended.end_reason, ended.ended_at) == ("ended", "EXIT", left)
    with plan_runtime.sessions() as session:
        account = session.get(Account, member.account_id)
        assert account is not None
        with pytest.raises(MembershipEnded):
            membership.exit(session, account, left)
        with pytest.raises(MembershipEnded):
            membership.join(session, plan_runtime, account, date(1990, 1, 1), 700, NO, TODAY)


def test_terminate_records_the_reason(plan_runtime: Runtime) -> None:
    member = _join(plan_runtime, date(1990, 1, 1))
    at = datetime(2025, 8, 1, tzinfo=UTC)
    with plan_runtime.sessions.begin() as session:
        with pytest.raises(InvalidInput, match="upper-case code"):
            membership.terminate(session, member.id, "not a code", at)
        ended = membership.terminate(session, member.id, "WAITING_PERIOD", at)
        assert (ended.status, ended.end_reason, ended.ended_at) == ("ended", "WAITING_PERIOD", at)
    with plan_runtime.sessions() as session, pytest.raises(NotAMember):
        membership.terminate(session, "0" * 32, "FRAUD", at)


def test_end_at_sixty_ends_exactly_those_past_their_sixtieth_birthday(fresh_runtime: Runtime) -> None:
    sweep_day = date(2025, 6, 15)
    yesterday = _join(fresh_runtime, add_years(date(2025, 6, 14), -60), today=date(2025, 1, 1))
    today = _join(fresh_runtime, add_years(sweep_day, -60), today=date(2025, 1, 1))
    tomorrow = _join(fresh_runtime, add_years(date(2025, 6, 16), -60), today=date(2025, 1, 1))
    young = _join(fresh_runtime, date(1990, 1, 1), today=date(2025, 1, 1))
    with fresh_runtime.sessions.begin() as session:
        assert end_at_sixty(session, sweep_day) == 2
    with fresh_runtime.sessions.begin() as session:
        assert end_at_sixty(session, sweep_day) == 0  # idempotent
        rows = {m.id: m for m in session.scalars(select(Member))}
    assert (rows[yesterday.id].status, rows[yesterday.id].end_reason) == ("ended", "AGE_LIMIT")
    assert rows[yesterday.id].ended_at == datetime(2025, 6, 14, tzinfo=UTC)  # the birthday, not the sweep day
    assert rows[today.id].ended_at == datetime(2025, 6, 15, tzinfo=UTC)
    assert rows[tomorrow.id].status == rows[young.id].status == "active"


def test_protected_members_at_an_instant(fresh_runtime: Runtime) -> None:
    day0 = datetime(2025, 1, 1, tzinfo=UTC)
    early = _join(fresh_runtime, date(1990, 1, 1), today=day0 - timedelta(days=200))
    waiting = _join(fresh_runtime, date(1990, 1, 1), today=day0 - timedelta(days=10))
    late = _join(fresh_runtime, date(1990, 1, 1), today=day0 + timedelta(days=10))
    leaving = _join(fresh_runtime, date(1990, 1, 1), today=day0 - timedelta(days=200))
    turns_sixty = _join(fresh_runtime, add_years(date(2024, 12, 20), -60), today=day0 - timedelta(days=200))
    with fresh_runtime.sessions.begin() as session:
        membership.terminate(session, leaving.id, "FRAUD", day0 + timedelta(days=5))

    def ids(instant: datetime, include_waiting: bool = True) -> set[str]:
        with fresh_runtime.sessions() as session:
            return {m.id for m in protected_members_at(session, instant, include_waiting=include_waiting)}

    # The sixtieth birthday (20 Dec 2024) passed without a sweep: still excluded.
    assert ids(day0) == {early.id, waiting.id, leaving.id}
    assert ids(day0, include_waiting=False) == {early.id, leaving.id}
    assert ids(day0 + timedelta(days=30)) == {early.id, waiting.id, late.id}
    assert ids(day0 - timedelta(days=30)) == {early.id, leaving.id, turns_sixty.id}
    assert ids(day0 - timedelta(days=300)) == set()


# --- over HTTP ---------------------------------------------------------------------------------


def _adult_birth_date() -> str:
    return add_years(datetime.now(UTC).date(), -30).isoformat()


def test_register_sign_in_join_view_and_exit_over_http(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    username = new_name("alice")
    registered = api.post("/accounts/register", json={"username": username, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    assert registered.json()["role"] == "member"
    login = api.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    assert api.get("/members/me", token).json()["code"] == "NOT_A_MEMBER"
    join = {"birthDate": _adult_birth_date(), "creditScore": 700, "healthAnswers": NO}
    joined = api.post("/members/join", token, json=join)
    assert joined.status_code == 201, joined.text
    body = joined.json()
    assert body["status"] == "active"
    assert body["ruleSetHash"] == "0x" + DEFAULT_RULES.hash().hex()
    assert datetime.fromisoformat(body["waitingEndsAt"]) - datetime.fromisoformat(body["joinedAt"]) == timedelta(
        days=90
    )
    assert api.get("/members/me", token).json() == body
    again = api.post("/members/join", token, json=join)
    assert (again.status_code, again.json()["code"]) == (409, "ALREADY_A_MEMBER")
    left = api.post("/members/me/exit", token)
    assert left.status_code == 200
    assert (left.json()["status"], left.json()["endReason"]) == ("ended", "EXIT")
    assert api.post("/members/me/exit", token).status_code == 409


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"creditScore": 599}, "NOT_ELIGIBLE_CREDIT"),
        ({"healthAnswers": [False, True, False]}, "NOT_ELIGIBLE_HEALTH"),
        ({"birthDate": "1950-01-01"}, "NOT_ELIGIBLE_AGE"),
        ({"healthAnswers": [False]}, "HEALTH_ANSWERS_MISMATCH"),
        ({"creditScore": 1001}, "VALIDATION_ERROR"),
    ],
)
def test_join_refusals_over_http_are_422_with_the_rule_code(
    plan_runtime: Runtime, change: dict[str, object], code: str
) -> None:
    api = Api(plan_runtime)
    account = make_account(plan_runtime, "member")
    body = {"birthDate": _adult_birth_date(), "creditScore": 700, "healthAnswers": NO, **change}
    response = api.post("/members/join", token_for(plan_runtime, account), json=body)
    assert (response.status_code, response.json()["code"]) == (422, code)
    assert response.json()["message"]
    assert _member_count(plan_runtime, account.id) == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"status": "active"},
        {"joinedAt": "2000-01-01T00:00:00Z"},
        {"joined_at": "2000-01-01T00:00:00Z"},
        {"commitment": "0x" + "11" * 32},
        {"waitingEndsAt": "2000-01-01T00:00:00Z"},
        {"accountId": "0" * 32},
        {"account_id": "0" * 32},
    ],
)
def test_join_refuses_mass_assignment(plan_runtime: Runtime, extra: dict[str, str]) -> None:
    api = Api(plan_runtime)
    account = make_account(plan_runtime, "member")
    body = {"birthDate": _adult_birth_date(), "creditScore": 700, "healthAnswers": NO, **extra}
    response = api.post("/members/join", token_for(plan_runtime, account), json=body)
    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")
    assert _member_count(plan_runtime, account.id) == 0


def test_join_loop_creates_one_membership(plan_runtime: Runtime) -> None:
    """D13: a member joining in a loop gets one membership and 409s, bounded by the loop."""
    api = Api(plan_runtime)
    account = make_account(plan_runtime, "member")
    token = token_for(plan_runtime, account)
    body = {"birthDate": _adult_birth_date(), "creditScore": 700, "healthAnswers": NO}
    statuses = [api.post("/members/join", token, json=body).status_code for _ in range(6)]
    assert statuses == [201] + [409] * 5
    assert _member_count(plan_runtime, account.id) == 1


def test_member_routes_refuse_other_roles(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    juror = token_for(plan_runtime, make_account(plan_runtime, "juror"))
    body = {"birthDate": _adult_birth_date(), "creditScore": 700, "healthAnswers": NO}
    assert api.post("/members/join", juror, json=body).status_code == 403
    assert api.get("/members/me", juror).status_code == 403


def test_protected_members_before_any_rule_set_is_empty(runtime_factory: Callable[..., Runtime]) -> None:
    unbootstrapped = runtime_factory()
    with unbootstrapped.sessions() as session:
        assert list(protected_members_at(session, datetime(2025, 1, 1, tzinfo=UTC))) == []
        with pytest.raises(NotFound, match="no rule set"):
            end_at_sixty(session, date(2025, 1, 1))
