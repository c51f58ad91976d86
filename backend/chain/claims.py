"""Typed client of the deployed ``ClaimLedger``: one method per contract function, decoded events.

Every transaction method sends through a :class:`~backend.chain.transactions.Sender`
(the operator's, or a reviewer's / juror's own) and returns a :class:`LedgerTx`: the transaction
hash, its block and the ClaimLedger events it emitted, decoded. Gas is estimated before anything
is broadcast, so a revert surfaces as :class:`~backend.chain.transactions.ContractReverted` whose
``error`` is the custom error's name (``ClaimLedgerWrongState``, ``InvalidAccountNonce``, …) and
whose ``args_`` are its decoded arguments; the ABI's errors are registered when the client is built.

:meth:`ClaimLedgerClient.timeline` reads every event of one claim (``eth_getLogs`` on the indexed
claim id) for the claimant's and the auditor's timelines. Nothing personal is ever passed in: all
identities, evidence and reports are ``bytes32`` commitments made by the services.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from backend.chain.eip712 import Eip712Domain, Verdict
from backend.chain.ledger_types import (
    Ballot,
    ClaimFiling,
    ClaimState,
    LedgerEvent,
    LedgerTx,
    OnchainClaim,
    OnchainRuleSet,
)
from backend.chain.transactions import Sender, classify, register_errors

OPERATOR_ROLE = keccak(text="OPERATOR_ROLE")
REVIEWER_ROLE = keccak(text="REVIEWER_ROLE")
JUROR_ROLE = keccak(text="JUROR_ROLE")

# Events whose first indexed topic is the claim id (the claim's timeline).
CLAIM_EVENTS = (
    "ClaimFiled",
    "ReviewOpened",
    "VerdictRecorded",
    "ReviewDecided",
    "ObjectionRecorded",
    "NoticeFinalized",
    "ClaimAppealed",
    "JuryDrawScheduled",
    "JuryDrawn",
    "VoteCommitted",
    "VoteRevealed",
    "JurorAbsent",
    "VoteNotRevealed",
    "JuryTallied",
    "JuryRoundVoided",
    "ClaimWithdrawn",
    "PayoutRecorded",
)


class ClaimLedgerClient:
    """Calls and transactions of one ClaimLedger deployment."""

    def __init__(self, w3: Web3, contract: Contract, operator: Sender) -> None:
        self.w3 = w3
        self.contract = contract
        self.operator = operator
        register_errors([[dict(item) for item in contract.abi]])
        self._quorums: dict[bytes, int] = {}
        self._domain: Eip712Domain | None = None
        decoded = (*CLAIM_EVENTS, "RuleSetAnchored", "RuleSetRetired", "ConflictDeclared")
        self._codecs = {
            codec.topic: codec
            for codec in (
                _EventCodec(dict(item))
                for item in contract.abi
                if item.get("type") == "event" and item.get("name") in decoded
            )
        }

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def domain(self) -> Eip712Domain:
        """The EIP-712 domain reviewers sign verdicts in (and every filing receipt): built once per
        client, not with an ``eth_chainId`` round trip (and an address checksum) inside each filing
        (a node's chain id never changes; the runtime checked it at start-up)."""
        if self._domain is None:
            self._domain = Eip712Domain(int(self.w3.eth.chain_id), self.address)
        return self._domain

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self.contract.functions, fn)(*args).call()
        except Exception as exc:
            raise classify(exc) from exc

    def _transact(self, fn: str, *args: Any, sender: Sender | None = None) -> LedgerTx:
        data = self.contract.encode_abi(fn, args=list(args))
        receipt = (sender or self.operator).transact({"to": self.contract.address, "data": data})
        return LedgerTx(bytes(receipt["transactionHash"]), int(receipt["blockNumber"]), self.decode_receipt(receipt))

    def decode_receipt(self, receipt: TxReceipt) -> tuple[LedgerEvent, ...]:
        """The ClaimLedger events of ``receipt`` in log order.

        Each log is decoded once, by its first topic: events whose fields are all ``bytes32``,
        integers or booleans (``ClaimFiled``, ``ReviewOpened``, …) straight with eth_abi, the
        others through web3 (addresses come back checksummed, arrays as web3 gives them).
        """
        events: list[LedgerEvent] = []
        address = self.address.lower()
        for log in receipt["logs"]:
            topics = log["topics"]
            if not topics or str(log["address"]).lower() != address:
                continue
            codec = self._codecs.get(bytes(topics[0]))
            if codec is None:
                continue
            if codec.plain:
                args = codec.decode(log)
            else:
                args = dict(getattr(self.contract.events, codec.name)().process_log(log)["args"])
            events.append(
                LedgerEvent(
                    codec.name, args, int(log["blockNumber"]), bytes(log["transactionHash"]), int(log["logIndex"])
                )
            )
        return tuple(sorted(events, key=lambda e: e.log_index))

    # -- rule sets and rosters (operator) ---------------------------------------------------------

    def anchor_rule_set(
        self,
        rule_set_hash: bytes,
        *,
        notice_seconds: int,
        review_quorum: int,
        jury_size: int,
        min_turnout: int,
        commit_seconds: int,
        reveal_seconds: int,
    ) -> LedgerTx:
        return self._transact(
            "anchorRuleSet",
            rule_set_hash,
            notice_seconds,
            review_quorum,
            jury_size,
            min_turnout,
            commit_seconds,
            reveal_seconds,
        )

    def retire_rule_set(self, rule_set_hash: bytes) -> LedgerTx:
        return self._transact("retireRuleSet", rule_set_hash)

    def declare_conflict(self, account: str, member_commitment: bytes) -> LedgerTx:
        return self._transact("declareConflict", Web3.to_checksum_address(account), member_commitment)

    def grant_role(self, role: bytes, account: str) -> LedgerTx:
        return self._transact("grantRole", role, Web3.to_checksum_address(account))

    def has_role(self, role: bytes, account: str) -> bool:
        return bool(self._call("hasRole", role, Web3.to_checksum_address(account)))

    # -- the claim state machine -----------------------------------------------------------------

    def file_claim(self, filing: ClaimFiling) -> LedgerTx:
        return self._transact("fileClaim", filing.as_abi_tuple())

    def open_review(self, claim_id: bytes) -> LedgerTx:
        return self._transact("openReview", claim_id)

    def file_for_review(self, filings: Sequence[ClaimFiling]) -> LedgerTx:
        """File and open the review of every claim in one transaction; claims already past FILED
        are left as they are (no event). One bad item reverts the whole call."""
        # Encoded with eth_abi directly (web3's encoder costs ~1 ms a claim), and polled for its
        # receipt every 5 ms: filings are waiting on it.
        data = _FILE_FOR_REVIEW + abi_encode([_CLAIM_FILINGS], [[f.as_abi_tuple() for f in filings]])
        receipt = self.operator.wait(
            self.operator.send({"to": self.contract.address, "data": data}), poll=0.005, light=True
        )
        return LedgerTx(bytes(receipt["transactionHash"]), int(receipt["blockNumber"]), self.decode_receipt(receipt))

    def submit_verdict(
        self, claim_id: bytes, verdict: Verdict, signature: bytes, *, sender: Sender | None = None
    ) -> LedgerTx:
        """Relay a signed verdict (any sender may relay; the operator's by default)."""
        return self._transact("submitVerdict", claim_id, verdict.as_abi_tuple(), signature, sender=sender)

    def object_by_sig(
        self, claim_id: bytes, objector_commitment: bytes, objector_key: str, deadline: int, signature: bytes
    ) -> LedgerTx:
        """Relay an objection signed by the objector's own per-objection key (operator only)."""
        return self._transact(
            "objectBySig", claim_id, objector_commitment, Web3.to_checksum_address(objector_key), deadline, signature
        )

    def finalize_notice(self, claim_id: bytes) -> LedgerTx:
        return self._transact("finalizeNotice", claim_id)

    def appeal_by_sig(self, claim_id: bytes, deadline: int, signature: bytes) -> LedgerTx:
        """Relay the claimant's appeal, signed by the claim's ``claimantKey`` (anyone may relay)."""
        return self._transact("appealBySig", claim_id, deadline, signature)

    def draw_jury(self, claim_id: bytes, *, sender: Sender | None = None) -> LedgerTx:
        """``drawJury``: anyone may send it once the scheduled draw block is past. Its events are
        ``JuryDrawn`` (seated) or ``JuryDrawScheduled`` (re-scheduled: the seed block's hash is gone
        or the roster changed after it)."""
        return self._transact("drawJury", claim_id, sender=sender)

    def commit_vote(self, claim_id: bytes, commitment: bytes, *, juror: Sender) -> LedgerTx:
        """Sent by the juror's own key (``msg.sender`` is the juror)."""
        return self._transact("commitVote", claim_id, commitment, sender=juror)

    def commit_vote_by_sig(
        self,
        claim_id: bytes,
        juror: str,
        commitment: bytes,
        signature: bytes,
        *,
        sender: Sender | None = None,
    ) -> LedgerTx:
        """Relay a juror's ``VoteCommit`` signature (the operator pays the gas by default)."""
        return self._transact(
            "commitVoteBySig", claim_id, Web3.to_checksum_address(juror), commitment, signature, sender=sender
        )

    def reveal_vote(
        self, claim_id: bytes, juror: str, approve: bool, salt: bytes, *, sender: Sender | None = None
    ) -> LedgerTx:
        """Relay the opening of ``juror``'s commitment (anyone may: it authenticates itself)."""
        return self._transact("revealVote", claim_id, Web3.to_checksum_address(juror), approve, salt, sender=sender)

    def tally_jury(self, claim_id: bytes) -> LedgerTx:
        return self._transact("tallyJury", claim_id)

    def withdraw_claim_by_sig(self, claim_id: bytes, deadline: int, signature: bytes) -> LedgerTx:
        """Relay the claimant's withdrawal, signed by the claim's ``claimantKey`` (anyone may relay)."""
        return self._transact("withdrawClaimBySig", claim_id, deadline, signature)

    def record_payout(self, claim_id: bytes, payment_ref: bytes) -> LedgerTx:
        return self._transact("recordPayout", claim_id, payment_ref)

    # -- reads -------------------------------------------------------------------------------------

    def claim(self, claim_id: bytes) -> OnchainClaim:
        raw = tuple(self._call("claim", claim_id))
        return OnchainClaim(
            bytes(raw[0]),
            bytes(raw[1]),
            bytes(raw[2]),
            bytes(raw[3]),
            bytes(raw[4]),
            int(raw[5]),
            int(raw[6]),
            int(raw[7]),
            int(raw[8]),
            int(raw[9]),
            ClaimState(int(raw[10])),
            int(raw[11]),
            int(raw[12]),
            bool(raw[13]),
            int(raw[14]),
            int(raw[15]),
            int(raw[16]),
            int(raw[17]),
            int(raw[18]) if len(raw) > 18 else 0,
            claimant_key=str(raw[19]) if len(raw) > 19 else "",
        )

    def state(self, claim_id: bytes) -> ClaimState:
        return ClaimState(int(self._call("state", claim_id)))

    def rule_set(self, rule_set_hash: bytes) -> OnchainRuleSet:
        raw = tuple(self._call("ruleSet", rule_set_hash))
        return OnchainRuleSet(
            int(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]), int(raw[5]), bool(raw[6])
        )

    def review_quorum(self, rule_set_hash: bytes) -> int:
        """The rule set's review quorum, read once per process: an anchored rule set's parameters
        never change (only its ``retired`` flag does)."""
        quorum = self._quorums.get(rule_set_hash)
        if quorum is None:
            quorum = self._quorums[rule_set_hash] = self.rule_set(rule_set_hash).review_quorum
        return quorum

    def hash_verdict(self, verdict: Verdict) -> bytes:
        return bytes(self._call("hashVerdict", verdict.as_abi_tuple()))

    def verdict_digest(self, claim_id: bytes, reviewer: str) -> bytes:
        return bytes(self._call("verdictDigest", claim_id, Web3.to_checksum_address(reviewer)))

    def ballot(self, claim_id: bytes, round_: int, juror: str) -> Ballot:
        raw = tuple(self._call("ballot", claim_id, round_, Web3.to_checksum_address(juror)))
        return Ballot(bytes(raw[0]), bool(raw[1]), bool(raw[2]), bool(raw[3]))

    def is_conflicted(self, account: str, member_commitment: bytes) -> bool:
        return bool(self._call("isConflicted", Web3.to_checksum_address(account), member_commitment))

    def nonces(self, signer: str) -> int:
        return int(self._call("nonces", Web3.to_checksum_address(signer)))

    def jurors(self) -> list[str]:
        """``jurors()``: the on-chain juror roster in its stored order."""
        return [Web3.to_checksum_address(a) for a in self._call("jurors")]

    def absences(self, juror: str) -> int:
        return int(self._call("absences", Web3.to_checksum_address(juror)))

    def filing_events(self, claim_ids: Sequence[bytes], from_block: int = 0) -> list[LedgerEvent]:
        """The ``ClaimFiled`` and ``ReviewOpened`` events of these claims (two ``eth_getLogs``), in
        chain order: what a filing relay that stopped after its transaction has to record."""
        if not claim_ids:
            return []
        events: list[LedgerEvent] = []
        for name in ("ClaimFiled", "ReviewOpened"):
            try:
                logs = getattr(self.contract.events, name)().get_logs(
                    from_block=from_block, argument_filters={"claimId": list(claim_ids)}
                )
            except Exception as exc:
                raise classify(exc) from exc
            events.extend(_event(name, entry) for entry in logs)
        return sorted(events, key=lambda e: (e.block_number, e.log_index))

    def timeline(self, claim_id: bytes, from_block: int = 0) -> list[LedgerEvent]:
        """Every event of ``claim_id`` since ``from_block``, in chain order."""
        events: list[LedgerEvent] = []
        for name in CLAIM_EVENTS:
            try:
                logs = getattr(self.contract.events, name)().get_logs(
                    from_block=from_block, argument_filters={"claimId": claim_id}
                )
            except Exception as exc:
                raise classify(exc) from exc
            events.extend(_event(name, entry) for entry in logs)
        return sorted(events, key=lambda e: (e.block_number, e.log_index))


_CLAIM_FILINGS = "(bytes32,bytes32,bytes32,bytes32,uint64,address)[]"
_FILE_FOR_REVIEW = keccak(text=f"fileForReview({_CLAIM_FILINGS})")[:4]
_PLAIN_TYPES = re.compile(r"^(bytes32|u?int\d*|bool|address)$")


class _EventCodec:
    """One event of the ABI: its topic, and a direct decoder when every field is a plain value."""

    def __init__(self, abi: dict[str, Any]) -> None:
        inputs = abi.get("inputs", [])
        self.name = str(abi["name"])
        self.topic = keccak(text=f"{self.name}({','.join(str(i['type']) for i in inputs)})")
        self.plain = all(_PLAIN_TYPES.match(str(i["type"])) for i in inputs)
        self.indexed = [(str(i["name"]), str(i["type"])) for i in inputs if i.get("indexed")]
        self.data_names = [str(i["name"]) for i in inputs if not i.get("indexed")]
        self.data_types = [str(i["type"]) for i in inputs if not i.get("indexed")]

    def decode(self, log: Any) -> dict[str, Any]:
        """Every plain type is one static 32-byte word: topics and data are sliced, not parsed
        (eth_abi's generic decoder cost ~0.2 ms an event; a relay round decodes two per claim)."""
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(self.indexed, log["topics"][1:], strict=True):
            args[name] = _word(kind, bytes(topic))
        data = bytes(log["data"])
        if len(data) != 32 * len(self.data_types):
            raise ValueError(f"{self.name}: {len(data)} bytes of data for {len(self.data_types)} words")
        for i, (name, kind) in enumerate(zip(self.data_names, self.data_types, strict=True)):
            args[name] = _word(kind, data[32 * i : 32 * i + 32])
        return args


def _word(kind: str, word: bytes) -> Any:
    """One ABI word of a plain static type, as eth_abi (strict) and web3 (checksummed addresses) give it."""
    if len(word) != 32:
        raise ValueError(f"an ABI word is 32 bytes, not {len(word)}")
    if kind == "bytes32":
        return word
    if kind == "address":
        if any(word[:12]):
            raise ValueError("an address word has 12 zero bytes first")
        return Web3.to_checksum_address(word[12:])
    if kind == "bool":
        if any(word[:31]) or word[31] > 1:
            raise ValueError("a bool word is 0 or 1")
        return word[31] == 1
    bits = int(kind.lstrip("uint") or 256)
    value = int.from_bytes(word, "big", signed=kind.startswith("int"))
    if not (-(2 ** (bits - 1)) <= value < 2 ** (bits - 1) if kind.startswith("int") else value < 2**bits):
        raise ValueError(f"{value} does not fit a {kind}")
    return value


def _event(name: str, entry: Any) -> LedgerEvent:
    return LedgerEvent(
        name=name,
        args=dict(entry["args"]),
        block_number=int(entry["blockNumber"]),
        tx_hash=bytes(entry["transactionHash"]),
        log_index=int(entry["logIndex"]),
    )


class LedgerFilingLookup:
    """:class:`backend.proofs.filing_receipt.FilingLookup` over web3: what ``hubao receipt verify
    --rpc`` asks ClaimLedger about a filing receipt (read-only calls, no key)."""

    def __init__(self, w3: Web3, abi: list[dict[str, Any]]) -> None:
        self.w3 = w3
        self.abi = abi
        register_errors([abi])

    def _ledger(self, contract: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(contract), abi=self.abi)

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def ledger_deployed(self, contract: str) -> bool:
        return len(self.w3.eth.get_code(Web3.to_checksum_address(contract))) > 0

    def is_operator(self, contract: str, account: str) -> bool:
        try:
            return bool(
                self._ledger(contract).functions.hasRole(OPERATOR_ROLE, Web3.to_checksum_address(account)).call()
            )
        except Exception as exc:
            raise classify(exc) from exc

    def claim(self, contract: str, claim_id: bytes) -> Any:
        from backend.proofs.filing_receipt import FilingOnchainClaim

        ledger = self._ledger(contract)
        try:
            if int(ledger.functions.state(claim_id).call()) == ClaimState.NONE:
                return None
            raw = tuple(ledger.functions.claim(claim_id).call())
        except Exception as exc:
            raise classify(exc) from exc
        return FilingOnchainClaim(evidence_root=bytes(raw[1]), filed_at=int(raw[6]))

    def latest_timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])
