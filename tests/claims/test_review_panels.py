"""A claim filed before any reviewer registered a key opens its review with a short panel
(``reviewers_short``); it gets reviewers as they register their keys, instead of waiting for ever
(found by the QA walk-through: a new plan whose reviewers set up their devices after the first
filing had its first claims stuck under review with nobody assigned)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.chain.anvil import AnvilNode
from tests.claims.builders import World, pdf, start_world
from tests.stacks import node_of

pytestmark = pytest.mark.xdist_group("claims-review-panels")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = start_world(tmp_path_factory.mktemp("panels"), reviewers=0, jurors=0)
    try:
        yield world
    finally:
        world.runtime.close()
        node: AnvilNode = node_of(world.runtime)
        node.kill()


def _kinds(world: World, person: object, claim_pk: str) -> list[str]:
    return [e["kind"] for e in world.api.get(f"/claims/{claim_pk}/timeline", person.token).json()]  # type: ignore[attr-defined]


def test_claim_filed_before_reviewers_registered_gets_them_as_they_register(world: World) -> None:
    claimant = world.member()
    filed = world.file(claimant, [("report.pdf", pdf("early claim"), "application/pdf")])
    assert filed.status_code == 201, filed.text
    claim_pk = filed.json()["id"]
    assert filed.json()["status"] == "UNDER_REVIEW"
    assert "reviewers_short" in _kinds(world, claimant, claim_pk)

    first = world.staff("reviewer")  # registers its device key
    assert [c["id"] for c in world.queue(first)] == [claim_pk]
    second = world.staff("reviewer")
    assert [c["id"] for c in world.queue(second)] == [claim_pk]
    third = world.staff("reviewer")
    assert world.queue(third) == []  # the panel is full at the quorum (2)

    kinds = _kinds(world, claimant, claim_pk)
    assert kinds.count("reviewers_assigned") == 2
    # Each reviewer can act on it: the panel is a real one.
    assert world.api.get(f"/review/claims/{claim_pk}", first.token).status_code == 200
