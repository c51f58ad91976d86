// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IEvidenceNotary
 * @notice Hash-chained anchoring of Merkle roots of evidence batches, and inclusion checks
 * against them.
 *
 * Each batch is the root of an OpenZeppelin StandardMerkleTree over evidence leaves
 * `(bytes32 claimRef, bytes32 contentCommitment, bytes cid)` (see contracts/README.md). Batches
 * form a hash chain: batch n+1 records the root of batch n as its `prevRoot` (the first batch
 * records `bytes32(0)`), so history cannot be re-ordered, dropped or forked without the chain
 * refusing it. Nothing personal is anchored: only roots and counts.
 *
 * Access: `anchor` needs `NOTARY_ROLE`; `NOTARY_ROLE` is granted and revoked by the single
 * default admin, which itself changes only by a delayed two-step transfer
 * (OpenZeppelin AccessControlDefaultAdminRules).
 */
interface IEvidenceNotary {
    /// @notice One anchored batch as stored on chain.
    struct Batch {
        /// StandardMerkleTree root of the batch (never zero for an anchored batch).
        bytes32 root;
        /// Root of the previous batch, `bytes32(0)` for batch 1.
        bytes32 prevRoot;
        /// Number of leaves in the tree (at least 1).
        uint64 leafCount;
        /// Block in which the batch was anchored.
        uint64 blockNumber;
        /// Timestamp of that block.
        uint64 timestamp;
    }

    /**
     * @notice A batch was anchored as `batchId`, linking to `prevRoot`.
     * @param batchId Sequential id, starting at 1.
     * @param root Merkle root of the batch.
     * @param prevRoot Root of batch `batchId - 1` (`bytes32(0)` for the first batch).
     * @param leafCount Number of leaves under `root`.
     */
    event BatchAnchored(uint256 indexed batchId, bytes32 indexed root, bytes32 prevRoot, uint64 leafCount);

    /// @notice `anchor` was given a zero root.
    error EvidenceNotaryZeroRoot();

    /// @notice `anchor` was given a leaf count of zero.
    error EvidenceNotaryZeroLeafCount();

    /**
     * @notice `root` is already anchored as `batchId`.
     * @dev A relay that re-sends an anchor after a crash treats this as success when the stored
     * root is its own: anchoring is idempotent by root.
     */
    error EvidenceNotaryAlreadyAnchored(bytes32 root, uint256 batchId);

    /// @notice `anchor` was given `prevRoot`, but the chain's head is `headRoot`.
    error EvidenceNotaryPrevRootMismatch(bytes32 headRoot, bytes32 prevRoot);

    /// @notice No batch has id `batchId` (ids run from 1 to `batchCount()`).
    error EvidenceNotaryUnknownBatch(uint256 batchId);

    /// @notice `root` was never anchored.
    error EvidenceNotaryUnknownRoot(bytes32 root);

    /// @notice The constructor was given the zero address as the first notary.
    error EvidenceNotaryInvalidNotary(address notary);

    /// @notice Semantic version of this contract ("1.0.0"); its major is the EIP-712 domain version.
    function version() external pure returns (string memory);

    /// @notice The role allowed to call `anchor` (`keccak256("NOTARY_ROLE")`).
    function NOTARY_ROLE() external view returns (bytes32);

    /**
     * @notice Anchor the Merkle root of the next batch.
     * @dev Checks, in this order: caller holds `NOTARY_ROLE`
     * (`AccessControlUnauthorizedAccount`), `root != 0` (`EvidenceNotaryZeroRoot`),
     * `leafCount > 0` (`EvidenceNotaryZeroLeafCount`), `root` not yet anchored
     * (`EvidenceNotaryAlreadyAnchored`, checked before the chain link so that a re-sent anchor is
     * recognised even after the head moved on), `prevRoot == headRoot()`
     * (`EvidenceNotaryPrevRootMismatch`). Stores the batch with the current block number and
     * timestamp, then emits `BatchAnchored`.
     * @param root StandardMerkleTree root of the batch.
     * @param leafCount Number of leaves under `root`.
     * @param prevRoot The current `headRoot()`, which the caller commits to extend.
     * @return batchId The new batch id, `batchCount()` after the call.
     */
    function anchor(bytes32 root, uint64 leafCount, bytes32 prevRoot) external returns (uint256 batchId);

    /**
     * @notice The stored batch `batchId`.
     * @dev Reverts `EvidenceNotaryUnknownBatch` unless `1 <= batchId <= batchCount()`.
     */
    function batch(uint256 batchId) external view returns (Batch memory);

    /// @notice The id under which `root` was anchored, or 0 when it never was.
    function batchIdOf(bytes32 root) external view returns (uint256);

    /// @notice Root of the latest batch, `bytes32(0)` before the first: the `prevRoot` the next `anchor` must give.
    function headRoot() external view returns (bytes32);

    /// @notice Number of anchored batches, which is also the id of the latest one.
    function batchCount() external view returns (uint256);

    /**
     * @notice Whether `proof` proves `leaf` under the root of batch `batchId`.
     * @dev `leaf` is the StandardMerkleTree leaf hash, `keccak256(bytes.concat(keccak256(abi.encode(values))))`,
     * and `proof` the sibling hashes from leaf to root (sorted-pair hashing, OpenZeppelin MerkleProof).
     * A proof only shows that `leaf` is a node of the tree: a caller that holds the leaf *values*
     * must hash them itself (see `evidenceLeafHash`) rather than accept a hash from elsewhere.
     * An unknown batch is an error, not a failed proof: reverts `EvidenceNotaryUnknownBatch`.
     */
    function verify(uint256 batchId, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);

    /**
     * @notice Like `verify`, addressed by root instead of batch id.
     * @dev Reverts `EvidenceNotaryUnknownRoot` when `root` was never anchored.
     */
    function verifyByRoot(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);

    /**
     * @notice The StandardMerkleTree leaf hash of one evidence leaf.
     * @return `keccak256(bytes.concat(keccak256(abi.encode(claimRef, contentCommitment, cid))))`.
     * @param claimRef Salted reference of the claim (never a plain claim id).
     * @param contentCommitment `keccak256(abi.encode(sha256(plaintext), salt))` of the evidence file.
     * @param cid Binary CID of the stored ciphertext.
     */
    function evidenceLeafHash(bytes32 claimRef, bytes32 contentCommitment, bytes calldata cid)
        external
        pure
        returns (bytes32);
}
