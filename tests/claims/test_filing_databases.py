"""Filing on both databases: the hot statements of ``begin_claim`` and ``record_claim`` (the rule set
in force read with the member, the claim inserted only while its member is active) behave the same
on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from backend.db.models import Claim, Member, RuleSetRecord
from backend.errors import Conflict, NotFound
from backend.services import claim_filing
from backend.services.auth import Principal
from backend.services.rule_sets import current_rule_set, rule_set_of
from tests.claims.builders import World, pdf, world_fixture
from tests.scratch_db import postgres_reachable, scratch_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if request.param == "sqlite":
        yield from world_fixture(tmp_path_factory, "filing-sqlite")
        return
    reason = postgres_reachable()
    if reason is not None:
        warnings.warn(f"SKIPPING PostgreSQL tests: {reason}", stacklevel=1)
        pytest.skip(reason)
    with scratch_database("hubao_filing") as url:
        yield from world_fixture(tmp_path_factory, "filing-postgresql", database_url=url)


def _request(world: World) -> claim_filing.ClaimRequest:
    return claim_filing.ClaimRequest(
        "CI001", datetime.now(UTC).date() - timedelta(days=10), claimant_key="0x" + "ab" * 20
    )


def test_a_filing_reads_the_rule_set_in_force_and_goes_on_chain(world: World) -> None:
    person = world.member()
    response = world.file(person, [("a.pdf", pdf("both databases"), "application/pdf")])
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "UNDER_REVIEW"
    with world.runtime.sessions() as session:
        _, in_force = current_rule_set(session)
        claim = session.get(Claim, response.json()["id"])
        assert claim is not None
        assert bytes(claim.rule_set_hash) == in_force
        assert response.json()["ruleSetHash"] == "0x" + in_force.hex()


def test_a_membership_ended_during_the_upload_files_nothing(world: World) -> None:
    """begin_claim saw an active member; the membership ends while the files stream in (another
    claim of theirs rejected, say): record_claim's guarded insert refuses, and no row is left."""
    person = world.member()
    assert person.member is not None
    principal = Principal(person.account.id, "member", person.account.username)
    draft = claim_filing.begin_claim(world.runtime, principal, _request(world))
    claim_filing.add_claim_file(world.runtime, draft, [pdf("ended meanwhile")], "application/pdf", "a.pdf")
    with world.runtime.sessions.begin() as session:
        session.execute(update(Member).where(Member.id == person.member.id).values(status="ended"))
    with pytest.raises(Conflict) as refused:
        claim_filing.record_claim(world.runtime, draft)
    assert refused.value.code == "MEMBERSHIP_NOT_ACTIVE"
    with world.runtime.sessions() as session:
        assert session.get(Claim, draft.claim_pk) is None
        assert session.scalar(select(func.count()).select_from(Claim).where(Claim.member_id == person.member.id)) == 0


def test_no_rule_set_in_force_is_named(world: World) -> None:
    with pytest.raises(NotFound) as missing:
        rule_set_of(None, None, None)
    assert missing.value.code == "NO_RULE_SET"
    # With every rule set retired, a filing is refused with that code (and restored after).
    person = world.member()
    principal = Principal(person.account.id, "member", person.account.username)
    with world.runtime.sessions.begin() as session:
        active = session.scalars(select(RuleSetRecord.hash).where(RuleSetRecord.active.is_(True))).all()
        session.execute(update(RuleSetRecord).values(active=False))
    try:
        with pytest.raises(NotFound) as refused:
            claim_filing.begin_claim(world.runtime, principal, _request(world))
        assert refused.value.code == "NO_RULE_SET"
    finally:
        with world.runtime.sessions.begin() as session:
            session.execute(update(RuleSetRecord).where(RuleSetRecord.hash.in_(active)).values(active=True))
