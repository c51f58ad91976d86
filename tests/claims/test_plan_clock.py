"""The plan's clock on a development chain moved ahead (``POST /chain/advance``): joins and the
waiting period are stamped on the chain's clock, so a diagnosis date is judged "in the future"
against the same clock. The QA walk-through found a new member who joined, moved the chain past
the waiting period and could then name no date that was covered and not "in the future" by the
wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from backend.services.accounts import register_member
from backend.services.auth import start_session
from tests.claims.builders import PASSWORD, Person, World, new_name, pdf, world_fixture

pytestmark = pytest.mark.xdist_group("claims-plan-clock")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "plan-clock")


def _chain_day(world: World) -> date:
    return datetime.fromtimestamp(int(world.runtime.w3.eth.get_block("latest")["timestamp"]), UTC).date()


def test_member_past_the_waiting_period_on_the_chains_clock_files_a_covered_claim(world: World) -> None:
    with world.runtime.sessions.begin() as session:
        account = register_member(session, new_name("clock"), PASSWORD)
    token = start_session(world.runtime.sessions, account, world.runtime.jwt_secret)
    joined = world.api.post(
        "/members/join", token, json={"birthDate": "1988-03-02", "creditScore": 700, "healthAnswers": [False] * 3}
    )
    assert joined.status_code == 201, joined.text
    waiting_ends = datetime.fromisoformat(joined.json()["waitingEndsAt"]).date()
    advanced = world.api.post("/chain/advance", token, json={"seconds": 90 * 86_400})
    assert advanced.status_code == 200, advanced.text
    world.advance(2 * 86_400)
    chain_today = _chain_day(world)
    diagnosed = chain_today - timedelta(days=1)
    assert waiting_ends <= diagnosed
    assert diagnosed > datetime.now(UTC).date()  # "in the future" by the wall clock

    person = Person(account, token)
    filed = world.file(person, [("report.pdf", pdf("plan clock"), "application/pdf")], diagnosed=diagnosed)

    assert filed.status_code == 201, filed.text
    assert filed.json()["reasonCode"] is None
    assert filed.json()["status"] != "REJECTED"
    ahead = world.file(
        person, [("b.pdf", pdf("too late"), "application/pdf")], diagnosed=chain_today + timedelta(days=2)
    )
    assert (ahead.status_code, ahead.json()["code"]) == (422, "INVALID_DATE")
    assert f"the plan's today is {chain_today.isoformat()}" in ahead.json()["message"]


def test_timeline_names_the_chains_clock_of_each_onchain_step(world: World) -> None:
    """The server records each step on its wall clock (``at``); an on-chain step also carries its
    block's time (``chainTime``), the clock its windows are judged by, days ahead here."""
    world.advance(30 * 86_400)
    person = world.member()
    filed = world.file(person, [("c.pdf", pdf("timeline clocks"), "application/pdf")])
    assert filed.status_code == 201, filed.text
    claim_pk = filed.json()["id"]

    timeline = world.api.get(f"/claims/{claim_pk}/timeline", person.token).json()

    onchain = [e for e in timeline if e["blockNumber"] is not None]
    offchain = [e for e in timeline if e["blockNumber"] is None]
    assert onchain
    assert offchain
    assert all(e["chainTime"] is None for e in offchain)
    for entry in onchain:
        block = world.runtime.w3.eth.get_block(entry["blockNumber"])
        assert datetime.fromisoformat(entry["chainTime"]) == datetime.fromtimestamp(int(block["timestamp"]), UTC)
        assert datetime.fromisoformat(entry["chainTime"]) - datetime.fromisoformat(entry["at"]) > timedelta(days=29)
