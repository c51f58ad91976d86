"""Every claim path end to end through the HTTP API, on a real anvil and a real database.

One world (anvil, contracts, SQLite, keyring, 3 reviewers, 6 jurors) per module; each test files
its own claims with fresh members, and moves anvil's clock instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.chain.jury_draw import draw_seed, select_jurors
from backend.chain.ledger_types import ClaimState
from backend.db.models import ClaimEvent, EvidenceItem, Member, Objection
from backend.services.accounts import declare_relation
from backend.services.auth import Principal
from backend.services.claims import ledger
from backend.services.notice import seal_legacy_objections
from tests.claims.builders import World, pdf, png, world_fixture
from tests.stacks import rules_of

pytestmark = pytest.mark.xdist_group("claims-flows")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "flows")


def _file_ok(world: World, person: object, text: str) -> dict[str, object]:
    response = world.file(person, [("report.pdf", pdf(text), "application/pdf")])  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    return dict(response.json())


def _timeline_kinds(world: World, person: object, claim_pk: str) -> list[str]:
    response = world.api.get(f"/claims/{claim_pk}/timeline", person.token)  # type: ignore[attr-defined]
    assert response.status_code == 200
    return [e["kind"] for e in response.json()]


def test_file_claim_opens_review_on_chain_with_quorum_assigned(world: World) -> None:
    alice = world.member()
    files = [("scan 1.pdf", pdf("alice biopsy"), "application/pdf"), ("x.png", png(b"alice"), "image/png")]
    response = world.file(alice, files)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "UNDER_REVIEW"
    assert body["payoutFen"] == 30_000_000  # 36 at diagnosis: the ≤ 39 band
    assert len(body["evidence"]) == 2
    assert {e["originalName"] for e in body["evidence"]} == {"scan 1.pdf", "x.png"}
    onchain = ledger(world.runtime).claim(bytes.fromhex(body["claimId"][2:]))
    assert onchain.state == ClaimState.UNDER_REVIEW
    assert onchain.payout_fen == 30_000_000
    assert "0x" + onchain.evidence_root.hex() == body["evidenceRoot"]
    with world.runtime.sessions() as session:
        member = session.get(Member, alice.member.id)  # type: ignore[union-attr]
        assert member is not None
        assert onchain.member_commitment != member.commitment  # a fresh commitment per claim
        items = session.scalars(select(EvidenceItem).where(EvidenceItem.claim_pk == body["id"])).all()
        assert {i.uploader_id for i in items} == {alice.id}
    timeline = world.api.get(f"/claims/{body['id']}/timeline", alice.token).json()
    onchain_steps = [e for e in timeline if e["kind"] in ("ClaimFiled", "ReviewOpened")]
    assert [e["kind"] for e in onchain_steps] == ["ClaimFiled", "ReviewOpened"]
    assert all(e["blockNumber"] > 0 and len(e["txHash"]) == 66 for e in onchain_steps)
    assert len(world.reviewers_of(body["id"])) == 2


def test_approve_via_notice_then_payout(world: World) -> None:
    bob = world.member()
    claim = _file_ok(world, bob, "bob pathology")
    claim_pk = str(claim["id"])
    world.approve_by_review(claim_pk)
    assert world.claim(bob, claim_pk)["status"] == "IN_NOTICE"
    notice = world.api.get("/notice", world.member().token).json()
    entry = next(n for n in notice if n["noticeId"] == claim["claimId"])
    assert entry["ageBand"] == "0-39"
    assert entry["payoutFen"] == 30_000_000
    assert len(entry["reportHashes"]) == 2
    early = world.api.post(f"/claims/{claim_pk}/finalize-notice", world.operator.token)
    assert (early.status_code, early.json()["code"]) == (409, "NOTICE_OPEN")
    world.advance(rules_of(world.runtime).notice_seconds)
    done = world.api.post(f"/claims/{claim_pk}/finalize-notice", world.operator.token)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "APPROVED"
    by_member = world.api.post(f"/claims/{claim_pk}/payout", bob.token, json={"reference": "x"})
    assert by_member.status_code == 404
    paid = world.api.post(f"/claims/{claim_pk}/payout", world.operator.token, json={"reference": "BANK-2026-0001"})
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "PAID"
    claim_id = bytes.fromhex(str(claim["claimId"])[2:])
    assert ledger(world.runtime).state(claim_id) == ClaimState.PAID
    kinds = _timeline_kinds(world, bob, claim_pk)
    for step in ("ClaimFiled", "ReviewOpened", "VerdictRecorded", "ReviewDecided", "NoticeFinalized", "PayoutRecorded"):
        assert step in kinds
    timeline = world.api.get(f"/claims/{claim_pk}/timeline", bob.token).json()
    assert all("private" not in e["detail"] for e in timeline)
    assert "BANK-2026-0001" not in str(timeline)


def test_objection_sends_claim_to_jury_which_approves(world: World) -> None:
    carol, objector = world.member(), world.member()
    claim = _file_ok(world, carol, "carol scan")
    claim_pk = str(claim["id"])
    world.approve_by_review(claim_pk)
    response = world.object(objector, claim["claimId"], "I saw her running a marathon")
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "DISPUTED"
    again = world.object(objector, claim["claimId"], "again")
    assert (again.status_code, again.json()["code"]) == (409, "OBJECTION_EXISTS")
    own = world.object(carol, claim["claimId"], "me")
    assert (own.status_code, own.json()["code"]) == (409, "OWN_CLAIM")
    seated = world.seated(claim_pk)
    assert len(seated) == 3
    case = world.api.get(f"/jury/claims/{claim_pk}", seated[0].token).json()
    assert case["objections"] == ["I saw her running a marathon"]
    # At rest the reason is sealed like the reports (issue 17 item 13): no plain text in the row.
    with world.runtime.sessions() as session:
        (row,) = session.scalars(select(Objection).where(Objection.claim_pk == claim_pk)).all()
        assert row.reason == ""
        assert row.reason_sealed is not None
        assert b"marathon" not in bytes(row.reason_sealed)
        # A row from before revision 0008 (plain text) reads as stored, then bootstrap seals it.
        row.reason_sealed, row.reason = None, "legacy plain reason"
        session.commit()
    assert world.api.get(f"/jury/claims/{claim_pk}", seated[0].token).json()["objections"] == ["legacy plain reason"]
    assert seal_legacy_objections(world.runtime) == 1
    with world.runtime.sessions() as session:
        (row,) = session.scalars(select(Objection).where(Objection.claim_pk == claim_pk)).all()
        assert (row.reason, row.reason_sealed is not None) == ("", True)
    assert world.api.get(f"/jury/claims/{claim_pk}", seated[0].token).json()["objections"] == ["legacy plain reason"]
    assert {v["verdict"] for v in case["verdicts"]} == {"APPROVE"}
    assert case["verdicts"][0]["report"] == "diagnosis confirmed by pathology"
    world.jury_votes(claim_pk, [True, True, False])
    tallied = world.api.post(f"/claims/{claim_pk}/tally", world.operator.token)
    assert tallied.status_code == 200, tallied.text
    assert tallied.json()["status"] == "APPROVED"
    event = _event(world, claim_pk, "JuryTallied")
    assert (event["approvals"], event["rejections"], event["outcome"]) == (2, 1, "APPROVED")


def _event(world: World, claim_pk: str, kind: str) -> dict[str, object]:
    import json

    with world.runtime.sessions() as session:
        row = session.scalars(
            select(ClaimEvent).where(ClaimEvent.claim_pk == claim_pk, ClaimEvent.kind == kind).order_by(ClaimEvent.id)
        ).all()[-1]
        return dict(json.loads(row.detail))


def test_objection_then_jury_rejects_and_the_jury_excludes_conflicts(world: World) -> None:
    dave, objector = world.member(), world.member()
    related = world.jurors[0]
    declare_relation(world.runtime, related.id, dave.member.id)  # type: ignore[union-attr]  # on chain too
    claim = _file_ok(world, dave, "dave scan")
    claim_pk = str(claim["id"])
    world.approve_by_review(claim_pk)
    assert world.object(objector, claim["claimId"], "fake").status_code == 201
    seated = world.seated(claim_pk)
    assert related not in seated
    drawn = _event(world, claim_pk, "JuryDrawn")
    # The contract drew it; anyone recomputes it from the seed block's hash and the on-chain roster.
    w3 = world.runtime.w3
    seed = draw_seed(bytes(w3.eth.get_block(int(drawn["drawBlock"]))["hash"]), bytes.fromhex(claim["claimId"][2:]), 1)
    assert drawn["seed"] == "0x" + seed.hex()
    roster = ledger(world.runtime).jurors()
    assert drawn["jurors"] == select_jurors(seed, roster, {related.address}, 3)
    world.jury_votes(claim_pk, [False, False, True])
    tallied = world.api.post(f"/claims/{claim_pk}/tally", world.operator.token)
    assert tallied.json()["status"] == "REJECTED"
    appeal = world.consent(dave, claim_pk, "appeal")
    assert (appeal.status_code, appeal.json()["code"]) == (409, "APPEAL_NOT_ALLOWED")


def test_review_rejection_then_appeal_goes_to_a_jury(world: World) -> None:
    erin = world.member()
    claim = _file_ok(world, erin, "erin scan")
    claim_pk = str(claim["id"])
    first, second = world.reviewers_of(claim_pk)
    bad = world.verdict(first, claim_pk, "REJECT", None, "no reason")
    assert (bad.status_code, bad.json()["code"]) == (422, "INVALID_REASON_CODE")
    assert world.verdict(first, claim_pk, "REJECT", "INSUFFICIENT_EVIDENCE", "scan unreadable").status_code == 200
    assert world.verdict(second, claim_pk, "APPROVE", None, "fine").status_code == 200
    rejected = world.claim(erin, claim_pk)
    assert (rejected["status"], rejected["reasonCode"]) == ("REJECTED", "INSUFFICIENT_EVIDENCE")
    appeal = world.consent(erin, claim_pk, "appeal")
    assert appeal.status_code == 200, appeal.text
    assert appeal.json()["status"] == "DISPUTED"
    twice = world.consent(erin, claim_pk, "appeal")
    assert twice.status_code == 409
    world.jury_votes(claim_pk, [True, True, True])
    assert world.api.post(f"/claims/{claim_pk}/tally", world.operator.token).json()["status"] == "APPROVED"
    assert "ClaimAppealed" in _timeline_kinds(world, erin, claim_pk)


def test_low_turnout_voids_the_round_and_a_new_jury_is_drawn(world: World) -> None:
    fay, objector = world.member(), world.member()
    claim = _file_ok(world, fay, "fay scan")
    claim_pk = str(claim["id"])
    world.approve_by_review(claim_pk)
    world.object(objector, claim["claimId"], "doubt")
    first_round = world.jury_votes(claim_pk, [True])  # one reveal < min turnout 2
    assert world.api.post(f"/claims/{claim_pk}/tally", world.operator.token).json()["status"] == "DISPUTED"
    redraw = world.api.post(f"/claims/{claim_pk}/jury", world.operator.token)
    assert redraw.status_code == 200, redraw.text
    second_round = world.seated(claim_pk)
    assert not set(j.id for j in first_round) & set(j.id for j in second_round)


def test_waiting_period_filing_is_refused_unless_acknowledged(world: World) -> None:
    new = world.member(joined_days_ago=30)
    with world.runtime.sessions() as session:
        before = session.scalar(select(func.count()).select_from(EvidenceItem))
    refused = world.file(new, [("a.pdf", pdf("new member"), "application/pdf")])
    assert (refused.status_code, refused.json()["code"]) == (422, "WAITING_PERIOD_NOT_ACKNOWLEDGED")
    message = refused.json()["message"]
    assert "ends your membership for good" in message
    assert "acknowledgeWaitingPeriod=true" in message
    with world.runtime.sessions() as session:
        member = session.get(Member, new.member.id)  # type: ignore[union-attr]
        assert member is not None
        assert member.status == "active"  # nothing irreversible happened
        assert member.waiting_ends_at.date().isoformat() in message
        assert session.scalar(select(func.count()).select_from(EvidenceItem)) == before  # no file stored
    assert world.api.get("/claims", new.token).json() == []
    bad = world.api.post(
        "/claims",
        new.token,
        data={
            "illnessCode": "CI001",
            "diagnosisDate": "2026-01-01",
            "claimantKey": "0x" + "ab" * 20,
            "acknowledgeWaitingPeriod": "perhaps",
        },
        files=[("files", ("a.pdf", pdf("x"), "application/pdf"))],
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "VALIDATION_ERROR")  # a field there, its value wrong


def test_filing_with_an_idempotency_key_answers_a_retry_with_the_same_claim(world: World) -> None:
    person = world.member()
    files = [("a.pdf", pdf("retried upload"), "application/pdf")]
    first = world.file(person, files, idempotency_key="retry-key-0001")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    retry = world.file(person, files, idempotency_key="retry-key-0001")  # the answer was lost: file again
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert (retry.json()["id"], retry.json()["claimId"]) == (first.json()["id"], first.json()["claimId"])
    assert [c["id"] for c in world.api.get("/claims", person.token).json()] == [first.json()["id"]]
    # The key is the member's own: another member's key of the same text files a claim of their own.
    other = world.member()
    theirs = world.file(other, [("b.pdf", pdf("other member"), "application/pdf")], idempotency_key="retry-key-0001")
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]
    malformed = world.file(person, files, idempotency_key="short")
    assert (malformed.status_code, malformed.json()["code"]) == (422, "VALIDATION_ERROR")


def test_replayed_draft_drops_its_files_and_answers_the_first_claim(world: World) -> None:
    """The race: two requests with one key both read their files; the second to record loses."""
    from backend.services import claim_filing

    person = world.member()
    first = world.file(person, [("a.pdf", pdf("race one"), "application/pdf")], idempotency_key="race-key-0001")
    assert first.status_code == 201
    principal = Principal(person.account.id, "member", person.account.username)
    request = claim_filing.ClaimRequest(
        "CI001",
        datetime.now(UTC).date() - timedelta(days=10),
        idempotency_key="race-key-0001",
        claimant_key=world.claim_keys[first.json()["id"]].address,  # the retry sends the same body
    )
    draft = claim_filing.begin_claim(world.runtime, principal, request)
    claim_filing.add_claim_file(world.runtime, draft, [pdf("race two")], "application/pdf", "b.pdf")
    assert claim_filing.record_claim(world.runtime, draft) == first.json()["id"]
    assert draft.replayed is True
    assert [c["id"] for c in world.api.get("/claims", person.token).json()] == [first.json()["id"]]


def test_waiting_period_rejects_and_ends_membership(world: World) -> None:
    new = world.member(joined_days_ago=30)
    response = world.file(new, [("a.pdf", pdf("new member"), "application/pdf")], acknowledge_waiting_period=True)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["reasonCode"]) == ("REJECTED", "WAITING_PERIOD")
    assert ledger(world.runtime).state(bytes.fromhex(body["claimId"][2:])) == ClaimState.NONE
    with world.runtime.sessions() as session:
        member = session.get(Member, new.member.id)  # type: ignore[union-attr]
        assert member is not None
        assert (member.status, member.end_reason) == ("ended", "WAITING_PERIOD")
    kinds = _timeline_kinds(world, new, body["id"])
    assert {"rejected_by_rules", "membership_ended", "shares_refund_due"} <= set(kinds)
    again = world.file(new, [("b.pdf", pdf("again"), "application/pdf")], acknowledge_waiting_period=True)
    assert (again.status_code, again.json()["code"]) == (409, "MEMBERSHIP_NOT_ACTIVE")


def test_duplicate_evidence_is_flagged_for_both_claims_and_reviewers(world: World) -> None:
    same = pdf("the very same discharge summary")
    first, second = world.member(), world.member()
    one = world.file(first, [("a.pdf", same, "application/pdf")]).json()
    two = world.file(second, [("b.pdf", same, "application/pdf")]).json()
    assert two["flags"] == ["DUPLICATE_EVIDENCE"]
    assert two["evidence"][0]["duplicate"] is True
    assert world.claim(first, one["id"])["flags"] == ["DUPLICATE_EVIDENCE"]
    reviewer = world.reviewers_of(two["id"])[0]
    entry = next(q for q in world.queue(reviewer) if q["id"] == two["id"])
    assert entry["flags"] == ["DUPLICATE_EVIDENCE"]


def test_filing_answer_is_what_the_claim_reads_back(world: World) -> None:
    """The 201 of a filing is built from what was written (not read back): on every filing path
    it must equal the claimant's GET of the claim right after — field for field."""
    plain, waiting, dup_a, dup_b = world.member(), world.member(joined_days_ago=30), world.member(), world.member()
    same = pdf("one discharge letter, two claims")
    answers = [
        (
            plain,
            world.file(
                plain, [("one.pdf", pdf("plain claim"), "application/pdf"), ("two.png", png(b"p"), "image/png")]
            ),
        ),
        (
            waiting,
            world.file(waiting, [("w.pdf", pdf("too early"), "application/pdf")], acknowledge_waiting_period=True),
        ),
        (dup_a, world.file(dup_a, [("a.pdf", same, "application/pdf")])),
        (dup_b, world.file(dup_b, [("b.pdf", same, "application/pdf")])),
    ]
    for _, response in answers:
        assert response.status_code == 201, response.text
    statuses = [(r.json()["status"], r.json()["flags"]) for _, r in answers]
    assert statuses == [
        ("UNDER_REVIEW", []),
        ("REJECTED", []),
        ("UNDER_REVIEW", []),
        ("UNDER_REVIEW", ["DUPLICATE_EVIDENCE"]),
    ]
    for person, response in answers[:2] + answers[3:]:  # the first duplicate was flagged after it answered
        answer = dict(response.json())
        receipt = answer.pop("filingReceipt")  # only the filing's answer carries it; GET has its own route
        read_back = world.claim(person, answer["id"])
        read_back.pop("filingReceipt", None)
        assert read_back == answer
        again = world.api.get(f"/claims/{answer['id']}/filing-receipt", person.token)
        assert (again.json() if again.status_code == 200 else None) == receipt
    assert [e["originalName"] for e in answers[0][1].json()["evidence"]] == ["one.pdf", "two.png"]


def test_withdraw_an_undecided_claim(world: World) -> None:
    gil = world.member()
    claim = _file_ok(world, gil, "gil scan")
    other = world.member()
    assert world.consent(other, claim["id"], "withdraw").status_code == 404
    response = world.consent(gil, claim["id"], "withdraw")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "WITHDRAWN"
    assert ledger(world.runtime).state(bytes.fromhex(str(claim["claimId"])[2:])) == ClaimState.WITHDRAWN
    again = world.consent(gil, claim["id"], "withdraw")
    assert (again.status_code, again.json()["code"]) == (409, "INVALID_STATE")


def test_verdict_relayed_by_someone_else_counts_as_success(world: World) -> None:
    """C3: an attacker relays the reviewer's signed verdict first; state identical, backend reports success."""
    from backend.chain import typed_data
    from backend.chain.client import account
    from backend.chain.transactions import TransactionSender
    from backend.config import ANVIL_DEV_KEYS
    from backend.services.device_verdicts import verdict_from_message

    hal = world.member()
    claim = _file_ok(world, hal, "hal scan")
    claim_pk = str(claim["id"])
    reviewer = world.reviewers_of(claim_pk)[0]
    assert reviewer.device_key is not None
    draft = world.api.post(
        f"/review/claims/{claim_pk}/verdict/draft", reviewer.token, json={"verdict": "APPROVE", "report": "confirmed"}
    )
    assert draft.status_code == 200, draft.text
    document = typed_data.check_hubao_document(
        typed_data.load_document(draft.json()["typedData"]), primary_type="Verdict"
    )
    signature = typed_data.sign(document, reviewer.device_key)
    verdict = verdict_from_message(document["message"])
    attacker = TransactionSender(world.runtime.w3, account(ANVIL_DEV_KEYS[5]))
    ledger(world.runtime).submit_verdict(verdict.claim_id, verdict, signature, sender=attacker)
    response = world.api.post(
        f"/review/claims/{claim_pk}/verdict/signed",
        reviewer.token,
        json={"message": document["message"], "signature": "0x" + signature.hex()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["relayedByOther"] is True
    assert body["txHash"] is not None
    onchain = ledger(world.runtime).claim(verdict.claim_id)
    assert (onchain.state, onchain.review_approvals) == (ClaimState.UNDER_REVIEW, 1)


def test_filing_refuses_bad_forms_and_keeps_nothing(world: World) -> None:
    ivy = world.member()
    unknown = world.file(ivy, [("a.pdf", pdf("x"), "application/pdf")], illness="CI999")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "UNKNOWN_ILLNESS")
    # "Future" on the plan's clock: the chain's, days ahead after the earlier tests moved it.
    chain_now = datetime.fromtimestamp(int(world.runtime.w3.eth.get_block("latest")["timestamp"]), UTC)
    plan_today = max(datetime.now(UTC), chain_now).date()
    future = world.file(ivy, [("a.pdf", pdf("x"), "application/pdf")], diagnosed=plan_today + timedelta(days=3))
    assert (future.status_code, future.json()["code"]) == (422, "INVALID_DATE")
    no_file = world.api.post(
        "/claims", ivy.token, data={"illnessCode": "CI001", "diagnosisDate": "2026-01-02"}, files=[("x", ("", b""))]
    )
    assert (no_file.status_code, no_file.json()["code"]) == (400, "MISSING_FIELD")  # no claimantKey: unreadable
    spoofed = world.file(ivy, [("a.pdf", b"PK\x03\x04 zip", "application/pdf")])
    assert (spoofed.status_code, spoofed.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    reviewer = world.api.post(
        "/claims",
        world.reviewers[0].token,
        data={"illnessCode": "CI001"},
        files=[("files", ("a.pdf", pdf("r"), "application/pdf"))],
    )
    assert reviewer.status_code == 403
    with world.runtime.sessions() as session:
        orphans = session.scalars(select(EvidenceItem).where(EvidenceItem.claim_pk.is_(None))).all()
        assert orphans == []
    assert world.api.get("/claims", ivy.token).json() == []


def test_claim_quota_answers_429_with_retry_after(world: World) -> None:
    jim = world.member()
    for i in range(3):
        assert world.file(jim, [("a.pdf", pdf(f"jim {i}"), "application/pdf")]).status_code == 201
    over = world.file(jim, [("a.pdf", pdf("jim 4"), "application/pdf")])
    assert (over.status_code, over.json()["code"]) == (429, "RATE_LIMITED")
    assert int(over.headers["Retry-After"]) > 0
    listed = world.api.get("/claims", jim.token, params={"limit": 1000000})
    assert listed.status_code == 422
    assert len(world.api.get("/claims", jim.token).json()) == 3


def test_cli_advance_finalizes_due_notices_and_verifies_the_access_log(world: World) -> None:
    from typer.testing import CliRunner

    from backend.cli import _load_commands, app

    kim = world.member()
    claim = _file_ok(world, kim, "kim scan")
    world.approve_by_review(str(claim["id"]))
    world.advance(rules_of(world.runtime).notice_seconds)
    _load_commands()
    env = {
        "HUBAO_RPC_URL": world.runtime.settings.chain_url,
        "HUBAO_DATA_DIR": str(world.runtime.settings.data_dir),
        "HUBAO_ANCHORING": "false",
        "HUBAO_LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(app, ["claims", "advance"], env=env)
    assert result.exit_code == 0, result.output
    assert "finalized" in result.output
    assert world.claim(kim, str(claim["id"]))["status"] == "APPROVED"
    audit = CliRunner().invoke(app, ["claims", "verify-access-log"], env=env)
    assert audit.exit_code == 0, audit.output
    assert "access log intact" in audit.output
