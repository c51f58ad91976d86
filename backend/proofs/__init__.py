"""Verification-critical proof code: Merkle trees, leaf encodings, commitments, receipts.

Pure (no I/O, no settings), fully typed, pinned by golden vectors in ``tests/vectors/``
(``merkle_standard.json``; ``receipt_evidence.json`` also pins the commitments). Changing what any of
these functions returns is a protocol change.

Modules: ``keccak`` (fastest keccak256 backend), ``leaves`` (ABI leaf encodings, leaf hash),
``merkle`` (the tree over leaf hashes, proofs), ``standard_tree`` (OpenZeppelin
StandardMerkleTree over values), ``commitments`` (salted commitments, the claim
member commitment, payment reference and report hash), ``access_log`` (the evidence access log's
hash chain), ``receipts`` (evidence receipt format and its offline / on-chain verification),
``errors``. ``tests/vectors/protocol_hashes.json`` pins the commitments and the access log.
"""

from backend.proofs.commitments import (
    claim_ref,
    content_commitment,
    content_commitment_of,
    member_commitment,
    new_salt,
    plaintext_sha256,
)
from backend.proofs.keccak import KECCAK_BACKEND, keccak256
from backend.proofs.leaves import (
    EVIDENCE_LEAF_TYPES,
    EvidenceLeaf,
    abi_encode,
    evidence_leaf_hash,
    standard_leaf_hash,
)
from backend.proofs.merkle import (
    MerkleTree,
    node_hash,
    process_proof,
    root_from_leaf_hashes,
    verify_multiproof,
    verify_proof,
)
from backend.proofs.receipts import (
    AnchoredBatch,
    AnchorTransaction,
    AnchorTxLookup,
    BatchLookup,
    EvidenceReceipt,
    VerificationReport,
    make_evidence_receipt,
    parse_evidence_receipt,
    verify_receipt_offline,
    verify_receipt_onchain,
)
from backend.proofs.standard_tree import StandardMerkleTree

__all__ = [
    "EVIDENCE_LEAF_TYPES",
    "KECCAK_BACKEND",
    "AnchorTransaction",
    "AnchorTxLookup",
    "AnchoredBatch",
    "BatchLookup",
    "EvidenceLeaf",
    "EvidenceReceipt",
    "MerkleTree",
    "StandardMerkleTree",
    "VerificationReport",
    "abi_encode",
    "claim_ref",
    "content_commitment",
    "content_commitment_of",
    "evidence_leaf_hash",
    "keccak256",
    "make_evidence_receipt",
    "member_commitment",
    "new_salt",
    "node_hash",
    "parse_evidence_receipt",
    "plaintext_sha256",
    "process_proof",
    "root_from_leaf_hashes",
    "standard_leaf_hash",
    "verify_multiproof",
    "verify_proof",
    "verify_receipt_offline",
    "verify_receipt_onchain",
]
