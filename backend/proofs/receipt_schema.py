"""Evidence receipts, version 1: the format, the parsed ``EvidenceReceipt`` and step 1 (schema).

Verification-critical (DESIGN.md "Exact formats" 3–5), pinned by ``tests/vectors/receipt_evidence.json``.
What the other steps check, and how, is in ``backend.proofs.receipts``.

Format, version 1 (JSON object, exactly these keys; hashes and bytes as lower-case ``0x`` hex)::

    {
      "version": 1,                       integer, this format
      "kind": "evidence",
      "chainId": 31337,                   EIP-155 chain id of the chain holding the anchor
      "contract": "0x…",                  EvidenceNotary address (EIP-55 checksum or lower case)
      "batchId": 7,                       uint256: the batch in that contract
      "root": "0x…32",                    Merkle root anchored for the batch
      "prevRoot": "0x…32",                root of batch batchId − 1 as the contract recorded it
                                          (the anchors' hash chain, DESIGN.md format 4)
      "leafCount": 50,                    number of leaves in the batch's tree
      "leaf": {                           the evidence leaf (bytes32, bytes32, bytes)
        "claimRef": "0x…32",
        "contentCommitment": "0x…32",     keccak256(abi.encode(sha256(plaintext), salt))
        "cid": "0x…"                      binary CID (v0 or v1) of the stored CIPHERTEXT
      },
      "leafHash": "0x…32",                keccak256(keccak256(abi.encode(leaf)))
      "proof": ["0x…32", …],              sibling hashes, leaf to root (MerkleProof.sol order)
      "anchorTx": "0x…32",                hash of the transaction that anchored the batch
      "anchorBlock": 123,                 block number that recorded the batch
      "salt": "0x…32",                    OPTIONAL, PRIVATE to the claimant — present only in the
      "plaintextSha256": "0x…32"          claimant's own copy, always together: with them anyone
    }                                     holding the receipt can confirm the commitment to a
                                          document, so never publish or log them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from backend.proofs.batch_steps import AnchoredLeafReceipt
from backend.proofs.errors import LeafHashMismatch, SchemaError
from backend.proofs.hexstr import from_hex, is_canonical_hex, to_hex
from backend.proofs.leaves import EvidenceLeaf
from backend.proofs.merkle import MerkleTree
from backend.proofs.strict_json import ReceiptFields

__all__ = ["KIND_EVIDENCE", "RECEIPT_VERSION", "EvidenceReceipt", "parse_evidence_receipt"]

RECEIPT_VERSION = 1
KIND_EVIDENCE = "evidence"

_UINT256_MAX = 2**256 - 1
_UINT64_MAX = 2**64 - 1

_REQUIRED_KEYS = (
    "version",
    "kind",
    "chainId",
    "contract",
    "batchId",
    "root",
    "prevRoot",
    "leafCount",
    "leaf",
    "leafHash",
    "proof",
    "anchorTx",
    "anchorBlock",
)
_PRIVATE_KEYS = ("salt", "plaintextSha256")
_LEAF_KEYS = ("claimRef", "contentCommitment", "cid")


# --- the receipt -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvidenceReceipt:
    """A parsed, schema-valid evidence receipt (``parse_evidence_receipt`` / ``make_evidence_receipt``)."""

    chain_id: int
    contract: str
    batch_id: int
    root: bytes
    prev_root: bytes
    leaf_count: int
    leaf: EvidenceLeaf
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    anchor_tx: bytes
    anchor_block: int
    salt: bytes | None = None
    plaintext_sha256: bytes | None = None

    @property
    def is_private(self) -> bool:
        """True when the receipt carries the salt (the claimant's copy)."""
        return self.salt is not None

    def public_copy(self) -> EvidenceReceipt:
        """The same receipt without ``salt`` and ``plaintextSha256`` (safe to hand to others)."""
        return replace(self, salt=None, plaintext_sha256=None)

    def to_json(self) -> dict[str, Any]:
        """The version-1 JSON object (key order as in the module docstring)."""
        doc = anchored_leaf_json(KIND_EVIDENCE, self)
        if self.salt is not None and self.plaintext_sha256 is not None:
            doc["salt"] = to_hex(self.salt)
            doc["plaintextSha256"] = to_hex(self.plaintext_sha256)
        return doc

    def to_json_text(self) -> str:
        """Compact JSON text of ``to_json()``."""
        return json.dumps(self.to_json(), separators=(",", ":"))


# --- what every anchored-leaf receipt shares (evidence and membership receipts) ----------------


class AnchoredLeafDocument(AnchoredLeafReceipt, Protocol):
    """A receipt the shared steps read (``batch_steps.AnchoredLeafReceipt``) and its leaf."""

    @property
    def leaf(self) -> Any: ...


def anchored_leaf_json(kind: str, receipt: AnchoredLeafDocument) -> dict[str, Any]:
    """The public part of a version-1 anchored-leaf receipt of ``kind`` (key order of the schema)."""
    return {
        "version": RECEIPT_VERSION,
        "kind": kind,
        "chainId": receipt.chain_id,
        "contract": receipt.contract,
        "batchId": receipt.batch_id,
        "root": to_hex(receipt.root),
        "prevRoot": to_hex(receipt.prev_root),
        "leafCount": receipt.leaf_count,
        "leaf": receipt.leaf.to_json(),
        "leafHash": to_hex(receipt.leaf_hash),
        "proof": [to_hex(p) for p in receipt.proof],
        "anchorTx": to_hex(receipt.anchor_tx),
        "anchorBlock": receipt.anchor_block,
    }


def check_envelope(doc: Any, kind: str, private_keys: tuple[str, ...]) -> bool:
    """Step 1's checks common to anchored-leaf receipts: a JSON object of this version and ``kind``
    with every required field, no unknown one, and the private fields all present or all absent.
    Returns whether the private fields are present (the holder's private copy)."""
    if not isinstance(doc, Mapping):
        raise SchemaError("receipt must be a JSON object", field="$")
    if "version" not in doc:
        raise SchemaError("missing field version", field="version")
    if type(doc["version"]) is not int or doc["version"] != RECEIPT_VERSION:
        raise SchemaError(f"unsupported receipt version {doc['version']!r}", field="version")
    for key in _REQUIRED_KEYS:
        if key not in doc:
            raise SchemaError(f"missing field {key}", field=key)
    unknown = sorted(set(doc) - set(_REQUIRED_KEYS) - set(private_keys))
    if unknown:
        raise SchemaError(f"unknown field {unknown[0]}", field=unknown[0])
    private = [k for k in private_keys if k in doc]
    if len(private) == 1:
        missing = next(k for k in private_keys if k not in doc)
        raise SchemaError(f"{private[0]} without {missing}", field=missing)
    if doc["kind"] != kind:
        raise SchemaError(f"kind must be {kind!r}", field="kind")
    return bool(private)


def tree_position(tree: MerkleTree, index: int, leaf_hash: bytes) -> dict[str, Any]:
    """The receipt fields that place ``leaf_hash`` at input position ``index`` of a batch's ``tree``
    (root, leaf count, leaf hash, proof); ``LeafHashMismatch`` when it is not the leaf there."""
    if tree.leaf_hash(index) != leaf_hash:
        raise LeafHashMismatch("leaf is not the leaf at this index of the tree", field="leaf", index=index)
    return {"root": tree.root, "leaf_count": tree.leaf_count, "leaf_hash": leaf_hash, "proof": tuple(tree.proof(index))}


# --- step 1: schema --------------------------------------------------------------------------


_FIELDS = ReceiptFields(SchemaError)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    for i in range(pos, min(pos + 9, len(data))):
        byte = data[i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i + 1
        shift += 7
    raise ValueError("bad varint")


def _is_binary_cid(cid: bytes) -> bool:
    """CIDv0 (a bare sha2-256 multihash) or CIDv1 (0x01, codec, multihash) whose digest length fits."""
    if len(cid) == 34 and cid[0] == 0x12 and cid[1] == 0x20:
        return True
    if len(cid) < 4 or cid[0] != 0x01:
        return False
    try:
        _codec, pos = _read_varint(cid, 1)
        _hash_fn, pos = _read_varint(cid, pos)
        digest_len, pos = _read_varint(cid, pos)
    except ValueError:
        return False
    return digest_len > 0 and len(cid) - pos == digest_len


def parse_evidence_receipt(receipt: Mapping[str, Any] | str | bytes) -> EvidenceReceipt:
    """Step 1: parse and validate a version-1 evidence receipt (JSON text or parsed object).

    Raises ``SchemaError`` naming the offending field (``field``, a JSON path).
    """
    doc = _FIELDS.loads(receipt) if isinstance(receipt, str | bytes) else receipt
    private = check_envelope(doc, KIND_EVIDENCE, _PRIVATE_KEYS)
    chain_id = _FIELDS.integer(doc, "chainId", 1, _UINT256_MAX)
    contract = _FIELDS.address(doc["contract"])
    batch_id = _FIELDS.integer(doc, "batchId", 0, _UINT256_MAX)
    root = _FIELDS.bytes32(doc, "root", "root")
    prev_root = _FIELDS.bytes32(doc, "prevRoot", "prevRoot")
    leaf_count = _FIELDS.integer(doc, "leafCount", 1, _UINT256_MAX)
    raw_leaf = doc["leaf"]
    if not isinstance(raw_leaf, Mapping) or set(raw_leaf) != set(_LEAF_KEYS):
        raise SchemaError("leaf must be an object with exactly claimRef, contentCommitment, cid", field="leaf")
    claim_ref = _FIELDS.bytes32(raw_leaf, "claimRef", "leaf.claimRef")
    commitment = _FIELDS.bytes32(raw_leaf, "contentCommitment", "leaf.contentCommitment")
    if not is_canonical_hex(raw_leaf["cid"]) or raw_leaf["cid"] == "0x":
        raise SchemaError("leaf.cid must be non-empty lower-case 0x hex", field="leaf.cid")
    cid = from_hex(raw_leaf["cid"])
    if not _is_binary_cid(cid):
        raise SchemaError("leaf.cid is not a binary CID", field="leaf.cid")
    leaf_hash = _FIELDS.bytes32(doc, "leafHash", "leafHash")
    raw_proof = doc["proof"]
    if not isinstance(raw_proof, list):
        raise SchemaError("proof must be a list", field="proof")
    for i, node in enumerate(raw_proof):
        if not is_canonical_hex(node, 32):
            raise SchemaError(f"proof[{i}] must be 32 bytes of lower-case 0x hex", field=f"proof[{i}]")
    anchor_tx = _FIELDS.bytes32(doc, "anchorTx", "anchorTx")
    anchor_block = _FIELDS.integer(doc, "anchorBlock", 0, _UINT64_MAX)
    salt = plaintext_sha = None
    if private:
        salt = _FIELDS.bytes32(doc, "salt", "salt")
        plaintext_sha = _FIELDS.bytes32(doc, "plaintextSha256", "plaintextSha256")
    return EvidenceReceipt(
        chain_id=chain_id,
        contract=contract,
        batch_id=batch_id,
        root=root,
        prev_root=prev_root,
        leaf_count=leaf_count,
        leaf=EvidenceLeaf(claim_ref, commitment, cid),
        leaf_hash=leaf_hash,
        proof=tuple(from_hex(p) for p in raw_proof),
        anchor_tx=anchor_tx,
        anchor_block=anchor_block,
        salt=salt,
        plaintext_sha256=plaintext_sha,
    )
