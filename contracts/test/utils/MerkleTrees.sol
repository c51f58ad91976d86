// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title MerkleTrees
 * @notice Test-only builder of OpenZeppelin StandardMerkleTree-shaped trees over leaf hashes.
 * @dev Same layout as @openzeppelin/merkle-tree's `makeMerkleTree`: a complete binary tree in an
 * array of 2n-1 nodes, leaf i at index `length - 1 - i`, node i the sorted-pair keccak256 of its
 * children `2i+1` and `2i+2`, the root at index 0. (StandardMerkleTree additionally sorts the leaf
 * hashes first; pass them sorted to reproduce its root.) The golden-vector test checks this
 * builder against the JS library's roots, so the fuzz tests can trust it as an oracle.
 */
library MerkleTrees {
    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function build(bytes32[] memory leaves) internal pure returns (bytes32[] memory tree) {
        require(leaves.length > 0, "MerkleTrees: no leaves");
        tree = new bytes32[](2 * leaves.length - 1);
        for (uint256 i = 0; i < leaves.length; i++) {
            tree[tree.length - 1 - i] = leaves[i];
        }
        for (uint256 i = tree.length - leaves.length; i > 0; i--) {
            tree[i - 1] = hashPair(tree[2 * i - 1], tree[2 * i]);
        }
    }

    /// Proof for leaf number `leafIndex` (in the order given to `build`).
    function proof(bytes32[] memory tree, uint256 leafIndex) internal pure returns (bytes32[] memory path) {
        uint256 leafCount = (tree.length + 1) / 2;
        require(leafIndex < leafCount, "MerkleTrees: leaf index out of range");
        uint256 index = tree.length - 1 - leafIndex;
        uint256 depth = 0;
        for (uint256 i = index; i > 0; i = (i - 1) / 2) depth++;
        path = new bytes32[](depth);
        for (uint256 k = 0; k < depth; k++) {
            path[k] = tree[index % 2 == 1 ? index + 1 : index - 1];
            index = (index - 1) / 2;
        }
    }

    function sort(bytes32[] memory values) internal pure returns (bytes32[] memory sorted) {
        sorted = new bytes32[](values.length);
        for (uint256 i = 0; i < values.length; i++) {
            sorted[i] = values[i];
            for (uint256 j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                (sorted[j - 1], sorted[j]) = (sorted[j], sorted[j - 1]);
            }
        }
    }
}
