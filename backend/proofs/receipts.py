"""Evidence receipts: the JSON a claimant keeps to prove, without trusting the operator, that
their evidence was notarized — and how to verify one.

Verification-critical (DESIGN.md "Exact formats" 3–5), pinned by ``tests/vectors/receipt_evidence.json``.

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

Verification, in numbered steps (``ReceiptStep``); the first failure stops it and raises into
the report the step's own error (``backend.proofs.errors``):

  offline — ``verify_receipt_offline(receipt)``
    1 SCHEMA        exact keys, types, ranges, canonical hex, binary CID          SchemaError
    2 LEAF_HASH     leafHash == keccak256(keccak256(abi.encode(leaf)))            LeafHashMismatch
    3 PROOF         proof folds leafHash into root                                ProofInvalid
    4 COMMITMENT    keccak256(plaintextSha256 ‖ salt) == leaf.contentCommitment   CommitmentMismatch
                    (skipped when the receipt carries no salt)
    5 POSITION      len(proof) is the depth of a leaf in a tree of leafCount       PositionInvalid
                    leaves: floor(log2(t + 1)) for some tree index t in
                    [leafCount − 1, 2·leafCount − 2] — one or two depths
  on chain — ``verify_receipt_onchain(receipt, lookup)`` runs 1–5, then
    6 DEPLOYMENT    lookup's chain id and contract address are the receipt's      DeploymentMismatch
    7 BATCH         the contract has batch batchId                                BatchNotFound
    8 ROOT          …whose root is the receipt's root                             RootMismatch
    9 PREV_ROOT     …whose prevRoot is the receipt's prevRoot                     PrevRootMismatch
   10 LEAF_COUNT    …whose leafCount is the receipt's leafCount                   LeafCountMismatch
   11 ANCHOR_BLOCK  …recorded in block anchorBlock                                AnchorBlockMismatch
   12 CONTRACT_VERIFY  the contract's verify(batchId, leafHash, proof) is true     OnchainProofRejected
   13 ANCHOR_TX     the transaction anchorTx anchored this batch, root and block  AnchorTxMismatch
                    (only with a lookup that also implements ``AnchorTxLookup``; skipped when the
                    node has pruned that history)

What the steps can and cannot see: inner nodes hash their children in sorted order, so a proof
does not encode the leaf's position, and the format carries none — a position nobody can check
would be a claim, not evidence (as in MerkleProof.sol, only the leaf's membership is proven).
Offline, ``leafCount`` is bound only through the depth (step 5): a value whose trees have
leaves at the proof's depth passes offline and is caught on chain, fully, by step 10.
``chainId``, ``contract``, ``prevRoot``, ``anchorTx`` and ``anchorBlock`` are checked on chain
only. So every field is checked by some step, and altering any one of them fails
``verify_receipt_onchain`` naming that step — ``anchorTx`` only where step 13 runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol, runtime_checkable

from backend.proofs.commitments import content_commitment
from backend.proofs.errors import (
    AnchorBlockMismatch,
    AnchorTxMismatch,
    BatchNotFound,
    CommitmentMismatch,
    DeploymentMismatch,
    HistoryUnavailable,
    LeafCountMismatch,
    LeafHashMismatch,
    OnchainProofRejected,
    PositionInvalid,
    PrevRootMismatch,
    ProofInvalid,
    ReceiptError,
    ReceiptStep,
    RootMismatch,
    SchemaError,
)
from backend.proofs.hexstr import from_hex, is_canonical_hex, to_hex
from backend.proofs.leaves import EvidenceLeaf, evidence_values_hash
from backend.proofs.merkle import MerkleTree, process_proof, proof_length_for_tree_index
from backend.proofs.report import StepReport, StepResult, StepRunner, StepStatus
from backend.proofs.strict_json import ReceiptFields

__all__ = [
    "OFFLINE_STEPS",
    "ONCHAIN_STEPS",
    "RECEIPT_VERSION",
    "AnchorTransaction",
    "AnchorTxLookup",
    "AnchoredBatch",
    "BatchLookup",
    "EvidenceReceipt",
    "StepResult",
    "StepStatus",
    "VerificationReport",
    "make_evidence_receipt",
    "parse_evidence_receipt",
    "verify_receipt_offline",
    "verify_receipt_onchain",
]

RECEIPT_VERSION = 1
KIND_EVIDENCE = "evidence"
OFFLINE_STEPS: tuple[ReceiptStep, ...] = tuple(s for s in ReceiptStep if s <= ReceiptStep.POSITION)
ONCHAIN_STEPS: tuple[ReceiptStep, ...] = tuple(s for s in ReceiptStep if s > ReceiptStep.POSITION)

_UINT256_MAX = 2**256 - 1
_UINT64_MAX = 2**64 - 1
_ZERO32 = bytes(32)

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
        doc: dict[str, Any] = {
            "version": RECEIPT_VERSION,
            "kind": KIND_EVIDENCE,
            "chainId": self.chain_id,
            "contract": self.contract,
            "batchId": self.batch_id,
            "root": to_hex(self.root),
            "prevRoot": to_hex(self.prev_root),
            "leafCount": self.leaf_count,
            "leaf": self.leaf.to_json(),
            "leafHash": to_hex(self.leaf_hash),
            "proof": [to_hex(p) for p in self.proof],
            "anchorTx": to_hex(self.anchor_tx),
            "anchorBlock": self.anchor_block,
        }
        if self.salt is not None and self.plaintext_sha256 is not None:
            doc["salt"] = to_hex(self.salt)
            doc["plaintextSha256"] = to_hex(self.plaintext_sha256)
        return doc

    def to_json_text(self) -> str:
        """Compact JSON text of ``to_json()``."""
        return json.dumps(self.to_json(), separators=(",", ":"))


def make_evidence_receipt(
    *,
    tree: MerkleTree,
    index: int,
    leaf: EvidenceLeaf,
    chain_id: int,
    contract: str,
    batch_id: int,
    prev_root: bytes,
    anchor_tx: bytes,
    anchor_block: int,
    salt: bytes | None = None,
    plaintext_sha256: bytes | None = None,
) -> EvidenceReceipt:
    """Receipt for the leaf given at input position ``index`` of ``tree`` (a batch's tree).

    ``index`` only locates the leaf and its proof; the receipt does not record it (step 5 of
    the module docstring). Checks that ``leaf`` is the leaf at that position and that the result
    verifies offline, so a receipt that leaves here is one its holder can verify. Pass ``salt``
    and ``plaintext_sha256`` only for the claimant's private copy.
    """
    tree_index = tree.tree_index(index)
    leaf_hash = leaf.leaf_hash()
    if tree.node(tree_index) != leaf_hash:
        raise LeafHashMismatch("leaf is not the leaf at this index of the tree", field="leaf", index=index)
    receipt = EvidenceReceipt(
        chain_id=chain_id,
        contract=contract,
        batch_id=batch_id,
        root=tree.root,
        prev_root=prev_root,
        leaf_count=tree.leaf_count,
        leaf=leaf,
        leaf_hash=leaf_hash,
        proof=tuple(tree.proof(index)),
        anchor_tx=anchor_tx,
        anchor_block=anchor_block,
        salt=salt,
        plaintext_sha256=plaintext_sha256,
    )
    verify_receipt_offline(receipt).raise_for_failure()
    return receipt


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
    if not isinstance(doc, Mapping):
        raise SchemaError("receipt must be a JSON object", field="$")
    if "version" not in doc:
        raise SchemaError("missing field version", field="version")
    if type(doc["version"]) is not int or doc["version"] != RECEIPT_VERSION:
        raise SchemaError(f"unsupported receipt version {doc['version']!r}", field="version")
    keys = set(doc)
    for key in _REQUIRED_KEYS:
        if key not in keys:
            raise SchemaError(f"missing field {key}", field=key)
    unknown = sorted(keys - set(_REQUIRED_KEYS) - set(_PRIVATE_KEYS))
    if unknown:
        raise SchemaError(f"unknown field {unknown[0]}", field=unknown[0])
    private = [k for k in _PRIVATE_KEYS if k in keys]
    if len(private) == 1:
        missing = next(k for k in _PRIVATE_KEYS if k not in keys)
        raise SchemaError(f"{private[0]} without {missing}", field=missing)
    if doc["kind"] != KIND_EVIDENCE:
        raise SchemaError(f"kind must be {KIND_EVIDENCE!r}", field="kind")
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


# --- the report ------------------------------------------------------------------------------

# StepStatus and StepResult are backend.proofs.report's, re-exported here.


class VerificationReport(StepReport[ReceiptStep, ReceiptError, EvidenceReceipt]):
    """Outcome of verifying one evidence receipt: one ``StepResult`` per step, in order.

    ``ok`` is true when no step failed (skipped steps are listed with the reason). ``error`` is
    the failing step's ``ReceiptError``; ``raise_for_failure()`` raises it.
    """

    __slots__ = ()


class _Runner(StepRunner[ReceiptStep, ReceiptError, EvidenceReceipt]):
    """Runs steps in order; the first failure records the error and every later step is NOT_RUN."""

    def __init__(self, report: VerificationReport) -> None:
        super().__init__(report, ReceiptError)


# --- offline steps ----------------------------------------------------------------------------


def _run_offline(runner: _Runner, receipt: Mapping[str, Any] | str | bytes | EvidenceReceipt) -> None:
    report = runner.report

    def schema() -> None:
        if isinstance(receipt, EvidenceReceipt):
            # Re-validate a constructed receipt through its JSON form: same checks either way.
            try:
                doc = receipt.to_json()
            except (TypeError, ValueError, AttributeError) as exc:
                raise SchemaError(f"receipt fields have the wrong types: {exc}", field="$") from exc
            report.receipt = parse_evidence_receipt(doc)
        else:
            report.receipt = parse_evidence_receipt(receipt)

    runner.run(ReceiptStep.SCHEMA, schema)

    def r() -> EvidenceReceipt:
        assert report.receipt is not None
        return report.receipt

    def leaf_hash() -> None:
        leaf = r().leaf
        if evidence_values_hash(leaf.values()) != r().leaf_hash:
            raise LeafHashMismatch("leafHash is not the hash of leaf", field="leafHash")

    def proof() -> None:
        if process_proof(r().leaf_hash, r().proof) != r().root:
            raise ProofInvalid("proof does not lead from leafHash to root", field="proof")

    def commitment() -> str | None:
        rec = r()
        if rec.salt is None or rec.plaintext_sha256 is None:
            return "receipt carries no salt (public copy)"
        if content_commitment(rec.plaintext_sha256, rec.salt) != rec.leaf.content_commitment:
            raise CommitmentMismatch(
                "keccak256(plaintextSha256 ‖ salt) is not leaf.contentCommitment", field="leaf.contentCommitment"
            )
        return None

    def position() -> None:
        rec = r()
        # Leaves occupy tree indices [n − 1, 2n − 2]; depth is monotonic in the index, so the
        # leaf depths are exactly the range between the depths of the two ends (at most two).
        shallowest = proof_length_for_tree_index(rec.leaf_count - 1)
        deepest = proof_length_for_tree_index(2 * rec.leaf_count - 2)
        if not shallowest <= len(rec.proof) <= deepest:
            depths = str(shallowest) if shallowest == deepest else f"{shallowest} or {deepest}"
            raise PositionInvalid(
                f"proof has {len(rec.proof)} nodes, but the leaves of a tree of leafCount leaves "
                f"have proofs of {depths}",
                field="proof",
                other_field="leafCount",
            )

    runner.run(ReceiptStep.LEAF_HASH, leaf_hash)
    runner.run(ReceiptStep.PROOF, proof)
    runner.run(ReceiptStep.COMMITMENT, commitment)
    runner.run(ReceiptStep.POSITION, position)


def verify_receipt_offline(receipt: Mapping[str, Any] | str | bytes | EvidenceReceipt) -> VerificationReport:
    """Verify a receipt from its own contents (steps 1–5); never raises for a bad receipt.

    ``receipt`` is JSON text, a parsed JSON object, or an ``EvidenceReceipt``.
    """
    report = VerificationReport()
    _run_offline(_Runner(report), receipt)
    return report


# --- on-chain steps --------------------------------------------------------------------------


class AnchoredBatch(NamedTuple):
    """What EvidenceNotary's ``batch(uint256)`` returns for an anchored batch."""

    root: bytes
    prev_root: bytes
    leaf_count: int
    block: int


class AnchorTransaction(NamedTuple):
    """What a mined anchoring transaction did: its ``to`` address and the batch its event names."""

    contract: str
    batch_id: int
    root: bytes
    block: int


class BatchLookup(Protocol):
    """Read access to one deployed EvidenceNotary, as ``verify_receipt_onchain`` needs it.

    A web3 implementation binds ``chain_id`` and ``contract`` at construction, answers ``batch``
    with ``contract.functions.batch(batch_id).call()`` (None when the batch does not exist,
    e.g. a zero root) and ``verify`` with ``contract.functions.verify(batch_id, leaf_hash,
    proof).call()``. Both should read from a block at the caller's finality depth. RPC failures
    propagate as the implementation's own errors; they are not verdicts on the receipt.
    """

    @property
    def chain_id(self) -> int: ...

    @property
    def contract(self) -> str: ...

    def batch(self, batch_id: int) -> AnchoredBatch | None: ...

    def verify(self, batch_id: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bool: ...


@runtime_checkable
class AnchorTxLookup(Protocol):
    """Optional extra for a ``BatchLookup``: decode an anchoring transaction.

    Return None when no such mined transaction exists or it anchored nothing; raise
    ``HistoryUnavailable`` when the node has pruned the receipt (step 13 is then skipped).
    """

    def anchor_transaction(self, tx_hash: bytes) -> AnchorTransaction | None: ...


def verify_receipt_onchain(
    receipt: Mapping[str, Any] | str | bytes | EvidenceReceipt, lookup: BatchLookup
) -> VerificationReport:
    """Verify offline (steps 1–5), then against the deployed contract (steps 6–13)."""
    report = VerificationReport()
    runner = _Runner(report)
    _run_offline(runner, receipt)
    record: list[AnchoredBatch] = []

    def r() -> EvidenceReceipt:
        assert report.receipt is not None
        return report.receipt

    def deployment() -> None:
        if lookup.chain_id != r().chain_id:
            raise DeploymentMismatch("chainId is not the chain's id", field="chainId")
        if lookup.contract.lower() != r().contract.lower():
            raise DeploymentMismatch("contract is not the looked-up contract", field="contract")

    def batch() -> None:
        found = lookup.batch(r().batch_id)
        if found is None or found.root == _ZERO32:
            raise BatchNotFound("no batch with this batchId in the contract", field="batchId")
        record.append(found)

    def root() -> None:
        if record[0].root != r().root:
            raise RootMismatch("root differs from the root anchored for batchId", field="root")

    def prev_root() -> None:
        if record[0].prev_root != r().prev_root:
            raise PrevRootMismatch("prevRoot differs from the anchored prevRoot", field="prevRoot")

    def leaf_count() -> None:
        if record[0].leaf_count != r().leaf_count:
            raise LeafCountMismatch("leafCount differs from the anchored leafCount", field="leafCount")

    def anchor_block() -> None:
        if record[0].block != r().anchor_block:
            raise AnchorBlockMismatch("anchorBlock differs from the anchoring block", field="anchorBlock")

    def contract_verify() -> None:
        if not lookup.verify(r().batch_id, r().leaf_hash, list(r().proof)):
            raise OnchainProofRejected("the contract's verify() rejected the proof", field="proof")

    def anchor_tx() -> str | None:
        if not isinstance(lookup, AnchorTxLookup):
            return "lookup cannot decode transactions"
        try:
            tx = lookup.anchor_transaction(r().anchor_tx)
        except HistoryUnavailable:
            return "the node no longer serves this transaction"
        rec = r()
        if tx is None:
            raise AnchorTxMismatch("anchorTx is not a mined anchoring transaction", field="anchorTx")
        if (tx.contract.lower(), tx.batch_id, tx.root, tx.block) != (
            rec.contract.lower(),
            rec.batch_id,
            rec.root,
            rec.anchor_block,
        ):
            raise AnchorTxMismatch("anchorTx anchored a different batch, root or block", field="anchorTx")
        return None

    runner.run(ReceiptStep.DEPLOYMENT, deployment)
    runner.run(ReceiptStep.BATCH, batch)
    runner.run(ReceiptStep.ROOT, root)
    runner.run(ReceiptStep.PREV_ROOT, prev_root)
    runner.run(ReceiptStep.LEAF_COUNT, leaf_count)
    runner.run(ReceiptStep.ANCHOR_BLOCK, anchor_block)
    runner.run(ReceiptStep.CONTRACT_VERIFY, contract_verify)
    runner.run(ReceiptStep.ANCHOR_TX, anchor_tx)
    return report
