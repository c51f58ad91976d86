"""OpenZeppelin ``StandardMerkleTree``: values with an ABI leaf encoding over ``merkle.MerkleTree``.

Verification-critical, pinned with ``backend.proofs.merkle`` by ``tests/vectors/merkle_standard.json``
(dumps included) and the oracle test that runs ``@openzeppelin/merkle-tree`` 1.0.8. The tree
format is described in ``backend.proofs.merkle``; this layer adds the values: leaf hash
``keccak256(keccak256(abi.encode(values)))`` (``backend.proofs.leaves``), lookups by value, value
multiproofs, and the library's "standard-v1" JSON dump::

    {"format": "standard-v1", "leafEncoding": [ABI types], "tree": ["0x…32", …],
     "values": [{"value": [JSON values], "treeIndex": int}, …]}
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backend.proofs.errors import LeafEncodingError, LeafNotInTree, MerkleError, TreeDumpInvalid
from backend.proofs.hexstr import from_hex, to_hex
from backend.proofs.leaves import (
    EVIDENCE_LEAF_TYPES,
    evidence_values_hash,
    standard_leaf_hash,
    values_from_json,
    values_to_json,
)
from backend.proofs.merkle import MerkleTree, nodes_are_consistent, process_multiproof, verify_multiproof, verify_proof

__all__ = ["DUMP_FORMAT", "StandardMerkleTree", "StandardMultiProof"]

DUMP_FORMAT = "standard-v1"


@dataclass(frozen=True, slots=True)
class StandardMultiProof:
    """A multiproof whose leaves are values (the JS ``getMultiProof`` result)."""

    leaves: list[tuple[Any, ...]]
    proof: list[bytes]
    proof_flags: list[bool]


def _is_value_index(key: object) -> bool:
    return isinstance(key, int) and not isinstance(key, bool)


class StandardMerkleTree:
    """``@openzeppelin/merkle-tree``'s StandardMerkleTree: values with an ABI leaf encoding.

    ``proof``, ``verify``, ``leaf_lookup`` take a value index (``int``) or the value itself (a
    tuple/list); looking up a value present twice finds the last one, as the library does.
    """

    __slots__ = ("_hash_lookup", "_tree", "leaf_encoding", "values")

    def __init__(self, tree: MerkleTree, values: list[tuple[Any, ...]], leaf_encoding: Sequence[str]) -> None:
        """Wrap a built tree; use ``of`` or ``load``."""
        self._tree = tree
        self.values = values
        self.leaf_encoding: tuple[str, ...] = tuple(leaf_encoding)
        self._hash_lookup: dict[bytes, int] | None = None

    @classmethod
    def of(
        cls, values: Iterable[Sequence[Any]], leaf_encoding: Sequence[str], *, sort_leaves: bool = True
    ) -> StandardMerkleTree:
        """Build the tree of ``values`` (each a tuple matching ``leaf_encoding``).

        Raises ``LeafEncodingError`` for a value that does not fit, ``MerkleError`` when empty.
        """
        encoding = tuple(leaf_encoding)
        vals = [tuple(v) for v in values]
        if encoding == EVIDENCE_LEAF_TYPES:
            hashes = [evidence_values_hash(v) for v in vals]
        else:
            hashes = [standard_leaf_hash(encoding, v) for v in vals]
        return cls(MerkleTree.from_leaf_hashes(hashes, sort_leaves=sort_leaves), vals, encoding)

    @property
    def tree(self) -> MerkleTree:
        return self._tree

    @property
    def root(self) -> bytes:
        return self._tree.root

    def __len__(self) -> int:
        return len(self.values)

    def at(self, index: int) -> tuple[Any, ...] | None:
        """The value at ``index`` (negative counts from the end), or None (the library's ``at``)."""
        try:
            return self.values[index]
        except IndexError:
            return None

    def entries(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        yield from enumerate(self.values)

    def leaf_hash(self, value: Sequence[Any]) -> bytes:
        """Standard leaf hash of ``value`` under this tree's leaf encoding."""
        return standard_leaf_hash(self.leaf_encoding, value)

    def tree_index(self, index: int) -> int:
        """Tree index of the value at value index ``index``."""
        return self._tree.tree_index(index)

    def leaf_lookup(self, value: Sequence[Any]) -> int:
        """Value index of ``value``; ``LeafNotInTree`` if absent."""
        if self._hash_lookup is None:
            t = self._tree
            self._hash_lookup = {t.node(t.tree_index(i)): i for i in range(len(self.values))}
        found = self._hash_lookup.get(self.leaf_hash(value))
        if found is None:
            raise LeafNotInTree("Leaf is not in tree")
        return found

    def _value_index(self, key: int | Sequence[Any]) -> int:
        index = key if _is_value_index(key) else self.leaf_lookup(key)  # type: ignore[arg-type]
        assert isinstance(index, int)
        self._validate_value_at(index)
        return index

    def _validate_value_at(self, index: int) -> None:
        if not 0 <= index < len(self.values):
            raise MerkleError("Index out of bounds", index=index)
        if self._tree.leaf_hash(index) != self.leaf_hash(self.values[index]):
            raise MerkleError("Merkle tree does not contain the expected value", index=index)

    def proof(self, key: int | Sequence[Any]) -> list[bytes]:
        """Proof for a value given by value index or by value."""
        return self._tree.proof(self._value_index(key))

    def verify(self, key: int | Sequence[Any], proof: Sequence[bytes]) -> bool:
        """True iff ``proof`` proves the value (by index or value) under this tree's root."""
        if _is_value_index(key):
            assert isinstance(key, int)
            if not 0 <= key < len(self.values):
                raise MerkleError("Index out of bounds", index=key)
            leaf = self.leaf_hash(self.values[key])
        else:
            leaf = self.leaf_hash(key)  # type: ignore[arg-type]
        return verify_proof(self.root, leaf, proof)

    def multiproof(self, keys: Iterable[int | Sequence[Any]]) -> StandardMultiProof:
        """Multiproof for several values (by index or value), as the library's ``getMultiProof``."""
        value_indices = [self._value_index(k) for k in keys]
        mp = self._tree.multiproof(value_indices)
        t = self._tree
        value_at_tree_index = {t.tree_index(i): i for i in value_indices}
        leaves = [self.values[value_at_tree_index[t_i]] for t_i in self._multiproof_tree_indices(value_indices)]
        if process_multiproof(mp.leaves, mp.proof, mp.proof_flags) != self.root:
            raise MerkleError("Unable to prove values")
        return StandardMultiProof(leaves=leaves, proof=mp.proof, proof_flags=mp.proof_flags)

    def _multiproof_tree_indices(self, value_indices: list[int]) -> list[int]:
        return sorted((self._tree.tree_index(i) for i in value_indices), reverse=True)

    def verify_multiproof(self, multiproof: StandardMultiProof) -> bool:
        leaves = [self.leaf_hash(v) for v in multiproof.leaves]
        return verify_multiproof(self.root, leaves, multiproof.proof, multiproof.proof_flags)

    @staticmethod
    def verify_value(root: bytes, leaf_encoding: Sequence[str], value: Sequence[Any], proof: Sequence[bytes]) -> bool:
        """The library's static ``StandardMerkleTree.verify(root, leafEncoding, leaf, proof)``."""
        return verify_proof(root, standard_leaf_hash(leaf_encoding, value), proof)

    def validate(self) -> None:
        """Check every value against its leaf and every inner node; ``MerkleError`` if not."""
        for i in range(len(self.values)):
            self._validate_value_at(i)
        if not self._tree.is_valid():
            raise MerkleError("Merkle tree is invalid")

    def dump(self) -> dict[str, Any]:
        """The library's "standard-v1" JSON dump (values in their JSON form, see ``leaves``)."""
        t = self._tree
        return {
            "format": DUMP_FORMAT,
            "leafEncoding": list(self.leaf_encoding),
            "tree": [to_hex(n) for n in t.nodes()],
            "values": [
                {"value": values_to_json(self.leaf_encoding, v), "treeIndex": t.tree_index(i)}
                for i, v in enumerate(self.values)
            ],
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> StandardMerkleTree:
        """Load and fully validate a "standard-v1" dump (ours or the JS library's).

        Stricter than the library: every leaf must carry exactly one value. Raises
        ``TreeDumpInvalid`` naming the first problem.
        """
        if not isinstance(data, Mapping):
            raise TreeDumpInvalid("dump must be a JSON object")
        if data.get("format") != DUMP_FORMAT:
            raise TreeDumpInvalid(f"Unknown format {data.get('format')!r}")
        encoding = data.get("leafEncoding")
        if not isinstance(encoding, list) or not all(isinstance(t, str) for t in encoding) or not encoding:
            raise TreeDumpInvalid("Expected leaf encoding")
        raw_tree = data.get("tree")
        raw_values = data.get("values")
        if not isinstance(raw_tree, list) or not raw_tree or not isinstance(raw_values, list):
            raise TreeDumpInvalid("Expected tree and values lists")
        try:
            nodes = [from_hex(h, length=32) for h in raw_tree]
        except ValueError as exc:
            raise TreeDumpInvalid(f"tree node is not 32-byte hex: {exc}") from exc
        if not nodes_are_consistent(nodes):
            raise TreeDumpInvalid("Merkle tree is invalid")
        n = (len(nodes) + 1) // 2
        if len(raw_values) != n:
            raise TreeDumpInvalid(f"expected {n} values for {n} leaves, got {len(raw_values)}")
        values: list[tuple[Any, ...]] = []
        tree_index_of = array("q", bytes(8 * n))
        seen: set[int] = set()
        for i, entry in enumerate(raw_values):
            if not isinstance(entry, Mapping) or set(entry) != {"value", "treeIndex"}:
                raise TreeDumpInvalid(f"values[{i}] must be {{value, treeIndex}}")
            t_i = entry["treeIndex"]
            if not _is_value_index(t_i) or not n - 1 <= t_i < len(nodes) or t_i in seen:
                raise TreeDumpInvalid(f"values[{i}].treeIndex is not a distinct leaf index")
            seen.add(t_i)
            try:
                value = values_from_json(encoding, entry["value"])
                leaf = standard_leaf_hash(encoding, value)
            except LeafEncodingError as exc:
                raise TreeDumpInvalid(f"values[{i}]: {exc}") from exc
            if leaf != nodes[t_i]:
                raise TreeDumpInvalid(f"values[{i}]: Merkle tree does not contain the expected value")
            values.append(value)
            tree_index_of[i] = t_i
        return cls(MerkleTree(bytearray(b"".join(nodes)), tree_index_of), values, encoding)
