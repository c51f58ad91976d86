// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EvidenceNotary} from "../../src/EvidenceNotary.sol";
import {IEvidenceNotary} from "../../src/IEvidenceNotary.sol";
import {vm} from "../utils/Vm.sol";
import {NotaryHandler} from "./NotaryHandler.sol";

/**
 * @title EvidenceNotaryInvariantTest
 * @notice RELIABILITY C4: invariants over random sequences of NotaryHandler calls
 * (runs = 256, depth = 500 each, from foundry.toml [invariant]; a nightly sweep scales them with
 * FOUNDRY_INVARIANT_RUNS / FOUNDRY_FUZZ_SEED). Each `invariant_*` is checked after every call; the
 * full-chain walk, linear in the number of batches, runs once at the end of each sequence
 * (`afterInvariant`).
 */
contract EvidenceNotaryInvariantTest {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    bytes32 internal constant ADMIN_ROLE = bytes32(0);

    EvidenceNotary internal notary;
    NotaryHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        vm.roll(100);
        address admin = vm.addr(0xA11CE);
        address notaryKey = vm.addr(0xB0B);
        address[] memory others = new address[](2);
        others[0] = vm.addr(0xC0FFEE);
        others[1] = vm.addr(0xE7E);
        notary = new EvidenceNotary(admin, notaryKey);
        handler = new NotaryHandler(notary, admin, notaryKey, others);
    }

    /// forge: only the handler is called, and only through its action functions.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](11);
        selectors[0] = NotaryHandler.anchor.selector;
        selectors[1] = NotaryHandler.anchor.selector; // anchoring twice as likely as any role call
        selectors[2] = NotaryHandler.grantNotary.selector;
        selectors[3] = NotaryHandler.revokeNotary.selector;
        selectors[4] = NotaryHandler.renounceNotary.selector;
        selectors[5] = NotaryHandler.grantOrRevokeAdminDirectly.selector;
        selectors[6] = NotaryHandler.beginAdminTransfer.selector;
        selectors[7] = NotaryHandler.cancelAdminTransfer.selector;
        selectors[8] = NotaryHandler.acceptAdminTransfer.selector;
        selectors[9] = NotaryHandler.renounceAdmin.selector;
        selectors[10] = NotaryHandler.advanceTime.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), selectors);
    }

    /// The head links to its predecessor, the count matches the model, and the head is indexed.
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_hashChainLinks() public view {
        uint256 count = notary.batchCount();
        vm.assertEq(count, handler.ghostBatchCount(), "batchCount == anchors the model accepted");
        vm.assertEq(notary.headRoot(), handler.ghostHead(), "headRoot == the model's head");
        if (count == 0) return;
        IEvidenceNotary.Batch memory head = notary.batch(count);
        vm.assertEq(head.root, notary.headRoot(), "headRoot is the latest batch's root");
        bytes32 expectedPrev = count == 1 ? bytes32(0) : notary.batch(count - 1).root;
        vm.assertEq(head.prevRoot, expectedPrev, "prevRoot(n) == root(n-1)");
    }

    /// The batch count never decreases, and equals the successful anchors seen.
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_countsMonotonic() public view {
        vm.assertEq(handler.ghostCountDecreases(), 0, "batchCount went down after some call");
        vm.assertEq(notary.batchCount(), handler.ghostAnchors(), "every batch came from a successful anchor");
    }

    /// No root is stored twice: the latest root is indexed at the latest id, and a re-anchored
    /// root is always refused (asserted by the handler with the exact revert data).
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_noRootTwice() public view {
        uint256 count = notary.batchCount();
        if (count == 0) return;
        vm.assertEq(notary.batchIdOf(notary.headRoot()), count, "head root indexed at the head id");
        vm.assertEq(notary.batchIdOf(notary.batch(1).root), 1, "first root indexed at 1");
    }

    /// Only NOTARY_ROLE holders ever anchored.
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_onlyNotaryAnchors() public view {
        vm.assertEq(handler.ghostAnchorsByNonNotary(), 0, "an account without NOTARY_ROLE anchored");
        address[] memory actors = handler.actors();
        for (uint256 i = 0; i < actors.length; i++) {
            vm.assertEq(
                notary.hasRole(notary.NOTARY_ROLE(), actors[i]),
                handler.ghostIsNotary(actors[i]),
                "NOTARY_ROLE holders == the model's"
            );
        }
    }

    /// The admin changes only by a matured two-step transfer (or renunciation) the model accepted.
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_rolesChangeOnlyViaTwoStep() public view {
        vm.assertEq(handler.ghostAdminChangesOutsideTwoStep(), 0, "admin changed outside the two-step transfer");
        vm.assertEq(notary.defaultAdmin(), handler.ghostAdmin(), "defaultAdmin == the model's");
        (address pending, uint48 schedule) = notary.pendingDefaultAdmin();
        vm.assertEq(pending, handler.ghostPendingAdmin(), "pending admin == the model's");
        vm.assertEq(uint256(schedule), uint256(handler.ghostPendingSchedule()), "pending schedule == the model's");
        address[] memory actors = handler.actors();
        for (uint256 i = 0; i < actors.length; i++) {
            vm.assertEq(
                notary.hasRole(ADMIN_ROLE, actors[i]),
                actors[i] == handler.ghostAdmin(),
                "exactly the model's admin holds DEFAULT_ADMIN_ROLE"
            );
        }
    }

    /// End of each sequence: walk the whole chain against the model.
    function afterInvariant() public view {
        uint256 count = notary.batchCount();
        bytes32 prev = bytes32(0);
        for (uint256 id = 1; id <= count; id++) {
            IEvidenceNotary.Batch memory b = notary.batch(id);
            (bytes32 root, uint64 leafCount, uint64 blockNumber, uint64 timestamp) = handler.ghostBatch(id);
            vm.assertEq(b.root, root, "root(n) == the model's");
            vm.assertEq(b.prevRoot, prev, "prevRoot(n) == root(n-1)");
            vm.assertEq(uint256(b.leafCount), uint256(leafCount), "leafCount(n)");
            vm.assertEq(uint256(b.blockNumber), uint256(blockNumber), "blockNumber(n)");
            vm.assertEq(uint256(b.timestamp), uint256(timestamp), "timestamp(n)");
            vm.assertEq(notary.batchIdOf(b.root), id, "each root indexed once, at its own id");
            prev = b.root;
        }
        vm.assertEq(prev, notary.headRoot(), "walk ends at the head");
    }
}
