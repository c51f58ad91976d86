// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

import {EvidenceNotary} from "../src/EvidenceNotary.sol";
import {IEvidenceNotary} from "../src/IEvidenceNotary.sol";
import {MerkleTrees} from "./utils/MerkleTrees.sol";
import {NotaryTestBase} from "./utils/NotaryTestBase.sol";
import {Vm, vm} from "./utils/Vm.sol";

/// @notice Unit tests: for each call the return value, the one event and its arguments, the
/// stored state, and every revert by its exact custom-error data.
contract EvidenceNotaryTest is NotaryTestBase {
    bytes32 internal constant BATCH_ANCHORED = keccak256("BatchAnchored(uint256,bytes32,bytes32,uint64)");

    // ---------------------------------------------------------------- deployment

    function test_constructor_assignsRolesAndDelay() public view {
        vm.assertEq(notary.defaultAdmin(), admin, "defaultAdmin");
        vm.assertEq(notary.owner(), admin, "owner (ERC-5313)");
        vm.assertTrue(notary.hasRole(notary.DEFAULT_ADMIN_ROLE(), admin), "admin holds DEFAULT_ADMIN_ROLE");
        vm.assertTrue(notary.hasRole(notary.NOTARY_ROLE(), notaryKey), "notary holds NOTARY_ROLE");
        vm.assertFalse(notary.hasRole(notary.NOTARY_ROLE(), admin), "admin is not a notary");
        vm.assertFalse(notary.hasRole(notary.DEFAULT_ADMIN_ROLE(), notaryKey), "notary is not admin");
        vm.assertEq(notary.getRoleAdmin(notary.NOTARY_ROLE()), bytes32(0), "NOTARY_ROLE administered by admin");
        vm.assertEq(notary.NOTARY_ROLE(), keccak256("NOTARY_ROLE"), "NOTARY_ROLE value");
        vm.assertEq(uint256(notary.defaultAdminDelay()), 1 days, "admin transfer delay");
        vm.assertEq(notary.batchCount(), 0, "no batches");
        vm.assertEq(notary.headRoot(), bytes32(0), "empty head");
    }

    function test_constructor_emitsOneRoleGrantedPerRole() public {
        vm.recordLogs();
        EvidenceNotary fresh = new EvidenceNotary(admin, notaryKey);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 granted = keccak256("RoleGranted(bytes32,address,address)");
        vm.assertEq(logs.length, 2, "two events");
        vm.assertEq(logs[0].topics[0], granted, "first is RoleGranted");
        vm.assertEq(logs[0].topics[1], bytes32(0), "DEFAULT_ADMIN_ROLE first");
        vm.assertEq(logs[0].topics[2], bytes32(uint256(uint160(admin))), "to admin");
        vm.assertEq(logs[1].topics[0], granted, "second is RoleGranted");
        vm.assertEq(logs[1].topics[1], fresh.NOTARY_ROLE(), "then NOTARY_ROLE");
        vm.assertEq(logs[1].topics[2], bytes32(uint256(uint160(notaryKey))), "to notary");
    }

    function test_constructor_rejectsZeroNotary() public {
        vm.expectRevert(abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryInvalidNotary.selector, address(0)));
        new EvidenceNotary(admin, address(0));
    }

    function test_constructor_rejectsZeroAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, address(0))
        );
        new EvidenceNotary(address(0), notaryKey);
    }

    function test_version_isOneZeroZero() public view {
        vm.assertEq(notary.version(), "1.0.0", "version");
    }

    function test_supportsInterface_answersForEachImplementedInterface() public view {
        vm.assertTrue(notary.supportsInterface(type(IEvidenceNotary).interfaceId), "IEvidenceNotary");
        vm.assertTrue(notary.supportsInterface(type(IAccessControl).interfaceId), "IAccessControl");
        vm.assertTrue(
            notary.supportsInterface(type(IAccessControlDefaultAdminRules).interfaceId), "IAccessControlDefaultAdminRules"
        );
        vm.assertTrue(notary.supportsInterface(type(IERC165).interfaceId), "IERC165");
        vm.assertFalse(notary.supportsInterface(0xffffffff), "0xffffffff must be false (ERC-165)");
    }

    // ---------------------------------------------------------------- anchor

    function test_anchor_storesFirstBatch() public {
        bytes32 root = _root(1);
        vm.roll(1234);
        vm.warp(1_800_000_000);
        vm.recordLogs();
        vm.prank(notaryKey);
        uint256 batchId = notary.anchor(root, 7, bytes32(0));

        vm.assertEq(batchId, 1, "first id is 1");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(logs.length, 1, "exactly one event");
        vm.assertEq(logs[0].emitter, address(notary), "emitter");
        vm.assertEq(logs[0].topics.length, 3, "two indexed args");
        vm.assertEq(logs[0].topics[0], BATCH_ANCHORED, "BatchAnchored");
        vm.assertEq(logs[0].topics[1], bytes32(uint256(1)), "indexed batchId");
        vm.assertEq(logs[0].topics[2], root, "indexed root");
        vm.assertEq(logs[0].data, abi.encode(bytes32(0), uint64(7)), "prevRoot and leafCount");

        IEvidenceNotary.Batch memory stored = notary.batch(1);
        vm.assertEq(stored.root, root, "stored root");
        vm.assertEq(stored.prevRoot, bytes32(0), "stored prevRoot");
        vm.assertEq(uint256(stored.leafCount), 7, "stored leafCount");
        vm.assertEq(uint256(stored.blockNumber), 1234, "stored block number");
        vm.assertEq(uint256(stored.timestamp), 1_800_000_000, "stored timestamp");
        vm.assertEq(notary.batchIdOf(root), 1, "batchIdOf");
        vm.assertEq(notary.headRoot(), root, "head moved");
        vm.assertEq(notary.batchCount(), 1, "count");
    }

    function test_anchor_linksSecondBatchToFirst() public {
        bytes32 first = _root(1);
        bytes32 second = _root(2);
        vm.prank(notaryKey);
        notary.anchor(first, 1, bytes32(0));

        vm.expectEmit(true, true, false, true, address(notary));
        emit IEvidenceNotary.BatchAnchored(2, second, first, 3);
        vm.prank(notaryKey);
        uint256 batchId = notary.anchor(second, 3, first);

        vm.assertEq(batchId, 2, "ids are sequential");
        vm.assertEq(notary.batch(2).prevRoot, first, "prevRoot is the previous root");
        vm.assertEq(notary.batch(1).root, first, "batch 1 unchanged");
        vm.assertEq(notary.headRoot(), second, "head is the latest root");
        vm.assertEq(notary.batchCount(), 2, "count");
        vm.assertEq(notary.batchIdOf(first), 1, "first id");
        vm.assertEq(notary.batchIdOf(second), 2, "second id");
    }

    function test_anchor_acceptsMaxLeafCount() public {
        vm.prank(notaryKey);
        notary.anchor(_root(1), type(uint64).max, bytes32(0));
        vm.assertEq(uint256(notary.batch(1).leafCount), type(uint64).max, "uint64 max stored");
    }

    function test_anchor_rejectsCallerWithoutNotaryRole() public {
        vm.expectRevert(_unauthorized(outsider, notary.NOTARY_ROLE()));
        vm.prank(outsider);
        notary.anchor(_root(1), 1, bytes32(0));
        vm.assertEq(notary.batchCount(), 0, "nothing stored");
    }

    function test_anchor_rejectsAdminWithoutNotaryRole() public {
        vm.expectRevert(_unauthorized(admin, notary.NOTARY_ROLE()));
        vm.prank(admin);
        notary.anchor(_root(1), 1, bytes32(0));
    }

    function test_anchor_rejectsZeroRoot() public {
        vm.expectRevert(abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryZeroRoot.selector));
        vm.prank(notaryKey);
        notary.anchor(bytes32(0), 1, bytes32(0));
        vm.assertEq(notary.batchCount(), 0, "nothing stored");
    }

    function test_anchor_rejectsZeroLeafCount() public {
        vm.expectRevert(abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryZeroLeafCount.selector));
        vm.prank(notaryKey);
        notary.anchor(_root(1), 0, bytes32(0));
        vm.assertEq(notary.batchIdOf(_root(1)), 0, "root not recorded");
    }

    function test_anchor_rejectsRootAlreadyAnchored() public {
        bytes32 head = _anchorChain(1);
        vm.expectRevert(abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryAlreadyAnchored.selector, head, 1));
        vm.prank(notaryKey);
        notary.anchor(head, 1, head);
        vm.assertEq(notary.batchCount(), 1, "count unchanged");
    }

    function test_anchor_reportsAlreadyAnchoredBeforeStaleHead() public {
        // A relay re-sending batch 2 after batch 3 was anchored must learn "already anchored as 2",
        // not "stale head": the backend treats the former as success.
        _anchorChain(3);
        bytes32 first = notary.batch(1).root;
        bytes32 second = notary.batch(2).root;
        vm.expectRevert(abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryAlreadyAnchored.selector, second, 2));
        vm.prank(notaryKey);
        notary.anchor(second, 2, first);
    }

    function test_anchor_rejectsWrongPrevRoot() public {
        bytes32 head = _anchorChain(2);
        bytes32 stale = notary.batch(1).root;
        vm.expectRevert(
            abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryPrevRootMismatch.selector, head, stale)
        );
        vm.prank(notaryKey);
        notary.anchor(_root(99), 1, stale);
        vm.assertEq(notary.headRoot(), head, "head unchanged");
    }

    function test_anchor_rejectsNonZeroPrevRootForFirstBatch() public {
        bytes32 bogus = _root(42);
        vm.expectRevert(
            abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryPrevRootMismatch.selector, bytes32(0), bogus)
        );
        vm.prank(notaryKey);
        notary.anchor(_root(1), 1, bogus);
    }

    function test_anchor_rejectsZeroPrevRootAfterFirstBatch() public {
        bytes32 head = _anchorChain(1);
        vm.expectRevert(
            abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryPrevRootMismatch.selector, head, bytes32(0))
        );
        vm.prank(notaryKey);
        notary.anchor(_root(2), 1, bytes32(0));
    }

    // ---------------------------------------------------------------- views

    function test_batch_rejectsIdZero() public {
        _anchorChain(1);
        vm.expectRevert(_unknownBatch(0));
        notary.batch(0);
    }

    function test_batch_rejectsIdPastCount() public {
        _anchorChain(2);
        vm.expectRevert(_unknownBatch(3));
        notary.batch(3);
    }

    function test_batchIdOf_returnsZeroForUnknownRoot() public {
        _anchorChain(2);
        vm.assertEq(notary.batchIdOf(_root(1000)), 0, "unknown root");
        vm.assertEq(notary.batchIdOf(bytes32(0)), 0, "zero root is never a batch");
    }

    // ---------------------------------------------------------------- verify

    function _fourLeafBatch() internal returns (bytes32[] memory leaves, bytes32[] memory tree) {
        leaves = new bytes32[](4);
        for (uint256 i = 0; i < 4; i++) {
            leaves[i] = notary.evidenceLeafHash(_root(100 + i), _root(200 + i), abi.encodePacked(hex"1220", _root(i)));
        }
        tree = MerkleTrees.build(leaves);
        vm.prank(notaryKey);
        notary.anchor(tree[0], 4, bytes32(0));
    }

    function test_verify_acceptsEveryLeafOfBatch() public {
        (bytes32[] memory leaves, bytes32[] memory tree) = _fourLeafBatch();
        for (uint256 i = 0; i < leaves.length; i++) {
            vm.assertTrue(notary.verify(1, leaves[i], MerkleTrees.proof(tree, i)), "leaf verifies");
            vm.assertTrue(notary.verifyByRoot(tree[0], leaves[i], MerkleTrees.proof(tree, i)), "by root");
        }
    }

    function test_verify_rejectsLeafNotInBatch() public {
        (, bytes32[] memory tree) = _fourLeafBatch();
        bytes32 stranger = notary.evidenceLeafHash(_root(999), _root(998), hex"1220");
        vm.assertFalse(notary.verify(1, stranger, MerkleTrees.proof(tree, 0)), "foreign leaf");
        vm.assertFalse(notary.verifyByRoot(tree[0], stranger, MerkleTrees.proof(tree, 0)), "foreign leaf by root");
    }

    function test_verify_rejectsProofOfAnotherLeaf() public {
        (bytes32[] memory leaves, bytes32[] memory tree) = _fourLeafBatch();
        vm.assertFalse(notary.verify(1, leaves[0], MerkleTrees.proof(tree, 2)), "proof for leaf 2 used on leaf 0");
    }

    function test_verify_rejectsUnknownBatch() public {
        (bytes32[] memory leaves, bytes32[] memory tree) = _fourLeafBatch();
        bytes32[] memory path = MerkleTrees.proof(tree, 0);
        vm.expectRevert(_unknownBatch(2));
        notary.verify(2, leaves[0], path);
    }

    function test_verify_rejectsBatchIdZero() public {
        bytes32[] memory empty = new bytes32[](0);
        vm.expectRevert(_unknownBatch(0));
        notary.verify(0, bytes32(0), empty);
    }

    function test_verifyByRoot_rejectsUnknownRoot() public {
        bytes32[] memory empty = new bytes32[](0);
        bytes32 root = _root(5);
        vm.expectRevert(abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryUnknownRoot.selector, root));
        notary.verifyByRoot(root, root, empty);
    }

    function test_verify_acceptsSingleLeafBatchWithEmptyProof() public {
        bytes32 leaf = notary.evidenceLeafHash(_root(1), _root(2), hex"0155");
        vm.prank(notaryKey);
        notary.anchor(leaf, 1, bytes32(0));
        vm.assertTrue(notary.verify(1, leaf, new bytes32[](0)), "a one-leaf tree's root is its leaf");
    }

    function test_evidenceLeafHash_isStandardMerkleTreeDoubleHash() public view {
        bytes32 claimRef = _root(1);
        bytes32 commitment = _root(2);
        bytes memory cid = hex"01551220aabbcc";
        bytes32 expected = keccak256(bytes.concat(keccak256(abi.encode(claimRef, commitment, cid))));
        vm.assertEq(notary.evidenceLeafHash(claimRef, commitment, cid), expected, "double hash of abi.encode");
    }

    // ---------------------------------------------------------------- roles

    function test_grantRole_adminAddsNotaryWhoCanAnchor() public {
        bytes32 role = notary.NOTARY_ROLE();
        vm.expectEmit(true, true, true, true, address(notary));
        emit IAccessControl.RoleGranted(role, outsider, admin);
        vm.prank(admin);
        notary.grantRole(role, outsider);
        vm.assertTrue(notary.hasRole(role, outsider), "granted");

        vm.prank(outsider);
        vm.assertEq(notary.anchor(_root(1), 1, bytes32(0)), 1, "new notary anchors");
    }

    function test_revokeRole_adminRemovesNotary() public {
        bytes32 role = notary.NOTARY_ROLE();
        vm.expectEmit(true, true, true, true, address(notary));
        emit IAccessControl.RoleRevoked(role, notaryKey, admin);
        vm.prank(admin);
        notary.revokeRole(role, notaryKey);
        vm.assertFalse(notary.hasRole(role, notaryKey), "revoked");

        vm.expectRevert(_unauthorized(notaryKey, role));
        vm.prank(notaryKey);
        notary.anchor(_root(1), 1, bytes32(0));
    }

    function test_grantRole_rejectsNotary() public {
        bytes32 role = notary.NOTARY_ROLE();
        vm.expectRevert(_unauthorized(notaryKey, bytes32(0)));
        vm.prank(notaryKey);
        notary.grantRole(role, outsider);
    }

    function test_grantRole_rejectsDefaultAdminRoleEvenFromAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector)
        );
        vm.prank(admin);
        notary.grantRole(bytes32(0), outsider);
    }

    function test_acceptDefaultAdminTransfer_completesAfterDelay() public {
        vm.prank(admin);
        notary.beginDefaultAdminTransfer(outsider);
        (address pending, uint48 schedule) = notary.pendingDefaultAdmin();
        vm.assertEq(pending, outsider, "pending admin");
        vm.assertEq(uint256(schedule), block.timestamp + 1 days, "schedule");

        vm.warp(uint256(schedule) + 1);
        vm.prank(outsider);
        notary.acceptDefaultAdminTransfer();
        vm.assertEq(notary.defaultAdmin(), outsider, "new admin");
        vm.assertFalse(notary.hasRole(bytes32(0), admin), "old admin lost the role");
    }

    function test_acceptDefaultAdminTransfer_rejectsBeforeDelay() public {
        vm.prank(admin);
        notary.beginDefaultAdminTransfer(outsider);
        (, uint48 schedule) = notary.pendingDefaultAdmin();
        vm.warp(uint256(schedule)); // the schedule must have *passed*
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        vm.prank(outsider);
        notary.acceptDefaultAdminTransfer();
        vm.assertEq(notary.defaultAdmin(), admin, "admin unchanged");
    }

    function test_acceptDefaultAdminTransfer_rejectsAnyoneButPendingAdmin() public {
        vm.prank(admin);
        notary.beginDefaultAdminTransfer(outsider);
        vm.warp(block.timestamp + 2 days);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, notaryKey)
        );
        vm.prank(notaryKey);
        notary.acceptDefaultAdminTransfer();
    }
}
