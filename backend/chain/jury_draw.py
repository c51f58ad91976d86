"""ClaimLedger's on-chain jury draw, written out in Python so anyone can recompute a draw.

Verification-critical: :func:`select_jurors` must seat exactly the accounts ``ClaimLedger.drawJury``
seats for the same seed and roster, in the same order, or the audit reports a false
``AUDIT_JURY_DRAW_MISMATCH``. Pinned by ``tests/vectors/jury_draw.json``, which the forge test
``contracts/test/ClaimLedgerJury.t.sol`` replays against the contract (roster events, then the draw).

* **Seed**: ``keccak256(abi.encode(bytes32 blockhash(drawBlock), bytes32 claimId, uint32 round))``.
* **Roster**: ``ClaimLedger.jurors()`` at the draw — every ``JUROR_ROLE`` holder in the order the
  ``RoleGranted`` / ``RoleRevoked`` logs leave it (append on grant, swap-and-pop on revocation):
  :func:`replay_juror_roster`.
* **Selection**: partial Fisher–Yates over a copy ``a`` of the roster (``n`` entries): for
  ``i = 0, 1, …`` while fewer than ``size`` are seated and ``i < n``:
  ``j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i)``; swap ``a[i]``, ``a[j]``; seat
  ``a[i]`` unless it is excluded (related to the claimant or objector, a reviewer of the claim, or
  seated in an earlier round). Fewer than ``size`` eligible: :class:`NotEnoughJurors` (the contract
  reverts ``ClaimLedgerNotEnoughJurors(eligible, needed)``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak


class NotEnoughJurors(Exception):
    """Fewer eligible jurors than seats (``ClaimLedgerNotEnoughJurors``)."""

    def __init__(self, eligible: int, needed: int) -> None:
        super().__init__(f"only {eligible} eligible jurors for a jury of {needed}")
        self.eligible = eligible
        self.needed = needed


def draw_seed(block_hash: bytes, claim_id: bytes, round_: int) -> bytes:
    """``keccak256(abi.encode(blockhash(drawBlock), claimId, round))``: the seed ``JuryDrawn`` carries."""
    return keccak(abi_encode(["bytes32", "bytes32", "uint32"], [block_hash, claim_id, round_]))


def select_jurors(seed: bytes, roster: Sequence[str], excluded: Collection[str], size: int) -> list[str]:
    """The seats ``drawJury`` fills from ``roster`` with ``seed`` (checksummed, in seat order)."""
    a = [to_checksum_address(x) for x in roster]
    skip = {to_checksum_address(x) for x in excluded}
    n = len(a)
    seated: list[str] = []
    i = 0
    while i < n and len(seated) < size:
        j = i + int.from_bytes(keccak(abi_encode(["bytes32", "uint256"], [seed, i])), "big") % (n - i)
        a[i], a[j] = a[j], a[i]
        if a[i] not in skip:
            seated.append(a[i])
        i += 1
    if len(seated) < size:
        raise NotEnoughJurors(len(seated), size)
    return seated


def replay_juror_roster(changes: Iterable[tuple[str, str]]) -> list[str]:
    """``jurors()`` after ``changes``: ``("granted" | "revoked", account)`` pairs of the JUROR_ROLE
    ``RoleGranted`` / ``RoleRevoked`` logs in (block, logIndex) order.

    The contract emits those events only when the role actually changes, so every grant appends and
    every revocation removes a listed account (swap-and-pop: the last entry takes its place).
    """
    roster: list[str] = []
    slot: dict[str, int] = {}
    for kind, account in changes:
        who = to_checksum_address(account)
        if kind == "granted":
            if who in slot:  # cannot happen on chain; keep the replay total
                continue
            roster.append(who)
            slot[who] = len(roster) - 1
        elif kind == "revoked":
            index = slot.pop(who, None)
            if index is None:
                continue
            last = roster.pop()
            if index < len(roster):
                roster[index] = last
                slot[last] = index
        else:
            raise ValueError(f"unknown roster change {kind!r}")
    return roster
