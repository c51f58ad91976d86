"""Filing on both databases: the hot statements of ``begin_claim`` and ``record_claim`` (the rule set
in force read with the member, the claim inserted only while its member is active) behave the same
on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
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


def _drafts(world: World, texts: list[str], *, same_person: bool = False) -> list[claim_filing.ClaimDraft]:
    drafts = []
    person = world.member()
    for text in texts:
        if not same_person:
            person = world.member()
        principal = Principal(person.account.id, "member", person.account.username)
        request = claim_filing.ClaimRequest(
            "CI001", datetime.now(UTC).date() - timedelta(days=10), claimant_key="0x" + os.urandom(20).hex()
        )
        draft = claim_filing.begin_claim(world.runtime, principal, request)
        claim_filing.add_claim_file(world.runtime, draft, [pdf(text)], "application/pdf", "a.pdf")
        drafts.append(draft)
    return drafts


def _record_together(world: World, drafts: list[claim_filing.ClaimDraft]) -> tuple[list[int], dict[int, object]]:
    """Record ``drafts`` from one thread each while the writer is held on a first filing: they
    queue, and the writer's next round takes them all. Returns the rounds' sizes and each outcome."""
    writer = world.runtime.filing_writer
    rounds: list[int] = []
    release = threading.Event()
    original = writer._write_round

    def held(batch: list[claim_filing.PreparedFiling]) -> dict[str, BaseException]:
        rounds.append(len(batch))
        if len(rounds) == 1:
            release.wait(30)
        return original(batch)

    outcomes: dict[int, object] = {}

    def record(i: int) -> None:
        try:
            outcomes[i] = claim_filing.record_claim(world.runtime, drafts[i])
        except Exception as exc:
            outcomes[i] = exc

    writer._write_round = held
    try:
        first = threading.Thread(target=record, args=(0,))
        first.start()
        while not rounds:
            time.sleep(0.01)
        others = [threading.Thread(target=record, args=(i,)) for i in range(1, len(drafts))]
        for thread in others:
            thread.start()
        while len(writer._items) < len(drafts):  # every filing handed to the writer
            time.sleep(0.01)
        release.set()
        for thread in [first, *others]:
            thread.join(60)
    finally:
        writer._write_round = original
    return rounds, outcomes


def test_filings_arriving_together_are_written_in_one_transaction(world: World) -> None:
    drafts = _drafts(world, [f"together {i}" for i in range(6)])
    rounds, outcomes = _record_together(world, drafts)
    assert rounds == [1, 5]
    assert [outcomes[i] for i in range(6)] == [d.claim_pk for d in drafts]
    with world.runtime.sessions() as session:
        for draft in drafts:
            claim = session.get(Claim, draft.claim_pk)
            assert claim is not None
            assert claim.status == "FILED"
            assert draft.recorded is not None
            assert draft.recorded.status == "FILED"
            assert draft.filing_receipt is not None
    for draft in drafts:
        world.runtime.filing_relay.file(draft.claim_pk, timeout=60)


def test_one_bad_filing_in_a_group_fails_only_itself(world: World) -> None:
    """In one round: a filing whose member ended meanwhile (refused), two filings of one plaintext
    (both flagged DUPLICATE_EVIDENCE), and a retry racing its first request on the idempotency key
    (the group's transaction fails; each is written alone; the retry answers the first claim)."""
    ended, twin_a, twin_b, plain = _drafts(world, ["ended", "twin", "twin", "plain one"])
    person = world.member()
    principal = Principal(person.account.id, "member", person.account.username)
    keyed = []
    for text in ("first", "retry"):
        request = claim_filing.ClaimRequest(
            "CI001",
            datetime.now(UTC).date() - timedelta(days=10),
            claimant_key="0x" + "cd" * 20,
            idempotency_key="race-in-a-group-0001",
        )
        draft = claim_filing.begin_claim(world.runtime, principal, request)
        claim_filing.add_claim_file(world.runtime, draft, [pdf(f"keyed {text}")], "application/pdf", "k.pdf")
        keyed.append(draft)
    with world.runtime.sessions.begin() as session:
        session.execute(update(Member).where(Member.id == ended.member_id).values(status="ended"))
    rounds, outcomes = _record_together(world, [plain, ended, twin_a, twin_b, *keyed])
    assert rounds[0] == 1
    assert sum(rounds) >= 6
    assert outcomes[0] == plain.claim_pk
    assert isinstance(outcomes[1], Conflict)
    assert outcomes[1].code == "MEMBERSHIP_NOT_ACTIVE"
    assert {outcomes[2], outcomes[3]} == {twin_a.claim_pk, twin_b.claim_pk}
    assert {outcomes[4], outcomes[5]} == {keyed[0].claim_pk}  # the loser answers the winner's claim
    assert keyed[0].replayed != keyed[1].replayed
    with world.runtime.sessions() as session:
        assert session.get(Claim, ended.claim_pk) is None
        for twin in (twin_a, twin_b):
            claim = session.get(Claim, twin.claim_pk)
            assert claim is not None
            assert "DUPLICATE_EVIDENCE" in claim.flags
        keyed_claims = session.scalars(select(Claim).where(Claim.idempotency_key == "race-in-a-group-0001")).all()
        assert len(keyed_claims) == 1
