// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {ClaimLedger} from "../src/ClaimLedger.sol";
import {IClaimLedger} from "../src/IClaimLedger.sol";
import {ClaimLedgerTestBase, vm} from "./ClaimLedgerBase.t.sol";

/**
 * @notice RELIABILITY C2 (EIP-712 replay suite, 7/7 rejected by named error), C3 (front-running
 * and griefing) and the fuzz tests of the verification-critical hashing (C5: 1,000 runs).
 */
contract ClaimLedgerSignaturesTest is ClaimLedgerTestBase {
    // ───────────────────────── C2: replay suite ─────────────────────────

    function test_c2_reusedSignatureRevertsInvalidAccountNonce() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        ledger.submitVerdict(id, v, sig);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, reviewerA, uint256(1)));
        ledger.submitVerdict(id, v, sig);
    }

    function test_c2_otherChainIdRecoversNonReviewer() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        (uint8 sv, bytes32 r, bytes32 s) = vm.sign(REVIEWER_A_KEY, ledger.hashVerdict(v));
        vm.chainId(31338); // OZ EIP712 rebuilds the domain separator for the new chain id
        bytes32 digestHere = ledger.hashVerdict(v);
        address recovered = ecrecover(digestHere, sv, r, s);
        vm.assertTrue(recovered != reviewerA, "domain binds the chain id");
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerSignerNotReviewer.selector, recovered));
        ledger.submitVerdict(id, v, abi.encodePacked(r, s, sv));
    }

    function test_c2_otherVerifyingContractRecoversNonReviewer() public {
        bytes32 id = _underReview();
        // A twin deployment where reviewerA is a reviewer too: only the domain differs.
        ClaimLedger twin = new ClaimLedger(admin, operator, 1 days, roster);
        bytes32 reviewerRole = twin.REVIEWER_ROLE();
        vm.prank(roster);
        twin.grantRole(reviewerRole, reviewerA);
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes32 twinDigest = twin.hashVerdict(v);
        vm.assertTrue(twinDigest != ledger.hashVerdict(v), "domain binds the contract");
        (uint8 sv, bytes32 r, bytes32 s) = vm.sign(REVIEWER_A_KEY, twinDigest);
        address recovered = ecrecover(ledger.hashVerdict(v), sv, r, s);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerSignerNotReviewer.selector, recovered));
        ledger.submitVerdict(id, v, abi.encodePacked(r, s, sv));
    }

    function test_c2_pastDeadlineRevertsExpired() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        v.deadline = block.timestamp;
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        vm.warp(block.timestamp + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerVerdictExpired.selector, v.deadline, block.timestamp)
        );
        ledger.submitVerdict(id, v, sig);
    }

    function test_c2_deadlineItselfIsAccepted() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        v.deadline = block.timestamp;
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        ledger.submitVerdict(id, v, sig);
        vm.assertEq(ledger.verdictDigest(id, reviewerA), ledger.hashVerdict(v), "recorded at the deadline");
    }

    function test_c2_highSTwinRevertsInvalidSignatureS() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        (uint8 sv, bytes32 r, bytes32 s) = vm.sign(REVIEWER_A_KEY, ledger.hashVerdict(v));
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 twinV = sv == 27 ? 28 : 27;
        // The twin is a valid signature for the raw precompile: only the low-s rule rejects it.
        vm.assertEq(ecrecover(ledger.hashVerdict(v), twinV, r, highS), reviewerA, "twin recovers the reviewer");
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, highS));
        ledger.submitVerdict(id, v, abi.encodePacked(r, highS, twinV));
    }

    function test_c2_nonReviewerSignerReverts() public {
        bytes32 id = _underReview();
        address stranger = vm.addr(STRANGER_KEY);
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, stranger);
        bytes memory sig = _sign(STRANGER_KEY, v);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerSignerNotReviewer.selector, stranger));
        ledger.submitVerdict(id, v, sig);
    }

    function test_c2_revokedReviewerSignatureReverts() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        bytes32 role = ledger.REVIEWER_ROLE();
        vm.prank(roster);
        ledger.revokeRole(role, reviewerA);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerSignerNotReviewer.selector, reviewerA));
        ledger.submitVerdict(id, v, sig);
    }

    function test_c2_claimantRelatedReviewerReverts() public {
        bytes32 id = _underReview();
        vm.prank(operator);
        ledger.declareConflict(reviewerA, MEMBER);
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerReviewerConflicted.selector, id, reviewerA));
        ledger.submitVerdict(id, v, sig);
    }

    // ───────────────────────── C3: front-running and griefing ─────────────────────────

    function test_c3_frontRunVerdictGivesIdenticalState() public {
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, reviewerA);
        bytes memory sig = _sign(REVIEWER_A_KEY, v);
        bytes32 digest = ledger.hashVerdict(v);

        uint256 snap = vm.snapshotState();
        vm.prank(operator);
        ledger.submitVerdict(id, v, sig);
        bytes32 byBackend = keccak256(abi.encode(ledger.claim(id), ledger.verdictDigest(id, reviewerA), ledger.nonces(reviewerA)));
        vm.revertToState(snap);

        vm.prank(attacker); // copies the signed verdict from the mempool and relays it first
        ledger.submitVerdict(id, v, sig);
        bytes32 byAttacker = keccak256(abi.encode(ledger.claim(id), ledger.verdictDigest(id, reviewerA), ledger.nonces(reviewerA)));
        vm.assertEq(byAttacker, byBackend, "same state whoever relays");

        // The backend's own submission now fails on the nonce; it recognises its verdict by digest.
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, reviewerA, uint256(1)));
        ledger.submitVerdict(id, v, sig);
        vm.assertEq(ledger.verdictDigest(id, reviewerA), digest, "backend sees its verdict recorded");
    }

    function test_c3_copiedJuryCommitmentCannotBeRevealed() public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        address honest = jurors[0];
        address copier = jurors[1];
        bytes32 commitment = _commitment(id, honest, true, _salt(honest));
        vm.prank(honest);
        ledger.commitVote(id, commitment);
        vm.prank(copier);
        ledger.commitVote(id, commitment); // copied from the honest juror's transaction
        vm.warp(block.timestamp + COMMIT);
        _reveal(id, honest, true);
        // replays the honest reveal, now public, for the copier
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerCommitmentMismatch.selector, id, copier));
        ledger.revealVote(id, copier, true, _salt(honest));
        vm.assertEq(uint256(ledger.claim(id).revealedVotes), 1, "only the honest vote counts");
    }

    function test_c3_outsiderCannotVoteOrActAsOperator() public {
        bytes32 id = _disputed();
        _draw(id);
        bytes32 operatorRole = ledger.OPERATOR_ROLE();
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNotDrawn.selector, id, attacker));
        ledger.commitVote(id, bytes32(uint256(1)));
        vm.prank(attacker);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, attacker, operatorRole)
        );
        ledger.anchorRuleSet(keccak256("attacker rules"), 1, 1, 1, 1, 1, 1, 800, 10, 18_800);
    }

    // ───────────────────────── fuzz (C5) ─────────────────────────

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_hashVerdict_matchesEip712Definition(IClaimLedger.Verdict memory v, uint64 chainId) public {
        vm.assume(chainId != 0);
        vm.chainId(chainId);
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Hubao"),
                keccak256("2"),
                uint256(chainId),
                address(ledger)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                ledger.VERDICT_TYPEHASH(),
                v.claimId,
                v.verdict,
                v.reasonCode,
                v.reportHash,
                v.ruleSetHash,
                v.nonce,
                v.deadline
            )
        );
        vm.assertEq(ledger.hashVerdict(v), keccak256(abi.encodePacked(hex"1901", domain, structHash)), "digest");
    }

    function testFuzz_submitVerdict_recordsAnyWellFormedVerdict(
        uint8 reviewerIndex,
        bool approve,
        uint16 reasonCode,
        bytes32 reportHash,
        uint32 validity
    ) public {
        uint256[3] memory keys = [REVIEWER_A_KEY, REVIEWER_B_KEY, REVIEWER_C_KEY];
        uint256 key = keys[reviewerIndex % 3];
        address reviewer = vm.addr(key);
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = IClaimLedger.Verdict({
            claimId: id,
            verdict: approve ? APPROVE : REJECT,
            reasonCode: reasonCode,
            reportHash: reportHash,
            ruleSetHash: RULES,
            nonce: ledger.nonces(reviewer),
            deadline: block.timestamp + validity
        });
        bytes memory sig = _sign(key, v);
        bytes32 digest = ledger.hashVerdict(v);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.VerdictRecorded(
            id, reviewer, v.verdict, reasonCode, reportHash, digest, RULES, v.nonce, v.deadline, sig
        );
        ledger.submitVerdict(id, v, sig);
        vm.assertEq(ledger.verdictDigest(id, reviewer), digest, "digest");
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.assertEq(uint256(c.reviewApprovals), approve ? 1 : 0, "approvals");
        vm.assertEq(uint256(c.reviewRejections), approve ? 0 : 1, "rejections");
    }

    function testFuzz_submitVerdict_rejectsForeignSigner(uint256 key) public {
        key = 1 + (key % (SECP256K1_N - 1));
        address signer = vm.addr(key);
        vm.assume(signer != reviewerA && signer != reviewerB && signer != reviewerC);
        bytes32 id = _underReview();
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, signer);
        bytes memory sig = _sign(key, v);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerSignerNotReviewer.selector, signer));
        ledger.submitVerdict(id, v, sig);
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_revealVote_opensOnlyTheExactCommitment(bool vote, bytes32 salt, bool revealVote_, bytes32 revealSalt)
        public
    {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        bytes32 commitment = _commitment(id, jurors[0], vote, salt);
        vm.prank(jurors[0]);
        ledger.commitVote(id, commitment);
        vm.warp(block.timestamp + COMMIT);
        bool matches = vote == revealVote_ && salt == revealSalt;
        if (!matches) {
            vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerCommitmentMismatch.selector, id, jurors[0]));
        }
        ledger.revealVote(id, jurors[0], revealVote_, revealSalt);
        vm.assertEq(ledger.ballot(id, 1, jurors[0]).revealed, matches, "revealed iff exact opening");
    }

    /// Each juror i: bit i of `committedMask` commits, bit i of `revealedMask` reveals (if
    /// committed), bit i of `approveMask` is the vote. The tally must follow the documented rule.
    function testFuzz_tallyJury_followsMajorityTurnoutAndTieRules(
        uint8 committedMask,
        uint8 revealedMask,
        uint8 approveMask
    ) public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        for (uint256 i = 0; i < JURY; ++i) {
            if (committedMask & (1 << i) != 0) _commit(id, jurors[i], approveMask & (1 << i) != 0);
        }
        vm.warp(block.timestamp + COMMIT);
        uint256 revealed;
        uint256 approvals;
        for (uint256 i = 0; i < JURY; ++i) {
            uint8 bit = uint8(1 << i);
            if (committedMask & bit != 0 && revealedMask & bit != 0) {
                bool approve = approveMask & bit != 0;
                _reveal(id, jurors[i], approve);
                revealed += 1;
                if (approve) approvals += 1;
            }
        }
        vm.warp(block.timestamp + REVEAL);
        IClaimLedger.ClaimState outcome = ledger.tallyJury(id);
        IClaimLedger.ClaimState expected = revealed < TURNOUT
            ? IClaimLedger.ClaimState.DISPUTED
            : (approvals * 2 > revealed ? IClaimLedger.ClaimState.APPROVED : IClaimLedger.ClaimState.REJECTED);
        vm.assertEq(uint256(outcome), uint256(expected), "outcome");
        _assertState(id, expected, "stored outcome");
    }

    function testFuzz_noticeWindow_partitionsTime(uint32 elapsed) public {
        uint256 dt = uint256(elapsed) % (2 * NOTICE);
        bytes32 id = _inNotice();
        uint64 ends = ledger.claim(id).noticeEnds;
        vm.warp(block.timestamp + dt);
        if (block.timestamp < ends) {
            vm.expectRevert(
                abi.encodeWithSelector(IClaimLedger.ClaimLedgerNoticeOpen.selector, id, ends, block.timestamp)
            );
            ledger.finalizeNotice(id);
            vm.prank(operator);
            ledger.object(id, OBJECTOR);
            _assertState(id, IClaimLedger.ClaimState.DISPUTED, "objection inside the window");
        } else {
            vm.prank(operator);
            vm.expectRevert(
                abi.encodeWithSelector(IClaimLedger.ClaimLedgerNoticeClosed.selector, id, ends, block.timestamp)
            );
            ledger.object(id, OBJECTOR);
            ledger.finalizeNotice(id);
            _assertState(id, IClaimLedger.ClaimState.APPROVED, "finalized after the window");
        }
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_fileClaim_idIsDeterministicAndUnique(bytes32 member, bytes32 evidence, uint64 payout) public {
        vm.assume(member != bytes32(0) && evidence != bytes32(0) && payout != 0);
        bytes32 id = keccak256(abi.encode(member, evidence, RULES, payout));
        vm.prank(operator);
        vm.assertEq(ledger.fileClaim(id, member, evidence, RULES, payout), id, "returned");
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerClaimExists.selector, id));
        ledger.fileClaim(id, member, evidence, RULES, payout);
    }
}
