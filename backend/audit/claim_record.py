"""A claim as ClaimLedger records it: its states, the fields the replay rebuilds, ``claim(id)`` decoded.

Verification-critical (step 3 compares the replayed claim with this storage, field for field).
The states are ``IClaimLedger.ClaimState`` in order; ``STORED_FIELDS`` are the ``Claim`` struct's
fields in the order ``claim(bytes32)`` returns them (19 static words).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from backend.chain.ledger_types import ClaimState, OnchainClaim

__all__ = [
    "STATE_NAMES",
    "STORED_FIELDS",
    "ReplayedClaim",
    "decode_stored_claim",
    "states_count",
    "stored_differences",
]

ZERO = bytes(32)

NONE, FILED, UNDER_REVIEW, REJECTED, IN_NOTICE, DISPUTED, APPROVED, PAID, WITHDRAWN = range(9)
STATE_NAMES = ("NONE", "FILED", "UNDER_REVIEW", "REJECTED", "IN_NOTICE", "DISPUTED", "APPROVED", "PAID", "WITHDRAWN")


def decode_stored_claim(data: bytes) -> OnchainClaim | None:
    """``claim(bytes32)`` return data (19 static words); None when it does not decode."""
    if len(data) < 19 * 32:
        return None
    w = [data[32 * i : 32 * (i + 1)] for i in range(19)]
    n = [int.from_bytes(x, "big") for x in w]
    if n[10] > WITHDRAWN:
        return None
    return OnchainClaim(
        w[0],
        w[1],
        w[2],
        w[3],
        w[4],
        n[5],
        n[6],
        n[7],
        n[8],
        n[9],
        ClaimState(n[10]),
        n[11],
        n[12],
        n[13] == 1,
        n[14],
        n[15],
        n[16],
        n[17],
        n[18],
    )


# Fields compared between the replay and storage, in the order of the struct.
STORED_FIELDS = (
    "member_commitment",
    "evidence_root",
    "rule_set_hash",
    "objector_commitment",
    "payment_ref",
    "payout_fen",
    "filed_at",
    "notice_ends",
    "commit_ends",
    "reveal_ends",
    "state",
    "review_approvals",
    "review_rejections",
    "appealed",
    "jury_round",
    "committed_votes",
    "revealed_votes",
    "jury_approvals",
    "draw_block",
)


@dataclass
class ReplayedClaim:
    """A claim as the replay knows it: exactly the stored fields, plus what storage keeps in maps."""

    member_commitment: bytes = ZERO
    evidence_root: bytes = ZERO
    rule_set_hash: bytes = ZERO
    objector_commitment: bytes = ZERO
    payment_ref: bytes = ZERO
    payout_fen: int = 0
    filed_at: int = 0
    notice_ends: int = 0
    commit_ends: int = 0
    reveal_ends: int = 0
    state: int = NONE
    review_approvals: int = 0
    review_rejections: int = 0
    appealed: bool = False
    jury_round: int = 0
    committed_votes: int = 0
    revealed_votes: int = 0
    jury_approvals: int = 0
    draw_block: int = 0
    filed_block: int = 0
    reviewers: set[str] = field(default_factory=set)
    drawn: set[str] = field(default_factory=set)
    seated: set[str] = field(default_factory=set)  # every round's jurors (never redrawn for the claim)
    marked: set[str] = field(default_factory=set)  # JurorAbsent / VoteNotRevealed of the open round
    commitments: dict[str, bytes] = field(default_factory=dict)
    revealed: dict[str, bool] = field(default_factory=dict)


def stored_differences(stored: OnchainClaim, replayed: ReplayedClaim) -> list[str]:
    """The ``STORED_FIELDS`` in which storage and the replay disagree, in struct order."""
    return [name for name in STORED_FIELDS if getattr(stored, name) != getattr(replayed, name)]


def states_count(states: Mapping[str, int]) -> dict[str, int]:
    """How many replayed claims end in each state (for the report's ``checked``)."""
    out: dict[str, int] = {}
    for state in states.values():
        out[STATE_NAMES[state]] = out.get(STATE_NAMES[state], 0) + 1
    return out
