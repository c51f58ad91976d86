// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {EvidenceNotary} from "../../src/EvidenceNotary.sol";
import {IEvidenceNotary} from "../../src/IEvidenceNotary.sol";
import {vm} from "./Vm.sol";

/// @notice Shared fixture: a fresh EvidenceNotary with a named admin, notary and outsider.
abstract contract NotaryTestBase {
    address internal admin = vm.addr(0xA11CE);
    address internal notaryKey = vm.addr(0xB0B);
    address internal outsider = vm.addr(0xE7E);

    EvidenceNotary internal notary;

    function setUp() public virtual {
        vm.label(admin, "admin");
        vm.label(notaryKey, "notary");
        vm.label(outsider, "outsider");
        vm.warp(1_700_000_000);
        vm.roll(100);
        notary = new EvidenceNotary(admin, notaryKey);
    }

    /// A distinct non-zero root per label.
    function _root(uint256 n) internal pure returns (bytes32) {
        return keccak256(abi.encode("root", n));
    }

    /// Anchor `count` batches linked from the current head; returns the last root.
    function _anchorChain(uint256 count) internal returns (bytes32 head) {
        head = notary.headRoot();
        for (uint256 i = 0; i < count; i++) {
            bytes32 root = _root(notary.batchCount() + 1);
            vm.prank(notaryKey);
            notary.anchor(root, uint64(i + 1), head);
            head = root;
        }
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }

    function _unknownBatch(uint256 batchId) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IEvidenceNotary.EvidenceNotaryUnknownBatch.selector, batchId);
    }
}
