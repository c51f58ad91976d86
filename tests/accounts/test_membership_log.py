"""The membership log: joins and exits queued with the members change, anchored in MembershipLog by
the relay, and a member's join receipt verified offline and against the real contract on anvil."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.chain.deploy import DeploymentRecord, SuiteRoles, ensure_deployed
from backend.chain.notary import NotaryBatchLookup, NotaryClient
from backend.db.models import Account, Member, MembershipBatch, MembershipLogEntry
from backend.proofs.errors import ReceiptStep
from backend.proofs.membership_log import EXIT, JOIN, membership_leaf_hash
from backend.proofs.membership_receipt import (
    verify_membership_receipt_offline,
    verify_membership_receipt_onchain,
)
from backend.runtime import Runtime
from backend.services import membership
from backend.services.anchoring import MEMBERSHIP
from backend.services.membership_log import JoinNotAnchored, join_receipt
from tests.accounts.support import Api, make_account, token_for

pytestmark = pytest.mark.xdist_group(name="accounts-membership-log")

JOINED = datetime(2025, 6, 15, 8, 30, tzinfo=UTC)
NO = [False, False, False]


def _join(runtime: Runtime, at: datetime = JOINED) -> Member:
    account = make_account(runtime, "member")
    with runtime.sessions.begin() as session:
        fresh = session.get(Account, account.id)
        assert fresh is not None
        return membership.join(session, runtime, fresh, date(1990, 1, 1), 700, NO, at)


def _entries(runtime: Runtime, member_id: str) -> list[tuple[int, int]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(MembershipLogEntry.change, MembershipLogEntry.effective_at)
            .where(MembershipLogEntry.member_id == member_id)
            .order_by(MembershipLogEntry.id)
        ).all()
    return [(int(c), int(t)) for c, t in rows]


def _lookup(runtime: Runtime) -> NotaryBatchLookup:
    return NotaryBatchLookup(NotaryClient(runtime.w3, runtime.contracts["MembershipLog"]))


def test_join_and_exit_queue_log_leaves_in_the_same_transaction(plan_runtime: Runtime) -> None:
    runtime = plan_runtime
    member = _join(runtime)
    left = datetime(2025, 9, 1, tzinfo=UTC)
    membership.leave_plan(runtime.sessions, member.account_id, left)
    assert _entries(runtime, member.id) == [(JOIN, int(JOINED.timestamp())), (EXIT, int(left.timestamp()))]
    with runtime.sessions() as session:
        stored = session.scalars(select(MembershipLogEntry).where(MembershipLogEntry.member_id == member.id)).all()
    assert [bytes(e.leaf_hash) for e in stored] == [
        membership_leaf_hash(e.change, bytes(member.commitment), e.effective_at) for e in stored
    ]


def test_termination_and_the_age_limit_queue_exits_without_their_reason(plan_runtime: Runtime) -> None:
    runtime = plan_runtime
    fraud, old = _join(runtime), _join(runtime)
    with runtime.sessions.begin() as session:
        membership.terminate(session, fraud.id, "FRAUD", datetime(2025, 7, 1, tzinfo=UTC))
        session.execute(select(Member).where(Member.id == old.id)).scalar_one().birth_date = date(1965, 7, 2)
    assert membership.end_at_age_limit(runtime, date(2025, 7, 3)) >= 1  # the workflow clock's daily sweep
    assert _entries(runtime, fraud.id)[-1] == (EXIT, int(datetime(2025, 7, 1, tzinfo=UTC).timestamp()))
    assert _entries(runtime, old.id)[-1] == (EXIT, int(datetime(2025, 7, 2, tzinfo=UTC).timestamp()))


def test_joins_anchored_in_membership_log_give_receipts_that_verify_offline_and_on_chain(plan_runtime: Runtime) -> None:
    runtime = plan_runtime
    members = [_join(runtime) for _ in range(3)]
    with runtime.sessions() as session, pytest.raises(JoinNotAnchored):
        join_receipt(session, members[0], chain_id=runtime.w3.eth.chain_id, contract="0x" + "00" * 20)
    report = runtime.anchoring_worker(holder="log-test", outbox=MEMBERSHIP).run_until_idle()
    assert report.confirmed >= 1
    assert report.rejected_items == []
    lookup = _lookup(runtime)
    with runtime.sessions() as session:
        batch = session.scalars(select(MembershipBatch).order_by(MembershipBatch.id.desc())).first()
        assert batch is not None
        assert batch.status == "confirmed"
        receipts = [join_receipt(session, m, chain_id=lookup.chain_id, contract=lookup.contract) for m in members]
    for receipt, member in zip(receipts, members, strict=True):
        assert receipt.leaf.member_commitment == bytes(member.commitment)
        offline = verify_membership_receipt_offline(receipt.to_json_text())
        assert offline.ok, offline.to_json()
        assert offline.status_of(ReceiptStep.COMMITMENT) == "passed"
        onchain = verify_membership_receipt_onchain(receipt.to_json_text(), lookup)
        assert onchain.ok, onchain.to_json()
        assert onchain.status_of(ReceiptStep.ANCHOR_TX) == "passed"
    # The evidence notary is a different contract: the same receipt names the wrong deployment there.
    evidence = NotaryBatchLookup(NotaryClient(runtime.w3, runtime.contracts["EvidenceNotary"]))
    assert verify_membership_receipt_onchain(receipts[0], evidence).failed_step == ReceiptStep.DEPLOYMENT
    assert runtime.deployment.address("MembershipLog") != runtime.deployment.address("EvidenceNotary")


def test_log_row_that_disagrees_with_its_member_is_not_anchored(plan_runtime: Runtime) -> None:
    runtime = plan_runtime
    honest, forged = _join(runtime), _join(runtime)
    with runtime.sessions.begin() as session:
        entry = session.scalars(select(MembershipLogEntry).where(MembershipLogEntry.member_id == forged.id)).one()
        entry.leaf_hash = membership_leaf_hash(JOIN, b"\x42" * 32, entry.effective_at)
    report = runtime.anchoring_worker(holder="log-test", outbox=MEMBERSHIP).run_until_idle()
    assert forged.id in report.rejected_items
    with runtime.sessions() as session:
        receipt = join_receipt(session, honest, chain_id=runtime.w3.eth.chain_id, contract="0x" + "00" * 20)
        assert receipt.leaf.member_commitment == bytes(honest.commitment)
        with pytest.raises(JoinNotAnchored):
            join_receipt(session, forged, chain_id=runtime.w3.eth.chain_id, contract="0x" + "00" * 20)


def test_member_fetches_the_public_join_receipt_once_anchored(plan_runtime: Runtime) -> None:
    runtime = plan_runtime
    member = _join(runtime)
    with runtime.sessions() as session:
        account = session.get(Account, member.account_id)
        assert account is not None
    api = Api(runtime)
    token = token_for(runtime, account)
    pending = api.get("/members/me/join-receipt", token)
    assert (pending.status_code, pending.json()["code"]) == (409, "JOIN_NOT_ANCHORED")
    runtime.anchoring_worker(holder="log-test", outbox=MEMBERSHIP).run_until_idle()
    answer = api.get("/members/me/join-receipt", token)
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert (doc["kind"], doc["leaf"]["change"]) == ("membership", JOIN)
    assert doc["leaf"]["memberCommitment"] == api.get("/members/me", token).json()["commitment"]
    assert "salt" not in doc
    assert "memberId" not in doc
    report = verify_membership_receipt_onchain(doc, _lookup(runtime))
    assert report.ok, report.to_json()
    assert report.status_of(ReceiptStep.COMMITMENT) == "skipped"
    staff = make_account(runtime, "auditor")
    assert api.get("/members/me/join-receipt", token_for(runtime, staff)).status_code == 403


def test_deployment_record_without_membership_log_is_extended_not_redeployed(
    plan_runtime: Runtime, tmp_path: Path
) -> None:
    """A record written before MembershipLog existed: only MembershipLog is deployed, the rest reused."""
    runtime = plan_runtime
    old = DeploymentRecord.from_json(runtime.deployment.to_json())
    del old.contracts["MembershipLog"]
    path = tmp_path / "deployment.json"
    path.write_text(old.to_json(), encoding="utf-8")
    roles = SuiteRoles.with_dev_admin(runtime.operator.address, runtime.notary.address)
    record, fresh = ensure_deployed(runtime.w3, runtime.operator, roles, path)
    assert fresh is False
    assert {n: c.address for n, c in record.contracts.items() if n != "MembershipLog"} == {
        n: c.address for n, c in old.contracts.items()
    }
    assert record.address("MembershipLog") != runtime.deployment.address("MembershipLog")
    assert DeploymentRecord.from_json(path.read_text(encoding="utf-8")).address("MembershipLog") == record.address(
        "MembershipLog"
    )
