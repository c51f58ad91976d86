"""The filing relay (group commit of filings) on a real anvil and a real database.

* concurrent filings over HTTP share ClaimLedger transactions — fewer transactions than claims —
  and every claim ends UNDER_REVIEW on chain with its reviewers;
* a filing left FILED by a process that stopped (before its transaction, or after it but before
  the database commit) is completed by the next process exactly once;
* two processes relaying the same claim file it once: the second transaction leaves it alone and
  the second database commit records nothing;
* a node that cannot be reached fails the waiting filing (ChainUnavailable, the API's 503) and
  leaves the claim FILED for a later relay;
* a reviewer put on their own or a related member's claim cannot act on it (403).

"Another process" is a second runtime over the same settings: its own relay, its own operator
sender, the same database and chain.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account as EthAccount
from sqlalchemy import func, select

from backend.chain.ledger_types import ClaimState, LedgerTx
from backend.db.models import Claim, ClaimEvent, Member, Relation, ReviewAssignment
from backend.errors import ChainUnavailable
from backend.runtime import Runtime
from backend.services import claim_filing as service
from backend.services.auth import Principal
from backend.services.claims import ledger
from backend.services.filing import load_filings, record_filings, resume_pending_filings, send_filings
from tests.claims.builders import Person, World, pdf, second_process, world_fixture

pytestmark = pytest.mark.xdist_group("claims-relay")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "relay")


@pytest.fixture
def other_process(world: World) -> Iterator[Runtime]:
    yield from second_process(world)


def _recorded(world: World, person: Person, text: str) -> Claim:
    """A claim committed to the database (FILED) and not relayed: what a process that stopped
    right after ``record_claim`` leaves behind."""
    principal = Principal(person.id, "member", person.account.username)
    draft = service.begin_claim(
        world.runtime,
        principal,
        service.ClaimRequest(
            "CI001", datetime.now(UTC).date() - timedelta(days=10), claimant_key=EthAccount.create().address
        ),
    )
    service.add_claim_file(world.runtime, draft, [pdf(text)], "application/pdf", "report.pdf")
    claim_pk = service.record_claim(world.runtime, draft)
    with world.runtime.sessions() as session:
        claim = session.get(Claim, claim_pk)
        assert claim is not None
        assert claim.status == "FILED"
        return claim


def _events(world: World, claim_pk: str, kind: str) -> list[ClaimEvent]:
    with world.runtime.sessions() as session:
        return list(
            session.scalars(select(ClaimEvent).where(ClaimEvent.claim_pk == claim_pk, ClaimEvent.kind == kind)).all()
        )


def _assert_filed_once(world: World, claim: Claim) -> None:
    """UNDER_REVIEW in the database and on chain, one ClaimFiled and one ReviewOpened on chain and
    in the timeline (same transactions), and a full review panel."""
    chain = ledger(world.runtime)
    assert chain.state(claim.claim_id) == ClaimState.UNDER_REVIEW
    logs = chain.filing_events([claim.claim_id])
    assert sorted(e.name for e in logs) == ["ClaimFiled", "ReviewOpened"]
    for log in logs:
        rows = _events(world, claim.id, log.name)
        assert [(r.tx_hash, r.block_number) for r in rows] == [(log.tx_hash, log.block_number)]
    with world.runtime.sessions() as session:
        assert session.get(Claim, claim.id).status == "UNDER_REVIEW"  # type: ignore[union-attr]
        panel = session.scalar(
            select(func.count()).select_from(ReviewAssignment).where(ReviewAssignment.claim_pk == claim.id)
        )
    assert panel == 2


def test_concurrent_filings_share_transactions(world: World) -> None:
    """Eight members file at once while the operator key is busy: the relay queues them and sends
    them in at most two transactions (the one it had taken, then all the others)."""
    members = [world.member() for _ in range(8)]
    member_ids = [m.member.id for m in members if m.member is not None]
    responses: dict[int, object] = {}
    assert world.runtime.chain_outbox is not None
    # The operator key's elected sender, held busy as a long transaction of the operator would.
    operator_key = world.runtime.chain_outbox.dispatcher(world.runtime.operator.signer).busy

    def file(i: int) -> None:
        responses[i] = world.file(members[i], [("r.pdf", pdf(f"concurrent {i}"), "application/pdf")])

    with operator_key:
        threads = [threading.Thread(target=file, args=(i,)) for i in range(len(members))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # every filing committed and waiting for the relay
            with world.runtime.sessions() as session:
                waiting = len(
                    session.scalars(
                        select(Claim.id).where(Claim.status == "FILED", Claim.member_id.in_(member_ids))
                    ).all()
                )
            if waiting == len(members):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the filings did not all reach the database")
    for thread in threads:
        thread.join(60)

    bodies = [responses[i].json() for i in range(len(members))]  # type: ignore[attr-defined]
    assert [responses[i].status_code for i in range(len(members))] == [201] * len(members)  # type: ignore[attr-defined]
    assert {b["status"] for b in bodies} == {"UNDER_REVIEW"}
    transactions: set[bytes | None] = set()
    with world.runtime.sessions() as session:
        for body in bodies:
            claim = session.get(Claim, body["id"])
            assert claim is not None
            _assert_filed_once(world, claim)
            transactions.update(r.tx_hash for r in _events(world, claim.id, "ReviewOpened"))
    assert 1 <= len(transactions) <= 2 < len(members)


def test_one_relay_round_files_many_claims_in_one_transaction(world: World) -> None:
    claims = [_recorded(world, world.member(), f"round {i}") for i in range(5)]
    pending = load_filings(world.runtime, [c.id for c in claims])
    outcomes = send_filings(world.runtime, pending)
    assert len({o.tx_hash for o in outcomes.values() if isinstance(o, LedgerTx)}) == 1
    assert record_filings(world.runtime, pending, outcomes) == {}
    for claim in claims:
        _assert_filed_once(world, claim)
    # The relay read that receipt "light" (the node's JSON, no web3 formatters): its events are
    # exactly those web3's formatted receipt decodes to.
    (tx,) = {o.tx_hash for o in outcomes.values() if isinstance(o, LedgerTx)}
    formatted = ledger(world.runtime).decode_receipt(world.runtime.w3.eth.get_transaction_receipt(tx))
    assert [e.name for e in formatted] == ["ClaimFiled", "ReviewOpened"] * 5
    assert next(iter(outcomes.values())).events == formatted  # type: ignore[union-attr]


def test_filing_left_by_a_stopped_process_is_resumed_exactly_once(world: World, other_process: Runtime) -> None:
    """Stopped after the database commit (nothing on chain) and stopped after the transaction
    (on chain, not in the database): the next process's clock completes both, once."""
    before_chain = _recorded(world, world.member(), "stopped before the chain")
    after_chain = _recorded(world, world.member(), "stopped after the chain")
    crashed = ledger(world.runtime).file_for_review([p.filing for p in load_filings(world.runtime, [after_chain.id])])
    assert [e.name for e in crashed.events] == ["ClaimFiled", "ReviewOpened"]

    assert resume_pending_filings(other_process, older_than=timedelta(0)) >= 2
    for claim in (before_chain, after_chain):
        other_process.filing_relay.file(claim.id, timeout=60)  # queued behind the clock's; waits for it
        _assert_filed_once(world, claim)
    assert [r.tx_hash for r in _events(world, after_chain.id, "ClaimFiled")] == [crashed.tx_hash]

    # Nothing FILED is left: the clock's next round queues nothing and sends nothing.
    nonce = world.runtime.w3.eth.get_transaction_count(world.runtime.operator.signer.address)
    assert resume_pending_filings(other_process, older_than=timedelta(0)) == 0
    assert world.runtime.w3.eth.get_transaction_count(world.runtime.operator.signer.address) == nonce


def test_a_second_process_filing_the_same_claim_is_harmless(world: World, other_process: Runtime) -> None:
    """Both processes load the claim while it is FILED and both send it: the second transaction
    leaves it alone on chain, the second commit records nothing."""
    claim = _recorded(world, world.member(), "raced")
    first = load_filings(world.runtime, [claim.id])
    second = load_filings(other_process, [claim.id])
    assert len(first) == len(second) == 1

    first_outcomes = send_filings(world.runtime, first)
    second_outcomes = send_filings(other_process, second)
    late = second_outcomes[claim.id]
    assert isinstance(late, LedgerTx)
    assert late.events == ()  # already UNDER_REVIEW: no event, no revert

    assert record_filings(world.runtime, first, first_outcomes) == {}
    assert record_filings(other_process, second, second_outcomes) == {}
    _assert_filed_once(world, claim)
    # and a resume through the service is a no-op
    assert service.resume_filing(other_process, claim.id).status == "UNDER_REVIEW"
    _assert_filed_once(world, claim)


def test_reviewer_on_own_or_related_claim_gets_403(world: World) -> None:
    """Assignment never does it; a relation declared after the assignment, or a row naming the
    reviewer as the claimant, must still not let them act: 403, and nothing reaches the chain."""
    claimant = world.member()
    response = world.file(claimant, [("r.pdf", pdf("conflicted reviewers"), "application/pdf")])
    assert response.status_code == 201, response.text
    claim = response.json()
    own, related = world.reviewers_of(claim["id"])
    assert claimant.member is not None
    with world.runtime.sessions.begin() as session:
        session.add(Relation(account_id=related.id, member_id=claimant.member.id))
    body = {"verdict": "APPROVE", "report": "looks fine"}
    refused = world.api.post(f"/review/claims/{claim['id']}/verdict", related.token, json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "REVIEWER_CONFLICTED")

    with world.runtime.sessions.begin() as session:  # the reviewer as the claimant's own account
        member = session.get(Member, claimant.member.id)
        assert member is not None
        member.account_id = own.id
    try:
        own_refused = world.api.post(f"/review/claims/{claim['id']}/verdict", own.token, json=body)
        assert (own_refused.status_code, own_refused.json()["code"]) == (403, "REVIEWER_CONFLICTED")
        detail = world.api.get(f"/review/claims/{claim['id']}", own.token)
        assert detail.status_code == 403
        content = world.api.get(
            f"/review/claims/{claim['id']}/evidence/{claim['evidence'][0]['id']}/content", own.token
        )
        assert content.status_code == 403
    finally:
        with world.runtime.sessions.begin() as session:
            member = session.get(Member, claimant.member.id)
            assert member is not None
            member.account_id = claimant.id
    onchain = ledger(world.runtime).claim(bytes.fromhex(claim["claimId"][2:]))
    assert (onchain.state, onchain.review_approvals, onchain.review_rejections) == (ClaimState.UNDER_REVIEW, 0, 0)


def test_rpc_down_fails_the_waiting_request_and_the_claim_is_resumed_later(
    world: World, other_process: Runtime
) -> None:
    """The other process's node is unreachable: its relay fails the waiting filing with
    ChainUnavailable (the API's 503) and leaves the claim FILED; a relay that reaches the chain
    later files it once. The transaction itself is a row of the chain outbox, which the operator
    key's elected sender (the first process, whose node answers) may have sent meanwhile: the
    failing process only lost sight of it, and the resumed filing finds it on chain."""
    claim = _recorded(world, world.member(), "rpc down")
    ledger(other_process)  # the client exists; its node goes away below
    other_process.w3.provider.endpoint_uri = "http://127.0.0.1:9"  # type: ignore[attr-defined]
    with pytest.raises(ChainUnavailable):
        other_process.filing_relay.file(claim.id, timeout=120)
    with world.runtime.sessions() as session:
        assert session.get(Claim, claim.id).status == "FILED"  # type: ignore[union-attr]
    assert ledger(world.runtime).state(claim.claim_id) in (ClaimState.NONE, ClaimState.UNDER_REVIEW)
    assert resume_pending_filings(world.runtime, older_than=timedelta(0)) >= 1
    world.runtime.filing_relay.file(claim.id, timeout=60)
    _assert_filed_once(world, claim)
