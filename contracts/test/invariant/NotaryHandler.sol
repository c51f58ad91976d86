// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";

import {EvidenceNotary} from "../../src/EvidenceNotary.sol";
import {IEvidenceNotary} from "../../src/IEvidenceNotary.sol";
import {vm} from "../utils/Vm.sol";

/**
 * @title NotaryHandler
 * @notice Invariant-test handler: drives EvidenceNotary through anchors (valid, duplicate, stale,
 * zero, unauthorised) and every role operation (grant/revoke/renounce, the two-step admin
 * transfer, direct admin grants that must fail), from a fixed set of actors, while the clock moves.
 *
 * Before each call the handler predicts the outcome from its own model (the ghost variables) —
 * success or the exact revert data — and asserts the contract agrees; on success it updates the
 * model. The ghost state is then compared with the contract's by the invariants. A mismatch in a
 * prediction reverts the handler, which fails the campaign (`fail_on_revert = true`).
 */
contract NotaryHandler {
    bytes32 internal constant ADMIN_ROLE = bytes32(0);
    bytes32 internal immutable NOTARY;

    EvidenceNotary public immutable notary;
    address[] internal _actors;

    // ---- ghost model
    bytes32[] internal _ghostRoots; // root of batch i+1
    uint64[] internal _ghostLeafCounts;
    uint64[] internal _ghostBlockNumbers;
    uint64[] internal _ghostTimestamps;
    mapping(bytes32 root => uint256 batchId) public ghostBatchIdOf;
    mapping(address account => bool) public ghostIsNotary;
    address public ghostAdmin;
    address public ghostPendingAdmin;
    uint48 public ghostPendingSchedule;

    // ---- ghost counters (what happened, for the invariants and the campaign summary)
    uint256 public ghostAnchors;
    uint256 public ghostAnchorsByNonNotary; // successes the model forbade (must stay 0)
    uint256 public ghostCountDecreases; // calls after which batchCount went down (must stay 0)
    uint256 public ghostAdminChanges; // admin changes, each through an accepted, matured transfer
    uint256 public ghostAdminChangesOutsideTwoStep; // must stay 0
    uint256 public ghostRejectedAnchors;

    uint48 internal constant DELAY = 1 days;

    constructor(EvidenceNotary notary_, address admin, address notaryKey, address[] memory others) {
        notary = notary_;
        NOTARY = notary_.NOTARY_ROLE();
        _actors.push(admin);
        _actors.push(notaryKey);
        for (uint256 i = 0; i < others.length; i++) {
            _actors.push(others[i]);
        }
        ghostAdmin = admin;
        ghostIsNotary[notaryKey] = true;
    }

    /// Checks around every handler call: the batch count never goes down and the admin never
    /// changes except where the model performed a matured two-step transfer.
    modifier observed() {
        uint256 countBefore = notary.batchCount();
        address adminBefore = notary.defaultAdmin();
        uint256 changesBefore = ghostAdminChanges;
        _;
        if (notary.batchCount() < countBefore) ghostCountDecreases++;
        if (notary.defaultAdmin() != adminBefore && ghostAdminChanges == changesBefore) {
            ghostAdminChangesOutsideTwoStep++;
        }
    }

    // ================================================================= anchoring

    /// mode % 8: 0-4 link to the head (valid unless another rule fails), 5 stale or forged
    /// prevRoot, 6 re-anchor an existing root, 7 zero root.
    function anchor(uint256 actorSeed, uint256 rootSeed, uint64 leafCount, uint8 mode) external observed {
        address caller = _actor(actorSeed);
        bytes32 head = _ghostHead();
        bytes32 root = keccak256(abi.encode("invariant root", rootSeed));
        bytes32 prevRoot = head;
        uint8 m = mode % 8;
        if (m == 5) {
            prevRoot = _ghostRoots.length > 1 && rootSeed % 2 == 0
                ? _ghostRoots[rootSeed % (_ghostRoots.length - 1)]
                : keccak256(abi.encode("forged prev", rootSeed));
        } else if (m == 6 && _ghostRoots.length > 0) {
            root = _ghostRoots[rootSeed % _ghostRoots.length];
        } else if (m == 7) {
            root = bytes32(0);
        }
        if (leafCount == 0 && rootSeed % 4 != 0) leafCount = uint64(1 + rootSeed % 1000); // zero counts stay rare

        bytes memory expected;
        if (!ghostIsNotary[caller]) {
            expected = abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, NOTARY);
        } else if (root == bytes32(0)) {
            expected = abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryZeroRoot.selector);
        } else if (leafCount == 0) {
            expected = abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryZeroLeafCount.selector);
        } else if (ghostBatchIdOf[root] != 0) {
            expected = abi.encodeWithSelector(
                IEvidenceNotary.EvidenceNotaryAlreadyAnchored.selector, root, ghostBatchIdOf[root]
            );
        } else if (prevRoot != head) {
            expected = abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryPrevRootMismatch.selector, head, prevRoot);
        }

        vm.prank(caller);
        try notary.anchor(root, leafCount, prevRoot) returns (uint256 batchId) {
            if (!ghostIsNotary[caller]) ghostAnchorsByNonNotary++;
            vm.assertEq(expected.length, 0, "anchor succeeded where the model expected a revert");
            vm.assertEq(batchId, _ghostRoots.length + 1, "batch ids are sequential from 1");
            _ghostRoots.push(root);
            _ghostLeafCounts.push(leafCount);
            _ghostBlockNumbers.push(uint64(block.number));
            _ghostTimestamps.push(uint64(block.timestamp));
            ghostBatchIdOf[root] = batchId;
            ghostAnchors++;
        } catch (bytes memory reason) {
            vm.assertEq(reason, expected, "anchor reverted with other data than the model expected");
            ghostRejectedAnchors++;
        }
    }

    // ================================================================= NOTARY_ROLE (admin-managed)

    function grantNotary(uint256 actorSeed, uint256 targetSeed) external observed {
        address caller = _actor(actorSeed);
        address target = _actor(targetSeed);
        bytes memory expected = _onlyAdmin(caller);
        vm.prank(caller);
        try notary.grantRole(NOTARY, target) {
            vm.assertEq(expected.length, 0, "grantRole succeeded for a non-admin");
            ghostIsNotary[target] = true;
        } catch (bytes memory reason) {
            vm.assertEq(reason, expected, "grantRole revert data");
        }
    }

    function revokeNotary(uint256 actorSeed, uint256 targetSeed) external observed {
        address caller = _actor(actorSeed);
        address target = _actor(targetSeed);
        bytes memory expected = _onlyAdmin(caller);
        vm.prank(caller);
        try notary.revokeRole(NOTARY, target) {
            vm.assertEq(expected.length, 0, "revokeRole succeeded for a non-admin");
            ghostIsNotary[target] = false;
        } catch (bytes memory reason) {
            vm.assertEq(reason, expected, "revokeRole revert data");
        }
    }

    /// Anyone may give up their own NOTARY_ROLE; nobody may renounce for someone else.
    function renounceNotary(uint256 actorSeed, uint256 targetSeed) external observed {
        address caller = _actor(actorSeed);
        address target = _actor(targetSeed);
        bytes memory expected = caller == target
            ? bytes("")
            : abi.encodeWithSelector(IAccessControl.AccessControlBadConfirmation.selector);
        vm.prank(caller);
        try notary.renounceRole(NOTARY, target) {
            vm.assertEq(expected.length, 0, "renounceRole for another account succeeded");
            ghostIsNotary[target] = false;
        } catch (bytes memory reason) {
            vm.assertEq(reason, expected, "renounceRole revert data");
        }
    }

    // ================================================================= DEFAULT_ADMIN_ROLE (two-step only)

    /// The one-step paths must never work for the admin role, whoever calls.
    function grantOrRevokeAdminDirectly(uint256 actorSeed, uint256 targetSeed, bool grant) external observed {
        address caller = _actor(actorSeed);
        address target = _actor(targetSeed);
        bytes memory expected =
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        vm.prank(caller);
        if (grant) {
            try notary.grantRole(ADMIN_ROLE, target) {
                vm.assertTrue(false, "grantRole(DEFAULT_ADMIN_ROLE) succeeded");
            } catch (bytes memory reason) {
                vm.assertEq(reason, expected, "grantRole(DEFAULT_ADMIN_ROLE) revert data");
            }
        } else {
            try notary.revokeRole(ADMIN_ROLE, target) {
                vm.assertTrue(false, "revokeRole(DEFAULT_ADMIN_ROLE) succeeded");
            } catch (bytes memory reason) {
                vm.assertEq(reason, expected, "revokeRole(DEFAULT_ADMIN_ROLE) revert data");
            }
        }
    }

    /// Step 1. `targetSeed % 16 == 0` schedules a renunciation (transfer to address(0)).
    function beginAdminTransfer(uint256 actorSeed, uint256 targetSeed) external observed {
        address caller = _actor(actorSeed);
        address target = targetSeed % 16 == 0 ? address(0) : _actor(targetSeed);
        bytes memory expected = _onlyAdmin(caller);
        vm.prank(caller);
        try notary.beginDefaultAdminTransfer(target) {
            vm.assertEq(expected.length, 0, "beginDefaultAdminTransfer succeeded for a non-admin");
            ghostPendingAdmin = target;
            ghostPendingSchedule = uint48(block.timestamp) + DELAY;
        } catch (bytes memory reason) {
            vm.assertEq(reason, expected, "beginDefaultAdminTransfer revert data");
        }
    }

    function cancelAdminTransfer(uint256 actorSeed) external observed {
        address caller = _actor(actorSeed);
        bytes memory expected = _onlyAdmin(caller);
        vm.prank(caller);
        try notary.cancelDefaultAdminTransfer() {
            vm.assertEq(expected.length, 0, "cancelDefaultAdminTransfer succeeded for a non-admin");
            ghostPendingAdmin = address(0);
            ghostPendingSchedule = 0;
        } catch (bytes memory reason) {
            vm.assertEq(reason, expected, "cancelDefaultAdminTransfer revert data");
        }
    }

    /// Step 2: only the pending admin, only once the schedule has passed.
    function acceptAdminTransfer(uint256 actorSeed) external observed {
        address caller = _actor(actorSeed);
        bytes memory expected;
        if (caller != ghostPendingAdmin) {
            expected = abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, caller
            );
        } else if (ghostPendingSchedule == 0 || ghostPendingSchedule >= block.timestamp) {
            expected = abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, ghostPendingSchedule
            );
        }
        vm.prank(caller);
        try notary.acceptDefaultAdminTransfer() {
            vm.assertEq(expected.length, 0, "acceptDefaultAdminTransfer succeeded outside the two-step rule");
            ghostAdmin = caller;
            ghostPendingAdmin = address(0);
            ghostPendingSchedule = 0;
            ghostAdminChanges++;
        } catch (bytes memory reason) {
            vm.assertEq(reason, expected, "acceptDefaultAdminTransfer revert data");
        }
    }

    /// Renouncing the admin role needs a matured transfer to address(0) first; for a non-admin
    /// it is a no-op.
    function renounceAdmin(uint256 actorSeed) external observed {
        address caller = _actor(actorSeed);
        bool isAdmin = caller == ghostAdmin;
        bytes memory expected;
        if (
            isAdmin
                && (ghostPendingAdmin != address(0) || ghostPendingSchedule == 0 || ghostPendingSchedule >= block.timestamp)
        ) {
            expected = abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, ghostPendingSchedule
            );
        }
        vm.prank(caller);
        try notary.renounceRole(ADMIN_ROLE, caller) {
            vm.assertEq(expected.length, 0, "admin renounced outside the two-step rule");
            if (isAdmin) {
                ghostAdmin = address(0);
                ghostPendingSchedule = 0;
                ghostAdminChanges++;
            }
        } catch (bytes memory reason) {
            vm.assertEq(reason, expected, "renounceRole(DEFAULT_ADMIN_ROLE) revert data");
        }
    }

    // ================================================================= time

    function advanceTime(uint32 secondsAhead) external observed {
        vm.warp(block.timestamp + uint256(secondsAhead) % (2 days));
        vm.roll(block.number + 1);
    }

    // ================================================================= reads for the invariants

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function ghostBatchCount() external view returns (uint256) {
        return _ghostRoots.length;
    }

    function ghostHead() external view returns (bytes32) {
        return _ghostHead();
    }

    function ghostBatch(uint256 batchId)
        external
        view
        returns (bytes32 root, uint64 leafCount, uint64 blockNumber, uint64 timestamp)
    {
        uint256 i = batchId - 1;
        return (_ghostRoots[i], _ghostLeafCounts[i], _ghostBlockNumbers[i], _ghostTimestamps[i]);
    }

    // ================================================================= internals

    function _actor(uint256 seed) internal view returns (address) {
        return _actors[seed % _actors.length];
    }

    function _ghostHead() internal view returns (bytes32) {
        return _ghostRoots.length == 0 ? bytes32(0) : _ghostRoots[_ghostRoots.length - 1];
    }

    function _onlyAdmin(address caller) internal view returns (bytes memory) {
        if (caller == ghostAdmin && ghostAdmin != address(0)) return "";
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, ADMIN_ROLE);
    }
}
