// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IEvidenceNotary} from "./IEvidenceNotary.sol";

/**
 * @title EvidenceNotary
 * @notice Hash-chained anchor of evidence-batch Merkle roots. See {IEvidenceNotary}.
 * @dev Storage per batch: the struct (3 slots: root, prevRoot, and leafCount/blockNumber/timestamp
 * packed) and the root → id index. The head root is read from the latest batch rather than kept
 * twice, so the chain has a single source of truth.
 */
contract EvidenceNotary is IEvidenceNotary, AccessControlDefaultAdminRules {
    /// @inheritdoc IEvidenceNotary
    bytes32 public constant NOTARY_ROLE = keccak256("NOTARY_ROLE");

    /// Delay between `beginDefaultAdminTransfer` and `acceptDefaultAdminTransfer`; the admin can
    /// change it later through the (itself delayed) `changeDefaultAdminDelay`.
    uint48 public constant INITIAL_ADMIN_DELAY = 1 days;

    mapping(uint256 batchId => Batch) private _batches;
    mapping(bytes32 root => uint256 batchId) private _batchIdOf;
    uint256 private _batchCount;

    /**
     * @param initialAdmin The single `DEFAULT_ADMIN_ROLE` holder (transferable in two steps).
     * @param initialNotary The first `NOTARY_ROLE` holder (the anchoring relay's key).
     */
    constructor(address initialAdmin, address initialNotary)
        AccessControlDefaultAdminRules(INITIAL_ADMIN_DELAY, initialAdmin)
    {
        if (initialNotary == address(0)) revert EvidenceNotaryInvalidNotary(initialNotary);
        _grantRole(NOTARY_ROLE, initialNotary);
    }

    /// @inheritdoc IEvidenceNotary
    function version() external pure returns (string memory) {
        return "1.0.0";
    }

    /// @inheritdoc IEvidenceNotary
    function anchor(bytes32 root, uint64 leafCount, bytes32 prevRoot)
        external
        onlyRole(NOTARY_ROLE)
        returns (uint256 batchId)
    {
        if (root == bytes32(0)) revert EvidenceNotaryZeroRoot();
        if (leafCount == 0) revert EvidenceNotaryZeroLeafCount();
        uint256 existing = _batchIdOf[root];
        if (existing != 0) revert EvidenceNotaryAlreadyAnchored(root, existing);
        bytes32 head = headRoot();
        if (prevRoot != head) revert EvidenceNotaryPrevRootMismatch(head, prevRoot);

        batchId = _batchCount + 1;
        _batchCount = batchId;
        _batches[batchId] = Batch({
            root: root,
            prevRoot: prevRoot,
            leafCount: leafCount,
            blockNumber: uint64(block.number),
            timestamp: uint64(block.timestamp)
        });
        _batchIdOf[root] = batchId;
        emit BatchAnchored(batchId, root, prevRoot, leafCount);
    }

    /// @inheritdoc IEvidenceNotary
    function batch(uint256 batchId) external view returns (Batch memory) {
        return _batch(batchId);
    }

    /// @inheritdoc IEvidenceNotary
    function batchIdOf(bytes32 root) external view returns (uint256) {
        return _batchIdOf[root];
    }

    /// @inheritdoc IEvidenceNotary
    function headRoot() public view returns (bytes32) {
        return _batches[_batchCount].root; // batch 0 never exists: its root reads as bytes32(0)
    }

    /// @inheritdoc IEvidenceNotary
    function batchCount() external view returns (uint256) {
        return _batchCount;
    }

    /// @inheritdoc IEvidenceNotary
    function verify(uint256 batchId, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        return MerkleProof.verifyCalldata(proof, _batch(batchId).root, leaf);
    }

    /// @inheritdoc IEvidenceNotary
    function verifyByRoot(bytes32 root, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        if (_batchIdOf[root] == 0) revert EvidenceNotaryUnknownRoot(root);
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc IEvidenceNotary
    function evidenceLeafHash(bytes32 claimRef, bytes32 contentCommitment, bytes calldata cid)
        external
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(claimRef, contentCommitment, cid))));
    }

    /// @notice ERC-165: also answers for {IEvidenceNotary}.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IEvidenceNotary).interfaceId || super.supportsInterface(interfaceId);
    }

    function _batch(uint256 batchId) private view returns (Batch storage stored) {
        if (batchId == 0 || batchId > _batchCount) revert EvidenceNotaryUnknownBatch(batchId);
        stored = _batches[batchId];
    }
}
