"""Step 3's roster record: every reviewer and juror roster change with its public announcement.

Verification-critical (pure). ClaimLedger 2.0.0 lets only ``ROSTER_ROLE`` — the RosterTimelock —
grant or revoke ``REVIEWER_ROLE`` and ``JUROR_ROLE``; a participant may renounce its own role. So
every ``RoleGranted`` / ``RoleRevoked`` of those roles must be either

* sent by the RosterTimelock, executing an operation (``CallExecuted`` in the same block, with
  exactly the ``grantRole`` / ``revokeRole`` calldata of this change) that was announced earlier
  (``CallScheduled``: operation id, block, delay) and executed no earlier than it was ready; or
* a renunciation: a ``RoleRevoked`` whose sender is the account itself.

Anything else is ``AUDIT_ROSTER_CHANGE_UNANNOUNCED`` (a role admin other than the timelock — a
deployment not built by ``backend/chain/deploy.py`` — or a change the timelock did not announce).
:func:`check_roster` also returns the list the report carries (``rosterChanges``): role, account,
change, block, and for announced changes the operation id, when it was scheduled, when it was
ready and when it was executed, so anyone can see who joined a roster and how long the public had
to object. The timelock's logs are decoded by hand from the OpenZeppelin ABI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode

from backend.audit.errors import RosterChangeUnannounced
from backend.audit.ledger_events import LedgerLog
from backend.proofs.keccak import keccak256

__all__ = ["TIMELOCK_TOPICS", "RosterVerdict", "check_roster"]

REVIEWER_ROLE = keccak256(b"REVIEWER_ROLE")
JUROR_ROLE = keccak256(b"JUROR_ROLE")
ROSTER_ROLES = {REVIEWER_ROLE: "REVIEWER_ROLE", JUROR_ROLE: "JUROR_ROLE"}

_SIGNATURES = {
    "CallScheduled": "CallScheduled(bytes32,uint256,address,uint256,bytes,bytes32,uint256)",
    "CallExecuted": "CallExecuted(bytes32,uint256,address,uint256,bytes)",
    "Cancelled": "Cancelled(bytes32)",
}
TIMELOCK_TOPICS: dict[bytes, str] = {keccak256(sig.encode()): name for name, sig in _SIGNATURES.items()}
_SELECTORS = {
    "granted": keccak256(b"grantRole(bytes32,address)")[:4],
    "revoked": keccak256(b"revokeRole(bytes32,address)")[:4],
}


@dataclass(frozen=True)
class _Call:
    name: str
    id: bytes
    block: int
    log_index: int
    target: str = ""
    data: bytes = b""
    delay: int = 0


@dataclass
class RosterVerdict:
    changes: list[dict[str, Any]] = field(default_factory=list)
    findings: list[RosterChangeUnannounced] = field(default_factory=list)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def decode_timelock_logs(entries: Sequence[Mapping[str, Any]]) -> list[_Call]:
    """The RosterTimelock's ``CallScheduled`` / ``CallExecuted`` / ``Cancelled`` logs (raw
    ``eth_getLogs`` entries), in chain order; other and undecodable logs are skipped."""
    out: list[_Call] = []
    for entry in entries:
        topics = [bytes.fromhex(str(t)[2:]) for t in entry.get("topics") or []]
        name = TIMELOCK_TOPICS.get(topics[0]) if topics else None
        if name is None or len(topics) < 2:
            continue
        block, index = int(entry["blockNumber"], 16), int(entry["logIndex"], 16)
        data = bytes.fromhex(str(entry["data"])[2:])
        try:  # a log that does not decode is not an announcement: it is skipped (and its change unannounced)
            if name == "CallScheduled":
                target, _value, calldata, _pred, delay = abi_decode(
                    ["address", "uint256", "bytes", "bytes32", "uint256"], data
                )
                out.append(_Call(name, topics[1], block, index, str(target).lower(), bytes(calldata), int(delay)))
            elif name == "CallExecuted":
                target, _value, calldata = abi_decode(["address", "uint256", "bytes"], data)
                out.append(_Call(name, topics[1], block, index, str(target).lower(), bytes(calldata)))
            else:
                out.append(_Call(name, topics[1], block, index))
        except Exception:  # noqa: S112
            continue
    out.sort(key=lambda c: (c.block, c.log_index))
    return out


def roster_calldata(change: str, role: bytes, account: str) -> bytes:
    """``grantRole(role, account)`` / ``revokeRole(role, account)`` calldata."""
    return _SELECTORS[change] + role + bytes(12) + bytes.fromhex(account.lower().removeprefix("0x"))


def check_roster(
    ledger_logs: Sequence[LedgerLog],
    timelock_logs: Sequence[_Call],
    *,
    ledger: str,
    timelock: str | None,
    block_time: Callable[[int], int | None],
) -> RosterVerdict:
    """Every REVIEWER/JUROR roster change of ``ledger_logs`` with its announcement (see the module)."""
    verdict = RosterVerdict()
    ledger_address = ledger.lower()
    timelock_address = (timelock or "").lower()
    scheduled = {c.id: c for c in timelock_logs if c.name == "CallScheduled"}
    executed = [c for c in timelock_logs if c.name == "CallExecuted" and c.target == ledger_address]
    used: set[tuple[int, int]] = set()
    for log in ledger_logs:
        if log.name not in ("RoleGranted", "RoleRevoked") or log.malformed:
            continue
        f = log.fields
        role_name = ROSTER_ROLES.get(f["role"])
        if role_name is None:
            continue
        account, sender = str(f["account"]).lower(), str(f["sender"]).lower()
        change = "granted" if log.name == "RoleGranted" else "revoked"
        entry: dict[str, Any] = {
            "role": role_name,
            "account": account,
            "change": change,
            "block": log.block,
            "sender": sender,
        }
        verdict.changes.append(entry)
        if change == "revoked" and sender == account:
            entry["change"] = "renounced"  # a participant leaving at once: needs no announcement
            continue
        if not timelock_address or sender != timelock_address:
            _unannounced(verdict, log, role_name, account, change, f"sent by {sender}, not by the RosterTimelock")
            continue
        data = roster_calldata(change, f["role"], account)
        run = next(
            (c for c in executed if c.block == log.block and c.data == data and (c.block, c.log_index) not in used),
            None,
        )
        announced = scheduled.get(run.id) if run is not None else None
        if run is None or announced is None:
            _unannounced(verdict, log, role_name, account, change, "no announced RosterTimelock operation carried it")
            continue
        used.add((run.block, run.log_index))
        at, done = block_time(announced.block), block_time(run.block)
        entry.update(
            operation=_hex(announced.id),
            scheduledBlock=announced.block,
            scheduledAt=at,
            delay=announced.delay,
            readyAt=None if at is None else at + announced.delay,
            executedAt=done,
        )
        if at is not None and done is not None and done < at + announced.delay:
            _unannounced(
                verdict,
                log,
                role_name,
                account,
                change,
                f"executed at {done}, before it was ready at {at + announced.delay}",
            )
    return verdict


def _unannounced(verdict: RosterVerdict, log: LedgerLog, role: str, account: str, change: str, why: str) -> None:
    verdict.findings.append(
        RosterChangeUnannounced(
            f"{role} {change} for {account} in block {log.block}: {why}",
            reason="unannounced",
            block=log.block,
            event=log.name,
            account=account,
        )
    )
