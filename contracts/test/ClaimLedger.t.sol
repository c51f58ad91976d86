// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

import {ClaimLedger} from "../src/ClaimLedger.sol";
import {IClaimLedger} from "../src/IClaimLedger.sol";
import {ClaimLedgerTestBase, ClaimLedgerVm, vm} from "./ClaimLedgerBase.t.sol";

/// @notice Unit tests per function: return value, the event and its arguments, the stored state,
/// and each revert by its exact custom-error data.
contract ClaimLedgerTest is ClaimLedgerTestBase {
    // ───────────────────────── deployment ─────────────────────────

    function test_constructor_assignsRolesAndRosterAdmins() public view {
        vm.assertEq(ledger.defaultAdmin(), admin, "defaultAdmin");
        vm.assertTrue(ledger.hasRole(ledger.OPERATOR_ROLE(), operator), "operator role");
        vm.assertFalse(ledger.hasRole(ledger.OPERATOR_ROLE(), admin), "admin is not operator");
        vm.assertEq(ledger.getRoleAdmin(ledger.OPERATOR_ROLE()), bytes32(0), "admin manages operators");
        vm.assertEq(ledger.getRoleAdmin(ledger.REVIEWER_ROLE()), ledger.ROSTER_ROLE(), "the roster admin manages reviewers");
        vm.assertEq(ledger.getRoleAdmin(ledger.JUROR_ROLE()), ledger.ROSTER_ROLE(), "the roster admin manages jurors");
        vm.assertEq(ledger.getRoleAdmin(ledger.ROSTER_ROLE()), bytes32(0), "admin manages the roster admin");
        vm.assertTrue(ledger.hasRole(ledger.ROSTER_ROLE(), roster), "roster role");
        vm.assertFalse(ledger.hasRole(ledger.ROSTER_ROLE(), operator), "operator is not the roster admin");
        vm.assertEq(ledger.ROSTER_ROLE(), keccak256("ROSTER_ROLE"), "ROSTER_ROLE");
        vm.assertEq(uint256(ledger.JURY_DRAW_DELAY()), 2, "JURY_DRAW_DELAY");
        vm.assertEq(ledger.OPERATOR_ROLE(), keccak256("OPERATOR_ROLE"), "OPERATOR_ROLE");
        vm.assertEq(ledger.REVIEWER_ROLE(), keccak256("REVIEWER_ROLE"), "REVIEWER_ROLE");
        vm.assertEq(ledger.JUROR_ROLE(), keccak256("JUROR_ROLE"), "JUROR_ROLE");
        vm.assertEq(uint256(ledger.defaultAdminDelay()), 1 days, "admin delay");
        vm.assertEq(ledger.version(), "2.0.0", "version");
    }

    function test_constructor_setsEip712DomainHubaoV2() public view {
        (, string memory name, string memory ver, uint256 chainId, address verifying,,) = ledger.eip712Domain();
        vm.assertEq(name, "Hubao", "name");
        vm.assertEq(ver, "2", "version = major of version()");
        vm.assertEq(chainId, block.chainid, "chainId");
        vm.assertEq(verifying, address(ledger), "verifying contract");
        vm.assertEq(
            ledger.VERDICT_TYPEHASH(),
            keccak256(
                "Verdict(bytes32 claimId,uint8 verdict,uint16 reasonCode,bytes32 reportHash,bytes32 ruleSetHash,uint256 nonce,uint256 deadline)"
            ),
            "type hash"
        );
        vm.assertEq(
            ledger.VOTE_COMMIT_TYPEHASH(),
            keccak256("VoteCommit(bytes32 claimId,uint32 round,bytes32 commitment)"),
            "vote commit type hash"
        );
    }

    function test_constructor_rejectsZeroOperator() public {
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerInvalidAccount.selector, address(0)));
        new ClaimLedger(admin, address(0), 1 days, roster);
    }

    function test_constructor_rejectsZeroRosterAdmin() public {
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerInvalidAccount.selector, address(0)));
        new ClaimLedger(admin, operator, 1 days, address(0));
    }

    function test_constructor_rejectsZeroAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, address(0))
        );
        new ClaimLedger(address(0), operator, 1 days, roster);
    }

    function test_supportsInterface_answersForLedgerAndAccessControl() public view {
        vm.assertTrue(ledger.supportsInterface(type(IClaimLedger).interfaceId), "IClaimLedger");
        vm.assertTrue(ledger.supportsInterface(type(IAccessControl).interfaceId), "IAccessControl");
        vm.assertTrue(ledger.supportsInterface(type(IERC165).interfaceId), "IERC165");
        vm.assertFalse(ledger.supportsInterface(0xdeadbeef), "other");
    }

    function test_grantRole_defaultAdminOnlyByTwoStepTransfer() public {
        bytes32 adminRole = ledger.DEFAULT_ADMIN_ROLE();
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector)
        );
        ledger.grantRole(adminRole, attacker);
    }

    // ───────────────────────── rule sets ─────────────────────────

    function test_anchorRuleSet_storesAndEmits() public {
        bytes32 h = keccak256("rules.v2");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.RuleSetAnchored(
            h, 3 days, 3, 11, 6, 1 days, 1 days, 800, 10, 18_800, uint64(block.timestamp + 1 days)
        );
        vm.prank(operator);
        ledger.anchorRuleSet(h, 3 days, 3, 11, 6, 1 days, 1 days, 800, 10, 18_800);
        IClaimLedger.RuleSet memory r = ledger.ruleSet(h);
        vm.assertEq(uint256(r.noticeSeconds), 3 days, "notice");
        vm.assertEq(uint256(r.reviewQuorum), 3, "quorum");
        vm.assertEq(uint256(r.jurySize), 11, "jury");
        vm.assertEq(uint256(r.minTurnout), 6, "turnout");
        vm.assertEq(uint256(r.commitSeconds), 1 days, "commit");
        vm.assertEq(uint256(r.revealSeconds), 1 days, "reveal");
        vm.assertFalse(r.retired, "not retired");
        vm.assertEq(uint256(r.feeBps), 800, "fee");
        vm.assertEq(uint256(r.perCaseCapFen), 10, "per-case cap");
        vm.assertEq(uint256(r.annualCapFen), 18_800, "annual cap");
        vm.assertEq(uint256(r.anchoredAt), block.timestamp, "anchored at");
        vm.assertEq(uint256(r.effectiveAt), block.timestamp + 1 days, "effective after the delay");
    }

    function test_anchorRuleSet_rejectsDuplicate() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerRuleSetExists.selector, RULES));
        ledger.anchorRuleSet(RULES, 1, 1, 1, 1, 1, 1, 800, 10, 18_800);
    }

    function test_anchorRuleSet_rejectsZeroHash() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroArgument.selector, uint8(3)));
        ledger.anchorRuleSet(bytes32(0), 1, 1, 1, 1, 1, 1, 800, 10, 18_800);
    }

    function test_anchorRuleSet_rejectsOutOfRangeParameters() public {
        bytes32 h = keccak256("bad");
        bytes memory err = abi.encodeWithSelector(IClaimLedger.ClaimLedgerInvalidRuleSet.selector, h);
        vm.startPrank(operator);
        vm.expectRevert(err);
        ledger.anchorRuleSet(h, 0, 2, 5, 3, 1, 1, 800, 10, 18_800); // no notice window
        vm.expectRevert(err);
        ledger.anchorRuleSet(h, 1, 0, 5, 3, 1, 1, 800, 10, 18_800); // no quorum
        vm.expectRevert(err);
        ledger.anchorRuleSet(h, 1, 2, 0, 0, 1, 1, 800, 10, 18_800); // no jury
        vm.expectRevert(err);
        ledger.anchorRuleSet(h, 1, 2, 5, 0, 1, 1, 800, 10, 18_800); // no turnout
        vm.expectRevert(err);
        ledger.anchorRuleSet(h, 1, 2, 5, 6, 1, 1, 800, 10, 18_800); // turnout above jury size
        vm.expectRevert(err);
        ledger.anchorRuleSet(h, 1, 2, 5, 3, 0, 1, 800, 10, 18_800); // no commit window
        vm.expectRevert(err);
        ledger.anchorRuleSet(h, 1, 2, 5, 3, 1, 0, 800, 10, 18_800); // no reveal window
        vm.stopPrank();
    }

    function test_retireRuleSet_blocksNewClaimsOnly() public {
        bytes32 id = _fileDefault();
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.RuleSetRetired(RULES);
        vm.prank(operator);
        ledger.retireRuleSet(RULES);
        vm.assertTrue(ledger.ruleSet(RULES).retired, "retired");
        bytes32 other = keccak256("evidence-2");
        bytes32 id2 = _claimId(MEMBER, other, PAYOUT);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerRuleSetRetired.selector, RULES));
        ledger.fileClaim(id2, MEMBER, other, RULES, PAYOUT);
        vm.prank(operator);
        ledger.openReview(id); // the claim filed before keeps its rules
        _assertState(id, IClaimLedger.ClaimState.UNDER_REVIEW, "existing claim continues");
    }

    function test_retireRuleSet_rejectsUnknownAndRepeat() public {
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerUnknownRuleSet.selector, bytes32(uint256(7))));
        ledger.retireRuleSet(bytes32(uint256(7)));
        ledger.retireRuleSet(RULES);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerRuleSetRetired.selector, RULES));
        ledger.retireRuleSet(RULES);
        vm.stopPrank();
    }

    function test_ruleSet_revertsForUnknownHash() public {
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerUnknownRuleSet.selector, bytes32(uint256(1))));
        ledger.ruleSet(bytes32(uint256(1)));
    }

    // ───────────────────────── conflicts ─────────────────────────

    function test_declareConflict_recordsAndEmits() public {
        vm.assertFalse(ledger.isConflicted(reviewerA, MEMBER), "not yet");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ConflictDeclared(reviewerA, MEMBER);
        vm.prank(operator);
        ledger.declareConflict(reviewerA, MEMBER);
        vm.assertTrue(ledger.isConflicted(reviewerA, MEMBER), "declared");
        vm.assertFalse(ledger.isConflicted(reviewerB, MEMBER), "only that account");
    }

    function test_declareConflict_rejectsZeroAndRepeat() public {
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerInvalidAccount.selector, address(0)));
        ledger.declareConflict(address(0), MEMBER);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroArgument.selector, uint8(1)));
        ledger.declareConflict(reviewerA, bytes32(0));
        ledger.declareConflict(reviewerA, MEMBER);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerConflictExists.selector, reviewerA, MEMBER));
        ledger.declareConflict(reviewerA, MEMBER);
        vm.stopPrank();
    }

    // ───────────────────────── filing ─────────────────────────

    function test_fileClaim_returnsIdStoresAndEmits() public {
        bytes32 id = _claimId(MEMBER, EVIDENCE, PAYOUT);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ClaimFiled(id, MEMBER, RULES, EVIDENCE, PAYOUT);
        vm.prank(operator);
        bytes32 returned = ledger.fileClaim(id, MEMBER, EVIDENCE, RULES, PAYOUT);
        vm.assertEq(returned, id, "returned id");
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.state), uint256(IClaimLedger.ClaimState.FILED), "FILED");
        vm.assertEq(c.memberCommitment, MEMBER, "member");
        vm.assertEq(c.evidenceRoot, EVIDENCE, "evidence");
        vm.assertEq(c.ruleSetHash, RULES, "rules");
        vm.assertEq(uint256(c.payoutFen), PAYOUT, "payout");
        vm.assertEq(uint256(c.filedAt), block.timestamp, "filedAt");
        vm.assertEq(c.objectorCommitment, bytes32(0), "no objector");
        vm.assertEq(uint256(c.juryRound), 0, "no jury");
    }

    function test_fileClaim_rejectsDuplicate() public {
        bytes32 id = _fileDefault();
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerClaimExists.selector, id));
        ledger.fileClaim(id, MEMBER, EVIDENCE, RULES, PAYOUT);
    }

    function test_fileClaim_rejectsIdNotDerivedFromInputs() public {
        bytes32 expected = _claimId(MEMBER, EVIDENCE, PAYOUT);
        bytes32 wrong = bytes32(uint256(expected) ^ 1);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerClaimIdMismatch.selector, expected, wrong));
        ledger.fileClaim(wrong, MEMBER, EVIDENCE, RULES, PAYOUT);
    }

    function test_fileClaim_rejectsZeroInputsAndUnknownRules() public {
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroArgument.selector, uint8(1)));
        ledger.fileClaim(bytes32(0), bytes32(0), EVIDENCE, RULES, PAYOUT);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroArgument.selector, uint8(2)));
        ledger.fileClaim(bytes32(0), MEMBER, bytes32(0), RULES, PAYOUT);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroPayout.selector));
        ledger.fileClaim(bytes32(0), MEMBER, EVIDENCE, RULES, 0);
        bytes32 unknown = keccak256("unknown rules");
        bytes32 id = keccak256(abi.encode(MEMBER, EVIDENCE, unknown, PAYOUT));
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerUnknownRuleSet.selector, unknown));
        ledger.fileClaim(id, MEMBER, EVIDENCE, unknown, PAYOUT);
        vm.stopPrank();
    }

    function test_claim_revertsForUnknownIdAndStateIsNone() public {
        bytes32 id = keccak256("nope");
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerUnknownClaim.selector, id));
        ledger.claim(id);
        _assertState(id, IClaimLedger.ClaimState.NONE, "NONE");
    }

    // ───────────────────────── batch filing ─────────────────────────

    function _filing(bytes32 member, bytes32 evidence, uint64 payout)
        internal
        pure
        returns (IClaimLedger.ClaimFiling memory)
    {
        return IClaimLedger.ClaimFiling({
            claimId: _claimId(member, evidence, payout),
            memberCommitment: member,
            evidenceRoot: evidence,
            ruleSetHash: RULES,
            payoutFen: payout
        });
    }

    function _batch(uint256 n) internal pure returns (IClaimLedger.ClaimFiling[] memory filings) {
        filings = new IClaimLedger.ClaimFiling[](n);
        for (uint256 i = 0; i < n; ++i) {
            filings[i] = _filing(keccak256(abi.encode("member", i)), keccak256(abi.encode("evidence", i)), PAYOUT);
        }
    }

    function test_fileForReview_filesAndOpensEveryClaimWithTheirEvents() public {
        IClaimLedger.ClaimFiling[] memory filings = _batch(3);
        for (uint256 i = 0; i < filings.length; ++i) {
            IClaimLedger.ClaimFiling memory f = filings[i];
            vm.expectEmit(true, true, true, true, address(ledger));
            emit IClaimLedger.ClaimFiled(f.claimId, f.memberCommitment, RULES, f.evidenceRoot, PAYOUT);
            vm.expectEmit(true, true, true, true, address(ledger));
            emit IClaimLedger.ReviewOpened(f.claimId);
        }
        vm.prank(operator);
        uint256 opened = ledger.fileForReview(filings);
        vm.assertEq(opened, 3, "opened");
        for (uint256 i = 0; i < filings.length; ++i) {
            IClaimLedger.Claim memory c = ledger.claim(filings[i].claimId);
            vm.assertEq(uint256(c.state), uint256(IClaimLedger.ClaimState.UNDER_REVIEW), "UNDER_REVIEW");
            vm.assertEq(c.memberCommitment, filings[i].memberCommitment, "member");
            vm.assertEq(c.evidenceRoot, filings[i].evidenceRoot, "evidence");
            vm.assertEq(uint256(c.payoutFen), PAYOUT, "payout");
            vm.assertEq(uint256(c.filedAt), block.timestamp, "filedAt");
        }
    }

    function test_fileForReview_completesFiledAndLeavesLaterStatesAlone() public {
        bytes32 filed = _fileDefault(); // FILED by an older relay that stopped before openReview
        IClaimLedger.ClaimFiling[] memory filings = new IClaimLedger.ClaimFiling[](3);
        filings[0] = _filing(MEMBER, EVIDENCE, PAYOUT);
        filings[1] = _filing(keccak256("m2"), keccak256("e2"), PAYOUT);
        filings[2] = filings[1]; // the same claim twice in one batch
        vm.recordLogs();
        vm.prank(operator);
        vm.assertEq(ledger.fileForReview(filings), 2, "opened: the FILED one and the new one, once");
        vm.assertEq(vm.getRecordedLogs().length, 3, "ReviewOpened, ClaimFiled + ReviewOpened");
        _assertState(filed, IClaimLedger.ClaimState.UNDER_REVIEW, "resumed");
        _review(filed, REVIEWER_A_KEY, APPROVE);
        _review(filed, REVIEWER_B_KEY, APPROVE); // now IN_NOTICE

        // A second relayer sending the same batch again: no change, no event, no revert.
        uint64 filedAt = ledger.claim(filed).filedAt;
        vm.warp(block.timestamp + 1 hours);
        vm.recordLogs();
        vm.prank(operator);
        vm.assertEq(ledger.fileForReview(filings), 0, "nothing opened twice");
        vm.assertEq(vm.getRecordedLogs().length, 0, "no event");
        _assertState(filed, IClaimLedger.ClaimState.IN_NOTICE, "untouched");
        vm.assertEq(uint256(ledger.claim(filed).filedAt), uint256(filedAt), "filedAt kept");
        _assertState(filings[1].claimId, IClaimLedger.ClaimState.UNDER_REVIEW, "still UNDER_REVIEW");
    }

    function test_fileForReview_checksEveryItemAndRevertsWhole() public {
        IClaimLedger.ClaimFiling[] memory filings = _batch(2);
        bytes32 expected = filings[1].claimId;
        filings[1].claimId = bytes32(uint256(expected) ^ 1);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerClaimIdMismatch.selector, expected, filings[1].claimId)
        );
        ledger.fileForReview(filings);
        _assertState(filings[0].claimId, IClaimLedger.ClaimState.NONE, "first item rolled back");

        filings = _batch(1);
        filings[0].payoutFen = 0;
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroPayout.selector));
        ledger.fileForReview(filings);

        filings = _batch(1);
        filings[0].memberCommitment = bytes32(0);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroArgument.selector, uint8(1)));
        ledger.fileForReview(filings);

        filings = _batch(1);
        vm.prank(operator);
        ledger.retireRuleSet(RULES);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerRuleSetRetired.selector, RULES));
        ledger.fileForReview(filings);
    }

    function test_fileForReview_operatorOnly() public {
        IClaimLedger.ClaimFiling[] memory filings = _batch(1);
        bytes32 role = ledger.OPERATOR_ROLE();
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, attacker, role));
        ledger.fileForReview(filings);
        vm.prank(operator);
        vm.assertEq(ledger.fileForReview(new IClaimLedger.ClaimFiling[](0)), 0, "empty batch");
    }

    // ───────────────────────── review ─────────────────────────

    function test_openReview_movesFiledToUnderReview() public {
        bytes32 id = _fileDefault();
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ReviewOpened(id);
        vm.prank(operator);
        ledger.openReview(id);
        _assertState(id, IClaimLedger.ClaimState.UNDER_REVIEW, "UNDER_REVIEW");
    }

    function test_openReview_rejectsUnknownAndRepeat() public {
        bytes32 unknown = keccak256("nope");
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerUnknownClaim.selector, unknown));
        ledger.openReview(unknown);
        bytes32 id = _underReview();
        vm.prank(operator);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                id,
                IClaimLedger.ClaimState.UNDER_REVIEW,
                IClaimLedger.ClaimState.UNDER_REVIEW
            )
        );
        ledger.openReview(id);
    }

    function test_submitVerdict_recordsFirstVerdictBelowQuorum() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        bytes32 digest = ledger.hashVerdict(v);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.VerdictRecorded(
            id, reviewerA, APPROVE, 0, v.reportHash, digest, v.ruleSetHash, v.nonce, v.deadline, sig
        );
        vm.prank(attacker); // any relayer
        IClaimLedger.ClaimState after_ = ledger.submitVerdict(id, v, sig);
        vm.assertEq(uint256(after_), uint256(IClaimLedger.ClaimState.UNDER_REVIEW), "returned state");
        vm.assertEq(ledger.verdictDigest(id, reviewerA), digest, "digest stored");
        vm.assertEq(ledger.nonces(reviewerA), 1, "nonce consumed");
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.reviewApprovals), 1, "approvals");
        vm.assertEq(uint256(c.reviewRejections), 0, "rejections");
        vm.assertEq(uint256(c.state), uint256(IClaimLedger.ClaimState.UNDER_REVIEW), "still in review");
    }

    function test_submitVerdict_quorumOfApprovalsOpensNotice() public {
        bytes32 id = _underReview();
        _review(id, REVIEWER_A_KEY, APPROVE);
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerB);
        bytes memory sig = _sign(REVIEWER_B_KEY, v);
        bytes32 digest = ledger.hashVerdict(v);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.VerdictRecorded(
            id, reviewerB, APPROVE, 0, v.reportHash, digest, v.ruleSetHash, v.nonce, v.deadline, sig
        );
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ReviewDecided(id, IClaimLedger.ClaimState.IN_NOTICE, 2, 0, uint64(block.timestamp + NOTICE));
        IClaimLedger.ClaimState after_ = ledger.submitVerdict(id, v, sig);
        vm.assertEq(uint256(after_), uint256(IClaimLedger.ClaimState.IN_NOTICE), "returned");
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.state), uint256(IClaimLedger.ClaimState.IN_NOTICE), "IN_NOTICE");
        vm.assertEq(uint256(c.noticeEnds), block.timestamp + NOTICE, "noticeEnds from the rule set");
    }

    function test_submitVerdict_anyRejectionInQuorumRejects() public {
        bytes32 id = _underReview();
        _review(id, REVIEWER_A_KEY, REJECT);
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerB);
        bytes memory sig = _sign(REVIEWER_B_KEY, v);
        bytes32 digest = ledger.hashVerdict(v);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.VerdictRecorded(
            id, reviewerB, APPROVE, 0, v.reportHash, digest, v.ruleSetHash, v.nonce, v.deadline, sig
        );
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ReviewDecided(id, IClaimLedger.ClaimState.REJECTED, 1, 1, 0);
        IClaimLedger.ClaimState after_ = ledger.submitVerdict(id, v, sig);
        vm.assertEq(uint256(after_), uint256(IClaimLedger.ClaimState.REJECTED), "returned");
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.noticeEnds), 0, "no notice");
        vm.assertEq(uint256(c.state), uint256(IClaimLedger.ClaimState.REJECTED), "REJECTED");
    }

    function test_submitVerdict_verdictAfterDecisionIsWrongState() public {
        bytes32 id = _inNotice();
        IClaimLedger.Verdict memory v = _verdict(id, REJECT, reviewerC);
        bytes memory sig = _sign(REVIEWER_C_KEY, v);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerWrongState.selector,
                id,
                IClaimLedger.ClaimState.IN_NOTICE,
                IClaimLedger.ClaimState.UNDER_REVIEW
            )
        );
        ledger.submitVerdict(id, v, sig);
    }

    function test_submitVerdict_rejectsBeforeReviewOpens() public {
        bytes32 id = _fileDefault();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerWrongState.selector,
                id,
                IClaimLedger.ClaimState.FILED,
                IClaimLedger.ClaimState.UNDER_REVIEW
            )
        );
        ledger.submitVerdict(id, v, sig);
    }

    function test_submitVerdict_rejectsSecondVerdictOfSameReviewer() public {
        bytes32 id = _underReview();
        _review(id, REVIEWER_A_KEY, APPROVE);
        IClaimLedger.Verdict memory v = _verdict(id, REJECT, reviewerA); // fresh nonce, same reviewer
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerAlreadyReviewed.selector, id, reviewerA));
        ledger.submitVerdict(id, v, sig);
    }

    function test_submitVerdict_rejectsMalformedVerdicts() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes32 other = keccak256("other claim");
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerVerdictClaimMismatch.selector, other, id));
        ledger.submitVerdict(other, v, sig);

        v.verdict = 0;
        sig = _sign(REVIEWER_A_KEY, v);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerInvalidVerdict.selector, uint8(0)));
        ledger.submitVerdict(id, v, sig);
        v.verdict = 3;
        sig = _sign(REVIEWER_A_KEY, v);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerInvalidVerdict.selector, uint8(3)));
        ledger.submitVerdict(id, v, sig);

        v.verdict = APPROVE;
        v.ruleSetHash = keccak256("other rules");
        sig = _sign(REVIEWER_A_KEY, v);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerVerdictRuleSetMismatch.selector, id, RULES, v.ruleSetHash)
        );
        ledger.submitVerdict(id, v, sig);
    }

    function test_submitVerdict_rejectsUnknownClaim() public {
        bytes32 id = keccak256("never filed");
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerUnknownClaim.selector, id));
        ledger.submitVerdict(id, v, sig);
    }

    function test_submitVerdict_rejectsMalformedSignature() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        bytes memory short = new bytes(64);
        for (uint256 i = 0; i < 64; ++i) {
            short[i] = sig[i];
        }
        vm.expectRevert(abi.encodeWithSignature("ECDSAInvalidSignatureLength(uint256)", uint256(64)));
        ledger.submitVerdict(id, v, short);
    }

    // ───────────────────────── notice ─────────────────────────

    function test_object_duringNoticeDisputes() public {
        bytes32 id = _inNotice();
        vm.warp(block.timestamp + NOTICE - 1); // last second of the window
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ObjectionRecorded(id, OBJECTOR);
        vm.prank(operator);
        ledger.object(id, OBJECTOR);
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.state), uint256(IClaimLedger.ClaimState.DISPUTED), "DISPUTED");
        vm.assertEq(c.objectorCommitment, OBJECTOR, "objector stored");
    }

    function test_object_afterWindowReverts() public {
        bytes32 id = _inNotice();
        uint64 ends = ledger.claim(id).noticeEnds;
        vm.warp(ends);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNoticeClosed.selector, id, ends, uint256(ends)));
        ledger.object(id, OBJECTOR);
    }

    function test_object_rejectsZeroObjectorAndWrongState() public {
        bytes32 id = _underReview();
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroArgument.selector, uint8(4)));
        ledger.object(id, bytes32(0));
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                id,
                IClaimLedger.ClaimState.UNDER_REVIEW,
                IClaimLedger.ClaimState.DISPUTED
            )
        );
        ledger.object(id, OBJECTOR);
        vm.stopPrank();
    }

    function test_finalizeNotice_beforeWindowEndsReverts() public {
        bytes32 id = _inNotice();
        uint64 ends = ledger.claim(id).noticeEnds;
        vm.warp(ends - 1);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNoticeOpen.selector, id, ends, uint256(ends - 1)));
        ledger.finalizeNotice(id);
    }

    function test_finalizeNotice_afterWindowApprovesByAnyone() public {
        bytes32 id = _inNotice();
        vm.warp(ledger.claim(id).noticeEnds);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.NoticeFinalized(id);
        vm.prank(attacker);
        ledger.finalizeNotice(id);
        _assertState(id, IClaimLedger.ClaimState.APPROVED, "APPROVED");
        vm.prank(operator);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                id,
                IClaimLedger.ClaimState.APPROVED,
                IClaimLedger.ClaimState.DISPUTED
            )
        );
        ledger.object(id, OBJECTOR);
    }

    function test_finalizeNotice_rejectsClaimNotInNotice() public {
        bytes32 id = _disputed();
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                id,
                IClaimLedger.ClaimState.DISPUTED,
                IClaimLedger.ClaimState.APPROVED
            )
        );
        ledger.finalizeNotice(id);
    }

    // ───────────────────────── appeal ─────────────────────────

    function test_appeal_reviewRejectionGoesToJuryOnce() public {
        bytes32 id = _rejected();
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.ClaimAppealed(id);
        vm.prank(operator);
        ledger.appeal(id);
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.state), uint256(IClaimLedger.ClaimState.DISPUTED), "DISPUTED");
        vm.assertTrue(c.appealed, "appeal used");
        IClaimLedger.ClaimState outcome = _juryDecides(id, _votes(1, 3));
        vm.assertEq(uint256(outcome), uint256(IClaimLedger.ClaimState.REJECTED), "jury rejects");
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerAppealNotAllowed.selector, id));
        ledger.appeal(id);
    }

    function test_appeal_juryRejectionAfterObjectionIsFinal() public {
        bytes32 id = _disputed();
        _juryDecides(id, _votes(0, 3));
        _assertState(id, IClaimLedger.ClaimState.REJECTED, "REJECTED");
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerAppealNotAllowed.selector, id));
        ledger.appeal(id);
    }

    function test_appeal_rejectsClaimNotRejected() public {
        bytes32 id = _inNotice();
        vm.prank(operator);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                id,
                IClaimLedger.ClaimState.IN_NOTICE,
                IClaimLedger.ClaimState.DISPUTED
            )
        );
        ledger.appeal(id);
    }

    // ───────────────────────── jury ─────────────────────────

    function test_object_schedulesTheDraw() public {
        bytes32 id = _inNotice();
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryDrawScheduled(id, 1, uint64(block.number + 2));
        vm.prank(operator);
        ledger.object(id, OBJECTOR);
        vm.assertEq(uint256(ledger.claim(id).drawBlock), block.number + 2, "drawBlock");
    }

    function test_drawJury_seatsFromRosterWithSeedAndWindows() public {
        bytes32 id = _disputed();
        uint64 drawBlock = ledger.claim(id).drawBlock;
        vm.roll(drawBlock + 1);
        bytes32 seed = keccak256(abi.encode(blockhash(drawBlock), id, uint32(1)));
        address[] memory expected = _fisherYates(ledger.jurors(), seed, JURY);
        uint64 commitEnds = uint64(block.timestamp + COMMIT);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryDrawn(id, 1, seed, expected, commitEnds, commitEnds + uint64(REVEAL));
        vm.prank(attacker); // anyone may draw
        uint32 round = ledger.drawJury(id);
        vm.assertEq(uint256(round), 1, "round 1");
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.juryRound), 1, "stored round");
        vm.assertEq(uint256(c.drawBlock), 0, "draw consumed");
        vm.assertEq(uint256(c.commitEnds), commitEnds, "commitEnds");
        vm.assertEq(uint256(c.revealEnds), commitEnds + REVEAL, "revealEnds");
        uint256 drawn = 0;
        for (uint256 i = 0; i < jurorPool.length; ++i) {
            if (ledger.ballot(id, 1, jurorPool[i]).drawn) ++drawn;
        }
        vm.assertEq(drawn, JURY, "exactly jurySize drawn");
    }

    function test_drawJury_notBeforeTheSeedBlockIsPast() public {
        bytes32 id = _disputed();
        uint64 drawBlock = ledger.claim(id).drawBlock;
        vm.roll(drawBlock);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerDrawTooEarly.selector, id, drawBlock, uint256(drawBlock))
        );
        ledger.drawJury(id);
    }

    function test_drawJury_reschedulesWhenTheSeedHashIsGone() public {
        bytes32 id = _disputed();
        uint64 drawBlock = ledger.claim(id).drawBlock;
        vm.roll(uint256(drawBlock) + 257);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryDrawScheduled(id, 1, uint64(drawBlock + 259));
        vm.assertEq(uint256(ledger.drawJury(id)), 0, "no round drawn");
        vm.assertEq(uint256(ledger.claim(id).drawBlock), drawBlock + 259, "new seed block");
        vm.assertEq(uint256(ledger.claim(id).juryRound), 0, "no round");
        vm.assertEq(_draw(id).length, JURY, "drawn after rescheduling");
    }

    function test_drawJury_excludesRelatedJurorsAndReviewers() public {
        bytes32 id = _disputed();
        vm.startPrank(roster);
        ledger.grantRole(ledger.JUROR_ROLE(), reviewerA); // reviewed this claim
        vm.stopPrank();
        vm.startPrank(operator);
        for (uint256 i = 0; i < 4; ++i) {
            ledger.declareConflict(jurorPool[i], MEMBER); // related to the claimant
        }
        for (uint256 i = 4; i < 7; ++i) {
            ledger.declareConflict(jurorPool[i], OBJECTOR); // related to the objector
        }
        vm.stopPrank();
        // Eligible: jurorPool[7..11] exactly — every one of them is seated.
        address[] memory jurors = _draw(id);
        for (uint256 i = 7; i < jurorPool.length; ++i) {
            vm.assertTrue(ledger.ballot(id, 1, jurorPool[i]).drawn, "eligible juror seated");
        }
        for (uint256 i = 0; i < jurors.length; ++i) {
            vm.assertTrue(jurors[i] != reviewerA, "reviewer not seated");
        }
    }

    function test_drawJury_notEnoughEligibleJurorsReverts() public {
        bytes32 id = _disputed();
        vm.startPrank(operator);
        for (uint256 i = 0; i < 8; ++i) {
            ledger.declareConflict(jurorPool[i], MEMBER);
        }
        vm.stopPrank();
        vm.roll(uint256(ledger.claim(id).drawBlock) + 1);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNotEnoughJurors.selector, uint256(4), uint256(JURY)));
        ledger.drawJury(id);
        // A juror who joins the roster (after its public delay) unblocks the draw — with a new seed
        // block, since the roster changed after the first one.
        bytes32 jurorRole = ledger.JUROR_ROLE();
        vm.prank(roster);
        ledger.grantRole(jurorRole, address(0xF00D));
        vm.assertEq(uint256(ledger.drawJury(id)), 0, "re-scheduled");
        vm.assertEq(_draw(id).length, uint256(JURY), "drawn");
    }

    function test_drawJury_rosterChangeAfterTheSeedBlockReschedules() public {
        bytes32 id = _disputed();
        uint64 drawBlock = ledger.claim(id).drawBlock;
        vm.roll(drawBlock); // the seed block: its hash is about to be known
        bytes32 jurorRole = ledger.JUROR_ROLE();
        vm.prank(jurorPool[0]);
        ledger.renounceRole(jurorRole, jurorPool[0]);
        vm.roll(drawBlock + 1);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryDrawScheduled(id, 1, drawBlock + 3);
        vm.assertEq(uint256(ledger.drawJury(id)), 0, "no draw from a seed the roster could react to");
        vm.assertEq(_draw(id).length, uint256(JURY), "drawn from the next seed block");
    }

    function test_drawJury_conflictDeclaredAfterTheSeedBlockDoesNotSteerTheDraw() public {
        bytes32 id = _disputed();
        uint64 drawBlock = ledger.claim(id).drawBlock;
        vm.roll(drawBlock + 1);
        bytes32 seed = keccak256(abi.encode(blockhash(drawBlock), id, uint32(1)));
        address[] memory expected = _fisherYates(ledger.jurors(), seed, JURY);
        // The operator sees the seed and declares the first seat related to the claimant.
        vm.prank(operator);
        ledger.declareConflict(expected[0], MEMBER);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryDrawn(id, 1, seed, expected, uint64(block.timestamp + COMMIT), uint64(block.timestamp + COMMIT + REVEAL));
        ledger.drawJury(id);
    }

    function test_drawJury_rejectsWrongStateAndOpenRound() public {
        bytes32 id = _inNotice();
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerWrongState.selector,
                id,
                IClaimLedger.ClaimState.IN_NOTICE,
                IClaimLedger.ClaimState.DISPUTED
            )
        );
        ledger.drawJury(id);
        vm.prank(operator);
        ledger.object(id, OBJECTOR);
        _draw(id);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerJuryAlreadyDrawn.selector, id, uint32(1)));
        ledger.drawJury(id);
    }

    function test_commitVote_recordsCommitment() public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        bytes32 commitment = _commitment(id, jurors[0], true, _salt(jurors[0]));
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.VoteCommitted(id, 1, jurors[0], commitment);
        vm.prank(jurors[0]);
        ledger.commitVote(id, commitment);
        vm.assertEq(ledger.ballot(id, 1, jurors[0]).commitment, commitment, "stored");
        vm.assertEq(uint256(ledger.claim(id).committedVotes), 1, "counted");
    }

    function test_commitVote_rejectsUndrawnRepeatLateAndZero() public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        address outsider = reviewerA;
        vm.prank(outsider);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNotDrawn.selector, id, outsider));
        ledger.commitVote(id, bytes32(uint256(1)));
        vm.prank(jurors[0]);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroArgument.selector, uint8(5)));
        ledger.commitVote(id, bytes32(0));
        _commit(id, jurors[0], true);
        vm.prank(jurors[0]);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerAlreadyCommitted.selector, id, jurors[0]));
        ledger.commitVote(id, bytes32(uint256(1)));
        uint64 commitEnds = ledger.claim(id).commitEnds;
        vm.warp(commitEnds);
        vm.prank(jurors[1]);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerCommitClosed.selector, id, commitEnds, uint256(commitEnds))
        );
        ledger.commitVote(id, bytes32(uint256(1)));
    }

    function test_commitVote_withoutJuryReverts() public {
        bytes32 id = _disputed();
        vm.prank(jurorPool[0]);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNoJury.selector, id));
        ledger.commitVote(id, bytes32(uint256(1)));
    }

    function test_revealVote_opensCommitmentInRevealWindow() public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        _commit(id, jurors[0], true);
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IClaimLedger.ClaimLedgerRevealClosed.selector, id, c.commitEnds, c.revealEnds, block.timestamp
            )
        );
        ledger.revealVote(id, jurors[0], true, _salt(jurors[0]));
        vm.warp(c.commitEnds);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.VoteRevealed(id, 1, jurors[0], true, _salt(jurors[0]));
        _reveal(id, jurors[0], true);
        IClaimLedger.Ballot memory b = ledger.ballot(id, 1, jurors[0]);
        vm.assertTrue(b.revealed, "revealed");
        vm.assertTrue(b.approve, "vote");
        c = ledger.claim(id);
        vm.assertEq(uint256(c.revealedVotes), 1, "revealed count");
        vm.assertEq(uint256(c.juryApprovals), 1, "approvals");
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerAlreadyRevealed.selector, id, jurors[0]));
        ledger.revealVote(id, jurors[0], true, _salt(jurors[0]));
    }

    function test_revealVote_rejectsMismatchMissingCommitAndLateReveal() public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        _commit(id, jurors[0], true);
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.warp(c.commitEnds);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerCommitmentMismatch.selector, id, jurors[0]));
        ledger.revealVote(id, jurors[0], false, _salt(jurors[0])); // other vote
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerCommitmentMismatch.selector, id, jurors[0]));
        ledger.revealVote(id, jurors[0], true, bytes32(uint256(42))); // other salt
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNoCommitment.selector, id, jurors[1]));
        ledger.revealVote(id, jurors[1], true, _salt(jurors[1]));
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNotDrawn.selector, id, reviewerA));
        ledger.revealVote(id, reviewerA, true, _salt(reviewerA));
        vm.warp(c.revealEnds);
        vm.expectRevert(
            abi.encodeWithSelector(
                IClaimLedger.ClaimLedgerRevealClosed.selector, id, c.commitEnds, c.revealEnds, uint256(c.revealEnds)
            )
        );
        ledger.revealVote(id, jurors[0], true, _salt(jurors[0]));
    }

    function test_tallyJury_majorityApprovesWithTally() public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        bool[4] memory votes = [true, true, true, false];
        for (uint256 i = 0; i < 4; ++i) {
            _commit(id, jurors[i], votes[i]);
        }
        vm.warp(block.timestamp + COMMIT);
        for (uint256 i = 0; i < 4; ++i) {
            _reveal(id, jurors[i], votes[i]);
        }
        vm.warp(block.timestamp + REVEAL);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryTallied(id, 1, IClaimLedger.ClaimState.APPROVED, 3, 1, JURY);
        vm.prank(attacker); // anyone may tally
        IClaimLedger.ClaimState outcome = ledger.tallyJury(id);
        vm.assertEq(uint256(outcome), uint256(IClaimLedger.ClaimState.APPROVED), "returned");
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.state), uint256(IClaimLedger.ClaimState.APPROVED), "APPROVED");
        vm.assertEq(uint256(c.commitEnds), 0, "round closed");
        vm.assertEq(uint256(c.juryApprovals), 3, "tally kept");
        vm.assertEq(uint256(c.revealedVotes), 4, "revealed kept");
    }

    function test_tallyJury_tieRejects() public {
        bytes32 id = _disputed();
        _juryVotes(id, _votes(2, 2));
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryTallied(id, 1, IClaimLedger.ClaimState.REJECTED, 2, 2, JURY);
        IClaimLedger.ClaimState outcome = ledger.tallyJury(id);
        vm.assertEq(uint256(outcome), uint256(IClaimLedger.ClaimState.REJECTED), "tie rejects");
        _assertState(id, IClaimLedger.ClaimState.REJECTED, "stored");
    }

    function test_tallyJury_lowTurnoutVoidsRoundAndAllowsRedraw() public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        _commit(id, jurors[0], true);
        _commit(id, jurors[1], true);
        _commit(id, jurors[2], true);
        vm.warp(block.timestamp + COMMIT);
        _reveal(id, jurors[0], true);
        _reveal(id, jurors[1], true); // jurors[2] never reveals: 2 < TURNOUT
        vm.warp(block.timestamp + REVEAL);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.VoteNotRevealed(id, 1, jurors[2]);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JurorAbsent(id, 1, jurors[3]);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JurorAbsent(id, 1, jurors[4]);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryRoundVoided(id, 1, 2, TURNOUT);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryDrawScheduled(id, 2, uint64(block.number + 2));
        IClaimLedger.ClaimState outcome = ledger.tallyJury(id);
        vm.assertEq(uint256(ledger.absences(jurors[0])), 0, "revealed: no absence");
        vm.assertEq(uint256(ledger.absences(jurors[2])), 1, "unrevealed counted");
        vm.assertEq(uint256(ledger.absences(jurors[3])), 1, "absent counted");
        vm.assertEq(uint256(outcome), uint256(IClaimLedger.ClaimState.DISPUTED), "still disputed");
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.commitEnds), 0, "round closed");
        vm.assertEq(uint256(c.revealedVotes), 0, "counters reset");
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNoJury.selector, id));
        ledger.tallyJury(id);
        // Round 2 seats none of round 1's jurors.
        address[] memory first = jurors;
        jurors = _draw(id);
        vm.assertEq(uint256(ledger.claim(id).juryRound), 2, "round 2");
        for (uint256 i = 0; i < first.length; ++i) {
            vm.assertFalse(ledger.ballot(id, 2, first[i]).drawn, "round-1 juror not redrawn");
        }
        for (uint256 i = 0; i < 3; ++i) {
            _commit(id, jurors[i], false);
        }
        vm.warp(block.timestamp + COMMIT);
        for (uint256 i = 0; i < 3; ++i) {
            _reveal(id, jurors[i], false);
        }
        vm.warp(block.timestamp + REVEAL);
        vm.assertEq(uint256(ledger.tallyJury(id)), uint256(IClaimLedger.ClaimState.REJECTED), "round 2 decides");
    }

    function test_tallyJury_beforeRevealEndsReverts() public {
        bytes32 id = _disputed();
        _draw(id);
        uint64 revealEnds = ledger.claim(id).revealEnds;
        vm.warp(revealEnds - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerVotingOpen.selector, id, revealEnds, uint256(revealEnds - 1))
        );
        ledger.tallyJury(id);
    }

    function test_tallyJury_rejectsClaimNotDisputed() public {
        bytes32 id = _approved();
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerWrongState.selector,
                id,
                IClaimLedger.ClaimState.APPROVED,
                IClaimLedger.ClaimState.DISPUTED
            )
        );
        ledger.tallyJury(id);
    }

    function test_juryOfEleven_decidesWithDefaultRules() public {
        bytes32 rules11 = keccak256("hubao.rules.default");
        vm.startPrank(operator);
        ledger.anchorRuleSet(rules11, 7 days, 2, 11, 6, 2 days, 2 days, 800, 10, 18_800);
        vm.warp(block.timestamp + ledger.RULE_SET_DELAY()); // in force only after the public delay
        vm.stopPrank();
        vm.startPrank(roster);
        for (uint160 i = 0; i < 11; ++i) {
            ledger.grantRole(ledger.JUROR_ROLE(), address(0x2000 + i));
        }
        vm.stopPrank();
        vm.startPrank(operator);
        bytes32 id = keccak256(abi.encode(MEMBER, EVIDENCE, rules11, PAYOUT));
        ledger.fileClaim(id, MEMBER, EVIDENCE, rules11, PAYOUT);
        ledger.openReview(id);
        vm.stopPrank();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        v.ruleSetHash = rules11;
        ledger.submitVerdict(id, v, _sign(REVIEWER_A_KEY, v));
        v = _verdict(id, APPROVE, reviewerB);
        v.ruleSetHash = rules11;
        ledger.submitVerdict(id, v, _sign(REVIEWER_B_KEY, v));
        vm.prank(operator);
        ledger.object(id, OBJECTOR);
        address[] memory jurors = _draw(id);
        vm.assertEq(jurors.length, 11, "eleven seats");
        for (uint256 i = 0; i < 11; ++i) {
            _commit(id, jurors[i], i % 2 == 0); // 6 approve, 5 reject
        }
        vm.warp(block.timestamp + 2 days);
        for (uint256 i = 0; i < 11; ++i) {
            _reveal(id, jurors[i], i % 2 == 0);
        }
        vm.warp(block.timestamp + 2 days);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryTallied(id, 1, IClaimLedger.ClaimState.APPROVED, 6, 5, 11);
        ledger.tallyJury(id);
    }

    // ───────────────────────── withdrawal and payout ─────────────────────────

    function test_withdrawClaim_fromEachOpenState() public {
        bytes32[4] memory ids;
        ids[0] = _file(MEMBER, keccak256("e0"), PAYOUT);
        ids[1] = _file(MEMBER, keccak256("e1"), PAYOUT);
        vm.prank(operator);
        ledger.openReview(ids[1]);
        ids[2] = _inNotice();
        ids[3] = _file(MEMBER, keccak256("e3"), PAYOUT);
        vm.startPrank(operator);
        ledger.openReview(ids[3]);
        vm.stopPrank();
        _review(ids[3], REVIEWER_A_KEY, APPROVE);
        _review(ids[3], REVIEWER_B_KEY, APPROVE);
        vm.prank(operator);
        ledger.object(ids[3], OBJECTOR);
        IClaimLedger.ClaimState[4] memory from = [
            IClaimLedger.ClaimState.FILED,
            IClaimLedger.ClaimState.UNDER_REVIEW,
            IClaimLedger.ClaimState.IN_NOTICE,
            IClaimLedger.ClaimState.DISPUTED
        ];
        for (uint256 i = 0; i < 4; ++i) {
            _assertState(ids[i], from[i], "precondition");
            vm.expectEmit(true, true, true, true, address(ledger));
            emit IClaimLedger.ClaimWithdrawn(ids[i], from[i]);
            vm.prank(operator);
            ledger.withdrawClaim(ids[i]);
            _assertState(ids[i], IClaimLedger.ClaimState.WITHDRAWN, "WITHDRAWN");
        }
    }

    function test_withdrawClaim_rejectsDecidedClaims() public {
        bytes32 rejected = _rejected();
        vm.prank(operator);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                rejected,
                IClaimLedger.ClaimState.REJECTED,
                IClaimLedger.ClaimState.WITHDRAWN
            )
        );
        ledger.withdrawClaim(rejected);
        bytes32 paid = _file(MEMBER, keccak256("paid"), PAYOUT);
        vm.prank(operator);
        ledger.openReview(paid);
        _review(paid, REVIEWER_A_KEY, APPROVE);
        _review(paid, REVIEWER_B_KEY, APPROVE);
        vm.warp(block.timestamp + NOTICE);
        ledger.finalizeNotice(paid);
        vm.prank(operator);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                paid,
                IClaimLedger.ClaimState.APPROVED,
                IClaimLedger.ClaimState.WITHDRAWN
            )
        );
        ledger.withdrawClaim(paid);
        vm.prank(operator);
        ledger.recordPayout(paid, keccak256("payment"));
        vm.prank(operator);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                paid,
                IClaimLedger.ClaimState.PAID,
                IClaimLedger.ClaimState.WITHDRAWN
            )
        );
        ledger.withdrawClaim(paid);
    }

    function test_withdrawClaim_duringJuryClosesTheRound() public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        vm.prank(operator);
        ledger.withdrawClaim(id);
        vm.assertEq(uint256(ledger.claim(id).commitEnds), 0, "round closed");
        vm.prank(jurors[0]);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerWrongState.selector,
                id,
                IClaimLedger.ClaimState.WITHDRAWN,
                IClaimLedger.ClaimState.DISPUTED
            )
        );
        ledger.commitVote(id, bytes32(uint256(1)));
    }

    function test_recordPayout_movesApprovedToPaid() public {
        bytes32 id = _approved();
        bytes32 ref = keccak256("payment-record");
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.PayoutRecorded(id, ref, PAYOUT);
        vm.prank(operator);
        ledger.recordPayout(id, ref);
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.state), uint256(IClaimLedger.ClaimState.PAID), "PAID");
        vm.assertEq(c.paymentRef, ref, "paymentRef");
        vm.prank(operator);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                id,
                IClaimLedger.ClaimState.PAID,
                IClaimLedger.ClaimState.PAID
            )
        );
        ledger.recordPayout(id, ref);
    }

    function test_recordPayout_rejectsUnapprovedAndZeroRef() public {
        bytes32 id = _inNotice();
        vm.startPrank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerZeroArgument.selector, uint8(6)));
        ledger.recordPayout(id, bytes32(0));
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerInvalidTransition.selector,
                id,
                IClaimLedger.ClaimState.IN_NOTICE,
                IClaimLedger.ClaimState.PAID
            )
        );
        ledger.recordPayout(id, keccak256("payment"));
        vm.stopPrank();
    }

    // ───────────────────────── roles (spot checks; the full matrix is in Python) ─────────────────────────

    function test_operatorFunctions_rejectOtherRoles() public {
        bytes32 id = _fileDefault();
        bytes32 role = ledger.OPERATOR_ROLE();
        address[3] memory callers = [admin, reviewerA, jurorPool[0]];
        for (uint256 i = 0; i < callers.length; ++i) {
            bytes memory err =
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, callers[i], role);
            vm.prank(callers[i]);
            vm.expectRevert(err);
            ledger.openReview(id);
            vm.prank(callers[i]);
            vm.expectRevert(err);
            ledger.anchorRuleSet(keccak256("x"), 1, 1, 1, 1, 1, 1, 800, 10, 18_800);
        }
    }

    function test_rosterAdmin_managesRostersNotTheOperator() public {
        address fresh = address(0xF00D);
        bytes32 jurorRole = ledger.JUROR_ROLE();
        bytes32 rosterRole = ledger.ROSTER_ROLE();
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, rosterRole)
        );
        ledger.grantRole(jurorRole, fresh);
        vm.startPrank(roster);
        ledger.grantRole(ledger.REVIEWER_ROLE(), fresh);
        ledger.grantRole(ledger.JUROR_ROLE(), fresh);
        vm.stopPrank();
        vm.assertTrue(ledger.hasRole(ledger.REVIEWER_ROLE(), fresh), "reviewer");
        vm.assertTrue(ledger.hasRole(ledger.JUROR_ROLE(), fresh), "juror");
        bytes32 opRole = ledger.OPERATOR_ROLE();
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, bytes32(0))
        );
        ledger.grantRole(opRole, fresh);
    }

    // ───────────────────────── reference selection ─────────────────────────

    /// The draw rule written out independently of the contract (same as backend select_jurors).
    function _fisherYates(address[] memory a, bytes32 seed, uint256 size) internal pure returns (address[] memory out) {
        out = new address[](size);
        uint256 n = a.length;
        for (uint256 i = 0; i < size; ++i) {
            uint256 j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i);
            (a[i], a[j]) = (a[j], a[i]);
            out[i] = a[i];
        }
    }
}
