"""ClaimLedger logs as the auditor reads them: decoded by hand from the ABI layout.

Verification-critical (steps 3 and 4 replay these). The auditor depends on nothing but the ABI
(``contracts/src/IClaimLedger.sol``): topics are ``keccak256`` of the event signatures, fields are
sliced from 32-byte words — no web3 contract object, so a history of 10,000 claims (~100,000 logs)
decodes in well under a second. A log whose topic is not a ClaimLedger event is ignored; a log of
a known event that does not decode is returned as ``Malformed`` so that the replay names it.

Since ClaimLedger 1.2.0 the logs are the whole record: ``VerdictRecorded`` carries the signed
verdict's fields and its signature, ``VoteRevealed`` the salt that opens the commitment, so no
transaction is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from backend.proofs.keccak import keccak256

__all__ = [
    "EVENT_SIGNATURES",
    "TOPICS",
    "LedgerLog",
    "decode_logs",
]

EVENT_SIGNATURES: dict[str, str] = {
    "RuleSetAnchored": "RuleSetAnchored(bytes32,uint32,uint8,uint8,uint8,uint32,uint32,uint16,uint64,uint64,uint64)",
    "RuleSetRetired": "RuleSetRetired(bytes32)",
    "ConflictDeclared": "ConflictDeclared(address,bytes32)",
    "ClaimFiled": "ClaimFiled(bytes32,bytes32,bytes32,bytes32,uint64)",
    "ReviewOpened": "ReviewOpened(bytes32)",
    "VerdictRecorded": "VerdictRecorded(bytes32,address,uint8,uint16,bytes32,bytes32,bytes32,uint256,uint256,bytes)",
    "ReviewDecided": "ReviewDecided(bytes32,uint8,uint8,uint8,uint64)",
    "ObjectionRecorded": "ObjectionRecorded(bytes32,bytes32)",
    "NoticeFinalized": "NoticeFinalized(bytes32)",
    "ClaimAppealed": "ClaimAppealed(bytes32)",
    "JuryDrawScheduled": "JuryDrawScheduled(bytes32,uint32,uint64)",
    "JuryDrawn": "JuryDrawn(bytes32,uint32,bytes32,address[],uint64,uint64)",
    "JurorAbsent": "JurorAbsent(bytes32,uint32,address)",
    "VoteNotRevealed": "VoteNotRevealed(bytes32,uint32,address)",
    "VoteCommitted": "VoteCommitted(bytes32,uint32,address,bytes32)",
    "VoteRevealed": "VoteRevealed(bytes32,uint32,address,bool,bytes32)",
    "JuryTallied": "JuryTallied(bytes32,uint32,uint8,uint8,uint8,uint8)",
    "JuryRoundVoided": "JuryRoundVoided(bytes32,uint32,uint8,uint8)",
    "ClaimWithdrawn": "ClaimWithdrawn(bytes32,uint8)",
    "PayoutRecorded": "PayoutRecorded(bytes32,bytes32,uint64)",
    "RoleGranted": "RoleGranted(bytes32,address,address)",
    "RoleRevoked": "RoleRevoked(bytes32,address,address)",
}
TOPICS: dict[bytes, str] = {keccak256(sig.encode()): name for name, sig in EVENT_SIGNATURES.items()}
TOPIC_OF: dict[str, bytes] = {name: topic for topic, name in TOPICS.items()}
_TOPIC_NAMES: dict[str, str] = {"0x" + topic.hex(): name for topic, name in TOPICS.items()}

# Events that are not about one claim (the first topic is not a claim id).
CONFIG_EVENTS = frozenset({"RuleSetAnchored", "RuleSetRetired", "ConflictDeclared", "RoleGranted", "RoleRevoked"})


class LedgerLog(NamedTuple):
    """One ClaimLedger log: ``name``, where it is, and its decoded fields (``claim`` for claim events).

    A named tuple, not a frozen dataclass: a full audit builds ~6 per claim, and a tuple is the
    cheapest immutable record to build.
    """

    name: str
    block: int
    log_index: int
    claim: bytes | None
    fields: dict[str, Any]
    malformed: bool = False

    @property
    def position(self) -> tuple[int, int]:
        return (self.block, self.log_index)


def _b(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def _w(data: bytes, i: int) -> bytes:
    return data[32 * i : 32 * (i + 1)]


def _u(data: bytes, i: int) -> int:
    return int.from_bytes(data[32 * i : 32 * (i + 1)], "big")


def _addr(word: bytes) -> str:
    return "0x" + word[12:].hex()


# Per event: (topics, at least this many data words).
_LAYOUT: dict[str, tuple[int, int]] = {
    "RuleSetAnchored": (2, 10),
    "RuleSetRetired": (2, 0),
    "ConflictDeclared": (3, 0),
    "ClaimFiled": (4, 2),
    "ReviewOpened": (2, 0),
    "VerdictRecorded": (3, 9),
    "ReviewDecided": (2, 4),
    "ObjectionRecorded": (2, 1),
    "NoticeFinalized": (2, 0),
    "ClaimAppealed": (2, 0),
    "JuryDrawScheduled": (2, 2),
    "JuryDrawn": (3, 5),
    "JurorAbsent": (4, 0),
    "VoteNotRevealed": (4, 0),
    "VoteCommitted": (4, 1),
    "VoteRevealed": (4, 2),
    "JuryTallied": (3, 4),
    "JuryRoundVoided": (3, 2),
    "ClaimWithdrawn": (2, 1),
    "PayoutRecorded": (2, 2),
    "RoleGranted": (4, 0),
    "RoleRevoked": (4, 0),
}


# Events whose only field is the claim id (their first topic).
_CLAIM_ID_ONLY = frozenset({"ReviewOpened", "NoticeFinalized", "ClaimAppealed"})


def _decode_fields(name: str, topics: list[bytes], data: bytes) -> dict[str, Any]:
    """The event's fields (raises on a short log; ``IndexError``/``ValueError`` mean malformed)."""
    words = len(data) // 32
    need = _LAYOUT[name]
    if len(topics) != need[0] or words < need[1]:
        raise ValueError("layout")
    t = topics
    # Most frequent first: a claim's filing, opening, verdicts, decision and finalization.
    if name in _CLAIM_ID_ONLY:
        return {}
    if name == "ClaimFiled":
        return {"memberCommitment": t[2], "ruleSetHash": t[3], "evidenceRoot": _w(data, 0), "payoutFen": _u(data, 1)}
    if name == "VerdictRecorded":
        offset = _u(data, 7)
        length = int.from_bytes(data[offset : offset + 32], "big")
        signature = data[offset + 32 : offset + 32 + length]
        if len(signature) != length:
            raise ValueError("signature")
        return {
            "reviewer": _addr(t[2]),
            "verdict": _u(data, 0),
            "reasonCode": _u(data, 1),
            "reportHash": _w(data, 2),
            "digest": _w(data, 3),
            "ruleSetHash": _w(data, 4),
            "nonce": _u(data, 5),
            "deadline": _u(data, 6),
            "signature": signature,
        }
    if name == "ReviewDecided":
        return {"outcome": _u(data, 0), "approvals": _u(data, 1), "rejections": _u(data, 2), "noticeEnds": _u(data, 3)}
    if name == "RuleSetAnchored":
        return {
            "ruleSetHash": t[1],
            # claim parameters, then share parameters (feeBps, perCaseCapFen, annualCapFen)
            "params": tuple(_u(data, i) for i in range(9)),
            "effectiveAt": _u(data, 9),
        }
    if name == "RuleSetRetired":
        return {"ruleSetHash": t[1]}
    if name == "ConflictDeclared":
        return {"account": _addr(t[1]), "memberCommitment": t[2]}
    if name == "ObjectionRecorded":
        return {"objectorCommitment": _w(data, 0)}
    if name == "JuryDrawn":
        offset = _u(data, 1) // 32
        count = _u(data, offset)
        if count > 1000 or words < offset + 1 + count:
            raise ValueError("jurors")
        jurors = [_addr(_w(data, offset + 1 + i)) for i in range(count)]
        return {
            "round": int.from_bytes(t[2], "big"),
            "seed": _w(data, 0),
            "jurors": jurors,
            "commitEnds": _u(data, 2),
            "revealEnds": _u(data, 3),
        }
    if name == "JuryDrawScheduled":
        return {"round": _u(data, 0), "drawBlock": _u(data, 1)}
    if name in ("JurorAbsent", "VoteNotRevealed"):
        return {"round": int.from_bytes(t[2], "big"), "juror": _addr(t[3])}
    if name == "VoteCommitted":
        return {"round": int.from_bytes(t[2], "big"), "juror": _addr(t[3]), "commitment": _w(data, 0)}
    if name == "VoteRevealed":
        return {
            "round": int.from_bytes(t[2], "big"),
            "juror": _addr(t[3]),
            "approve": _u(data, 0) == 1,
            "salt": _w(data, 1),
        }
    if name == "JuryTallied":
        return {
            "round": int.from_bytes(t[2], "big"),
            "outcome": _u(data, 0),
            "approvals": _u(data, 1),
            "rejections": _u(data, 2),
            "jurySize": _u(data, 3),
        }
    if name == "JuryRoundVoided":
        return {"round": int.from_bytes(t[2], "big"), "revealed": _u(data, 0), "minTurnout": _u(data, 1)}
    if name == "ClaimWithdrawn":
        return {"from": _u(data, 0)}
    if name == "PayoutRecorded":
        return {"paymentRef": _w(data, 0), "payoutFen": _u(data, 1)}
    return {"role": t[1], "account": _addr(t[2]), "sender": _addr(t[3])}  # RoleGranted, RoleRevoked


def decode_logs(entries: Iterable[dict[str, Any]]) -> list[LedgerLog]:
    """ClaimLedger logs (raw ``eth_getLogs`` entries) decoded, in chain order; unknown topics skipped."""
    # The hot loop of a large audit (~6 logs a claim): topics are looked up by their hex text and
    # only the others are converted.
    out: list[LedgerLog] = []
    fromhex = bytes.fromhex
    for entry in entries:
        raw_topics = entry.get("topics") or []
        if not raw_topics:
            continue
        name = _TOPIC_NAMES.get(raw_topics[0].lower())
        if name is None:
            continue
        topics = [b"", *(fromhex(t[2:]) for t in raw_topics[1:])]
        block = int(entry["blockNumber"], 16)
        log_index = int(entry["logIndex"], 16)
        claim = None if name in CONFIG_EVENTS or len(topics) < 2 else topics[1]
        try:
            fields = _decode_fields(name, topics, fromhex(entry["data"][2:]))
        except (IndexError, ValueError, KeyError):
            out.append(LedgerLog(name, block, log_index, claim, {}, malformed=True))
            continue
        out.append(LedgerLog(name, block, log_index, claim, fields))
    out.sort(key=lambda e: (e.block, e.log_index))
    return out
