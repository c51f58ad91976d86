"""A real claims history for the auditor's steps 3, 4, 6 and 7: claims in every state, driven through
the API and services on anvil (``tests.claims.builders``), evidence anchored, the apportionment
periods covering their final approvals published — and the tools the tamper tests need:

* ``tampered_ledger_code`` compiles a **test-only** ClaimLedger variant (from a temporary copy of
  ``contracts/src``; the committed source is never touched) whose listed checks are removed, or
  whose events lie (``LYING_EVENTS``: what they report is not what the call carried);
* ``TamperedCode`` deploys it, swaps its runtime code onto the deployed ClaimLedger
  (``anvil_setCode``, storage untouched) for the duration of a ``with`` block, then restores the
  committed code — an operator running a modified contract for a while;
* ``snapshot`` / ``revert`` (``evm_snapshot`` / ``evm_revert``) keep each tamper out of the others.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_account import Account as EthAccount
from eth_utils.crypto import keccak
from sqlalchemy import create_engine

from backend.apportionment.publish import PublishedPeriod, compute_and_publish_period
from backend.apportionment.schedule import DEFAULT_SCHEDULE
from backend.audit import AuditReport, AuditSources, Checkpoint, run_audit
from backend.chain import eip712
from backend.chain.anvil import rpc_call
from backend.chain.client import account
from backend.chain.compiler import ContractsLayout, compile_contracts
from backend.chain.ledger_types import ClaimFiling
from backend.chain.transactions import TransactionSender
from backend.config import REPO_ROOT
from backend.db.engine import session_factory
from backend.services.claims import ledger
from tests.claims.builders import Person, World, pdf, start_world
from tests.stacks import rules_of

__all__ = [
    "ClaimsHistory",
    "TamperedCode",
    "build_claims_history",
    "reveal_votes",
    "reviewer_verdict",
    "tampered_ledger_code",
]

# Checks removed from the test-only variant (each must occur exactly once in ClaimLedger.sol).
NOTICE_CHECK = (
    "if (block.timestamp < c.noticeEnds) revert ClaimLedgerNoticeOpen(claimId, c.noticeEnds, block.timestamp);"
)
REVIEWER_CHECK = "if (!hasRole(REVIEWER_ROLE, reviewer)) revert ClaimLedgerSignerNotReviewer(reviewer);"
# Events that lie: VerdictRecorded reports the signature with its recovery byte flipped (27 <-> 28,
# so it recovers to another address; emitted from a helper for stack room), VoteRevealed reports the
# complement of the salt.
_VERDICT_FIELDS = "v.verdict, v.reasonCode, v.reportHash, digest, v.ruleSetHash, v.nonce, v.deadline"
LYING_EVENTS = {
    f"emit VerdictRecorded(\n            claimId, reviewer, {_VERDICT_FIELDS}, signature\n        );": (
        "_emitFlipped(claimId, reviewer, v, digest, signature);"
    ),
    "    function _hashVerdict(": (
        "    function _emitFlipped(bytes32 claimId, address reviewer, Verdict calldata v, bytes32 digest, "
        "bytes calldata s) private {\n"
        "        bytes memory flipped = abi.encodePacked(s[:64], uint8(55) - uint8(s[64]));\n"
        f"        emit VerdictRecorded(claimId, reviewer, {_VERDICT_FIELDS}, flipped);\n"
        "    }\n\n    function _hashVerdict("
    ),
    "round, juror, approve, salt);": "round, juror, approve, ~salt);",
}
# A VerdictRecorded that logs the other form of the same signature: (r, n - s, v ^ 1) recovers to
# the same reviewer, but ECDSA.recover refuses it, so no contract that verified it could log it.
MALLEATED_SIGNATURE = {
    f"emit VerdictRecorded(\n            claimId, reviewer, {_VERDICT_FIELDS}, signature\n        );": (
        "_emitMalleated(claimId, reviewer, v, digest, signature);"
    ),
    "    function _hashVerdict(": (
        "    function _emitMalleated(bytes32 claimId, address reviewer, Verdict calldata v, bytes32 digest, "
        "bytes calldata s) private {\n"
        "        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;\n"
        "        bytes memory m = abi.encodePacked(s[:32], bytes32(n - uint256(bytes32(s[32:64]))), "
        "uint8(55) - uint8(s[64]));\n"
        f"        emit VerdictRecorded(claimId, reviewer, {_VERDICT_FIELDS}, m);\n"
        "    }\n\n    function _hashVerdict("
    ),
}


def tampered_ledger_code(*checks: str, edits: dict[str, str] | None = None) -> dict[str, Any]:
    """The ClaimLedger artifact compiled from a temp copy of contracts/src with ``checks`` deleted
    and each key of ``edits`` replaced by its value."""
    with tempfile.TemporaryDirectory(prefix="hubao-tampered-") as tmp:
        root = Path(tmp)
        (root / "contracts").mkdir()
        (root / "contracts" / "src").mkdir()
        for name in ("IClaimLedger.sol", "ClaimLedger.sol"):  # only what the variant needs: compiles faster
            shutil.copy(REPO_ROOT / "contracts" / "src" / name, root / "contracts" / "src" / name)
        (root / "node_modules").symlink_to(REPO_ROOT / "node_modules")
        (root / "scripts").symlink_to(REPO_ROOT / "scripts")
        source = root / "contracts" / "src" / "ClaimLedger.sol"
        text = source.read_text()
        for old, new in [*((check, "") for check in checks), *(edits or {}).items()]:
            assert text.count(old) == 1, f"ClaimLedger.sol no longer holds: {old}"
            text = text.replace(old, new)
        source.write_text(text)
        return compile_contracts(ContractsLayout(root))["ClaimLedger"]


@dataclass
class ClaimsHistory:
    world: World
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → API view (id, claimId…)
    people: dict[str, Person] = field(default_factory=dict)
    periods: list[PublishedPeriod] = field(default_factory=list)
    filed_only: bytes = b""

    @property
    def runtime(self) -> Any:
        return self.world.runtime

    @property
    def url(self) -> str:
        return str(self.runtime.settings.chain_url)

    @property
    def db_path(self) -> Path:
        return Path(self.runtime.settings.data_dir) / "hubao.db"

    def claim_id(self, name: str) -> str:
        return str(self.claims[name]["claimId"])

    def audit(self, db_path: Path | None = None, *, rpc_url: str | None = None, **kwargs: Any) -> AuditReport:
        engine = create_engine(f"sqlite:///{db_path or self.db_path}")
        try:
            return run_audit(
                AuditSources(
                    rpc_url=rpc_url or self.url,
                    deployment=self.runtime.deployment,
                    sessions=session_factory(engine),
                    store=self.runtime.store,
                    **kwargs,
                )
            )
        finally:
            engine.dispose()

    def checkpoint(self, report: AuditReport) -> Checkpoint:
        assert report.checkpoint is not None
        return Checkpoint.from_json(report.checkpoint)

    def checkpoint_of_subject(self, report: AuditReport) -> Checkpoint:
        """The checkpoint ``report`` would carry had it passed (a report with findings carries none):
        its audited head, the notary's batch count and head root there."""
        subject = report.subject
        head = int(subject["toBlock"])
        return Checkpoint(
            chain_id=int(subject["chainId"]),
            contract=str(subject["contracts"]["EvidenceNotary"]),
            block_number=head,
            block_hash=bytes(self.runtime.w3.eth.get_block(head)["hash"]),
            batch_count=int(subject["batchCount"]),
            head_root=bytes.fromhex(str(subject["headRoot"])[2:]),
        )

    def chain_time(self) -> int:
        return int(self.runtime.w3.eth.get_block("latest")["timestamp"])

    def set_time(self, instant: datetime) -> None:
        rpc_call(self.url, "evm_setNextBlockTimestamp", [int(instant.timestamp())])
        rpc_call(self.url, "evm_mine")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Everything on chain inside the block is undone afterwards (the database is not touched)."""
        snap = rpc_call(self.url, "evm_snapshot")
        try:
            yield
        finally:
            assert rpc_call(self.url, "evm_revert", [snap]) is True


class TamperedCode:
    """``with TamperedCode(history, artifact):`` — the deployed ClaimLedger runs ``artifact``'s code."""

    def __init__(self, history: ClaimsHistory, artifact: dict[str, Any]) -> None:
        self.history = history
        self.artifact = artifact
        self.address = history.runtime.contracts["ClaimLedger"].address
        self.original = ""

    def __enter__(self) -> TamperedCode:
        rt = self.history.runtime
        factory = rt.w3.eth.contract(abi=self.artifact["abi"], bytecode=self.artifact["bytecode"])
        op = rt.operator.address
        [ctor] = [i for i in self.artifact["abi"] if i.get("type") == "constructor"]
        args = [op, op, 0, op][: len(ctor["inputs"])]  # ClaimLedger also takes RULE_SET_DELAY and its roster admin
        tx = factory.constructor(*args).build_transaction({"from": op, "gas": 8_000_000})
        tx.pop("nonce", None)
        receipt = rt.operator.transact(tx)
        code = rt.w3.eth.get_code(receipt["contractAddress"])
        self.original = "0x" + bytes(rt.w3.eth.get_code(self.address)).hex()
        rpc_call(self.history.url, "anvil_setCode", [self.address, "0x" + bytes(code).hex()])
        return self

    def __exit__(self, *exc: object) -> None:
        rpc_call(self.history.url, "anvil_setCode", [self.address, self.original])


def _file(world: World, person: Person, text: str) -> dict[str, Any]:
    response = world.file(person, [("report.pdf", pdf(text), "application/pdf")])
    assert response.status_code == 201, response.text
    return dict(response.json())


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def build_claims_history(root: Path) -> ClaimsHistory:
    """Claims ending in every state of the machine, a voided jury round, and the periods published.

    ===========  ==============================================================================
    name         path
    ===========  ==============================================================================
    paid         review approves → notice passes → finalized → payout recorded (PAID)
    approved     review approves → notice passes → finalized (APPROVED)
    jury         objection → jury round voided (turnout 1 < 2) → new round approves (APPROVED)
    rejected     review rejects, appeal → jury rejects (REJECTED, final)
    disputed     objection → jury drawn, nobody voted yet (DISPUTED)
    withdrawn    filed, then withdrawn by the claimant (WITHDRAWN)
    review       filed, one of two verdicts in (UNDER_REVIEW)
    notice       review approves at the end, its notice still open (IN_NOTICE)
    (filed_only) a claim the operator filed on chain without opening its review (FILED)
    ===========  ==============================================================================
    """
    world = start_world(root)
    history = ClaimsHistory(world)
    w, c, p = world, history.claims, history.people
    for name in ("paid", "approved", "jury", "rejected", "disputed", "withdrawn", "review", "notice", "objector"):
        p[name] = w.member()
    for name in ("paid", "approved", "jury", "rejected", "disputed", "withdrawn", "review"):
        c[name] = _file(w, p[name], f"{name} pathology report")
    pk = {name: str(view["id"]) for name, view in c.items()}
    for name in ("paid", "approved", "jury", "disputed"):
        w.approve_by_review(pk[name])
    first, second = w.reviewers_of(pk["rejected"])
    assert w.verdict(first, pk["rejected"], "REJECT", "INSUFFICIENT_EVIDENCE", "scan unreadable").status_code == 200
    assert w.verdict(second, pk["rejected"], "APPROVE", None, "fine").status_code == 200
    assert w.verdict(w.reviewers_of(pk["review"])[0], pk["review"], "APPROVE", None, "ok").status_code == 200
    _ok(w.consent(p["withdrawn"], pk["withdrawn"], "withdraw"))
    for name in ("jury", "disputed"):
        _ok(w.object(p["objector"], c[name]["claimId"], "doubt"))
    w.jury_votes(pk["jury"], [True])  # one reveal < min turnout 2: the round is voided
    assert _ok(w.api.post(f"/claims/{pk['jury']}/tally", w.operator.token))["status"] == "DISPUTED"
    _ok(w.api.post(f"/claims/{pk['jury']}/jury", w.operator.token))
    w.jury_votes(pk["jury"], [True, True, False])
    assert _ok(w.api.post(f"/claims/{pk['jury']}/tally", w.operator.token))["status"] == "APPROVED"
    jury_approved_at = history.chain_time()
    _ok(w.consent(p["rejected"], pk["rejected"], "appeal"))
    w.jury_votes(pk["rejected"], [False, False, True])
    assert _ok(w.api.post(f"/claims/{pk['rejected']}/tally", w.operator.token))["status"] == "REJECTED"
    w.advance(rules_of(w.runtime).notice_seconds)
    for name in ("paid", "approved"):
        assert _ok(w.api.post(f"/claims/{pk[name]}/finalize-notice", w.operator.token))["status"] == "APPROVED"
    last_approval = history.chain_time()
    _ok(w.api.post(f"/claims/{pk['paid']}/payout", w.operator.token, json={"reference": "BANK-AUDIT-1"}))

    # Publish every period from the one of the first final approval to the one of the last.
    period = DEFAULT_SCHEDULE.period_for(datetime.fromtimestamp(jury_approved_at, UTC))
    last = DEFAULT_SCHEDULE.period_for(datetime.fromtimestamp(last_approval, UTC))
    history.set_time(last.window_end + timedelta(hours=1))
    while period.period_id <= last.period_id:
        history.periods.append(compute_and_publish_period(w.runtime, period, last.window_end + timedelta(hours=1)))
        period = DEFAULT_SCHEDULE.next_period(period)

    c["notice"] = _file(w, p["notice"], "notice pathology report")
    w.approve_by_review(str(c["notice"]["id"]))
    # FILED only: the operator filed it on chain and has not opened its review.
    rules = rules_of(w.runtime)
    member, evidence = keccak(text="audit-filed-only-member"), keccak(text="audit-filed-only-evidence")
    payout, claimant = rules.payout_bands[0].payout_fen, "0x35b1Ba3B702f9986CF4B7c471Aa1D528409Db1A4"
    history.filed_only = eip712.claim_id(member, evidence, rules.hash(), payout, claimant)
    ledger(w.runtime).file_claim(ClaimFiling(history.filed_only, member, evidence, rules.hash(), payout, claimant))
    w.anchor()
    return history


def _relay_approval(history: ClaimsHistory, claim_id: bytes, signer: Any, report: str) -> None:
    """An approval of ``claim_id`` signed by ``signer`` (a local account), relayed by the operator
    straight to ClaimLedger (not through the API: the database is not touched)."""
    rt = history.runtime
    client = ledger(rt)
    verdict = eip712.Verdict(
        claim_id=claim_id,
        verdict=eip712.VerdictKind.APPROVE,
        reason_code=0,
        report_hash=keccak(text=report),
        rule_set_hash=rules_of(rt).hash(),
        nonce=client.nonces(signer.address),
        deadline=history.chain_time() + 3600,
    )
    client.submit_verdict(claim_id, verdict, eip712.sign_verdict(signer, verdict, client.domain()))


def non_reviewer_verdict(history: ClaimsHistory, claim_id: bytes) -> None:
    """A verdict signed by a key that never held REVIEWER_ROLE, relayed by the operator."""
    _relay_approval(history, claim_id, account("0x" + keccak(text="not a reviewer").hex()), "forged report")


def reviewer_verdict(history: ClaimsHistory, reviewer: Person, claim_id: bytes) -> None:
    """``reviewer``'s approval of ``claim_id``, signed with its own key, relayed by the operator."""
    assert reviewer.device_key is not None
    _relay_approval(history, claim_id, account(reviewer.device_key), "second opinion")


def reveal_votes(history: ClaimsHistory, claim_id: bytes, votes: int) -> list[Person]:
    """A fresh jury round for the DISPUTED ``claim_id`` (the open one, long closed, is tallied
    first: voided), whose first ``votes`` jurors commit and reveal approvals with their own keys,
    straight on ClaimLedger (the database is not touched). Returns the jurors who revealed."""
    rt = history.runtime
    client = ledger(rt)
    rules = rules_of(rt)
    client.tally_jury(claim_id)  # voided: the contract schedules the next draw
    draw_block = client.claim(claim_id).draw_block
    while rt.w3.eth.block_number <= draw_block:
        rpc_call(history.url, "evm_mine")
    drawn = client.draw_jury(claim_id).event("JuryDrawn")
    assert drawn is not None
    round_ = int(drawn.args["round"])
    by_address = {j.address: j for j in history.world.jurors}
    jurors = [by_address[str(a)] for a in drawn.args["jurors"]]
    salts = []
    for juror in jurors[:votes]:
        rpc_call(history.url, "anvil_setBalance", [juror.address, hex(10**18)])
        assert juror.device_key is not None  # the juror's own key, held by the test as its device
        sender = TransactionSender(rt.w3, EthAccount.from_key(juror.device_key))
        salt = keccak(text=f"salt of {juror.address}")
        commitment = eip712.vote_commitment(claim_id, round_, juror.address, True, salt)
        client.commit_vote(claim_id, commitment, juror=sender)  # sent by the juror itself
        salts.append((juror.address, salt))
    history.world.advance(rules.commit_seconds)
    for address, salt in salts:
        client.reveal_vote(claim_id, address, True, salt)  # relayed by the operator
    return jurors[:votes]
