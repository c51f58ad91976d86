"""The membership log: joins and exits as leaves of hash-chained Merkle batches, and its replay.

Verification-critical (DESIGN.md "Exact formats" 2 and 4, "Scale"), pinned by
``tests/vectors/membership_log.json`` (hashes and roots made by ``@openzeppelin/merkle-tree``).

**Membership leaf** — one change of the plan's membership, an OpenZeppelin StandardMerkleTree leaf::

    values   (uint8 change, bytes32 memberCommitment, uint64 effectiveAt)
    encoding uint256(change) ‖ memberCommitment ‖ uint256(effectiveAt)         (3 static words)
    leaf     keccak256(bytes.concat(keccak256(abi.encode(change, memberCommitment, effectiveAt))))

* ``change``: ``1`` = join (the member is under protection from ``effectiveAt``), ``2`` = exit
  (under protection until just before ``effectiveAt``), whatever the reason — exit, age limit,
  termination: the reason stays off chain.
* ``memberCommitment``: the member's salted commitment (``commitments.member_commitment``), the
  same value the apportionment's membership snapshot and share ledger carry.
* ``effectiveAt``: the instant the change counts from, in Unix seconds (UTC) on the chain's clock
  — the ``joined_at`` / ``ended_at`` the operator's database records.

**Batches** are StandardMerkleTree trees over these leaf hashes (sorted leaves, as every Hubao
tree), anchored through ``anchor(root, leafCount, prevRoot)`` of a second EvidenceNotary instance
deployed as ``MembershipLog``: the anchors' hash chain fixes the order of batches and makes
dropping or re-ordering one detectable, exactly as for evidence.

**Replay** (:func:`members_at`): a commitment is under protection at instant ``t`` when its latest
change with ``effectiveAt ≤ t`` is a join (a join and an exit at the same second: the exit wins).
The apportionment's sharing members at a period's snapshot are exactly this set (the
audit's step 6 recomputes it from the anchored log; ``backend.audit.membership_log``).

Pure: no I/O, no settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Final

from backend.proofs.errors import LeafEncodingError
from backend.proofs.hexstr import from_hex, is_canonical_hex, to_hex
from backend.proofs.keccak import keccak256
from backend.proofs.merkle import MerkleTree

__all__ = [
    "EXIT",
    "JOIN",
    "MEMBERSHIP_LEAF_TYPES",
    "MembershipChange",
    "batch_tree",
    "encode_membership_leaf",
    "members_at",
    "membership_leaf_hash",
]

JOIN: Final = 1
EXIT: Final = 2
CHANGES: Final = (JOIN, EXIT)
MEMBERSHIP_LEAF_TYPES: tuple[str, str, str] = ("uint8", "bytes32", "uint64")
_UINT64_MAX: Final = 2**64 - 1


def encode_membership_leaf(change: int, member_commitment: bytes, effective_at: int) -> bytes:
    """``abi.encode(uint8 change, bytes32 memberCommitment, uint64 effectiveAt)``, written directly."""
    if type(change) is not int or change not in CHANGES:
        raise LeafEncodingError("change must be 1 (join) or 2 (exit)", field="change")
    if not isinstance(member_commitment, bytes | bytearray) or len(member_commitment) != 32:
        raise LeafEncodingError("memberCommitment must be 32 bytes", field="memberCommitment")
    if type(effective_at) is not int or not 0 <= effective_at <= _UINT64_MAX:
        raise LeafEncodingError("effectiveAt must be a uint64", field="effectiveAt")
    return change.to_bytes(32, "big") + bytes(member_commitment) + effective_at.to_bytes(32, "big")


def membership_leaf_hash(change: int, member_commitment: bytes, effective_at: int) -> bytes:
    """Standard leaf hash of a membership leaf."""
    return keccak256(keccak256(encode_membership_leaf(change, member_commitment, effective_at)))


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """One leaf of the membership log: ``(uint8 change, bytes32 memberCommitment, uint64 effectiveAt)``."""

    change: int
    member_commitment: bytes
    effective_at: int

    def __post_init__(self) -> None:
        encode_membership_leaf(self.change, self.member_commitment, self.effective_at)

    @property
    def is_join(self) -> bool:
        return self.change == JOIN

    def values(self) -> tuple[int, bytes, int]:
        """The values in ``MEMBERSHIP_LEAF_TYPES`` order (for ``StandardMerkleTree.of``)."""
        return (self.change, self.member_commitment, self.effective_at)

    def encode(self) -> bytes:
        return encode_membership_leaf(self.change, self.member_commitment, self.effective_at)

    def leaf_hash(self) -> bytes:
        return membership_leaf_hash(self.change, self.member_commitment, self.effective_at)

    def to_json(self) -> dict[str, Any]:
        """``{"change": 1|2, "memberCommitment": "0x…", "effectiveAt": <int>}``."""
        return {
            "change": self.change,
            "memberCommitment": to_hex(self.member_commitment),
            "effectiveAt": self.effective_at,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], path: str = "leaf") -> MembershipChange:
        """Parse the JSON form strictly; ``LeafEncodingError`` naming the field otherwise."""
        if not isinstance(doc, Mapping) or set(doc) != {"change", "memberCommitment", "effectiveAt"}:
            raise LeafEncodingError(
                f"{path} must be an object with exactly change, memberCommitment, effectiveAt", field=path
            )
        change, commitment, effective_at = doc["change"], doc["memberCommitment"], doc["effectiveAt"]
        if type(change) is not int or change not in CHANGES:
            raise LeafEncodingError(f"{path}.change must be 1 (join) or 2 (exit)", field=f"{path}.change")
        if not is_canonical_hex(commitment, 32):
            raise LeafEncodingError(
                f"{path}.memberCommitment must be 32 bytes of lower-case 0x hex", field=f"{path}.memberCommitment"
            )
        if type(effective_at) is not int or not 0 <= effective_at <= _UINT64_MAX:
            raise LeafEncodingError(f"{path}.effectiveAt must be a uint64 integer", field=f"{path}.effectiveAt")
        return cls(change, from_hex(commitment), effective_at)


def batch_tree(leaf_hashes: Sequence[bytes]) -> MerkleTree:
    """The StandardMerkleTree of one batch (sorted leaves; input positions locate proofs)."""
    return MerkleTree.from_leaf_hashes(list(leaf_hashes))


def members_at(changes: Iterable[MembershipChange], at: int) -> Iterator[bytes]:
    """Commitments under protection at Unix second ``at``, replayed from ``changes``.

    ``changes`` must come grouped by commitment in ascending byte order (``ORDER BY commitment``),
    any order within a group; the members are yielded in that order, one group in memory at a
    time (memory flat in N). A group out of order raises ``ValueError``.
    """
    previous: bytes | None = None
    for commitment, group in groupby(changes, key=lambda c: c.member_commitment):
        if previous is not None and commitment <= previous:
            raise ValueError("membership changes are not grouped in ascending commitment order")
        previous = commitment
        latest: tuple[int, int] | None = None  # (effectiveAt, change): an exit sorts after a join
        for item in group:
            if item.effective_at <= at:
                key = (item.effective_at, item.change)
                if latest is None or key > latest:
                    latest = key
        if latest is not None and latest[1] == JOIN:
            yield commitment
