"""ClaimLedger on a real anvil: every lifecycle path, events = storage (C8), and the C1 access matrix.

The contract is compiled in-process (``compile_contracts``, nothing written) and deployed on a
fresh anvil per test. Reviewers sign verdicts with ``backend.chain.eip712`` and any account relays
them; anvil's clock moves with ``evm_increaseTime`` + ``evm_mine``. Reverts are decoded by name
through the backend's decoder (``classify``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from backend.chain import eip712, jury_draw, typed_data
from backend.chain.anvil import AnvilNode, rpc_call
from backend.chain.client import connect, contract_at
from backend.chain.compiler import compile_contracts
from backend.chain.transactions import ContractReverted, classify, register_errors
from backend.config import ANVIL_DEV_KEYS

pytestmark = pytest.mark.xdist_group("claim-ledger")

NOTICE = 7 * 86400
COMMIT = 2 * 86400
REVEAL = 2 * 86400
QUORUM, JURY, TURNOUT = 2, 3, 2
RULES = keccak(text="hubao.rules.test")
OBJECTOR = keccak(text="objector-commitment")
SALT = keccak(text="matrix salt")

# ClaimState enum values (IClaimLedger.ClaimState).
NONE, FILED, UNDER_REVIEW, REJECTED, IN_NOTICE, DISPUTED, APPROVED, PAID, WITHDRAWN = range(9)
OPERATOR_ROLE = keccak(text="OPERATOR_ROLE")
REVIEWER_ROLE = keccak(text="REVIEWER_ROLE")
JUROR_ROLE = keccak(text="JUROR_ROLE")
ROSTER_ROLE = keccak(text="ROSTER_ROLE")
ADMIN_ROLE = b"\x00" * 32


@functools.cache
def ledger_artifact() -> dict[str, Any]:
    """ClaimLedger compiled from contracts/src with the pinned settings (once per process)."""
    artifact = compile_contracts()["ClaimLedger"]
    register_errors([artifact["abi"]])
    return artifact


# The claimant's per-claim key of every claim filed here (bound in the claim id) and an objector's key.
CLAIMANT = Account.from_key(keccak(text="hubao-anvil-claimant"))
OBJECTOR_KEY = Account.from_key(keccak(text="hubao-anvil-objector"))
CONSENT_DEADLINE = 2**64 - 1


@dataclass
class Ledger:
    """A deployed ClaimLedger with its cast: admin, operator, the roster admin (stands in for the
    RosterTimelock, tested with the deployment), three reviewers, the jurors, a stranger."""

    node: AnvilNode
    w3: Web3
    contract: Contract
    admin: str
    operator: str
    roster: str
    reviewers: list[LocalAccount]
    jurors: list[str]
    stranger: str
    counter: int = field(default=0)
    seated: dict[bytes, set[str]] = field(default_factory=dict)

    @property
    def domain(self) -> eip712.Eip712Domain:
        return eip712.Eip712Domain(self.w3.eth.chain_id, self.contract.address)

    def send(self, sender: str, fn: str, *args: Any) -> TxReceipt:
        """Send one transaction; a revert raises the backend's ContractReverted (named error)."""
        try:
            tx_hash = getattr(self.contract.functions, fn)(*args).transact({"from": sender})
        except Exception as exc:
            raise classify(exc) from exc
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return receipt

    def reverts(self, sender: str, fn: str, *args: Any) -> ContractReverted:
        """The decoded revert of an eth_call of ``fn`` from ``sender`` (fails if it does not revert)."""
        try:
            getattr(self.contract.functions, fn)(*args).call({"from": sender})
        except Exception as exc:
            err = classify(exc)
            assert isinstance(err, ContractReverted), err
            # eth-abi decodes addresses in lower case; compare them checksummed like web3 returns them.
            args = tuple(
                Web3.to_checksum_address(a) if isinstance(a, str) and Web3.is_address(a) else a for a in err.args_
            )
            return ContractReverted(err.message, error=err.error, args=args)
        raise AssertionError(f"{fn} from {sender} did not revert")

    def events(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        # DISCARD: a receipt also holds the transaction's other events (e.g. VerdictRecorded + ReviewDecided).
        logs = getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return [dict(e["args"]) for e in logs]

    def consent(self, kind: str, claim_id: bytes, signer: LocalAccount = CLAIMANT) -> tuple[Any, ...]:
        """(claimId, deadline, signature): the claimant's signed Withdrawal or Appeal of ``claim_id``."""
        doc = typed_data.consent_document(self.domain.as_dict(), kind, claim_id=claim_id, deadline=CONSENT_DEADLINE)
        return (claim_id, CONSENT_DEADLINE, typed_data.sign(typed_data.load_document(doc), bytes(signer.key)))

    def objection(self, claim_id: bytes, objector: bytes = OBJECTOR) -> tuple[Any, ...]:
        """The arguments of ``objectBySig``: ``objector`` signed by the objector's own key."""
        doc = typed_data.consent_document(
            self.domain.as_dict(),
            "Objection",
            claim_id=claim_id,
            deadline=CONSENT_DEADLINE,
            objector_commitment=objector,
        )
        signature = typed_data.sign(typed_data.load_document(doc), bytes(OBJECTOR_KEY.key))
        return (claim_id, objector, OBJECTOR_KEY.address, CONSENT_DEADLINE, signature)

    def advance(self, seconds: int) -> None:
        rpc_call(self.node.url, "evm_increaseTime", [seconds])
        rpc_call(self.node.url, "evm_mine")

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def state(self, claim_id: bytes) -> int:
        return int(self.contract.functions.state(claim_id).call())

    def claim(self, claim_id: bytes) -> dict[str, Any]:
        names = [c["name"] for c in _abi_outputs("claim")]
        return dict(zip(names, self.contract.functions.claim(claim_id).call(), strict=True))

    # ─────────── lifecycle steps ───────────

    def file(self, payout: int = 30_000_000) -> bytes:
        self.counter += 1
        member = keccak(text=f"member-{self.counter}")
        evidence = keccak(text=f"evidence-{self.counter}")
        claim_id = eip712.claim_id(member, evidence, RULES, payout, CLAIMANT.address)
        receipt = self.send(self.operator, "fileClaim", (claim_id, member, evidence, RULES, payout, CLAIMANT.address))
        [event] = self.events(receipt, "ClaimFiled")
        assert event == {
            "claimId": claim_id,
            "memberCommitment": member,
            "ruleSetHash": RULES,
            "evidenceRoot": evidence,
            "payoutFen": payout,
            "claimantKey": CLAIMANT.address,
        }
        assert self.state(claim_id) == FILED
        return claim_id

    def signed_verdict(self, claim_id: bytes, reviewer: LocalAccount, kind: int) -> tuple[eip712.Verdict, bytes]:
        verdict = eip712.Verdict(
            claim_id=claim_id,
            verdict=kind,
            reason_code=0 if kind == eip712.VerdictKind.APPROVE else 2,
            report_hash=keccak(claim_id + bytes.fromhex(reviewer.address[2:])),
            rule_set_hash=RULES,
            nonce=int(self.contract.functions.nonces(reviewer.address).call()),
            deadline=self.now() + 3600,
        )
        return verdict, eip712.sign_verdict(reviewer, verdict, self.domain)

    def review(self, claim_id: bytes, kinds: list[int], relayer: str | None = None) -> TxReceipt:
        self.send(self.operator, "openReview", claim_id)
        receipt: TxReceipt | None = None
        for reviewer, kind in zip(self.reviewers, kinds, strict=False):
            verdict, signature = self.signed_verdict(claim_id, reviewer, kind)
            receipt = self.send(relayer or self.operator, "submitVerdict", claim_id, verdict.as_abi_tuple(), signature)
            [recorded] = self.events(receipt, "VerdictRecorded")
            assert recorded["reviewer"] == reviewer.address
            assert recorded["digest"] == eip712.verdict_digest(verdict, self.domain)
        assert receipt is not None
        return receipt

    def to_notice(self, claim_id: bytes) -> None:
        receipt = self.review(claim_id, [eip712.VerdictKind.APPROVE] * QUORUM)
        [decided] = self.events(receipt, "ReviewDecided")
        block_time = int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
        assert decided == {
            "claimId": claim_id,
            "outcome": IN_NOTICE,
            "approvals": 2,
            "rejections": 0,
            "noticeEnds": block_time + NOTICE,
        }
        assert self.state(claim_id) == IN_NOTICE

    def draw(self, claim_id: bytes) -> list[str]:
        """Mine past the scheduled seed block and draw (a stranger may); checks the draw against
        backend.chain.jury_draw from the seed block's hash and the roster."""
        draw_block = self.claim(claim_id)["drawBlock"]
        while self.w3.eth.block_number <= draw_block:  # gas is estimated at the latest block
            rpc_call(self.node.url, "evm_mine")
        roster = [Web3.to_checksum_address(a) for a in self.contract.functions.jurors().call()]
        receipt = self.send(self.stranger, "drawJury", claim_id)
        [drawn] = self.events(receipt, "JuryDrawn")
        seed = jury_draw.draw_seed(bytes(self.w3.eth.get_block(draw_block)["hash"]), claim_id, drawn["round"])
        assert drawn["seed"] == seed, "seed = keccak256(blockhash(drawBlock), claimId, round)"
        earlier = self.seated.setdefault(claim_id, set())
        assert list(drawn["jurors"]) == jury_draw.select_jurors(seed, roster, earlier, JURY)
        earlier.update(drawn["jurors"])
        return list(drawn["jurors"])

    def jury(self, claim_id: bytes, votes: list[bool | None]) -> TxReceipt:
        """Draw a jury; seat i commits+reveals votes[i] (None: abstains, the reveal relayed by a stranger); tally."""
        seated = self.draw(claim_id)
        round_ = self.claim(claim_id)["juryRound"]
        for juror, vote in zip(seated, votes, strict=False):
            if vote is not None:
                commitment = eip712.vote_commitment(claim_id, round_, juror, vote, _salt(juror))
                self.send(juror, "commitVote", claim_id, commitment)
        self.advance(COMMIT)
        for juror, vote in zip(seated, votes, strict=False):
            if vote is not None:
                receipt = self.send(self.stranger, "revealVote", claim_id, juror, vote, _salt(juror))
                assert self.events(receipt, "VoteRevealed")[0]["approve"] is vote
        self.advance(REVEAL)
        return self.send(self.stranger, "tallyJury", claim_id)

    def pay(self, claim_id: bytes) -> None:
        ref = keccak(text="payment")
        receipt = self.send(self.operator, "recordPayout", claim_id, ref)
        assert self.events(receipt, "PayoutRecorded") == [
            {"claimId": claim_id, "paymentRef": ref, "payoutFen": self.claim(claim_id)["payoutFen"]}
        ]
        assert self.state(claim_id) == PAID


def _salt(juror: str) -> bytes:
    return keccak(text=f"salt-{juror}")


def _abi_outputs(fn: str) -> list[dict[str, Any]]:
    abi: list[dict[str, Any]] = ledger_artifact()["abi"]
    [item] = [i for i in abi if i.get("type") == "function" and i["name"] == fn]
    return list(item["outputs"][0]["components"])


def _impersonated(node: AnvilNode, address: str) -> str:
    rpc_call(node.url, "anvil_impersonateAccount", [address])
    rpc_call(node.url, "anvil_setBalance", [address, hex(10**20)])
    return address


ROSTER_ADMIN = "0x0000000000000000000000000000000000000705"


def deploy_ledger(node: AnvilNode, extra_jurors: int = 4, granted_jurors: int | None = None) -> Ledger:
    """Deploy ClaimLedger (admin = dev account 0, operator = 1, roster admin = an impersonated
    address), anchor the test rule set, fill rosters (dev accounts 5-8 and ``extra_jurors``
    impersonated addresses are jurors; only the first ``granted_jurors`` get the role)."""
    artifact = ledger_artifact()
    w3 = connect(node.url)
    accounts = [Account.from_key(key) for key in ANVIL_DEV_KEYS]
    admin, operator = accounts[0].address, accounts[1].address
    roster = _impersonated(node, ROSTER_ADMIN)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor(admin, operator, 86_400, roster).transact({"from": admin})
    address = str(w3.eth.wait_for_transaction_receipt(tx_hash)["contractAddress"])
    ledger = Ledger(
        node=node,
        w3=w3,
        contract=contract_at(w3, address, artifact),
        admin=admin,
        operator=operator,
        roster=roster,
        reviewers=accounts[2:5],
        jurors=[a.address for a in accounts[5:9]]
        + [_impersonated(node, Web3.to_checksum_address(f"0x{0x1000 + i:040x}")) for i in range(extra_jurors)],
        stranger=accounts[9].address,
    )
    receipt = ledger.send(
        operator, "anchorRuleSet", RULES, NOTICE, QUORUM, JURY, TURNOUT, COMMIT, REVEAL, 800, 10, 18_800
    )
    assert ledger.events(receipt, "RuleSetAnchored")[0]["jurySize"] == JURY
    for reviewer in ledger.reviewers:
        ledger.send(roster, "grantRole", REVIEWER_ROLE, reviewer.address)
    for juror in ledger.jurors[:granted_jurors]:
        ledger.send(roster, "grantRole", JUROR_ROLE, juror)
    return ledger


@pytest.fixture
def ledger(anvil: AnvilNode) -> Ledger:
    return deploy_ledger(anvil)


# ───────────────────────── lifecycle paths ─────────────────────────


def test_claim_approved_via_notice_is_paid(ledger: Ledger) -> None:
    claim_id = ledger.file()
    ledger.to_notice(claim_id)
    ends = ledger.claim(claim_id)["noticeEnds"]
    early = ledger.reverts(ledger.stranger, "finalizeNotice", claim_id)
    assert early.error == "ClaimLedgerNoticeOpen"
    assert early.args_[:2] == (claim_id, ends)
    ledger.advance(NOTICE)
    receipt = ledger.send(ledger.stranger, "finalizeNotice", claim_id)
    assert ledger.events(receipt, "NoticeFinalized") == [{"claimId": claim_id}]
    assert ledger.state(claim_id) == APPROVED
    ledger.pay(claim_id)
    assert ledger.claim(claim_id)["paymentRef"] == keccak(text="payment")


def test_objection_sends_claim_to_jury_that_approves(ledger: Ledger) -> None:
    claim_id = ledger.file()
    ledger.to_notice(claim_id)
    ledger.advance(NOTICE // 2)
    receipt = ledger.send(ledger.operator, "objectBySig", *ledger.objection(claim_id))
    assert ledger.events(receipt, "ObjectionRecorded") == [
        {"claimId": claim_id, "objectorCommitment": OBJECTOR, "objectorKey": OBJECTOR_KEY.address}
    ]
    assert ledger.state(claim_id) == DISPUTED
    tally = ledger.jury(claim_id, [True, True, False])
    assert ledger.events(tally, "JuryTallied") == [
        {"claimId": claim_id, "round": 1, "outcome": APPROVED, "approvals": 2, "rejections": 1, "jurySize": JURY}
    ]
    assert ledger.state(claim_id) == APPROVED
    ledger.pay(claim_id)


def test_objection_jury_rejects_and_is_final(ledger: Ledger) -> None:
    claim_id = ledger.file()
    ledger.to_notice(claim_id)
    ledger.send(ledger.operator, "objectBySig", *ledger.objection(claim_id))
    tally = ledger.jury(claim_id, [False, True, None])  # 1-1 tie among revealed votes rejects
    assert ledger.events(tally, "JuryTallied")[0]["outcome"] == REJECTED
    assert ledger.state(claim_id) == REJECTED
    assert (
        ledger.reverts(ledger.operator, "appealBySig", *ledger.consent("Appeal", claim_id)).error
        == "ClaimLedgerAppealNotAllowed"
    )
    assert ledger.reverts(ledger.operator, "recordPayout", claim_id, keccak(text="x")).args_ == (
        claim_id,
        REJECTED,
        PAID,
    )


def test_review_rejection_appealed_to_jury_then_paid(ledger: Ledger) -> None:
    claim_id = ledger.file()
    receipt = ledger.review(claim_id, [eip712.VerdictKind.APPROVE, eip712.VerdictKind.REJECT])
    [decided] = ledger.events(receipt, "ReviewDecided")
    assert (decided["outcome"], decided["approvals"], decided["rejections"]) == (REJECTED, 1, 1)
    assert ledger.state(claim_id) == REJECTED
    receipt = ledger.send(ledger.operator, "appealBySig", *ledger.consent("Appeal", claim_id))
    assert ledger.events(receipt, "ClaimAppealed") == [{"claimId": claim_id}]
    assert ledger.claim(claim_id)["appealed"] is True
    tally = ledger.jury(claim_id, [True, True, True])
    assert ledger.events(tally, "JuryTallied")[0]["outcome"] == APPROVED
    ledger.pay(claim_id)


def test_low_turnout_voids_round_and_redraw_decides(ledger: Ledger) -> None:
    claim_id = ledger.file()
    ledger.to_notice(claim_id)
    ledger.send(ledger.operator, "objectBySig", *ledger.objection(claim_id))
    voided = ledger.jury(claim_id, [True, None, None])  # 1 revealed < turnout 2
    assert ledger.events(voided, "JuryRoundVoided") == [
        {"claimId": claim_id, "round": 1, "revealed": 1, "minTurnout": TURNOUT}
    ]
    assert ledger.state(claim_id) == DISPUTED
    tally = ledger.jury(claim_id, [False, False, True])
    assert ledger.events(tally, "JuryTallied")[0]["round"] == 2
    assert ledger.state(claim_id) == REJECTED


def test_withdraw_before_decision_and_not_after(ledger: Ledger) -> None:
    claim_id = ledger.file()
    ledger.send(ledger.operator, "openReview", claim_id)
    receipt = ledger.send(ledger.operator, "withdrawClaimBySig", *ledger.consent("Withdrawal", claim_id))
    assert ledger.events(receipt, "ClaimWithdrawn") == [{"claimId": claim_id, "from": UNDER_REVIEW}]
    assert ledger.state(claim_id) == WITHDRAWN
    again = ledger.reverts(ledger.operator, "withdrawClaimBySig", *ledger.consent("Withdrawal", claim_id))
    assert (again.error, again.args_) == ("ClaimLedgerInvalidTransition", (claim_id, WITHDRAWN, WITHDRAWN))
    verdict, signature = ledger.signed_verdict(claim_id, ledger.reviewers[0], eip712.VerdictKind.APPROVE)
    late = ledger.reverts(ledger.stranger, "submitVerdict", claim_id, verdict.as_abi_tuple(), signature)
    assert (late.error, late.args_) == ("ClaimLedgerWrongState", (claim_id, WITHDRAWN, UNDER_REVIEW))


def test_skipping_a_step_reverts_invalid_transition(ledger: Ledger) -> None:
    claim_id = ledger.file()
    cases = [
        ("objectBySig", ledger.objection(claim_id), DISPUTED),
        ("finalizeNotice", (claim_id,), APPROVED),
        ("appealBySig", ledger.consent("Appeal", claim_id), DISPUTED),
        ("recordPayout", (claim_id, keccak(text="p")), PAID),
    ]
    for fn, args, target in cases:
        err = ledger.reverts(ledger.operator, fn, *args)
        assert (err.error, err.args_) == ("ClaimLedgerInvalidTransition", (claim_id, FILED, target)), fn
    assert ledger.state(claim_id) == FILED


def test_front_run_verdict_same_state_and_backend_sees_success(ledger: Ledger) -> None:
    """C3: a stranger relays the reviewer's signed verdict first; the backend's copy then fails on
    the nonce, and the backend recognises its verdict as recorded through ``verdictDigest``."""
    claim_id = ledger.file()
    ledger.send(ledger.operator, "openReview", claim_id)
    reviewer = ledger.reviewers[0]
    verdict, signature = ledger.signed_verdict(claim_id, reviewer, eip712.VerdictKind.APPROVE)
    ledger.send(ledger.stranger, "submitVerdict", claim_id, verdict.as_abi_tuple(), signature)
    late = ledger.reverts(ledger.operator, "submitVerdict", claim_id, verdict.as_abi_tuple(), signature)
    assert (late.error, late.args_) == ("InvalidAccountNonce", (reviewer.address, 1))
    recorded = bytes(ledger.contract.functions.verdictDigest(claim_id, reviewer.address).call())
    assert recorded == eip712.verdict_digest(verdict, ledger.domain)
    assert ledger.claim(claim_id)["reviewApprovals"] == 1


# ───────────────────────── C8: events = storage ─────────────────────────


def _replay(ledger: Ledger) -> dict[bytes, dict[str, Any]]:
    """Rebuild every claim's state and key fields from the contract's events alone."""
    logs: list[Any] = []
    abi: list[dict[str, Any]] = ledger_artifact()["abi"]
    for item in abi:
        if item.get("type") == "event":
            logs.extend(getattr(ledger.contract.events, item["name"])().get_logs(from_block=0))
    logs.sort(key=lambda e: (e["blockNumber"], e["logIndex"]))
    claims: dict[bytes, dict[str, Any]] = {}
    for log in logs:
        a, name = log["args"], log["event"]
        if name == "ClaimFiled":
            claims[a["claimId"]] = {"state": FILED, "payoutFen": a["payoutFen"], "paymentRef": b"\0" * 32}
            claims[a["claimId"]].update(objectorCommitment=b"\0" * 32, noticeEnds=0, juryRound=0)
        elif name == "ReviewOpened":
            claims[a["claimId"]]["state"] = UNDER_REVIEW
        elif name == "ReviewDecided":
            claims[a["claimId"]].update(state=a["outcome"], noticeEnds=a["noticeEnds"])
        elif name == "ObjectionRecorded":
            claims[a["claimId"]].update(state=DISPUTED, objectorCommitment=a["objectorCommitment"])
        elif name == "NoticeFinalized":
            claims[a["claimId"]]["state"] = APPROVED
        elif name == "ClaimAppealed":
            claims[a["claimId"]]["state"] = DISPUTED
        elif name == "JuryDrawn":
            claims[a["claimId"]]["juryRound"] = a["round"]
        elif name == "JuryTallied":
            claims[a["claimId"]]["state"] = a["outcome"]
        elif name == "ClaimWithdrawn":
            claims[a["claimId"]]["state"] = WITHDRAWN
        elif name == "PayoutRecorded":
            claims[a["claimId"]].update(state=PAID, paymentRef=a["paymentRef"])
    return claims


def test_replayed_events_equal_stored_claims(ledger: Ledger) -> None:
    """C8: after claims through every path, the state rebuilt from events equals the views."""
    paid = ledger.file()
    ledger.to_notice(paid)
    disputed = ledger.file()
    ledger.to_notice(disputed)
    ledger.send(ledger.operator, "objectBySig", *ledger.objection(disputed))
    ledger.advance(NOTICE)
    ledger.send(ledger.stranger, "finalizeNotice", paid)
    ledger.pay(paid)
    ledger.jury(disputed, [False, False, False])
    appealed = ledger.file()
    ledger.review(appealed, [eip712.VerdictKind.REJECT, eip712.VerdictKind.REJECT])
    ledger.send(ledger.operator, "appealBySig", *ledger.consent("Appeal", appealed))
    withdrawn = ledger.file()
    ledger.send(ledger.operator, "withdrawClaimBySig", *ledger.consent("Withdrawal", withdrawn))
    replayed = _replay(ledger)
    assert set(replayed) == {paid, disputed, appealed, withdrawn}
    for claim_id, expected in replayed.items():
        stored = ledger.claim(claim_id)
        assert {key: stored[key] for key in expected} == expected, claim_id.hex()
    assert [replayed[c]["state"] for c in (paid, disputed, appealed, withdrawn)] == [
        PAID,
        REJECTED,
        DISPUTED,
        WITHDRAWN,
    ]


# ───────────────────────── C1: access-control matrix ─────────────────────────

CALLERS = ("admin", "operator", "roster", "reviewer", "juror", "none")
UNAUTHORIZED = "AccessControlUnauthorizedAccount"
Args = Callable[[Ledger, dict[str, bytes]], tuple[Any, ...]]


@dataclass(frozen=True)
class Guard:
    """Who may call a function; everyone else gets ``error`` with the caller (and the role) as args."""

    allowed: frozenset[str]
    args: Args
    role: bytes | None = None  # the missing role in AccessControlUnauthorizedAccount
    error: str = UNAUTHORIZED


def _op(args: Args) -> Guard:
    return Guard(frozenset({"operator"}), args, OPERATOR_ROLE)


def _admin(args: Args) -> Guard:
    return Guard(frozenset({"admin"}), args, ADMIN_ROLE)


def _roster(args: Args) -> Guard:
    return Guard(frozenset({"roster"}), args, ROSTER_ROLE)


def _drawn_juror(args: Args) -> Guard:
    """Only a juror seated in the round may commit its own vote (ClaimLedgerNotDrawn(claimId, caller))."""
    return Guard(frozenset({"juror"}), args, None, "ClaimLedgerNotDrawn")


ALL = frozenset(CALLERS)

MATRIX: dict[str, Guard] = {
    "anchorRuleSet(bytes32,uint32,uint8,uint8,uint8,uint32,uint32,uint16,uint64,uint64)": _op(
        lambda d, c: (keccak(text="rules.v9"), 1, 1, 1, 1, 1, 1, 800, 10, 18_800)
    ),
    "retireRuleSet(bytes32)": _op(lambda d, c: (RULES,)),
    "declareConflict(address,bytes32)": _op(lambda d, c: (d.stranger, keccak(text="m"))),
    "fileClaim((bytes32,bytes32,bytes32,bytes32,uint64,address))": _op(
        lambda d, c: (
            (
                eip712.claim_id(keccak(text="m9"), keccak(text="e9"), RULES, 5, CLAIMANT.address),
                keccak(text="m9"),
                keccak(text="e9"),
                RULES,
                5,
                CLAIMANT.address,
            ),
        )
    ),
    "openReview(bytes32)": _op(lambda d, c: (c["filed"],)),
    # The filing relay's batch: a new claim and the FILED one (filed and opened in one call).
    "fileForReview((bytes32,bytes32,bytes32,bytes32,uint64,address)[])": _op(
        lambda d, c: (
            [
                (
                    eip712.claim_id(keccak(text="m8"), keccak(text="e8"), RULES, 5, CLAIMANT.address),
                    keccak(text="m8"),
                    keccak(text="e8"),
                    RULES,
                    5,
                    CLAIMANT.address,
                ),
                (
                    c["filed"],
                    *d.contract.functions.claim(c["filed"]).call()[0:3],
                    d.contract.functions.claim(c["filed"]).call()[5],
                    CLAIMANT.address,
                ),
            ],
        )
    ),
    # The operator vouches for the objector's membership; the objector's own key signed the objection.
    "objectBySig(bytes32,bytes32,address,uint256,bytes)": _op(lambda d, c: d.objection(c["notice"])),
    # Open by design: the claim's own key signed the appeal or withdrawal; anyone relays it (issue 14 item 4).
    "appealBySig(bytes32,uint256,bytes)": Guard(ALL, lambda d, c: d.consent("Appeal", c["rejected"])),
    # Open by design: the draw is due once its seed block is past, and the contract picks the jurors.
    "drawJury(bytes32)": Guard(ALL, lambda d, c: (c["disputed"],)),
    "withdrawClaimBySig(bytes32,uint256,bytes)": Guard(ALL, lambda d, c: d.consent("Withdrawal", c["filed"])),
    "recordPayout(bytes32,bytes32)": _op(lambda d, c: (c["approved"], keccak(text="pay"))),
    "commitVote(bytes32,bytes32)": _drawn_juror(lambda d, c: (c["voting"], keccak(text="vote"))),
    # Open by design: the juror's VoteCommit signature (or the commitment's opening) authenticates.
    "commitVoteBySig(bytes32,address,bytes32,bytes)": Guard(ALL, lambda d, c: _signed_commit(d, c["voting"])),
    "revealVote(bytes32,address,bool,bytes32)": Guard(ALL, lambda d, c: (c["reveal"], d.jurors[0], True, SALT)),
    # The roster admin (the RosterTimelock) keeps the reviewer/juror rosters; the admin keeps the operators.
    "grantRole(bytes32,address)": _roster(lambda d, c: (REVIEWER_ROLE, d.stranger)),
    "revokeRole(bytes32,address)": _roster(lambda d, c: (JUROR_ROLE, d.jurors[0])),
    "beginDefaultAdminTransfer(address)": _admin(lambda d, c: (d.stranger,)),
    "cancelDefaultAdminTransfer()": _admin(lambda d, c: ()),
    "changeDefaultAdminDelay(uint48)": _admin(lambda d, c: (2 * 86400,)),
    "rollbackDefaultAdminDelay()": _admin(lambda d, c: ()),
    # Self-gated by OpenZeppelin: only the pending admin (there is none here) and only one's own role.
    "acceptDefaultAdminTransfer()": Guard(frozenset(), lambda d, c: (), None, "AccessControlInvalidDefaultAdmin"),
    "renounceRole(bytes32,address)": Guard(
        # the account is none of the callers: renouncing for someone else
        frozenset(),
        lambda d, c: (JUROR_ROLE, d.jurors[3]),
        None,
        "AccessControlBadConfirmation",
    ),
    # Open by design: a signed verdict is relayed by anyone (C3), and deadlines are enforced by anyone.
    "submitVerdict(bytes32,(bytes32,uint8,uint16,bytes32,bytes32,uint256,uint256),bytes)": Guard(
        ALL, lambda d, c: _fresh_verdict(d, c["review"])
    ),
    "finalizeNotice(bytes32)": Guard(ALL, lambda d, c: (c["notice_over"],)),
    "tallyJury(bytes32)": Guard(ALL, lambda d, c: (c["tally"],)),
}


def _signed_commit(d: Ledger, claim_id: bytes) -> tuple[Any, ...]:
    juror = Account.from_key(ANVIL_DEV_KEYS[5])  # d.jurors[0]
    round_ = d.claim(claim_id)["juryRound"]
    commitment = eip712.vote_commitment(claim_id, round_, juror.address, True, SALT)
    document = typed_data.vote_commit_document(
        d.domain.as_dict(), claim_id=claim_id, round_=round_, commitment=commitment
    )
    signature = typed_data.sign(document, juror.key)
    return (claim_id, juror.address, commitment, signature)


def _fresh_verdict(d: Ledger, claim_id: bytes) -> tuple[Any, ...]:
    verdict, signature = d.signed_verdict(claim_id, d.reviewers[0], eip712.VerdictKind.APPROVE)
    return (claim_id, verdict.as_abi_tuple(), signature)


def _signature(item: dict[str, Any]) -> str:
    def kind(inp: dict[str, Any]) -> str:
        if inp["type"].startswith("tuple"):
            suffix = str(inp["type"])[5:]
            return "(" + ",".join(kind(c) for c in inp["components"]) + ")" + suffix
        return str(inp["type"])

    return str(item["name"]) + "(" + ",".join(kind(i) for i in item["inputs"]) + ")"


@pytest.fixture(scope="module")
def matrix_deployment() -> Iterator[tuple[Ledger, dict[str, str], dict[str, bytes]]]:
    """One deployment with a claim in every state a positive control needs."""
    node = AnvilNode().start()
    try:
        d = deploy_ledger(node, extra_jurors=0, granted_jurors=JURY)  # every draw seats the same three
        callers = {
            "admin": d.admin,
            "operator": d.operator,
            "roster": d.roster,
            "reviewer": d.reviewers[0].address,
            "juror": d.jurors[0],
            "none": d.stranger,
        }
        claims: dict[str, bytes] = {"filed": d.file()}
        claims["rejected"] = d.file()
        d.review(claims["rejected"], [eip712.VerdictKind.REJECT] * QUORUM)
        claims["disputed"] = d.file()
        d.to_notice(claims["disputed"])
        d.send(d.operator, "objectBySig", *d.objection(claims["disputed"]))
        for name in ("notice_over", "approved", "tally"):
            claims[name] = d.file()
            d.to_notice(claims[name])
        d.send(d.operator, "objectBySig", *d.objection(claims["tally"]))
        d.draw(claims["tally"])
        d.advance(NOTICE + COMMIT + REVEAL)  # notices over, the tally claim's round over
        d.send(d.stranger, "finalizeNotice", claims["approved"])
        # Claims whose windows must still be open: made after the clock jump.
        claims["reveal"] = d.file()
        d.to_notice(claims["reveal"])
        d.send(d.operator, "objectBySig", *d.objection(claims["reveal"]))
        d.draw(claims["reveal"])
        d.send(
            d.jurors[0],
            "commitVote",
            claims["reveal"],
            eip712.vote_commitment(claims["reveal"], 1, d.jurors[0], True, SALT),
        )
        d.advance(COMMIT)  # claims["reveal"] is now in its reveal window
        claims["notice"] = d.file()
        d.to_notice(claims["notice"])
        claims["review"] = d.file()
        d.send(d.operator, "openReview", claims["review"])
        claims["voting"] = d.file()
        d.to_notice(claims["voting"])
        d.send(d.operator, "objectBySig", *d.objection(claims["voting"]))
        d.draw(claims["voting"])
        rpc_call(node.url, "evm_mine")  # claims["disputed"]'s seed block is long past
        yield d, callers, claims
    finally:
        node.kill()


def test_access_matrix_lists_every_state_changing_function() -> None:
    abi = ledger_artifact()["abi"]
    mutating = {
        _signature(i) for i in abi if i.get("type") == "function" and i["stateMutability"] in {"nonpayable", "payable"}
    }
    assert mutating == set(MATRIX), f"not in the matrix: {mutating - set(MATRIX)}; stale: {set(MATRIX) - mutating}"


FORBIDDEN = [(fn, caller) for fn, guard in MATRIX.items() for caller in CALLERS if caller not in guard.allowed]
ALLOWED = [(fn, caller) for fn, guard in MATRIX.items() for caller in sorted(guard.allowed)]


@pytest.mark.parametrize(("signature", "caller"), FORBIDDEN)
def test_access_matrix_forbidden_caller_reverts_by_name(
    matrix_deployment: tuple[Ledger, dict[str, str], dict[str, bytes]], signature: str, caller: str
) -> None:
    d, callers, claims = matrix_deployment
    guard = MATRIX[signature]
    err = d.reverts(callers[caller], signature.split("(")[0], *guard.args(d, claims))
    expected: tuple[Any, ...] = () if guard.error == "AccessControlBadConfirmation" else (callers[caller],)
    if guard.error == "ClaimLedgerNotDrawn":
        expected = (guard.args(d, claims)[0], callers[caller])
    if guard.role is not None:
        expected = (callers[caller], guard.role)
    assert (err.error, err.args_) == (guard.error, expected)


@pytest.mark.parametrize(("signature", "caller"), ALLOWED)
def test_access_matrix_allowed_caller_succeeds(
    matrix_deployment: tuple[Ledger, dict[str, str], dict[str, bytes]], signature: str, caller: str
) -> None:
    """Positive control: from an allowed caller the same call (eth_call, no state change) succeeds."""
    d, callers, claims = matrix_deployment
    args = MATRIX[signature].args(d, claims)
    getattr(d.contract.functions, signature.split("(")[0])(*args).call({"from": callers[caller]})


def test_grant_operator_role_needs_admin(
    matrix_deployment: tuple[Ledger, dict[str, str], dict[str, bytes]],
) -> None:
    """Granting OPERATOR_ROLE needs the admin: an operator cannot mint operators."""
    d, callers, _ = matrix_deployment
    err = d.reverts(d.operator, "grantRole", OPERATOR_ROLE, d.stranger)
    assert (err.error, err.args_) == (UNAUTHORIZED, (d.operator, ADMIN_ROLE))
    d.contract.functions.grantRole(OPERATOR_ROLE, d.stranger).call({"from": callers["admin"]})
