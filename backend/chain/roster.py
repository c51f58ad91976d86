"""ClaimLedger calls for the plan's configuration: rule sets, the reviewer/juror rosters, conflicts.

Rosters go through the RosterTimelock (ClaimLedger 2.0.0: ``ROSTER_ROLE`` administers
``REVIEWER_ROLE`` and ``JUROR_ROLE``): a grant or revocation is **announced** by the operator
(``schedule(ClaimLedger, 0, grantRole/revokeRole calldata, 0, salt, delay)``, a public
``CallScheduled``) and takes effect only when **executed** once the delay has passed (anyone may
execute; the workflow clock does, :meth:`RosterClient.execute_due`). Until then the account's role
is *pending*. With a zero delay (local anvil) the announcement is executed at once. The salt is
``keccak256(calldata ‖ n)`` with ``n`` the number of earlier announcements of the same call, so a
re-grant after a revocation is a new operation, and a retry finds its own pending announcement
instead of announcing twice.

Every write is idempotent in the way a retry after a crash needs: "already done" on chain
(``ClaimLedgerRuleSetExists``, ``ClaimLedgerRuleSetRetired``, ``ClaimLedgerConflictExists``, a role
already held) is reported as ``None`` instead of a transaction hash, never as an error. Reverts
surface before anything is broadcast, because the sender estimates gas first.

Only commitments and addresses are sent: no member id, name or document hash (DESIGN.md
"Evidence: privacy first").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt, Wei

from backend.chain.transactions import ContractReverted, Sender, classify

REVIEWER = "REVIEWER_ROLE"
JUROR = "JUROR_ROLE"
OPERATOR = "OPERATOR_ROLE"

# TimelockController.OperationState; getTimestamp is 0 for an unknown (or cancelled) operation, 1
# for an executed one, else the time from which it may be executed.
_UNSET, _WAITING, _READY, _DONE = 0, 1, 2, 3
_DONE_TIMESTAMP = 1
_ZERO32 = b"\0" * 32


@dataclass(frozen=True)
class RosterOperation:
    """One announced roster change (a RosterTimelock operation on ClaimLedger)."""

    id: bytes
    data: bytes
    salt: bytes
    scheduled_block: int
    state: int

    @property
    def pending(self) -> bool:
        return self.state in (_WAITING, _READY)


@dataclass(frozen=True)
class RoleStanding:
    """Where an address stands with a roster role: ``held`` (in force), ``pending`` (a grant is
    announced), ``revoking`` (in force, a revocation is announced) or ``none``. ``change_at`` is the
    Unix time from which the announced change may be executed (the workflow clock does it then)."""

    status: str
    change_at: int | None = None


@dataclass(frozen=True)
class _Waiting:
    data: bytes
    salt: bytes
    ready_at: int  # the timelock's getTimestamp: executable in a block at or after it


@dataclass
class ScheduleScan:
    """What :meth:`RosterClient.execute_due` has read of the timelock's announcements so far: the
    next block to read, the hash of the last one read (a changed hash means a reorg: read all again),
    the operations still waiting for their time and those done (executed or cancelled)."""

    from_block: int
    next_block: int = -1
    last_hash: bytes | None = None
    waiting: dict[bytes, _Waiting] = field(default_factory=dict)
    done: set[bytes] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.next_block < 0:
            self.next_block = self.from_block

    def rewind(self) -> None:
        self.next_block, self.last_hash = self.from_block, None
        self.waiting.clear()
        self.done.clear()


@dataclass(frozen=True)
class RuleSetParams:
    """The parameters ClaimLedger stores per rule set: the claim parameters it enforces and the
    share parameters Apportionment takes from it (the rest lives in the hashed JSON)."""

    notice_seconds: int
    review_quorum: int
    jury_size: int
    min_turnout: int
    commit_seconds: int
    reveal_seconds: int
    fee_bps: int
    per_case_cap_fen: int
    annual_cap_fen: int

    def as_args(self) -> list[int]:
        return [
            self.notice_seconds,
            self.review_quorum,
            self.jury_size,
            self.min_turnout,
            self.commit_seconds,
            self.reveal_seconds,
            self.fee_bps,
            self.per_case_cap_fen,
            self.annual_cap_fen,
        ]


@dataclass(frozen=True)
class OnchainRuleSet:
    params: RuleSetParams
    retired: bool
    anchored_at: int = 0
    effective_at: int = 0


class RosterClient:
    """Rule-set, role and conflict calls on one ClaimLedger deployment, sent by the operator key."""

    def __init__(
        self,
        w3: Web3,
        contract: Contract,
        operator: Sender,
        timelock: Contract | None = None,
        from_block: int = 0,
    ) -> None:
        self.w3 = w3
        self.contract = contract
        self.operator = operator
        #: The RosterTimelock holding ROSTER_ROLE; None only for a ledger whose rosters the
        #: operator administers directly (test deployments of older code).
        self.timelock = timelock
        self.from_block = from_block
        self._roles: dict[str, bytes] = {}

    # --- reads ---------------------------------------------------------------------------------

    def _call(self, fn: str, *args: object) -> Any:
        try:
            return getattr(self.contract.functions, fn)(*args).call()
        except Exception as exc:
            raise classify(exc) from exc

    def role_id(self, name: str) -> bytes:
        """``keccak256(name)`` as the contract defines it (read once, then cached)."""
        if name not in self._roles:
            self._roles[name] = bytes(self._call(name))
        return self._roles[name]

    def has_role(self, name: str, address: str) -> bool:
        return bool(self._call("hasRole", self.role_id(name), Web3.to_checksum_address(address)))

    def rule_set(self, rule_set_hash: bytes) -> OnchainRuleSet | None:
        """The anchored parameters of ``rule_set_hash``, or None when it was never anchored."""
        try:
            raw = tuple(self._call("ruleSet", rule_set_hash))
        except ContractReverted as exc:
            if exc.error == "ClaimLedgerUnknownRuleSet":
                return None
            raise
        params = RuleSetParams(
            int(raw[0]),
            int(raw[1]),
            int(raw[2]),
            int(raw[3]),
            int(raw[4]),
            int(raw[5]),
            int(raw[7]),
            int(raw[8]),
            int(raw[9]),
        )
        return OnchainRuleSet(params, bool(raw[6]), anchored_at=int(raw[10]), effective_at=int(raw[11]))

    def rule_set_in_force(self, at: int) -> bytes | None:
        """``ruleSetInForce(at)``: the hash of the rule set in force at Unix time ``at``, None when none was."""
        try:
            found = bytes(self.contract.functions.ruleSetInForce(at).call())
        except Exception as exc:
            raise classify(exc) from exc
        return None if found == bytes(32) else found

    def rule_set_delay(self) -> int:
        """``RULE_SET_DELAY()``: seconds from a rule set's anchoring to its coming into force."""
        return int(self._call("RULE_SET_DELAY"))

    def is_conflicted(self, address: str, member_commitment: bytes) -> bool:
        return bool(self._call("isConflicted", Web3.to_checksum_address(address), member_commitment))

    # --- writes (each returns the transaction hash, or None when already done) ---------------

    def _transact(self, fn: str, args: list[Any], already_done: tuple[str, ...]) -> bytes | None:
        tx: TxParams = {"to": self.contract.address, "data": self.contract.encode_abi(fn, args=args)}
        try:
            receipt: TxReceipt = self.operator.transact(tx)
        except ContractReverted as exc:
            if exc.error in already_done:
                return None
            raise
        return bytes(receipt["transactionHash"])

    def anchor_rule_set(self, rule_set_hash: bytes, params: RuleSetParams) -> bytes | None:
        """``anchorRuleSet``; None when this hash is already anchored (``ClaimLedgerRuleSetExists``)."""
        return self._transact("anchorRuleSet", [rule_set_hash, *params.as_args()], ("ClaimLedgerRuleSetExists",))

    def retire_rule_set(self, rule_set_hash: bytes) -> bytes | None:
        """``retireRuleSet``; None when it is already retired."""
        return self._transact("retireRuleSet", [rule_set_hash], ("ClaimLedgerRuleSetRetired",))

    def grant_role(self, name: str, address: str) -> bytes | None:
        """Announce (and execute once due) ``grantRole`` (REVIEWER_ROLE / JUROR_ROLE).

        Returns the hash of the transaction sent (the announcement, or its execution when the delay
        is zero or already over), or None when the address already holds the role or the change is
        already announced and still waiting.
        """
        checksum = Web3.to_checksum_address(address)
        if self.has_role(name, checksum):
            return None
        return self._change("grantRole", name, checksum)

    def revoke_role(self, name: str, address: str) -> bytes | None:
        """Announce (and execute once due) ``revokeRole``; None when the address does not hold it
        or the revocation is already announced and waiting."""
        checksum = Web3.to_checksum_address(address)
        if not self.has_role(name, checksum):
            return None
        return self._change("revokeRole", name, checksum)

    def role_status(self, name: str, address: str) -> str:
        """``"held"``, ``"pending"`` (a grant is announced, not yet executed), ``"revoking"`` (held,
        a revocation is announced) or ``"none"``."""
        return self.role_standings(name, [address])[Web3.to_checksum_address(address)].status

    def role_standings(self, name: str, addresses: Sequence[str]) -> dict[str, RoleStanding]:
        """The standing of role ``name`` for each address (keyed by checksum address): one read of
        the announcements for all of them, and one timelock read per announcement of theirs."""
        wanted = [Web3.to_checksum_address(a) for a in addresses]
        held = {a: self.has_role(name, a) for a in wanted}
        announced: dict[bytes, str] = {}
        if self.timelock is not None:
            for a in wanted:
                announced[self._calldata("revokeRole" if held[a] else "grantRole", name, a)] = a
        change_at: dict[str, int] = {}
        if announced:
            assert self.timelock is not None
            try:
                scheduled = self.timelock.events.CallScheduled().get_logs(from_block=self.from_block)
            except Exception as exc:
                raise classify(exc) from exc
            for log in scheduled:
                address = announced.get(bytes(log["args"]["data"]))
                if address is None or Web3.to_checksum_address(log["args"]["target"]) != self.contract.address:
                    continue
                ready_at = int(self._timelock_call("getTimestamp", bytes(log["args"]["id"])))
                if ready_at > _DONE_TIMESTAMP:  # announced, neither executed nor cancelled
                    change_at[address] = ready_at
        standings: dict[str, RoleStanding] = {}
        for a in wanted:
            at = change_at.get(a)
            if held[a]:
                standings[a] = RoleStanding("held") if at is None else RoleStanding("revoking", at)
            else:
                standings[a] = RoleStanding("none") if at is None else RoleStanding("pending", at)
        return standings

    def _calldata(self, fn: str, name: str, address: str) -> bytes:
        return bytes.fromhex(self.contract.encode_abi(fn, args=[self.role_id(name), address]).removeprefix("0x"))

    def _change(self, fn: str, name: str, address: str) -> bytes | None:
        if self.timelock is None:
            return self._transact(fn, [self.role_id(name), address], ())
        data = self._calldata(fn, name, address)
        earlier = self.operations(data)
        pending = next((op for op in earlier if op.pending), None)
        if pending is None:
            salt = keccak(data + len(earlier).to_bytes(32, "big"))
            delay = int(self._timelock_call("getMinDelay"))
            tx: TxParams = {
                "to": self.timelock.address,
                "data": self.timelock.encode_abi(
                    "schedule", args=[self.contract.address, 0, data, _ZERO32, salt, delay]
                ),
            }
            scheduled = bytes(self.operator.transact(tx)["transactionHash"])
            op_id = self.operation_id(data, salt)
            if int(self._timelock_call("getOperationState", op_id)) != _READY:
                return scheduled
            return self._execute(data, salt)
        if pending.state == _READY:
            return self._execute(pending.data, pending.salt)
        return None

    def _timelock_call(self, fn: str, *args: object) -> Any:
        assert self.timelock is not None
        try:
            return getattr(self.timelock.functions, fn)(*args).call()
        except Exception as exc:
            raise classify(exc) from exc

    def _execute(self, data: bytes, salt: bytes) -> bytes:
        assert self.timelock is not None
        tx: TxParams = {
            "to": self.timelock.address,
            "data": self.timelock.encode_abi("execute", args=[self.contract.address, 0, data, _ZERO32, salt]),
        }
        return bytes(self.operator.transact(tx)["transactionHash"])

    def operation_id(self, data: bytes, salt: bytes) -> bytes:
        """``TimelockController.hashOperation(ledger, 0, data, 0, salt)``."""
        return keccak(
            abi_encode(
                ["address", "uint256", "bytes", "bytes32", "bytes32"],
                [self.contract.address, 0, data, _ZERO32, salt],
            )
        )

    def operations(self, data: bytes | None = None) -> list[RosterOperation]:
        """Every roster change announced on this ledger (optionally: of exactly ``data``), oldest first."""
        if self.timelock is None:
            return []
        try:
            scheduled = self.timelock.events.CallScheduled().get_logs(from_block=self.from_block)
            salts = {
                bytes(log["args"]["id"]): bytes(log["args"]["salt"])
                for log in self.timelock.events.CallSalt().get_logs(from_block=self.from_block)
            }
        except Exception as exc:
            raise classify(exc) from exc
        found = []
        for log in scheduled:
            args = log["args"]
            if Web3.to_checksum_address(args["target"]) != self.contract.address:
                continue
            if data is not None and bytes(args["data"]) != data:
                continue
            op_id = bytes(args["id"])
            state = int(self._timelock_call("getOperationState", op_id))
            found.append(
                RosterOperation(op_id, bytes(args["data"]), salts.get(op_id, _ZERO32), int(log["blockNumber"]), state)
            )
        return found

    def execute_due(self, scan: ScheduleScan | None = None) -> list[bytes]:
        """Execute every announced roster change whose delay has passed; their operation ids.

        With the ``scan`` a caller keeps between calls (the workflow clock), a call reads only the
        ``CallScheduled`` logs of the blocks mined since the previous one, and asks the timelock
        about an operation only when it is first seen; without one it reads all of them.
        """
        if self.timelock is None:
            return []
        scan = ScheduleScan(self.from_block) if scan is None else scan
        try:
            head = self.w3.eth.get_block("latest")
        except Exception as exc:
            raise classify(exc) from exc
        self._scan_new_blocks(scan, head)
        done = []
        for op_id, op in list(scan.waiting.items()):
            if op.ready_at > int(head["timestamp"]):
                continue
            try:
                self._execute(op.data, op.salt)
            except ContractReverted as exc:  # executed (or cancelled) by someone else meanwhile
                if exc.error != "TimelockUnexpectedOperationState":
                    raise  # still waiting in the scan: the next cycle tries again
            else:
                done.append(op_id)
            del scan.waiting[op_id]
            scan.done.add(op_id)
        return done

    def _scan_new_blocks(self, scan: ScheduleScan, head: Any) -> None:
        """Bring ``scan`` up to ``head``: read the logs of the blocks it has not seen (all of them
        again when the block it stopped at is no longer on the chain: a reorg or a restarted node)."""
        assert self.timelock is not None
        last = int(head["number"])
        try:
            if scan.last_hash is not None:
                stopped_at = scan.next_block - 1
                seen = head if last == stopped_at else None
                if last > stopped_at:
                    seen = self.w3.eth.get_block(stopped_at)
                if seen is None or bytes(seen["hash"]) != scan.last_hash:
                    scan.rewind()
            if last < scan.next_block:
                return
            window = {"from_block": scan.next_block, "to_block": last}
            scheduled = self.timelock.events.CallScheduled().get_logs(**window)
            salts = {
                bytes(log["args"]["id"]): bytes(log["args"]["salt"])
                for log in self.timelock.events.CallSalt().get_logs(**window)
            }
        except Exception as exc:
            raise classify(exc) from exc
        for log in scheduled:
            args = log["args"]
            op_id = bytes(args["id"])
            if Web3.to_checksum_address(args["target"]) != self.contract.address or op_id in scan.done:
                continue
            ready_at = int(self._timelock_call("getTimestamp", op_id))
            if ready_at <= _DONE_TIMESTAMP:  # executed already (1) or cancelled (0)
                scan.done.add(op_id)
                continue
            scan.waiting[op_id] = _Waiting(bytes(args["data"]), salts.get(op_id, _ZERO32), ready_at)
        scan.next_block, scan.last_hash = last + 1, bytes(head["hash"])

    def declare_conflict(self, address: str, member_commitment: bytes) -> bytes | None:
        """``declareConflict``; None when this pair is already declared."""
        return self._transact(
            "declareConflict",
            [Web3.to_checksum_address(address), member_commitment],
            ("ClaimLedgerConflictExists",),
        )

    def fund(self, address: str, minimum_wei: int, top_up_wei: int) -> bytes | None:
        """Send ``top_up_wei`` from the operator when ``address`` holds less than ``minimum_wei``.

        Jurors send their own ``commitVote`` / ``revealVote`` transactions, so their keys need gas.
        """
        checksum = Web3.to_checksum_address(address)
        try:
            balance = int(self.w3.eth.get_balance(checksum))
        except Exception as exc:
            raise classify(exc) from exc
        if balance >= minimum_wei:
            return None
        receipt = self.operator.transact({"to": checksum, "value": Wei(top_up_wei), "gas": 21_000})
        return bytes(receipt["transactionHash"])

    def anchoring_tx(self, rule_set_hash: bytes, from_block: int = 0) -> bytes | None:
        """Hash of the transaction that anchored ``rule_set_hash`` (from its ``RuleSetAnchored`` log)."""
        try:
            logs = self.contract.events.RuleSetAnchored().get_logs(
                from_block=from_block, argument_filters={"ruleSetHash": rule_set_hash}
            )
        except Exception as exc:
            raise classify(exc) from exc
        return bytes(logs[0]["transactionHash"]) if logs else None
