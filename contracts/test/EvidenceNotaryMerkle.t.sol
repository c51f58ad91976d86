// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IEvidenceNotary} from "../src/IEvidenceNotary.sol";
import {MerkleTrees} from "./utils/MerkleTrees.sol";
import {NotaryTestBase} from "./utils/NotaryTestBase.sol";
import {vm} from "./utils/Vm.sol";

/// @notice Merkle inclusion: golden vectors from @openzeppelin/merkle-tree (JS) and fuzzing.
/// @dev verify is verification-critical (RELIABILITY C5): its fuzz tests run 1,000 times each.
contract EvidenceNotaryMerkleTest is NotaryTestBase {
    string internal constant VECTORS = "/../tests/vectors/merkle_standard.json";

    /// Every `evidence-*` case of tests/vectors/merkle_standard.json (produced by the JS library,
    /// see its "derivation"): the on-chain leaf hash of each value is the library's leaf hash, the
    /// test tree builder reproduces the library's root from the sorted leaf hashes, and each of
    /// the library's proofs verifies against the anchored root.
    function test_verify_acceptsJsLibraryGoldenVectors() public {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), VECTORS));
        uint256 evidenceCases = 0;
        for (uint256 c = 0; vm.keyExistsJson(json, _key(c, "")); c++) {
            string memory name = vm.parseJsonString(json, _key(c, ".name"));
            if (!_startsWith(name, "evidence-")) continue;
            evidenceCases++;
            _checkGoldenCase(json, c, name);
        }
        vm.assertGe(evidenceCases, 10, "the vector file still holds the evidence cases");
    }

    function _checkGoldenCase(string memory json, uint256 c, string memory name) internal {
        bytes32 root = vm.parseJsonBytes32(json, _key(c, ".root"));
        bytes32[] memory leafHashes = vm.parseJsonBytes32Array(json, _key(c, ".leafHashes"));
        vm.assertEq(MerkleTrees.build(MerkleTrees.sort(leafHashes))[0], root, string.concat(name, ": builder root"));

        bytes32 head = notary.headRoot();
        vm.prank(notaryKey);
        uint256 batchId = notary.anchor(root, uint64(leafHashes.length), head);
        for (uint256 i = 0; i < leafHashes.length; i++) {
            string memory value = string.concat(_key(c, ".values["), vm.toString(i), "]");
            bytes32 leaf = notary.evidenceLeafHash(
                vm.parseJsonBytes32(json, string.concat(value, "[0]")),
                vm.parseJsonBytes32(json, string.concat(value, "[1]")),
                vm.parseJsonBytes(json, string.concat(value, "[2]"))
            );
            vm.assertEq(leaf, leafHashes[i], string.concat(name, ": leaf hash of value ", vm.toString(i)));
            bytes32[] memory proof =
                vm.parseJsonBytes32Array(json, string.concat(_key(c, ".proofs["), vm.toString(i), "]"));
            vm.assertTrue(notary.verify(batchId, leaf, proof), string.concat(name, ": proof ", vm.toString(i)));
        }
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_verify_acceptsEveryLeafAndRejectsMutations(
        uint256 seed,
        uint8 size,
        uint256 pick,
        uint256 flipBit
    ) public {
        uint256 n = bound(size, 1, 70);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            leaves[i] = keccak256(abi.encode(seed, i));
        }
        leaves = MerkleTrees.sort(leaves);
        bytes32[] memory tree = MerkleTrees.build(leaves);
        vm.prank(notaryKey);
        uint256 batchId = notary.anchor(tree[0], uint64(n), bytes32(0));

        uint256 index = pick % n;
        bytes32[] memory proof = MerkleTrees.proof(tree, index);
        vm.assertTrue(notary.verify(batchId, leaves[index], proof), "member leaf verifies");
        vm.assertTrue(notary.verifyByRoot(tree[0], leaves[index], proof), "member leaf verifies by root");

        bytes32 flipped = leaves[index] ^ bytes32(uint256(1) << (flipBit % 256));
        vm.assertFalse(notary.verify(batchId, flipped, proof), "bit-flipped leaf rejected");

        if (proof.length > 0) {
            bytes32[] memory bad = _copy(proof);
            uint256 k = (flipBit >> 8) % proof.length;
            bad[k] ^= bytes32(uint256(1) << (flipBit % 256));
            vm.assertFalse(notary.verify(batchId, leaves[index], bad), "bit-flipped proof rejected");

            bytes32[] memory truncated = new bytes32[](proof.length - 1);
            for (uint256 i = 0; i < truncated.length; i++) {
                truncated[i] = proof[i];
            }
            vm.assertFalse(notary.verify(batchId, leaves[index], truncated), "truncated proof rejected");
        }

        bytes32[] memory extended = new bytes32[](proof.length + 1);
        for (uint256 i = 0; i < proof.length; i++) {
            extended[i] = proof[i];
        }
        extended[proof.length] = keccak256(abi.encode(seed, "extra"));
        vm.assertFalse(notary.verify(batchId, leaves[index], extended), "extended proof rejected");
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_verify_agreesWithMerkleProofAndBindsTheBatch(bytes32 leaf, bytes32[] calldata proof) public {
        bytes32 root = MerkleProof.processProofCalldata(proof, leaf);
        vm.assume(root != bytes32(0));
        bytes32 other = keccak256(abi.encode(root, "other batch"));
        vm.prank(notaryKey);
        notary.anchor(other, 1, bytes32(0));
        vm.prank(notaryKey);
        uint256 batchId = notary.anchor(root, 1, other);

        vm.assertTrue(notary.verify(batchId, leaf, proof), "proof of the anchored root");
        vm.assertFalse(notary.verify(batchId - 1, leaf, proof), "same proof against another batch");
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_verify_rejectsUnknownBatchIds(uint256 batchId, bytes32 leaf) public {
        _anchorChain(2);
        vm.assume(batchId == 0 || batchId > 2);
        bytes32[] memory empty = new bytes32[](0);
        vm.expectRevert(_unknownBatch(batchId));
        notary.verify(batchId, leaf, empty);
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_evidenceLeafHash_isInjectiveOverCid(bytes32 claimRef, bytes32 commitment, bytes calldata cid)
        public
        view
    {
        // abi.encode length-prefixes `cid`, so an extra trailing zero byte (which would pad to the
        // same words) must still change the leaf.
        bytes memory longer = bytes.concat(cid, hex"00");
        vm.assertFalse(
            notary.evidenceLeafHash(claimRef, commitment, cid) == notary.evidenceLeafHash(claimRef, commitment, longer),
            "length is part of the leaf"
        );
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_anchor_storesAnyValidBatch(bytes32 root, uint64 leafCount, uint64 blockNumber, uint64 time)
        public
    {
        vm.assume(root != bytes32(0) && leafCount > 0);
        vm.roll(blockNumber);
        vm.warp(time);
        vm.prank(notaryKey);
        uint256 batchId = notary.anchor(root, leafCount, bytes32(0));
        IEvidenceNotary.Batch memory stored = notary.batch(batchId);
        vm.assertEq(stored.root, root, "root");
        vm.assertEq(uint256(stored.leafCount), leafCount, "leafCount");
        vm.assertEq(uint256(stored.blockNumber), blockNumber, "blockNumber");
        vm.assertEq(uint256(stored.timestamp), time, "timestamp");
        vm.assertEq(notary.batchIdOf(root), batchId, "index");
    }

    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        return min + (x % (max - min + 1));
    }

    function _copy(bytes32[] memory a) internal pure returns (bytes32[] memory b) {
        b = new bytes32[](a.length);
        for (uint256 i = 0; i < a.length; i++) {
            b[i] = a[i];
        }
    }

    function _key(uint256 c, string memory suffix) internal pure returns (string memory) {
        return string.concat(".cases[", vm.toString(c), "]", suffix);
    }

    function _startsWith(string memory s, string memory prefix) internal pure returns (bool) {
        bytes memory a = bytes(s);
        bytes memory b = bytes(prefix);
        if (a.length < b.length) return false;
        for (uint256 i = 0; i < b.length; i++) {
            if (a[i] != b[i]) return false;
        }
        return true;
    }
}
