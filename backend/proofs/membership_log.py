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

**Packed changes** (:func:`pack_change`, :func:`members_at_packed`): the replay works on changes
packed as fixed-width 41-byte records ``memberCommitment ‖ uint64 effectiveAt ‖ uint8 change``
(big-endian), so that ascending byte order is (commitment, effectiveAt, change) order and the
latest change of a commitment at ``t`` is simply its last record with ``effectiveAt ≤ t``. Records
arrive in sorted chunks (of any size, from memory or from sorted run files on disk) and are
replayed a chunk at a time in numpy, a commitment's records possibly spanning chunks: memory is
one chunk. :func:`members_at` packs its groups and runs the same replay.

Pure: no I/O, no settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Final

import numpy as np

from backend.proofs.errors import LeafEncodingError
from backend.proofs.hexstr import from_hex, is_canonical_hex, to_hex
from backend.proofs.keccak import keccak256
from backend.proofs.merkle import MerkleTree

__all__ = [
    "CHANGE_RECORD",
    "CHANGE_RECORD_SIZE",
    "EXIT",
    "JOIN",
    "MEMBERSHIP_LEAF_TYPES",
    "MembershipChange",
    "batch_tree",
    "encode_membership_leaf",
    "members_at",
    "members_at_packed",
    "membership_leaf_hash",
    "pack_change",
]

JOIN: Final = 1
EXIT: Final = 2
CHANGES: Final = (JOIN, EXIT)
MEMBERSHIP_LEAF_TYPES: tuple[str, str, str] = ("uint8", "bytes32", "uint64")
_UINT64_MAX: Final = 2**64 - 1
CHANGE_RECORD_SIZE: Final = 41
# A packed change as a numpy record (no padding: itemsize 41). ``S`` fields compare as unsigned
# bytes; the trailing zero bytes ``S`` strips when comparing cannot reorder or merge two values of
# the same width.
CHANGE_RECORD: Final = np.dtype([("commitment", "S32"), ("effective_at", ">u8"), ("change", "u1")])
_PACKED_KEY = np.dtype(f"S{CHANGE_RECORD_SIZE}")
_PACK_CHUNK = 65_536  # records per chunk when members_at packs its groups


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


def pack_change(change: int, member_commitment: bytes, effective_at: int) -> bytes:
    """The 41-byte packed record of a change: ``memberCommitment ‖ uint64 effectiveAt ‖ uint8 change``."""
    return bytes(member_commitment) + effective_at.to_bytes(8, "big") + change.to_bytes(1, "big")


def members_at(changes: Iterable[MembershipChange], at: int) -> Iterator[bytes]:
    """Commitments under protection at Unix second ``at``, replayed from ``changes``.

    ``changes`` must come grouped by commitment in ascending byte order (``ORDER BY commitment``),
    any order within a group; the members are yielded in that order, a chunk of groups in memory
    at a time (memory flat in N). A group out of order raises ``ValueError``. The replay is
    :func:`members_at_packed` over the groups' packed records.
    """

    def packed() -> Iterator[bytes]:
        previous: bytes | None = None
        chunk: list[bytes] = []
        for commitment, group in groupby(changes, key=lambda c: c.member_commitment):
            if previous is not None and commitment <= previous:
                raise ValueError("membership changes are not grouped in ascending commitment order")
            previous = commitment
            chunk.extend(sorted(pack_change(c.change, c.member_commitment, c.effective_at) for c in group))
            if len(chunk) >= _PACK_CHUNK:
                yield b"".join(chunk)
                chunk = []
        if chunk:
            yield b"".join(chunk)

    for block in members_at_packed(packed(), at):
        for off in range(0, len(block), 32):
            yield block[off : off + 32]


def _latest_at(records: np.ndarray, at: int) -> np.ndarray:
    """Of sorted packed records, each commitment's last record with ``effectiveAt ≤ at``."""
    valid = records[records["effective_at"] <= at] if at >= 0 else records[:0]
    if len(valid) < 2:
        return valid
    commitments = valid["commitment"]
    last = np.empty(len(valid), dtype=bool)
    np.not_equal(commitments[:-1], commitments[1:], out=last[:-1])
    last[-1] = True
    return valid[last]


def members_at_packed(chunks: Iterable[bytes | bytearray | memoryview], at: int) -> Iterator[bytes]:
    """Commitments under protection at ``at``, replayed from packed change records (``pack_change``).

    The records, concatenated over ``chunks``, must be in ascending byte order (a sorted run read
    back in pieces; a commitment's records may span chunks); yields, per chunk, the members it
    settles as one block of packed 32-byte commitments, ascending and unique overall. A record
    below the one before it raises ``ValueError``. Memory: one chunk.
    """
    at = min(at, _UINT64_MAX)
    carried: tuple[bytes, bool] | None = None  # the last commitment seen, whether its latest change is a join
    previous = b""
    for chunk in chunks:
        n = len(chunk) // CHANGE_RECORD_SIZE
        if n * CHANGE_RECORD_SIZE != len(chunk):
            raise ValueError(f"a chunk of packed changes is not a whole number of {CHANGE_RECORD_SIZE}-byte records")
        if not n:
            continue
        keys = np.frombuffer(chunk, dtype=_PACKED_KEY, count=n)
        first = bytes(chunk[:CHANGE_RECORD_SIZE])
        if first < previous or (n > 1 and not bool(np.all(keys[:-1] <= keys[1:]))):
            raise ValueError("packed membership changes are not in ascending order")
        previous = bytes(chunk[-CHANGE_RECORD_SIZE:])
        latest = _latest_at(np.frombuffer(chunk, dtype=CHANGE_RECORD, count=n), at)
        if not len(latest):
            continue
        head = latest["commitment"][:1].tobytes()
        out = bytearray()
        if carried is not None and carried[0] != head and carried[1]:
            out += carried[0]
        settled = latest[:-1]
        out += settled["commitment"][settled["change"] == JOIN].tobytes()
        carried = (latest["commitment"][-1:].tobytes(), bool(latest["change"][-1] == JOIN))
        if out:
            yield bytes(out)
    if carried is not None and carried[1]:
        yield carried[0]
