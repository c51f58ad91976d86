"""Acceptance: a claims row edited after a decision does not change what the chain says, and the API
shows the chain's version (status and payout from ``ClaimLedger.claim``), flagging the disagreement.

Claims are driven through the HTTP API on a real anvil and SQLite (``tests.claims.builders``); the
row is then edited with plain SQL, as someone with database access but no chain key would.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from backend.chain.ledger_types import ClaimState
from backend.db.models import Claim
from backend.services.claims import ledger
from tests.claims.builders import Person, World, pdf, world_fixture
from tests.stacks import rules_of

pytestmark = pytest.mark.xdist_group("claims-chain-authoritative")

PAYOUT_FEN = 30_000_000  # diagnosed at 36: the ≤ 39 band


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "chain-authoritative")


def _in_notice(world: World, text: str) -> tuple[Person, dict[str, Any]]:
    claimant = world.member()
    response = world.file(claimant, [("report.pdf", pdf(text), "application/pdf")])
    assert response.status_code == 201, response.text
    claim = dict(response.json())
    world.approve_by_review(str(claim["id"]))
    return claimant, claim


def _edit_row(world: World, claim_pk: str, **values: Any) -> None:
    with world.runtime.sessions.begin() as session:
        session.execute(update(Claim).where(Claim.id == claim_pk).values(**values))
    with world.runtime.sessions() as session:
        claim = session.get(Claim, claim_pk)
        assert claim is not None
        assert {key: getattr(claim, key) for key in values} == values


def _notice(world: World) -> dict[str, dict[str, Any]]:
    response = world.api.get("/notice", world.member().token)
    assert response.status_code == 200, response.text
    return {entry["noticeId"]: entry for entry in response.json()}


def test_views_show_chain_state_and_payout_when_row_edited_in_notice(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    claimant, claim = _in_notice(world, "edited in notice")
    claim_pk, claim_id = str(claim["id"]), bytes.fromhex(str(claim["claimId"])[2:])
    before = world.claim(claimant, claim_pk)
    assert (before["status"], before["payoutFen"], before["chainMismatch"]) == ("IN_NOTICE", PAYOUT_FEN, [])
    assert _notice(world)[str(claim["claimId"])]["chainMismatch"] == []

    _edit_row(world, claim_pk, status="APPROVED", payout_fen=99_999_999)
    with caplog.at_level(logging.WARNING, logger="backend.services.claims"):
        view = world.claim(claimant, claim_pk)
        listed = world.api.get("/claims", claimant.token).json()
        notice = _notice(world)

    onchain = ledger(world.runtime).claim(claim_id)
    assert (onchain.state, onchain.payout_fen) == (ClaimState.IN_NOTICE, PAYOUT_FEN)  # the chain is untouched
    assert (view["status"], view["payoutFen"]) == ("IN_NOTICE", PAYOUT_FEN)
    assert view["chainMismatch"] == ["status", "payoutFen"]
    mine = next(c for c in listed if c["id"] == claim_pk)
    assert (mine["status"], mine["payoutFen"], mine["chainMismatch"]) == (
        "IN_NOTICE",
        PAYOUT_FEN,
        view["chainMismatch"],
    )
    # The row no longer says IN_NOTICE, yet the claim stays in the public notice, with the chain's payout.
    entry = notice[str(claim["claimId"])]
    assert (entry["payoutFen"], entry["chainMismatch"]) == (PAYOUT_FEN, ["status", "payoutFen"])
    flagged = [r for r in caplog.records if r.getMessage() == "claim row disagrees with ClaimLedger"]
    assert len(flagged) == 3  # the claim view, the list, the notice: one eth_call and one line each
    assert all(getattr(r, "claim_pk", None) == claim_pk for r in flagged)
    assert (getattr(flagged[0], "chain_status", None), getattr(flagged[0], "chain_payout_fen", None)) == (
        "IN_NOTICE",
        PAYOUT_FEN,
    )


def test_views_show_chain_state_and_payout_when_approved_row_edited_back(world: World) -> None:
    claimant, claim = _in_notice(world, "edited after approval")
    claim_pk, claim_id = str(claim["id"]), bytes.fromhex(str(claim["claimId"])[2:])
    world.advance(rules_of(world.runtime).notice_seconds)
    done = world.api.post(f"/claims/{claim_pk}/finalize-notice", world.operator.token)
    assert done.status_code == 200, done.text
    assert str(claim["claimId"]) not in _notice(world)

    _edit_row(world, claim_pk, status="IN_NOTICE", payout_fen=1)

    assert ledger(world.runtime).state(claim_id) == ClaimState.APPROVED
    view = world.claim(claimant, claim_pk)
    assert (view["status"], view["payoutFen"], view["chainMismatch"]) == (
        "APPROVED",
        PAYOUT_FEN,
        ["status", "payoutFen"],
    )
    by_auditor = world.claim(world.auditor, claim_pk)
    assert (by_auditor["status"], by_auditor["payoutFen"]) == ("APPROVED", PAYOUT_FEN)
    # The row says IN_NOTICE again; the chain says APPROVED, so the notice does not list it.
    assert str(claim["claimId"]) not in _notice(world)


def test_view_flags_nothing_for_rules_rejection_unknown_on_chain(world: World) -> None:
    claimant = world.member(joined_days_ago=30)  # diagnosed inside the 90-day waiting period
    response = world.file(
        claimant, [("report.pdf", pdf("waiting period"), "application/pdf")], acknowledge_waiting_period=True
    )
    assert response.status_code == 201, response.text
    view = world.claim(claimant, str(response.json()["id"]))
    assert ledger(world.runtime).state(bytes.fromhex(view["claimId"][2:])) == ClaimState.NONE
    assert (view["status"], view["reasonCode"], view["chainMismatch"]) == ("REJECTED", "WAITING_PERIOD", [])
