// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

import {ClaimLedger} from "../src/ClaimLedger.sol";
import {IClaimLedger} from "../src/IClaimLedger.sol";
import {RosterTimelock} from "../src/RosterTimelock.sol";
import {ClaimLedgerTestBase, vm} from "./ClaimLedgerBase.t.sol";

/**
 * @notice ClaimLedger 2.0.0: the enumerable juror roster, the on-chain draw (golden vector shared
 * with backend/chain/jury_draw.py), votes signed by the juror's own key (VoteCommit, golden vectors
 * shared with backend/chain/eip712.py), absences, and the RosterTimelock in front of the rosters.
 */
contract ClaimLedgerJuryTest is ClaimLedgerTestBase {
    string internal constant DRAW = "/../tests/vectors/jury_draw.json";
    string internal constant VOTES = "/../tests/vectors/eip712_vote.json";
    uint256 internal constant JUROR_KEY = 0x1D0D;

    function _read(string memory file) internal view returns (string memory) {
        return vm.readFile(string.concat(vm.projectRoot(), file));
    }

    // ───────────────────────── roster ─────────────────────────

    function test_jurors_listsGrantsInOrderAndSwapsAndPopsRevocations() public {
        address[] memory before = ledger.jurors();
        vm.assertEq(before.length, uint256(POOL), "the fixture's pool");
        bytes32 role = ledger.JUROR_ROLE();
        vm.prank(roster);
        ledger.revokeRole(role, jurorPool[2]);
        address[] memory afterRevoke = ledger.jurors();
        vm.assertEq(afterRevoke.length, uint256(POOL) - 1, "one fewer");
        vm.assertEq(afterRevoke[2], jurorPool[POOL - 1], "last took the revoked slot");
        vm.prank(jurorPool[0]);
        ledger.renounceRole(role, jurorPool[0]); // a juror leaves at once, by itself
        vm.assertEq(ledger.jurors()[0], jurorPool[POOL - 2], "renunciation also swaps and pops");
        vm.prank(roster);
        ledger.grantRole(role, jurorPool[2]);
        address[] memory afterGrant = ledger.jurors();
        vm.assertEq(afterGrant[afterGrant.length - 1], jurorPool[2], "re-grant appends");
        vm.prank(roster);
        ledger.grantRole(role, jurorPool[2]); // no change, no event, no duplicate
        vm.assertEq(ledger.jurors().length, afterGrant.length, "no duplicate");
    }

    /// forge-config: default.fuzz.runs = 500
    function testFuzz_jurors_equalsTheRoleHolders(uint8[24] memory ops) public {
        bytes32 role = ledger.JUROR_ROLE();
        vm.startPrank(roster);
        for (uint256 k = 0; k < ops.length; ++k) {
            address who = address(uint160(0x1000 + 1 + (ops[k] % 16))); // pool members and 4 newcomers
            if (ops[k] & 0x80 != 0) ledger.revokeRole(role, who);
            else ledger.grantRole(role, who);
        }
        vm.stopPrank();
        address[] memory listed = ledger.jurors();
        uint256 holders = 0;
        for (uint160 i = 1; i <= 16; ++i) {
            if (ledger.hasRole(role, address(0x1000 + i))) ++holders;
        }
        vm.assertEq(listed.length, holders, "one entry per holder");
        for (uint256 i = 0; i < listed.length; ++i) {
            vm.assertTrue(ledger.hasRole(role, listed[i]), "every entry holds the role");
            for (uint256 j = 0; j < i; ++j) {
                vm.assertTrue(listed[i] != listed[j], "no duplicate");
            }
        }
    }

    // ───────────────────────── draw: golden vector ─────────────────────────

    function test_drawJury_equalsGoldenVector() public {
        string memory json = _read(DRAW);
        ClaimLedger fresh = _ledgerWithVectorRoster(json);
        vm.assertEq(fresh.jurors(), vm.parseJsonAddressArray(json, ".roster"), "jurors() = replayed roster");
        bytes32 id = _disputedOn(fresh, vm.parseJsonAddressArray(json, ".excluded"));
        vm.assertEq(id, vm.parseJsonBytes32(json, ".claimId"), "the fixture's claim");
        uint64 drawBlock = fresh.claim(id).drawBlock;
        vm.roll(drawBlock + 1);
        vm.setBlockhash(drawBlock, vm.parseJsonBytes32(json, ".blockHash"));
        vm.assertEq(blockhash(drawBlock), vm.parseJsonBytes32(json, ".blockHash"), "seed block hash set");
        uint64 commitEnds = uint64(block.timestamp + COMMIT);
        vm.expectEmit(true, true, true, true, address(fresh));
        emit IClaimLedger.JuryDrawn(
            id,
            1,
            vm.parseJsonBytes32(json, ".seed"),
            vm.parseJsonAddressArray(json, ".seats"),
            commitEnds,
            commitEnds + uint64(REVEAL)
        );
        fresh.drawJury(id);
    }

    function _ledgerWithVectorRoster(string memory json) internal returns (ClaimLedger fresh) {
        fresh = new ClaimLedger(admin, operator, 1 days, roster);
        vm.prank(operator);
        fresh.anchorRuleSet(RULES, uint32(NOTICE), QUORUM, JURY, TURNOUT, uint32(COMMIT), uint32(REVEAL), 800, 10, 18_800);
        bytes32 jurorRole = fresh.JUROR_ROLE();
        vm.startPrank(roster);
        for (uint256 i = 0; vm.keyExistsJson(json, string.concat(".rosterChanges[", vm.toString(i), "]")); ++i) {
            string memory p = string.concat(".rosterChanges[", vm.toString(i), "]");
            address who = vm.parseJsonAddress(json, string.concat(p, ".account"));
            if (keccak256(bytes(vm.parseJsonString(json, string.concat(p, ".kind")))) == keccak256("granted")) {
                fresh.grantRole(jurorRole, who);
            } else {
                fresh.revokeRole(jurorRole, who);
            }
        }
        fresh.grantRole(fresh.REVIEWER_ROLE(), reviewerA);
        fresh.grantRole(fresh.REVIEWER_ROLE(), reviewerB);
        vm.stopPrank();
    }

    function _disputedOn(ClaimLedger fresh, address[] memory excluded) internal returns (bytes32 id) {
        vm.startPrank(operator);
        for (uint256 i = 0; i < excluded.length; ++i) {
            fresh.declareConflict(excluded[i], MEMBER);
        }
        id = _claimId(MEMBER, EVIDENCE, PAYOUT);
        fresh.fileClaim(id, MEMBER, EVIDENCE, RULES, PAYOUT);
        fresh.openReview(id);
        vm.stopPrank();
        _reviewOn(fresh, id, REVIEWER_A_KEY);
        _reviewOn(fresh, id, REVIEWER_B_KEY);
        vm.prank(operator);
        fresh.object(id, OBJECTOR);
    }

    function _reviewOn(ClaimLedger fresh, bytes32 id, uint256 key) internal {
        address signer = vm.addr(key);
        IClaimLedger.Verdict memory v = _verdict(id, APPROVE, signer);
        v.nonce = fresh.nonces(signer);
        (uint8 sv, bytes32 r, bytes32 s) = vm.sign(key, fresh.hashVerdict(v));
        fresh.submitVerdict(id, v, abi.encodePacked(r, s, sv));
    }

    /// Seats are distinct roster members, none excluded, exactly jurySize — for any seed and conflicts.
    /// forge-config: default.fuzz.runs = 500
    function testFuzz_drawJury_seatsDistinctEligibleRosterMembers(bytes32 blockHash, uint16 conflictMask) public {
        bytes32 id = _disputed();
        vm.startPrank(operator);
        uint256 conflicted = 0;
        for (uint256 i = 0; i < POOL; ++i) {
            if (conflictMask & (1 << i) != 0 && conflicted < POOL - JURY) {
                ledger.declareConflict(jurorPool[i], i % 2 == 0 ? MEMBER : OBJECTOR);
                ++conflicted;
            }
        }
        vm.stopPrank();
        uint64 drawBlock = ledger.claim(id).drawBlock;
        vm.roll(drawBlock + 1);
        vm.setBlockhash(drawBlock, blockHash);
        address[] memory seats = _drawNow(id);
        vm.assertEq(seats.length, uint256(JURY), "jurySize seats");
        for (uint256 i = 0; i < seats.length; ++i) {
            vm.assertTrue(ledger.hasRole(ledger.JUROR_ROLE(), seats[i]), "on the roster");
            vm.assertFalse(ledger.isConflicted(seats[i], MEMBER), "not related to the claimant");
            vm.assertFalse(ledger.isConflicted(seats[i], OBJECTOR), "not related to the objector");
            vm.assertTrue(ledger.ballot(id, 1, seats[i]).drawn, "ballot drawn");
            for (uint256 j = 0; j < i; ++j) {
                vm.assertTrue(seats[i] != seats[j], "distinct");
            }
        }
    }

    function _drawNow(bytes32 id) internal returns (address[] memory jurors) {
        vm.recordLogs();
        ledger.drawJury(id);
        ClaimLedgerVmLog[] memory logs = _logs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].topics[0] == JURY_DRAWN_TOPIC) {
                (, jurors,,) = abi.decode(logs[i].data, (bytes32, address[], uint64, uint64));
            }
        }
    }

    struct ClaimLedgerVmLog {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function _logs() internal returns (ClaimLedgerVmLog[] memory out) {
        (bool ok, bytes memory ret) = address(vm).call(abi.encodeWithSignature("getRecordedLogs()"));
        require(ok, "getRecordedLogs");
        out = abi.decode(ret, (ClaimLedgerVmLog[]));
    }

    function test_drawJury_gasForFiveOfFifty() public {
        vm.startPrank(roster);
        for (uint160 i = 0; i < 50 - POOL; ++i) {
            ledger.grantRole(ledger.JUROR_ROLE(), address(0x4000 + i));
        }
        vm.stopPrank();
        vm.assertEq(ledger.jurors().length, 50, "roster of 50");
        bytes32 id = _disputed();
        vm.roll(uint256(ledger.claim(id).drawBlock) + 1);
        uint256 before = gasleft();
        ledger.drawJury(id);
        uint256 used = before - gasleft();
        // ~423k at 5-of-50: 15 fresh storage slots (ballot, seat, seated-on-claim per juror) dominate.
        vm.assertLe(used, 500_000, "drawJury 5-of-50 stays cheap");
    }

    // ───────────────────────── votes by the juror's own key ─────────────────────────

    function _domainSeparator(uint256 chainId, address verifying) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Hubao"),
                keccak256("2"),
                chainId,
                verifying
            )
        );
    }

    function _voteCommitDigest(uint256 chainId, address verifying, bytes32 id, uint32 round, bytes32 commitment)
        internal
        pure
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(keccak256("VoteCommit(bytes32 claimId,uint32 round,bytes32 commitment)"), id, round, commitment)
        );
        return keccak256(abi.encodePacked("\x19\x01", _domainSeparator(chainId, verifying), structHash));
    }

    function test_voteVectors_equalTheSpecEncoding() public view {
        string memory json = _read(VOTES);
        vm.assertEq(
            vm.parseJsonBytes32(json, ".voteCommitTypeHash"), ledger.VOTE_COMMIT_TYPEHASH(), "VoteCommit type hash"
        );
        uint256 checked;
        for (uint256 i = 0; vm.keyExistsJson(json, string.concat(".vectors[", vm.toString(i), "]")); ++i) {
            _checkVoteVector(json, string.concat(".vectors[", vm.toString(i), "]"));
            checked += 1;
        }
        vm.assertEq(checked, 4, "every vector checked");
    }

    struct VoteVector {
        uint256 chainId;
        address verifying;
        bytes32 id;
        uint32 round;
        address juror;
    }

    function _voteVector(string memory json, string memory p) internal pure returns (VoteVector memory v) {
        v.chainId = vm.parseJsonUint(json, string.concat(p, ".domain.chainId"));
        v.verifying = vm.parseJsonAddress(json, string.concat(p, ".domain.verifyingContract"));
        v.id = vm.parseJsonBytes32(json, string.concat(p, ".claimId"));
        v.round = uint32(vm.parseJsonUint(json, string.concat(p, ".round")));
        v.juror = vm.parseJsonAddress(json, string.concat(p, ".juror"));
    }

    function _checkVoteVector(string memory json, string memory p) internal pure {
        VoteVector memory v = _voteVector(json, p);
        // VoteSalt digest, its signer, and salt = keccak256(signature)
        bytes32 saltDigest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                _domainSeparator(v.chainId, v.verifying),
                keccak256(abi.encode(keccak256("VoteSalt(bytes32 claimId,uint32 round)"), v.id, v.round))
            )
        );
        vm.assertEq(saltDigest, vm.parseJsonBytes32(json, string.concat(p, ".voteSaltDigest")), "VoteSalt digest");
        bytes memory saltSig = vm.parseJsonBytes(json, string.concat(p, ".voteSaltSignature"));
        vm.assertEq(_recover(saltDigest, saltSig), v.juror, "VoteSalt signer");
        bytes32 salt = keccak256(saltSig);
        vm.assertEq(salt, vm.parseJsonBytes32(json, string.concat(p, ".salt")), "salt");
        bytes32 commitment =
            keccak256(abi.encode(v.id, v.round, v.juror, vm.parseJsonBool(json, string.concat(p, ".approve")), salt));
        vm.assertEq(commitment, vm.parseJsonBytes32(json, string.concat(p, ".commitment")), "commitment");
        bytes32 digest = _voteCommitDigest(v.chainId, v.verifying, v.id, v.round, commitment);
        vm.assertEq(digest, vm.parseJsonBytes32(json, string.concat(p, ".voteCommitDigest")), "VoteCommit digest");
        vm.assertEq(
            _recover(digest, vm.parseJsonBytes(json, string.concat(p, ".voteCommitSignature"))),
            v.juror,
            "VoteCommit signer"
        );
    }

    function _recover(bytes32 digest, bytes memory sig) internal pure returns (address) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
        return ecrecover(digest, v, r, s);
    }

    /// A disputed claim whose only eligible jurors are the fixture's first JURY - 1 plus `keyed`.
    function _disputedWithKeyedJuror() internal returns (bytes32 id, address keyed) {
        keyed = vm.addr(JUROR_KEY);
        bytes32 jurorRole = ledger.JUROR_ROLE();
        vm.prank(roster);
        ledger.grantRole(jurorRole, keyed);
        id = _disputed();
        vm.startPrank(operator);
        for (uint256 i = JURY - 1; i < POOL; ++i) {
            ledger.declareConflict(jurorPool[i], MEMBER);
        }
        vm.stopPrank();
        _draw(id);
        vm.assertTrue(ledger.ballot(id, 1, keyed).drawn, "keyed juror seated");
    }

    function _signCommit(uint256 key, bytes32 id, uint32 round, bytes32 commitment) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(key, _voteCommitDigest(block.chainid, address(ledger), id, round, commitment));
        return abi.encodePacked(r, s, v);
    }

    function test_commitVoteBySig_relayedByAnyoneAndRevealedByAnyone() public {
        (bytes32 id, address juror) = _disputedWithKeyedJuror();
        bytes32 salt = keccak256("device-derived salt");
        bytes32 commitment = keccak256(abi.encode(id, uint32(1), juror, true, salt));
        bytes memory sig = _signCommit(JUROR_KEY, id, 1, commitment);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.VoteCommitted(id, 1, juror, commitment);
        vm.prank(operator); // the relayer pays the gas
        ledger.commitVoteBySig(id, juror, commitment, sig);
        vm.assertEq(ledger.ballot(id, 1, juror).commitment, commitment, "stored");
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerAlreadyCommitted.selector, id, juror));
        ledger.commitVoteBySig(id, juror, commitment, sig); // replay
        vm.warp(ledger.claim(id).commitEnds);
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.VoteRevealed(id, 1, juror, true, salt);
        vm.prank(attacker); // anyone may relay the opening
        ledger.revealVote(id, juror, true, salt);
        vm.assertTrue(ledger.ballot(id, 1, juror).revealed, "revealed");
    }

    function test_commitVoteBySig_rejectsOtherSignerRoundOrCommitment() public {
        (bytes32 id, address juror) = _disputedWithKeyedJuror();
        bytes32 commitment = keccak256(abi.encode(id, uint32(1), juror, true, bytes32(uint256(7))));
        // Signed by someone else (the operator forging a juror's vote with its own key).
        bytes memory forged = _signCommit(STRANGER_KEY, id, 1, commitment);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerVoteSignerMismatch.selector, juror, vm.addr(STRANGER_KEY))
        );
        ledger.commitVoteBySig(id, juror, commitment, forged);
        // Signed by the juror for another round: recovers someone else.
        bytes memory otherRound = _signCommit(JUROR_KEY, id, 2, commitment);
        vm.expectRevert();
        ledger.commitVoteBySig(id, juror, commitment, otherRound);
        // A signature over another commitment does not carry over.
        bytes memory sig = _signCommit(JUROR_KEY, id, 1, commitment);
        vm.expectRevert();
        ledger.commitVoteBySig(id, juror, bytes32(uint256(commitment) ^ 1), sig);
        vm.assertEq(ledger.ballot(id, 1, juror).commitment, bytes32(0), "nothing stored");
    }

    function test_commitVoteBySig_undrawnSignerCannotVote() public {
        bytes32 id = _disputed();
        _draw(id);
        address outsider = vm.addr(STRANGER_KEY);
        bytes32 commitment = bytes32(uint256(1));
        bytes memory sig = _signCommit(STRANGER_KEY, id, 1, commitment);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerNotDrawn.selector, id, outsider));
        ledger.commitVoteBySig(id, outsider, commitment, sig);
    }

    /// forge-config: default.fuzz.runs = 1000
    function testFuzz_revealVote_opensOnlyTheJurorsOwnCommitment(
        bool vote,
        bytes32 salt,
        bool revealVote_,
        bytes32 revealSalt,
        uint8 claimedJuror
    ) public {
        bytes32 id = _disputed();
        address[] memory jurors = _draw(id);
        address juror = jurors[0];
        address opener = jurors[claimedJuror % JURY];
        bytes32 commitment = keccak256(abi.encode(id, uint32(1), juror, vote, salt));
        vm.prank(juror);
        ledger.commitVote(id, commitment);
        if (opener != juror) {
            vm.prank(opener);
            ledger.commitVote(id, commitment); // copies the honest commitment
        }
        vm.warp(block.timestamp + COMMIT);
        bool matches = opener == juror && vote == revealVote_ && salt == revealSalt;
        if (!matches) {
            vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerCommitmentMismatch.selector, id, opener));
        }
        ledger.revealVote(id, opener, revealVote_, revealSalt);
        vm.assertEq(ledger.ballot(id, 1, opener).revealed, matches, "revealed iff the juror's exact opening");
    }

    // ───────────────────────── tally: absences and redraw ─────────────────────────

    function test_tallyJury_countsAbsencesAcrossRounds() public {
        bytes32 id = _disputed();
        address[] memory first = _draw(id);
        vm.warp(block.timestamp + COMMIT + REVEAL); // nobody votes
        ledger.tallyJury(id);
        for (uint256 i = 0; i < first.length; ++i) {
            vm.assertEq(uint256(ledger.absences(first[i])), 1, "absent once");
        }
        vm.assertEq(uint256(ledger.claim(id).drawBlock), block.number + 2, "redraw scheduled");
        address[] memory second = _draw(id);
        vm.assertEq(uint256(ledger.claim(id).juryRound), 2, "round 2");
        for (uint256 i = 0; i < second.length; ++i) {
            for (uint256 j = 0; j < first.length; ++j) {
                vm.assertTrue(second[i] != first[j], "fresh jurors");
            }
        }
        // Round 3 would need 5 more: only POOL - 10 = 2 are left.
        vm.warp(block.timestamp + COMMIT + REVEAL);
        ledger.tallyJury(id);
        vm.roll(uint256(ledger.claim(id).drawBlock) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IClaimLedger.ClaimLedgerNotEnoughJurors.selector, uint256(POOL - 10), uint256(JURY))
        );
        ledger.drawJury(id);
    }

    function test_withdrawClaim_cancelsAScheduledDraw() public {
        bytes32 id = _disputed();
        vm.prank(operator);
        ledger.withdrawClaim(id);
        vm.assertEq(uint256(ledger.claim(id).drawBlock), 0, "draw cancelled");
        vm.roll(block.number + 5);
        vm.expectRevert(
            _err(
                IClaimLedger.ClaimLedgerWrongState.selector,
                id,
                IClaimLedger.ClaimState.WITHDRAWN,
                IClaimLedger.ClaimState.DISPUTED
            )
        );
        ledger.drawJury(id);
    }

    function test_appeal_schedulesTheDraw() public {
        bytes32 id = _rejected();
        vm.expectEmit(true, true, true, true, address(ledger));
        emit IClaimLedger.JuryDrawScheduled(id, 1, uint64(block.number + 2));
        vm.prank(operator);
        ledger.appeal(id);
        vm.assertEq(_draw(id).length, uint256(JURY), "drawn");
    }
}

/// @notice The RosterTimelock in front of ClaimLedger's rosters: announced, delayed, cancellable.
contract RosterTimelockTest is ClaimLedgerTestBase {
    RosterTimelock internal timelock;
    ClaimLedger internal timed;
    uint256 internal constant DELAY = 1 days;

    function setUp() public override {
        super.setUp();
        timelock = new RosterTimelock(DELAY, operator, admin);
        timed = new ClaimLedger(admin, operator, 1 days, address(timelock));
    }

    function _grantCall(address who) internal view returns (bytes memory) {
        return abi.encodeCall(IAccessControl.grantRole, (timed.JUROR_ROLE(), who));
    }

    function test_roles_proposerOperatorAnyoneExecutesNoAdmin() public view {
        vm.assertTrue(timelock.hasRole(timelock.PROPOSER_ROLE(), operator), "operator proposes");
        vm.assertTrue(timelock.hasRole(timelock.CANCELLER_ROLE(), operator), "operator cancels");
        vm.assertTrue(timelock.hasRole(timelock.CANCELLER_ROLE(), admin), "admin cancels");
        vm.assertTrue(timelock.hasRole(timelock.EXECUTOR_ROLE(), address(0)), "anyone executes");
        vm.assertFalse(timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), admin), "no outside admin");
        vm.assertFalse(timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), operator), "operator is not admin");
        vm.assertTrue(timelock.hasRole(timelock.DEFAULT_ADMIN_ROLE(), address(timelock)), "self-administered");
        vm.assertEq(timelock.getMinDelay(), DELAY, "delay");
        vm.assertEq(timelock.version(), "1.0.0", "version");
        vm.assertTrue(timed.hasRole(timed.ROSTER_ROLE(), address(timelock)), "timelock holds ROSTER_ROLE");
    }

    function test_grant_takesEffectOnlyAfterTheDelay() public {
        address juror = address(0xF00D);
        bytes memory data = _grantCall(juror);
        bytes32 opId = timelock.hashOperation(address(timed), 0, data, bytes32(0), bytes32(0));
        vm.prank(operator);
        timelock.schedule(address(timed), 0, data, bytes32(0), bytes32(0), DELAY);
        vm.assertFalse(timed.hasRole(timed.JUROR_ROLE(), juror), "pending");
        vm.warp(block.timestamp + DELAY - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector,
                opId,
                bytes32(1 << uint8(TimelockController.OperationState.Ready))
            )
        );
        timelock.execute(address(timed), 0, data, bytes32(0), bytes32(0));
        vm.warp(block.timestamp + 1);
        vm.prank(attacker); // anyone executes a ready operation
        timelock.execute(address(timed), 0, data, bytes32(0), bytes32(0));
        vm.assertTrue(timed.hasRole(timed.JUROR_ROLE(), juror), "in force");
        vm.assertEq(timed.jurors()[0], juror, "on the roster");
    }

    function test_operatorCannotGrantDirectlyNorShortenTheDelay() public {
        bytes32 jurorRole = timed.JUROR_ROLE();
        bytes32 rosterRole = timed.ROSTER_ROLE();
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, rosterRole)
        );
        timed.grantRole(jurorRole, operator);
        bytes memory data = _grantCall(operator);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockInsufficientDelay.selector, 1, DELAY));
        timelock.schedule(address(timed), 0, data, bytes32(0), bytes32(0), 1);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockUnauthorizedCaller.selector, operator));
        timelock.updateDelay(0);
    }

    function test_adminCancelsAnAnnouncedGrant() public {
        bytes memory data = _grantCall(attacker);
        vm.prank(operator);
        timelock.schedule(address(timed), 0, data, bytes32(0), bytes32(0), DELAY);
        bytes32 opId = timelock.hashOperation(address(timed), 0, data, bytes32(0), bytes32(0));
        vm.prank(admin);
        timelock.cancel(opId);
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert();
        timelock.execute(address(timed), 0, data, bytes32(0), bytes32(0));
        vm.assertFalse(timed.hasRole(timed.JUROR_ROLE(), attacker), "never granted");
    }

    function test_runtimeSizesWithinEip170() public view {
        vm.assertLe(address(timed).code.length, 24_576, "ClaimLedger runtime <= 24,576 bytes");
        vm.assertLe(address(timelock).code.length, 24_576, "RosterTimelock runtime <= 24,576 bytes");
    }
}
