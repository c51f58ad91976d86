"""Step 6 against the anchored membership log (issue 15 item 4), on one real history:

* period P1, honest: members a, b, c joined and d joined then left, all anchored in MembershipLog
  before the snapshot; d is not charged and nothing is flagged;
* period P2, the operator edits the database before publishing it: b's membership is ended (no
  exit in the log), so the period leaves b out; e joins but the membership relay is not run.

The audit names b (step 6, ``membership_log``, left out) and e (``membership_log_unanchored`` past
the deadline, and ``added``: charged but not in the log); b's own join receipt, checked by
``hubao shares verify``, says b was left out of P2 and not of P1.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from backend.apportionment.publish import PublishedPeriod, compute_and_publish_period
from backend.apportionment.schedule import DEFAULT_SCHEDULE, Period
from backend.audit import AuditReport
from backend.audit.membership import ledger_members
from backend.audit.report import StepStatus
from backend.chain.anvil import rpc_call
from backend.db.models import Member
from backend.services import membership
from backend.services.accounts import register_member
from backend.services.anchoring import MEMBERSHIP
from backend.services.membership_log import join_receipt
from tests.audit.claims_history import ClaimsHistory
from tests.claims.builders import PASSWORD, World, new_name, node_of, start_world

pytestmark = pytest.mark.xdist_group(name="audit-membership-log")

DEADLINE = 3600


@dataclass
class LogHistory:
    history: ClaimsHistory
    people: dict[str, Member]  # detached rows (expire_on_commit=False)
    p1: PublishedPeriod
    p2: PublishedPeriod
    receipt_b: dict[str, object]

    def audit(self, **kwargs: object) -> AuditReport:
        return self.history.audit(**kwargs)  # type: ignore[arg-type]


def _publish_after(history: ClaimsHistory, period: Period) -> PublishedPeriod:
    after = period.window_end + timedelta(hours=1)
    history.set_time(after)
    return compute_and_publish_period(history.runtime, period, after)


def _build(world: World) -> LogHistory:
    history = ClaimsHistory(world)
    runtime = world.runtime
    # Joins and the exit count from the instant they are made (honest: none backdated).
    people = {name: world.member(joined_days_ago=0).member for name in ("a", "b", "c", "d")}
    membership.leave_plan(runtime.sessions, people["d"].account_id, datetime.now(UTC))
    runtime.anchoring_worker(outbox=MEMBERSHIP).run_until_idle()
    chain_now = datetime.fromtimestamp(history.chain_time(), UTC)
    p1 = _publish_after(history, DEFAULT_SCHEDULE.period_for(chain_now))
    # The operator's edit before P2: b "ended" in the database only; e joins, never anchored.
    with runtime.sessions.begin() as session:
        session.execute(
            update(Member)
            .where(Member.id == people["b"].id)
            .values(status="ended", ended_at=p1.period.snapshot_at + timedelta(seconds=1), end_reason="EXIT")
        )
    with runtime.sessions.begin() as session:  # e joins between the two snapshots
        account = register_member(session, new_name("member"), PASSWORD)
        joined = p1.period.snapshot_at + timedelta(hours=1)
        people["e"] = membership.join(session, runtime, account, date(1990, 5, 17), 700, [False] * 3, joined)
    p2 = _publish_after(history, DEFAULT_SCHEDULE.next_period(p1.period))
    with runtime.sessions() as session:
        member_b = session.get(Member, people["b"].id)
        assert member_b is not None
        receipt = join_receipt(
            session,
            member_b,
            chain_id=runtime.w3.eth.chain_id,
            contract=runtime.deployment.address("MembershipLog"),
        )
    assert all(p is not None for p in people.values())
    return LogHistory(history, {n: p for n, p in people.items() if p is not None}, p1, p2, receipt.to_json())


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogHistory]:
    world = start_world(tmp_path_factory.mktemp("audit-membership-log"))
    try:
        yield _build(world)
    finally:
        world.runtime.close()
        node_of(world.runtime).kill()


def _commitment(member: Member) -> str:
    return "0x" + bytes(member.commitment).hex()


def test_exit_anchored_before_the_snapshot_is_not_charged_and_raises_no_alarm(logged: LogHistory) -> None:
    members = {"0x" + c.hex() for c in ledger_members(logged.history.runtime.store, logged.p1.record)}
    assert {_commitment(logged.people[n]) for n in "abc"} <= members
    assert _commitment(logged.people["d"]) not in members
    report = logged.audit(evidence_anchoring_seconds=DEADLINE)
    p1 = [f.to_json() for f in report.step(6).findings if f.fields.get("period") == logged.p1.period.period_id]
    assert p1 == []


def test_member_removed_by_editing_the_database_is_named_by_step_6(logged: LogHistory) -> None:
    report = logged.audit(evidence_anchoring_seconds=DEADLINE)
    assert report.step(6).status is StepStatus.FAILED
    found = [f.to_json() for f in report.step(6).findings if f.reason.startswith("membership_log")]
    pid = logged.p2.period.period_id
    [left_out] = [f for f in found if f.get("side") == "left_out"]
    assert (left_out["code"], left_out["period"], left_out["member"]) == (
        "AUDIT_APPORTIONMENT_INVALID",
        pid,
        _commitment(logged.people["b"]),
    )
    assert left_out["row"] == f"id={logged.people['b'].id}"
    assert "not in the period's ledger" in left_out["message"]
    # e: charged by P2 although its join is not in the anchored log, past the anchoring deadline.
    e = _commitment(logged.people["e"])
    assert {(f["reason"], f.get("side")) for f in found if f.get("member") == e} == {
        ("membership_log_unanchored", None),
        ("membership_log", "added"),
    }
    assert {f["period"] for f in found} == {pid}
    # The database's own mirror agrees with the tampered period: only the anchored log shows it.
    b = _commitment(logged.people["b"])
    assert [f for f in report.step(6).findings if f.reason == "membership_db" and f.fields.get("member") == b] == []
    assert [s.step for s in report.steps if s.status is StepStatus.FAILED] == [6]


def test_hubao_shares_verify_tells_the_left_out_member(logged: LogHistory, tmp_path: Path) -> None:
    from backend.cli import _load_commands, app

    _load_commands()
    runtime = logged.history.runtime
    path = tmp_path / "join.json"
    path.write_text(json.dumps(logged.receipt_b), encoding="utf-8")
    args = [
        "shares",
        "verify",
        str(path),
        "--rpc",
        str(runtime.settings.chain_url),
        "--apportionment",
        runtime.deployment.address("Apportionment"),
        "--json",
    ]
    env = {"HUBAO_DATA_DIR": str(runtime.settings.data_dir), "HUBAO_RPC_URL": str(runtime.settings.chain_url)}
    result = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    assert doc["ok"] is True  # the receipt itself verifies, offline and on chain
    periods = {p["periodId"]: p for p in doc["periods"]}
    assert periods[logged.p2.period.period_id]["leftOut"] is True
    assert periods[logged.p1.period.period_id]["leftOut"] is False
    assert periods[logged.p1.period.period_id]["inPeriod"] is True
    assert doc["leftOut"] == [logged.p2.period.period_id]


def test_honest_history_is_not_flagged_by_the_membership_log(logged: LogHistory) -> None:
    """Without the deadline the unanchored join is not judged; P1 is clean, only b and e differ in P2."""
    report = logged.audit()
    found = [f.to_json() for f in report.step(6).findings if f.reason.startswith("membership_log")]
    members = {f.get("member") for f in found}
    assert members == {_commitment(logged.people["b"]), _commitment(logged.people["e"])}
    assert rpc_call(str(logged.history.runtime.settings.chain_url), "eth_chainId") is not None


def test_log_leaves_altered_in_the_database_are_named_and_not_replayed(logged: LogHistory, tmp_path: Path) -> None:
    """The chain holds the roots: a leaf changed in membership_log no longer rebuilds its batch."""
    db = tmp_path / "altered.db"
    source, copy = sqlite3.connect(logged.history.db_path), sqlite3.connect(db)
    source.backup(copy)
    source.close()
    copy.execute(
        "UPDATE membership_log SET effective_at = effective_at + 1 WHERE member_id = ?", (logged.people["c"].id,)
    )
    copy.commit()
    copy.close()
    report = logged.history.audit(db_path=db)
    found = [f.to_json() for f in report.step(6).findings if f.reason.startswith("membership_log")]
    assert [f["reason"] for f in found] == ["membership_log_batch"]
    assert "do not rebuild the anchored root" in found[0]["message"]
    assert report.step(6).status is StepStatus.FAILED


def test_backdated_join_is_named_late_by_step_6(logged: LogHistory) -> None:
    """A join dated a year back and anchored now: later than the anchoring deadline (runs last: it adds f)."""
    runtime = logged.history.runtime
    before = logged.audit()  # its checkpoint: an incremental audit from here sees no claim and no period
    with runtime.sessions.begin() as session:
        account = register_member(session, new_name("member"), PASSWORD)
        joined = datetime.fromtimestamp(logged.history.chain_time(), UTC) - timedelta(days=365)
        backdated = membership.join(session, runtime, account, date(1990, 5, 17), 700, [False] * 3, joined)
    runtime.anchoring_worker(outbox=MEMBERSHIP).run_until_idle()
    report = logged.audit(evidence_anchoring_seconds=DEADLINE)
    late = [f.to_json() for f in report.step(6).findings if f.reason == "membership_log_late"]
    # e's join, held back since P2, is anchored by the same run: late as well.
    assert {f["member"] for f in late} == {_commitment(backdated), _commitment(logged.people["e"])}
    assert all(f"later than the anchoring deadline of {DEADLINE} s" in f["message"] for f in late)
    # Judged on the plan's whole history: the launch (first claim, first period) lies before the
    # checkpoint, so a change anchored since is not part of the launch roster.
    checkpoint = logged.history.checkpoint_of_subject(before)
    since = logged.audit(evidence_anchoring_seconds=DEADLINE, checkpoint=checkpoint, since_checkpoint=True)
    late_since = [f.to_json() for f in since.step(6).findings if f.reason == "membership_log_late"]
    assert {f["member"] for f in late_since} == {f["member"] for f in late}
