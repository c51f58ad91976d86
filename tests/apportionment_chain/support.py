"""Builders for the apportionment acceptance tests: a runtime with Apportionment, claims driven
through ClaimLedger on anvil, members in the database, and anvil's clock moved to chosen instants.

Claims reach final approval exactly as in production: the operator files them, two reviewers
sign EIP-712 verdicts (``backend.chain.eip712``), the notice window passes (``evm_increaseTime``
/ ``evm_setNextBlockTimestamp``) and ``finalizeNotice`` is called; the jury path objects, seats
three jurors, commits, reveals and tallies.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.types import TxReceipt

from backend.chain import eip712, typed_data
from backend.chain.anvil import rpc_call
from backend.chain.client import account, contract_at
from backend.chain.compiler import compile_contracts
from backend.chain.roster import JUROR, REVIEWER
from backend.chain.transactions import TransactionSender, register_errors
from backend.config import ANVIL_DEV_KEYS
from backend.db.models import Account, Member
from backend.runtime import Runtime
from backend.services.auth import hash_password, issue_token
from backend.services.rule_sets import roster_for
from backend.services.rules import RuleSet

NOTICE = 7 * 86400
COMMIT = 2 * 86400
REVEAL = 2 * 86400
APPROVED = 6


@functools.cache
def apportionment_artifact() -> dict[str, Any]:
    """Apportionment compiled from contracts/src (once per process; nothing written)."""
    artifact = compile_contracts()["Apportionment"]
    register_errors([artifact["abi"]])
    return artifact


def with_apportionment(runtime: Runtime) -> Runtime:
    """Deploy Apportionment (admin = operator = the runtime's operator key) unless the suite did."""
    if "Apportionment" not in runtime.contracts:
        artifact = apportionment_artifact()
        factory = runtime.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        op = runtime.operator.address
        ledger = runtime.contracts["ClaimLedger"].address
        tx = factory.constructor(op, op, ledger).build_transaction({"from": op, "nonce": 0, "gas": 6_000_000})
        tx.pop("nonce", None)
        receipt = runtime.operator.transact(tx)
        runtime.contracts["Apportionment"] = contract_at(runtime.w3, str(receipt["contractAddress"]), artifact)
    return runtime


def set_time(runtime: Runtime, instant: datetime) -> None:
    """Mine the next block exactly at ``instant`` (anvil's clock continues from there)."""
    rpc_call(runtime.settings.chain_url, "evm_setNextBlockTimestamp", [int(instant.timestamp())])
    rpc_call(runtime.settings.chain_url, "evm_mine")


def set_next_time(runtime: Runtime, instant: datetime) -> None:
    """The next transaction's block gets exactly ``instant`` as its timestamp (nothing mined now)."""
    rpc_call(runtime.settings.chain_url, "evm_setNextBlockTimestamp", [int(instant.timestamp())])


def advance(runtime: Runtime, seconds: int) -> None:
    rpc_call(runtime.settings.chain_url, "evm_increaseTime", [seconds])
    rpc_call(runtime.settings.chain_url, "evm_mine")


def chain_now(runtime: Runtime) -> int:
    return int(runtime.w3.eth.get_block("latest")["timestamp"])


@dataclass
class ClaimDriver:
    """Drives ClaimLedger through the runtime's operator key, two reviewers and three jurors."""

    runtime: Runtime
    rules: RuleSet
    reviewers: list[LocalAccount] = field(default_factory=list)
    jurors: list[TransactionSender] = field(default_factory=list)
    counter: int = 0

    @property
    def ledger(self) -> Contract:
        return self.runtime.contracts["ClaimLedger"]

    def send(self, fn: str, *args: Any, sender: TransactionSender | None = None) -> TxReceipt:
        data = self.ledger.encode_abi(fn, args=list(args))
        return (sender or self.runtime.operator).transact({"to": self.ledger.address, "data": data})

    def setup(self) -> ClaimDriver:
        register_errors([self.ledger.abi])  # type: ignore[list-item]
        r = self.rules
        self.send(
            "anchorRuleSet",
            r.hash(),
            r.notice_seconds,
            r.review_quorum,
            r.jury_size,
            r.min_turnout,
            r.commit_seconds,
            r.reveal_seconds,
            r.fee_bps,
            r.per_case_cap_fen,
            r.annual_cap_fen,
        )
        self.reviewers = [account(ANVIL_DEV_KEYS[2]), account(ANVIL_DEV_KEYS[3])]
        roster = roster_for(self.runtime)  # through the RosterTimelock (zero delay here: at once)
        for reviewer in self.reviewers:
            roster.grant_role(REVIEWER, reviewer.address)
        self.jurors = [TransactionSender(self.runtime.w3, account(ANVIL_DEV_KEYS[i])) for i in (4, 5, 6)]
        for juror in self.jurors:
            roster.grant_role(JUROR, juror.address)
        return self

    def file(self, payout_fen: int) -> bytes:
        self.counter += 1
        member = keccak(text=f"claimant-{self.counter}")
        evidence = keccak(text=f"evidence-{self.counter}")
        rules_hash = self.rules.hash()
        claimant = EthAccount.create().address  # the claimant's per-claim key (bound in the id)
        claim_id = eip712.claim_id(member, evidence, rules_hash, payout_fen, claimant)
        self.send("fileClaim", (claim_id, member, evidence, rules_hash, payout_fen, claimant))
        return claim_id

    def review(self, claim_id: bytes, verdict: eip712.VerdictKind) -> None:
        self.send("openReview", claim_id)
        domain = eip712.Eip712Domain(self.runtime.w3.eth.chain_id, self.ledger.address)
        for reviewer in self.reviewers:
            v = eip712.Verdict(
                claim_id=claim_id,
                verdict=verdict,
                reason_code=0 if verdict == eip712.VerdictKind.APPROVE else 2,
                report_hash=keccak(claim_id + bytes.fromhex(reviewer.address[2:])),
                rule_set_hash=self.rules.hash(),
                nonce=int(self.ledger.functions.nonces(reviewer.address).call()),
                deadline=chain_now(self.runtime) + 3600,
            )
            self.send("submitVerdict", claim_id, v.as_abi_tuple(), eip712.sign_verdict(reviewer, v, domain))

    def to_notice(self, payout_fen: int) -> bytes:
        claim_id = self.file(payout_fen)
        self.review(claim_id, eip712.VerdictKind.APPROVE)
        return claim_id

    def finalize(self, claim_id: bytes) -> TxReceipt:
        return self.send("finalizeNotice", claim_id)

    def dispute_and_seat_jury(self, claim_id: bytes) -> None:
        """Object during notice, seat the three jurors, commit approving votes, reveal them."""
        objector, commitment = EthAccount.create(), keccak(text="objector")
        domain = eip712.Eip712Domain(self.runtime.w3.eth.chain_id, self.ledger.address).as_dict()
        deadline = chain_now(self.runtime) + 3600
        doc = typed_data.consent_document(
            domain, "Objection", claim_id=claim_id, deadline=deadline, objector_commitment=commitment
        )
        signature = typed_data.sign(typed_data.load_document(doc), bytes(objector.key))
        self.send("objectBySig", claim_id, commitment, objector.address, deadline, signature)
        draw_block = int(self.ledger.functions.claim(claim_id).call()[18])
        while self.runtime.w3.eth.block_number <= draw_block:  # the seed block must be past
            self.runtime.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        self.send("drawJury", claim_id)  # the three jurors are the whole roster: all seated
        for juror in self.jurors:
            commitment = eip712.vote_commitment(claim_id, 1, juror.address, True, keccak(text=juror.address))
            self.send("commitVote", claim_id, commitment, sender=juror)
        advance(self.runtime, self.rules.commit_seconds)
        for juror in self.jurors:
            self.send("revealVote", claim_id, juror.address, True, keccak(text=juror.address))
        advance(self.runtime, self.rules.reveal_seconds)

    def tally(self, claim_id: bytes) -> TxReceipt:
        return self.send("tallyJury", claim_id)

    def state(self, claim_id: bytes) -> int:
        return int(self.ledger.functions.state(claim_id).call())


def add_member(
    runtime: Runtime,
    name: str,
    joined_at: datetime,
    *,
    ended_at: datetime | None = None,
    role: str = "member",
) -> tuple[str, bytes, str]:
    """An account with a membership row; returns (account id, commitment, bearer token)."""
    commitment = keccak(text=f"member-commitment-{name}")
    with runtime.sessions.begin() as session:
        acct = Account(username=name, password_hash=hash_password("pw-" + name), role=role)
        session.add(acct)
        session.flush()
        session.add(
            Member(
                account_id=acct.id,
                commitment=commitment,
                salt=keccak(text=f"salt-{name}"),
                birth_date=date(1990, 1, 1),
                credit_score=700,
                joined_at=joined_at,
                waiting_ends_at=joined_at,
                status="ended" if ended_at is not None else "active",
                ended_at=ended_at,
                rule_set_hash=b"\x11" * 32,
            )
        )
        session.flush()
        token = issue_token(session, acct, runtime.jwt_secret)
        return acct.id, commitment, token


def add_account(runtime: Runtime, name: str, role: str) -> str:
    """An account without membership (operator, auditor…); returns a bearer token."""
    with runtime.sessions.begin() as session:
        acct = Account(username=name, password_hash=hash_password("pw-" + name), role=role)
        session.add(acct)
        session.flush()
        return issue_token(session, acct, runtime.jwt_secret)
