"""OpenZeppelin StandardMerkleTree, byte for byte, in pure Python.

Verification-critical (DESIGN.md "Exact formats" 2): roots, proofs, multiproofs and dumps must be
what ``@openzeppelin/merkle-tree`` 1.0.8 (``dist/core.js``, ``merkletree.js``, ``standard.js``)
produces, so that the JS library and ``MerkleProof.sol`` verify them. Pinned by
``tests/vectors/merkle_standard.json`` (made by ``scripts/merkle_oracle.mjs`` running that library)
and by a test that runs the library on seeded random inputs.

The format, as the library builds it:

* leaf hash ``keccak256(keccak256(abi.encode(values)))`` (``backend.proofs.leaves``);
* inner node ``keccak256(min(a, b) ‖ max(a, b))`` — a *commutative* hash, so a proof is just the
  list of sibling hashes, bottom up, with no left/right bits;
* leaves sorted ascending by hash (``sort_leaves=True``, the library default; the sort is stable
  so equal hashes keep their input order);
* the tree is one array of ``2n − 1`` nodes in heap order: the children of node ``i`` are
  ``2i + 1`` and ``2i + 2``, the root is node 0, and leaf number ``k`` (in sorted order) sits at
  ``2n − 2 − k`` — the leaves fill the end of the array in reverse;
* a proof for the node at tree index ``t`` is the sibling of ``t``, then the sibling of its
  parent, and so on up to (not including) the root; its length is the depth of ``t``,
  ``floor(log2(t + 1))``.

Two layers, one module each:

* ``MerkleTree`` (here) — the tree over 32-byte leaf hashes only (no values kept), stored as one
  flat ``bytearray`` of ``32 × (2n − 1)`` bytes so that 10 M leaves fit in 640 MB. Build it with
  ``MerkleTree.from_leaf_hashes``; ``root_from_leaf_hashes`` computes only the root. Proofs and
  multiproofs, their verification, and everything receipts need live here.
* ``StandardMerkleTree`` (``backend.proofs.standard_tree``) — values + leaf encoding on top, with
  the JS library's API (``of``, ``root``, ``proof``, ``verify``, ``multiproof``, ``dump``/``load``
  in "standard-v1").

Positions: a *value index* is the position of a value in the input list; a *tree index* is the
position of its leaf hash in the tree array (the ``treeIndex`` of a dump).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from backend.proofs.errors import MerkleError
from backend.proofs.keccak import keccak256

__all__ = [
    "MerkleTree",
    "MultiProof",
    "node_hash",
    "nodes_are_consistent",
    "process_multiproof",
    "process_proof",
    "proof_length_for_tree_index",
    "root_from_leaf_hashes",
    "verify_multiproof",
    "verify_proof",
]

LeafHashes = Iterable[bytes | bytearray | memoryview] | bytes | bytearray | memoryview


def node_hash(a: bytes, b: bytes) -> bytes:
    """The commutative inner-node hash: ``keccak256`` of the two children in ascending order."""
    return keccak256(a + b) if a <= b else keccak256(b + a)


def _hash_pairs(nodes: Sequence[bytes]) -> list[bytes]:
    """``[node_hash(nodes[0], nodes[1]), node_hash(nodes[2], nodes[3]), …]`` (len(nodes) even)."""
    k = keccak256
    it = iter(nodes)
    return [k(a + b) if a <= b else k(b + a) for a, b in zip(it, it, strict=True)]


def proof_length_for_tree_index(tree_index: int) -> int:
    """Depth of node ``tree_index`` = number of siblings in its proof (``floor(log2(t + 1))``)."""
    if tree_index < 0:
        raise MerkleError("tree index must be non-negative", tree_index=tree_index)
    return (tree_index + 1).bit_length() - 1


def _as_leaf_hash_list(leaf_hashes: LeafHashes) -> list[bytes]:
    if isinstance(leaf_hashes, bytes | bytearray | memoryview):
        flat = bytes(leaf_hashes)
        if len(flat) % 32:
            raise MerkleError("a flat buffer of leaf hashes must be a multiple of 32 bytes")
        hashes = [flat[i : i + 32] for i in range(0, len(flat), 32)]
    else:
        hashes = [h if type(h) is bytes else bytes(h) for h in leaf_hashes]
        if any(len(h) != 32 for h in hashes):
            raise MerkleError("Merkle tree nodes must be 32 bytes")
    if not hashes:
        raise MerkleError("Expected non-zero number of leaves")
    return hashes


def _levels_bottom_up(leaves: list[bytes]) -> Iterator[tuple[int, list[bytes]]]:
    """Yield ``(first tree index, nodes)`` for each heap level, bottom level first.

    ``leaves`` are in leaf order (leaf ``k`` goes to tree index ``2n − 2 − k``). The bottom heap
    level holds only leaves; the level above it holds the parents of the bottom level followed by
    the remaining leaves; every level above that is complete.
    """
    n = len(leaves)
    if n == 1:
        yield 0, leaves
        return
    reversed_leaves = leaves[::-1]  # tree-index order, starting at index n - 1
    depth = (2 * n - 1).bit_length() - 1
    first_bottom = (1 << depth) - 1
    split = first_bottom - (n - 1)
    bottom = reversed_leaves[split:]
    yield first_bottom, bottom
    level = _hash_pairs(bottom) + reversed_leaves[:split]
    del bottom, reversed_leaves
    d = depth - 1
    while True:
        yield (1 << d) - 1, level
        if d == 0:
            return
        level = _hash_pairs(level)
        d -= 1


def _build_nodes(leaves: list[bytes]) -> bytearray:
    n = len(leaves)
    nodes = bytearray(32 * (2 * n - 1))
    for start, level in _levels_bottom_up(leaves):
        nodes[32 * start : 32 * (start + len(level))] = b"".join(level)
    return nodes


def root_from_leaf_hashes(leaf_hashes: LeafHashes, *, sort_leaves: bool = True) -> bytes:
    """Root of the StandardMerkleTree over these leaf hashes, without keeping the tree.

    ``leaf_hashes`` is an iterable of 32-byte hashes (e.g. a database cursor) or one flat buffer
    of concatenated hashes. Memory is one list of the leaf hashes plus one level at a time.
    """
    leaves = _as_leaf_hash_list(leaf_hashes)
    if sort_leaves:
        leaves.sort()
    root = b""
    for _, level in _levels_bottom_up(leaves):
        root = level[0]
    return root


def process_proof(leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """Fold ``proof`` into ``leaf_hash`` with ``node_hash`` (``MerkleProof.processProof``).

    Raises ``MerkleError`` when the leaf or a proof element is not 32 bytes.
    """
    if not isinstance(leaf_hash, bytes | bytearray) or len(leaf_hash) != 32:
        raise MerkleError("Merkle tree nodes must be 32 bytes")
    node = bytes(leaf_hash)
    for sibling in proof:
        if not isinstance(sibling, bytes | bytearray) or len(sibling) != 32:
            raise MerkleError("Merkle tree nodes must be 32 bytes")
        node = node_hash(node, bytes(sibling))
    return node


def verify_proof(root: bytes, leaf_hash: bytes, proof: Sequence[bytes]) -> bool:
    """True iff ``proof`` leads from ``leaf_hash`` to ``root``; malformed input gives False."""
    if not isinstance(root, bytes | bytearray) or len(root) != 32:
        return False
    try:
        return process_proof(leaf_hash, proof) == root
    except MerkleError:
        return False


@dataclass(frozen=True, slots=True)
class MultiProof:
    """A multiproof over leaf hashes, as ``MerkleProof.multiProofVerify`` takes it."""

    leaves: list[bytes]
    proof: list[bytes]
    proof_flags: list[bool]


def process_multiproof(leaves: Sequence[bytes], proof: Sequence[bytes], proof_flags: Sequence[bool]) -> bytes:
    """Root reconstructed from a multiproof (the library's ``processMultiProof``).

    Raises ``MerkleError`` when the multiproof is malformed.
    """
    for node in (*leaves, *proof):
        if not isinstance(node, bytes | bytearray) or len(node) != 32:
            raise MerkleError("Merkle tree nodes must be 32 bytes")
    if len(proof) < sum(1 for f in proof_flags if not f):
        raise MerkleError("Invalid multiproof format")
    if len(leaves) + len(proof) != len(proof_flags) + 1:
        raise MerkleError("Provided leaves and multiproof are not compatible")
    stack: deque[bytes] = deque(bytes(x) for x in leaves)
    rest: deque[bytes] = deque(bytes(x) for x in proof)
    try:
        for flag in proof_flags:
            a = stack.popleft()
            b = stack.popleft() if flag else rest.popleft()
            stack.append(node_hash(a, b))
    except IndexError as exc:
        raise MerkleError("Invalid multiproof format") from exc
    if len(stack) + len(rest) != 1:
        raise MerkleError("Invalid multiproof format")
    return stack.pop() if stack else rest.popleft()


def verify_multiproof(
    root: bytes, leaves: Sequence[bytes], proof: Sequence[bytes], proof_flags: Sequence[bool]
) -> bool:
    """True iff the multiproof proves all ``leaves`` (hashes) under ``root``; malformed → False."""
    try:
        return process_multiproof(leaves, proof, proof_flags) == root
    except MerkleError:
        return False


class MerkleTree:
    """A StandardMerkleTree-shaped tree over leaf hashes; values are not kept.

    ``input index`` = position of a leaf hash in the list given to ``from_leaf_hashes``.
    """

    __slots__ = ("_leaf_count", "_nodes", "_tree_index_of")

    def __init__(self, nodes: bytearray, tree_index_of: array[int]) -> None:
        """Wrap already-built nodes; use ``from_leaf_hashes`` (or ``StandardMerkleTree``)."""
        if len(nodes) % 32 or not nodes:
            raise MerkleError("nodes must be a non-empty multiple of 32 bytes")
        self._nodes = nodes
        self._leaf_count = (len(nodes) // 32 + 1) // 2
        self._tree_index_of = tree_index_of

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: LeafHashes, *, sort_leaves: bool = True) -> MerkleTree:
        """Build the tree the JS library builds for these leaf hashes (values' hashes).

        Accepts any iterable of 32-byte hashes or one flat buffer of concatenated hashes.
        """
        hashes = _as_leaf_hash_list(leaf_hashes)
        n = len(hashes)
        last = 2 * n - 2
        if sort_leaves:
            order = sorted(range(n), key=hashes.__getitem__)
            leaves = [hashes[i] for i in order]
            tree_index_of = array("q", bytes(8 * n))
            for k, i in enumerate(order):
                tree_index_of[i] = last - k
            del order
        else:
            leaves = hashes
            tree_index_of = array("q", range(last, last - n, -1))
        del hashes
        return cls(_build_nodes(leaves), tree_index_of)

    @property
    def root(self) -> bytes:
        return bytes(self._nodes[:32])

    @property
    def leaf_count(self) -> int:
        return self._leaf_count

    @property
    def node_count(self) -> int:
        return 2 * self._leaf_count - 1

    def __len__(self) -> int:
        return self._leaf_count

    def node(self, tree_index: int) -> bytes:
        """The node at ``tree_index`` of the array layout."""
        if not 0 <= tree_index < self.node_count:
            raise MerkleError("Index out of bounds", tree_index=tree_index)
        return bytes(self._nodes[32 * tree_index : 32 * tree_index + 32])

    def nodes(self) -> list[bytes]:
        """All nodes in array order (the library's ``tree``); 2n − 1 objects, mind the memory."""
        flat = bytes(self._nodes)
        return [flat[i : i + 32] for i in range(0, len(flat), 32)]

    def tree_index(self, input_index: int) -> int:
        """Tree index of the leaf given at ``input_index``."""
        if isinstance(input_index, bool) or not 0 <= input_index < self._leaf_count:
            raise MerkleError("Index out of bounds", index=input_index)
        return self._tree_index_of[input_index]

    def leaf_hash(self, input_index: int) -> bytes:
        return self.node(self.tree_index(input_index))

    def is_leaf_tree_index(self, tree_index: int) -> bool:
        return self._leaf_count - 1 <= tree_index < self.node_count

    def proof_at_tree_index(self, tree_index: int) -> list[bytes]:
        """Sibling hashes from the leaf at ``tree_index`` up to the root (``getProof``)."""
        if not self.is_leaf_tree_index(tree_index):
            raise MerkleError("Index is not a leaf", tree_index=tree_index)
        nodes = self._nodes
        proof = []
        i = tree_index
        while i > 0:
            s = i + 1 if i % 2 else i - 1
            proof.append(bytes(nodes[32 * s : 32 * s + 32]))
            i = (i - 1) // 2
        return proof

    def packed_proofs(self) -> list[bytes]:
        """Every leaf's proof, concatenated 32-byte siblings bottom up, in *input* order.

        Equal to ``b"".join(self.proof_at_tree_index(self.tree_index(i)))`` for each ``i``, but
        one pass over the array instead of one walk per leaf: the proof of node ``t`` is its
        sibling followed by the proof of its parent, and a parent comes before its children in
        heap order. Costs one bytes object per node (``2n − 1``) while it runs.
        """
        nodes = self._nodes
        up = [b""] * self.node_count
        for t in range(1, self.node_count):
            s = t + 1 if t % 2 else t - 1
            up[t] = bytes(nodes[32 * s : 32 * s + 32]) + up[(t - 1) // 2]
        return [up[t] for t in self._tree_index_of]

    def proof(self, input_index: int) -> list[bytes]:
        """Proof for the leaf given at ``input_index``; checked against the root before returning."""
        tree_index = self.tree_index(input_index)
        proof = self.proof_at_tree_index(tree_index)
        if process_proof(self.node(tree_index), proof) != self.root:
            raise MerkleError("Unable to prove value", index=input_index)
        return proof

    def multiproof_at_tree_indices(self, tree_indices: Iterable[int]) -> MultiProof:
        """Multiproof for leaves at these tree indices (``getMultiProof``; leaves come out sorted
        by tree index, descending, as the library returns them)."""
        indices = sorted(tree_indices, reverse=True)
        for t in indices:
            if not self.is_leaf_tree_index(t):
                raise MerkleError("Index is not a leaf", tree_index=t)
        if any(a == b for a, b in pairwise(indices)):
            raise MerkleError("Cannot prove duplicated index")
        stack = deque(indices)
        proof: list[bytes] = []
        flags: list[bool] = []
        while stack and stack[0] > 0:
            j = stack.popleft()
            s = j + 1 if j % 2 else j - 1
            p = (j - 1) // 2
            if stack and s == stack[0]:
                flags.append(True)
                stack.popleft()
            else:
                flags.append(False)
                proof.append(self.node(s))
            stack.append(p)
        if not indices:
            proof.append(self.root)
        return MultiProof(leaves=[self.node(t) for t in indices], proof=proof, proof_flags=flags)

    def multiproof(self, input_indices: Iterable[int]) -> MultiProof:
        return self.multiproof_at_tree_indices([self.tree_index(i) for i in input_indices])

    def is_valid(self) -> bool:
        """Recompute every inner node (the library's ``isValidMerkleTree``)."""
        return nodes_are_consistent(self.nodes())


def nodes_are_consistent(nodes: list[bytes]) -> bool:
    """True when ``nodes`` is a heap-ordered tree array whose every inner node hashes its children."""
    if not nodes or len(nodes) % 2 == 0:
        return False
    # Node i's children are 2i+1 and 2i+2, so the pairs of nodes[1:] are the children of
    # nodes 0, 1, 2, … in order.
    parents = _hash_pairs(nodes[1:])
    return parents == nodes[: len(parents)]
