// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {ClaimLedger} from "../src/ClaimLedger.sol";
import {IClaimLedger} from "../src/IClaimLedger.sol";
import {
    CLAIMANT,
    CLAIMANT_KEY,
    CONSENT_DEADLINE,
    ClaimLedgerTestBase,
    OBJECTOR_SIGNER,
    OBJECTOR_SIGNING_KEY,
    appealSig,
    objectionSig,
    vm,
    withdrawalSig
} from "./ClaimLedgerBase.t.sol";

/**
 * @notice Member consent (issue 14 item 4): a withdrawal or an appeal needs the claim's own
 * `claimantKey` (bound in the claim id), an objection the objector's own key. Replays the operator's
 * attacks with everything the server holds: its own key, the claim's public data, signatures the
 * member made for another claim, another action or another commitment, expired ones, high-s twins.
 */
contract ClaimLedgerConsentTest is ClaimLedgerTestBase {
    uint256 internal constant OPERATOR_KEY = 0x0FE0FE;
    bytes32 internal constant OTHER_EVIDENCE = keccak256("evidence-2");

    // ───────────────────────── filing binds the claimant key ─────────────────────────

    function test_fileClaim_storesAndEmitsTheClaimantKey() public {
        bytes32 id = _claimId(MEMBER, EVIDENCE, PAYOUT);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ClaimFiled(id, MEMBER, RULES, EVIDENCE, PAYOUT, CLAIMANT);
        vm.prank(operator);
        ledger.fileClaim(IClaimLedger.ClaimFiling(id, MEMBER, EVIDENCE, RULES, PAYOUT, CLAIMANT));
        vm.assertEq(ledger.claim(id).claimantKey, CLAIMANT, "claimantKey stored");
    }

    function test_fileClaim_idBindsTheClaimantKey() public {
        // The id of the same claim under another key does not file it with the claimant's key.
        bytes32 other = keccak256(abi.encode(MEMBER, EVIDENCE, RULES, PAYOUT, vm.addr(OPERATOR_KEY)));
        bytes32 expected = _claimId(MEMBER, EVIDENCE, PAYOUT);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerClaimIdMismatch.selector, expected, other));
        ledger.fileClaim(IClaimLedger.ClaimFiling(other, MEMBER, EVIDENCE, RULES, PAYOUT, CLAIMANT));
    }

    function test_fileClaim_refusesAZeroClaimantKey() public {
        bytes32 id = keccak256(abi.encode(MEMBER, EVIDENCE, RULES, PAYOUT, address(0)));
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerInvalidAccount.selector, address(0)));
        ledger.fileClaim(IClaimLedger.ClaimFiling(id, MEMBER, EVIDENCE, RULES, PAYOUT, address(0)));
    }

    // ───────────────────────── withdrawal ─────────────────────────

    function test_withdrawal_signedByTheClaimantIsRelayedByAnyone() public {
        bytes32 id = _underReview();
        bytes memory sig = withdrawalSig(CLAIMANT_KEY, address(ledger), id, CONSENT_DEADLINE);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ClaimWithdrawn(id, IClaimLedger.ClaimState.UNDER_REVIEW);
        vm.prank(attacker);
        ledger.withdrawClaimBySig(id, CONSENT_DEADLINE, sig);
        vm.assertEq(uint256(ledger.state(id)), uint256(IClaimLedger.ClaimState.WITHDRAWN), "withdrawn");
    }

    function test_attack_operatorCannotWithdrawInTheMembersName() public {
        bytes32 id = _underReview();
        address operatorKey = vm.addr(OPERATOR_KEY);
        bytes memory forged = withdrawalSig(OPERATOR_KEY, address(ledger), id, CONSENT_DEADLINE);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerConsentSignerMismatch.selector, CLAIMANT, operatorKey)
        );
        ledger.withdrawClaimBySig(id, CONSENT_DEADLINE, forged);
    }

    function test_attack_withdrawalReplayedOnAnotherClaimOfTheMember() public {
        bytes32 first = _underReview();
        bytes32 second = _file(MEMBER, OTHER_EVIDENCE, PAYOUT); // same member, same device key
        bytes memory sig = withdrawalSig(CLAIMANT_KEY, address(ledger), first, CONSENT_DEADLINE);
        vm.prank(operator);
        vm.expectRevert(); // recovers to an unrelated address: the claim id is part of the signed message
        ledger.withdrawClaimBySig(second, CONSENT_DEADLINE, sig);
        _withdraw(ledger, first);
        vm.expectRevert(
            abi.encodeWithSelector(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                first,
                IClaimLedger.ClaimState.WITHDRAWN,
                IClaimLedger.ClaimState.WITHDRAWN
            )
        );
        ledger.withdrawClaimBySig(first, CONSENT_DEADLINE, sig); // and once is all it does
    }

    function test_attack_appealSignatureIsNoWithdrawal() public {
        bytes32 id = _rejected();
        bytes memory appeal = appealSig(CLAIMANT_KEY, address(ledger), id, CONSENT_DEADLINE);
        vm.expectRevert(); // another typehash: recovers to another address
        ledger.withdrawClaimBySig(id, CONSENT_DEADLINE, appeal);
        bytes32 open = _file(MEMBER, OTHER_EVIDENCE, PAYOUT);
        bytes memory withdrawal = withdrawalSig(CLAIMANT_KEY, address(ledger), id, CONSENT_DEADLINE);
        vm.expectRevert();
        ledger.appealBySig(id, CONSENT_DEADLINE, withdrawal);
        vm.assertEq(uint256(ledger.state(open)), uint256(IClaimLedger.ClaimState.FILED), "untouched");
    }

    function test_withdrawal_expiresAtItsDeadline() public {
        bytes32 id = _underReview();
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory sig = withdrawalSig(CLAIMANT_KEY, address(ledger), id, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerConsentExpired.selector, deadline, deadline + 1)
        );
        ledger.withdrawClaimBySig(id, deadline, sig);
        // and the deadline cannot be moved: it is signed
        vm.expectRevert();
        ledger.withdrawClaimBySig(id, deadline + 1 days, sig);
    }

    function test_withdrawal_highSTwinIsRefused() public {
        bytes32 id = _underReview();
        bytes memory sig = withdrawalSig(CLAIMANT_KEY, address(ledger), id, CONSENT_DEADLINE);
        (bytes32 r, bytes32 s, uint8 v) = _split(sig);
        bytes32 highS = bytes32(_SECP256K1_N - uint256(s));
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, highS));
        ledger.withdrawClaimBySig(id, CONSENT_DEADLINE, abi.encodePacked(r, highS, v == 27 ? uint8(28) : uint8(27)));
    }

    function testFuzz_withdrawal_onlyTheClaimantKeyWithdraws(uint256 key) public {
        key = bound(key, 1, _SECP256K1_N - 1);
        vm.assume(key != CLAIMANT_KEY);
        bytes32 id = _underReview();
        bytes memory sig = withdrawalSig(key, address(ledger), id, CONSENT_DEADLINE);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerConsentSignerMismatch.selector, CLAIMANT, vm.addr(key))
        );
        ledger.withdrawClaimBySig(id, CONSENT_DEADLINE, sig);
    }

    // ───────────────────────── appeal ─────────────────────────

    function test_appeal_signedByTheClaimant() public {
        bytes32 id = _rejected();
        vm.prank(attacker); // anyone relays
        _appeal(ledger, id);
        vm.assertEq(uint256(ledger.state(id)), uint256(IClaimLedger.ClaimState.DISPUTED), "disputed");
        vm.assertTrue(ledger.claim(id).appealed, "appealed");
    }

    function test_attack_operatorCannotAppealInTheMembersName() public {
        bytes32 id = _rejected();
        bytes memory forged = appealSig(OPERATOR_KEY, address(ledger), id, CONSENT_DEADLINE);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IClaimLedger.ClaimLedgerConsentSignerMismatch.selector, CLAIMANT, vm.addr(OPERATOR_KEY)
            )
        );
        ledger.appealBySig(id, CONSENT_DEADLINE, forged);
    }

    function test_attack_appealReplayAfterTheJuryIsRefused() public {
        bytes32 id = _rejected();
        bytes memory sig = appealSig(CLAIMANT_KEY, address(ledger), id, CONSENT_DEADLINE);
        ledger.appealBySig(id, CONSENT_DEADLINE, sig);
        bool[] memory votes = new bool[](3);
        _juryDecides(id, votes); // three rejections: REJECTED again, by a jury (final)
        vm.assertEq(uint256(ledger.state(id)), uint256(IClaimLedger.ClaimState.REJECTED), "jury rejected");
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerAppealNotAllowed.selector, id));
        ledger.appealBySig(id, CONSENT_DEADLINE, sig);
    }

    // ───────────────────────── objection ─────────────────────────

    function test_objection_signedByTheObjectorsKey() public {
        bytes32 id = _inNotice();
        bytes memory sig = objectionSig(OBJECTOR_SIGNING_KEY, address(ledger), id, OBJECTOR, CONSENT_DEADLINE);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ObjectionRecorded(id, OBJECTOR, OBJECTOR_SIGNER);
        vm.prank(operator);
        ledger.objectBySig(id, OBJECTOR, OBJECTOR_SIGNER, CONSENT_DEADLINE, sig);
        vm.assertEq(ledger.claim(id).objectorCommitment, OBJECTOR, "objector");
    }

    function test_attack_objectionBoundToItsCommitmentAndClaim() public {
        bytes32 id = _inNotice();
        bytes32 other = _file(MEMBER, OTHER_EVIDENCE, PAYOUT);
        bytes memory sig = objectionSig(OBJECTOR_SIGNING_KEY, address(ledger), id, OBJECTOR, CONSENT_DEADLINE);
        vm.startPrank(operator);
        vm.expectRevert(); // another member's commitment under this signature
        ledger.objectBySig(id, keccak256("someone else"), OBJECTOR_SIGNER, CONSENT_DEADLINE, sig);
        vm.expectRevert(); // the signature names another claim
        ledger.objectBySig(other, OBJECTOR, OBJECTOR_SIGNER, CONSENT_DEADLINE, sig);
        vm.expectRevert(); // signed by the objector, attributed to another key
        ledger.objectBySig(id, OBJECTOR, vm.addr(OPERATOR_KEY), CONSENT_DEADLINE, sig);
        ledger.objectBySig(id, OBJECTOR, OBJECTOR_SIGNER, CONSENT_DEADLINE, sig);
        vm.expectRevert(); // once: the claim left IN_NOTICE
        ledger.objectBySig(id, OBJECTOR, OBJECTOR_SIGNER, CONSENT_DEADLINE, sig);
        vm.stopPrank();
    }

    function test_objection_relayedByTheOperatorOnly() public {
        bytes32 id = _inNotice();
        bytes memory sig = objectionSig(OBJECTOR_SIGNING_KEY, address(ledger), id, OBJECTOR, CONSENT_DEADLINE);
        bytes32 operatorRole = ledger.OPERATOR_ROLE();
        vm.prank(attacker);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, attacker, operatorRole)
        );
        ledger.objectBySig(id, OBJECTOR, OBJECTOR_SIGNER, CONSENT_DEADLINE, sig);
    }

    function test_consent_isBoundToThisDeploymentAndChain() public {
        bytes32 id = _underReview();
        ClaimLedger twin = new ClaimLedger(admin, operator, 1 days, roster);
        bytes memory elsewhere = withdrawalSig(CLAIMANT_KEY, address(twin), id, CONSENT_DEADLINE);
        vm.expectRevert();
        ledger.withdrawClaimBySig(id, CONSENT_DEADLINE, elsewhere);
        bytes memory sig = withdrawalSig(CLAIMANT_KEY, address(ledger), id, CONSENT_DEADLINE);
        vm.chainId(block.chainid + 1); // a fork: the domain separator follows the chain id
        vm.expectRevert();
        ledger.withdrawClaimBySig(id, CONSENT_DEADLINE, sig);
    }

    // ───────────────────────── helpers ─────────────────────────

    uint256 internal constant _SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function _split(bytes memory sig) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
    }

    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + (x % (hi - lo + 1));
    }
}
