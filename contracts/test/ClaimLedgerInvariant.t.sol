// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ClaimLedger} from "../src/ClaimLedger.sol";
import {IClaimLedger} from "../src/IClaimLedger.sol";
import {vm} from "./ClaimLedgerBase.t.sol";

/**
 * @notice Drives a ClaimLedger with random but mostly meaningful actions (every external
 * function, legal and illegal moves, clock jumps) and keeps a ghost copy of each claim's state.
 * Every call goes through try/catch, so the handler never reverts; after each call it reads the
 * touched claim's state and counts any move that is not an edge of the documented lifecycle.
 */
contract ClaimLedgerHandler {
    using StateEdges for IClaimLedger.ClaimState;

    uint256 internal constant MAX_CLAIMS = 8;
    uint256 internal constant JURORS = 9;
    bytes32 internal constant RULES = keccak256("hubao.rules.invariant");

    ClaimLedger public immutable ledger;
    address public immutable operator;
    address public constant ROSTER = address(0x705);
    address internal constant ATTACKER = address(0xBAD);
    uint256[3] internal _reviewerKeys = [uint256(0xA11CE), 0xB0B, 0xC0C];
    bytes32[3] internal _members = [keccak256("m0"), keccak256("m1"), keccak256("m2")];
    address[JURORS] internal _jurors;

    bytes32[] public ids;
    mapping(bytes32 id => IClaimLedger.ClaimState) public ghostState;
    mapping(bytes32 id => uint256) public ghostAppeals;
    mapping(bytes32 ballotKey => bool vote) internal _votes;
    uint256 public ghostIllegalMoves;
    uint256 public ghostDuplicateFilings;
    uint256 public ghostTransitions;
    uint256 public ghostReverts;
    uint256 public ghostBookkeepingViolations;
    uint256 public ghostBadSeats;
    uint256 internal _evidenceCounter;

    constructor(ClaimLedger ledger_, address operator_) {
        ledger = ledger_;
        operator = operator_;
        for (uint160 i = 0; i < JURORS; ++i) {
            _jurors[i] = address(0x3000 + i);
        }
    }

    function jurors() external view returns (address[JURORS] memory) {
        return _jurors;
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    // ───────────────────────── actions ─────────────────────────

    function fileClaim(uint256 memberSeed, uint64 payout) external {
        if (ids.length >= MAX_CLAIMS) return;
        bytes32 member = _members[memberSeed % 3];
        bytes32 evidence = keccak256(abi.encode("evidence", ++_evidenceCounter));
        payout = uint64(1 + payout % 30_000_000);
        bytes32 id = keccak256(abi.encode(member, evidence, RULES, payout));
        vm.prank(operator);
        try ledger.fileClaim(id, member, evidence, RULES, payout) {
            ids.push(id);
        } catch {
            ghostReverts += 1;
        }
        _observe(id);
    }

    function refileClaim(uint256 idSeed) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        IClaimLedger.Claim memory c = ledger.claim(id);
        vm.prank(operator);
        try ledger.fileClaim(id, c.memberCommitment, c.evidenceRoot, c.ruleSetHash, c.payoutFen) {
            ghostDuplicateFilings += 1; // an id accepted twice
        } catch {
            ghostReverts += 1;
        }
        _observe(id);
    }

    /// The operator's batch: a new claim plus a re-send of a known one (FILED is opened, later
    /// states are left alone) — must never move a claim along anything but a legal edge.
    function fileForReview(uint256 memberSeed, uint64 payout, uint256 idSeed) external {
        if (ids.length >= MAX_CLAIMS) return;
        bytes32 member = _members[memberSeed % 3];
        bytes32 evidence = keccak256(abi.encode("evidence", ++_evidenceCounter));
        payout = uint64(1 + payout % 30_000_000);
        bytes32 id = keccak256(abi.encode(member, evidence, RULES, payout));
        uint256 n = ids.length == 0 ? 1 : 2;
        IClaimLedger.ClaimFiling[] memory filings = new IClaimLedger.ClaimFiling[](n);
        filings[0] = IClaimLedger.ClaimFiling(id, member, evidence, RULES, payout);
        bytes32 known;
        if (n == 2) {
            known = ids[idSeed % ids.length];
            IClaimLedger.Claim memory c = ledger.claim(known);
            filings[1] = IClaimLedger.ClaimFiling(known, c.memberCommitment, c.evidenceRoot, c.ruleSetHash, c.payoutFen);
        }
        vm.prank(operator);
        try ledger.fileForReview(filings) {
            ids.push(id);
            // One call, two edges: NONE → FILED (fileClaim's) → UNDER_REVIEW (openReview's).
            if (ledger.state(id) == IClaimLedger.ClaimState.UNDER_REVIEW) {
                ghostState[id] = IClaimLedger.ClaimState.FILED;
                ghostTransitions += 1;
            }
        } catch {
            ghostReverts += 1;
        }
        _observe(id);
        if (n == 2) _observe(known);
    }

    function openReview(uint256 idSeed) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.FILED);
        if (!found) return;
        vm.prank(operator);
        try ledger.openReview(id) {} catch { ghostReverts += 1; }
        _observe(id);
    }

    function submitVerdict(uint256 idSeed, uint256 reviewerSeed, bool approve) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.UNDER_REVIEW);
        if (!found) return;
        uint256 key = _reviewerKeys[reviewerSeed % 3];
        address reviewer = vm.addr(key);
        IClaimLedger.Verdict memory v = IClaimLedger.Verdict({
            claimId: id,
            verdict: approve ? 1 : 2,
            reasonCode: approve ? 0 : 2,
            reportHash: keccak256(abi.encode(id, reviewer)),
            ruleSetHash: RULES,
            nonce: ledger.nonces(reviewer),
            deadline: block.timestamp
        });
        (uint8 sv, bytes32 r, bytes32 s) = vm.sign(key, ledger.hashVerdict(v));
        try ledger.submitVerdict(id, v, abi.encodePacked(r, s, sv)) {} catch { ghostReverts += 1; }
        _observe(id);
    }

    function object(uint256 idSeed) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.IN_NOTICE);
        if (!found) return;
        vm.prank(operator);
        try ledger.object(id, keccak256(abi.encode("objector", idSeed))) {} catch { ghostReverts += 1; }
        _observe(id);
    }

    function finalizeNotice(uint256 idSeed) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.IN_NOTICE);
        if (!found) return;
        try ledger.finalizeNotice(id) {} catch { ghostReverts += 1; }
        _observe(id);
    }

    function appeal(uint256 idSeed) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.REJECTED);
        if (!found) return;
        vm.prank(operator);
        try ledger.appeal(id) {} catch { ghostReverts += 1; }
        _observe(id);
    }

    function drawJury(uint256 idSeed, uint8 blocks) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.DISPUTED);
        if (!found) return;
        vm.roll(block.number + blocks % 4); // sometimes too early, mostly past the seed block
        vm.prank(ATTACKER); // anyone draws
        try ledger.drawJury(id) returns (uint32 round) {
            if (round != 0) _checkSeats(id, round);
        } catch {
            ghostReverts += 1;
        }
        _observe(id);
    }

    /// A fresh draw seats exactly jurySize distinct roster members, none seated before on the claim.
    function _checkSeats(bytes32 id, uint32 round) internal {
        uint256 seated = 0;
        for (uint256 k = 0; k < JURORS; ++k) {
            if (!ledger.ballot(id, round, _jurors[k]).drawn) continue;
            ++seated;
            if (!ledger.hasRole(ledger.JUROR_ROLE(), _jurors[k])) ghostBadSeats += 1;
            for (uint32 r = 1; r < round; ++r) {
                if (ledger.ballot(id, r, _jurors[k]).drawn) ghostBadSeats += 1;
            }
        }
        if (seated != 3) ghostBadSeats += 1;
    }

    /// The roster admin grants or revokes a juror (the timelock's executed operations).
    function changeRoster(uint256 jurorSeed, bool grant) external {
        address juror = _jurors[jurorSeed % JURORS];
        bytes32 role = ledger.JUROR_ROLE();
        vm.prank(ROSTER);
        if (grant) ledger.grantRole(role, juror);
        else ledger.revokeRole(role, juror);
    }

    /// `jurors()` lists exactly the JUROR_ROLE holders, once each.
    function rosterMismatches() external view returns (uint256 bad) {
        address[] memory listed = ledger.jurors();
        uint256 holders = 0;
        for (uint256 k = 0; k < JURORS; ++k) {
            if (ledger.hasRole(ledger.JUROR_ROLE(), _jurors[k])) ++holders;
        }
        if (listed.length != holders) bad += 1;
        for (uint256 i = 0; i < listed.length; ++i) {
            if (!ledger.hasRole(ledger.JUROR_ROLE(), listed[i])) bad += 1;
            for (uint256 j = 0; j < i; ++j) {
                if (listed[i] == listed[j]) bad += 1;
            }
        }
    }

    function commitVote(uint256 idSeed, uint256 jurorSeed, bool approve) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.DISPUTED);
        if (!found) return;
        uint32 round = ledger.claim(id).juryRound;
        address juror = _drawnJuror(id, round, jurorSeed);
        bytes32 commitment = keccak256(abi.encode(id, round, juror, approve, _salt(id, round, juror)));
        vm.prank(juror);
        try ledger.commitVote(id, commitment) {
            _votes[_salt(id, round, juror)] = approve;
        } catch {
            ghostReverts += 1;
        }
        _observe(id);
    }

    function revealVote(uint256 idSeed, uint256 jurorSeed) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.DISPUTED);
        if (!found) return;
        uint32 round = ledger.claim(id).juryRound;
        address juror = _drawnJuror(id, round, jurorSeed);
        bytes32 salt = _salt(id, round, juror);
        bool approve = _votes[salt];
        vm.prank(ATTACKER); // anyone relays an opening
        try ledger.revealVote(id, juror, approve, salt) {} catch { ghostReverts += 1; }
        _observe(id);
    }

    function tallyJury(uint256 idSeed) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.DISPUTED);
        if (!found) return;
        try ledger.tallyJury(id) {} catch { ghostReverts += 1; }
        _observe(id);
    }

    function withdrawClaim(uint256 idSeed) external {
        if (ids.length == 0 || idSeed % 3 != 0) return; // rarer, so claims also reach the end
        bytes32 id = ids[idSeed % ids.length];
        vm.prank(operator);
        try ledger.withdrawClaim(id) {} catch { ghostReverts += 1; }
        _observe(id);
    }

    function recordPayout(uint256 idSeed) external {
        (bool found, bytes32 id) = _pick(idSeed, IClaimLedger.ClaimState.APPROVED);
        if (!found) return;
        vm.prank(operator);
        try ledger.recordPayout(id, keccak256(abi.encode("payment", id))) {} catch { ghostReverts += 1; }
        _observe(id);
    }

    /// Any state-changing call on a random claim from a random role: whatever is accepted must
    /// still be a legal edge.
    function anyCallAnyClaim(uint256 idSeed, uint8 action, uint8 callerSeed) external {
        if (ids.length == 0) return;
        bytes32 id = ids[idSeed % ids.length];
        address[3] memory callers = [operator, ATTACKER, _jurors[callerSeed % JURORS]];
        address caller = callers[callerSeed % 3];
        bytes memory data;
        uint8 which = action % 9;
        if (which == 0) data = abi.encodeCall(ledger.openReview, (id));
        else if (which == 1) data = abi.encodeCall(ledger.object, (id, bytes32(uint256(1))));
        else if (which == 2) data = abi.encodeCall(ledger.finalizeNotice, (id));
        else if (which == 3) data = abi.encodeCall(ledger.appeal, (id));
        else if (which == 4) data = abi.encodeCall(ledger.tallyJury, (id));
        else if (which == 5) data = abi.encodeCall(ledger.withdrawClaim, (id));
        else if (which == 6) data = abi.encodeCall(ledger.recordPayout, (id, bytes32(uint256(2))));
        else if (which == 7) data = abi.encodeCall(ledger.drawJury, (id));
        else data = abi.encodeCall(ledger.commitVote, (id, bytes32(uint256(3))));
        vm.prank(caller);
        (bool ok,) = address(ledger).call(data);
        if (!ok) ghostReverts += 1;
        _observe(id);
    }

    function declareConflict(uint256 reviewerSeed, uint256 memberSeed) external {
        address reviewer = vm.addr(_reviewerKeys[reviewerSeed % 3]);
        vm.prank(operator);
        try ledger.declareConflict(reviewer, _members[memberSeed % 3]) {} catch { ghostReverts += 1; }
    }

    function warp(uint32 seconds_) external {
        // At most half a window per step, so the fuzzer can land inside each window.
        vm.warp(block.timestamp + 1 + (seconds_ % 12 hours));
        vm.roll(block.number + 1);
    }

    /// Attempts to take the default admin role other than by the delayed two-step transfer.
    function seizeAdmin(uint8 how) external {
        bytes32 adminRole = ledger.DEFAULT_ADMIN_ROLE();
        if (how % 2 == 0) {
            vm.prank(ATTACKER);
            try ledger.beginDefaultAdminTransfer(ATTACKER) {} catch { ghostReverts += 1; }
        } else {
            vm.prank(operator);
            try ledger.grantRole(adminRole, operator) {} catch { ghostReverts += 1; }
        }
    }

    // ───────────────────────── ghost bookkeeping ─────────────────────────

    function _observe(bytes32 id) internal {
        IClaimLedger.ClaimState current = ledger.state(id);
        if (current != IClaimLedger.ClaimState.NONE && !_bookkeepingHolds(ledger.claim(id))) {
            ghostBookkeepingViolations += 1;
        }
        IClaimLedger.ClaimState previous = ghostState[id];
        if (current == previous) return;
        if (!previous.isEdgeTo(current)) ghostIllegalMoves += 1;
        if (previous == IClaimLedger.ClaimState.REJECTED && current == IClaimLedger.ClaimState.DISPUTED) {
            ghostAppeals[id] += 1;
            if (ghostAppeals[id] > 1) ghostIllegalMoves += 1;
        }
        ghostTransitions += 1;
        ghostState[id] = current;
    }

    /// A claim in `wanted` when there is one (3 times in 4), otherwise any claim: most calls make
    /// progress, the rest probe illegal moves.
    function _pick(uint256 seed, IClaimLedger.ClaimState wanted) internal view returns (bool, bytes32) {
        uint256 n = ids.length;
        if (n == 0) return (false, bytes32(0));
        if (seed % 4 != 0) {
            for (uint256 k = 0; k < n; ++k) {
                bytes32 id = ids[(seed % n + k) % n];
                if (ledger.state(id) == wanted) return (true, id);
            }
        }
        return (true, ids[seed % n]);
    }

    /// What every stored claim must satisfy (rule set: quorum 2, jury 3).
    function _bookkeepingHolds(IClaimLedger.Claim memory c) internal pure returns (bool) {
        if (uint256(c.reviewApprovals) + c.reviewRejections > 2) return false;
        if (c.juryApprovals > c.revealedVotes || c.revealedVotes > c.committedVotes || c.committedVotes > 3) {
            return false;
        }
        if ((c.paymentRef != bytes32(0)) != (c.state == IClaimLedger.ClaimState.PAID)) return false;
        if (c.state == IClaimLedger.ClaimState.IN_NOTICE && c.reviewApprovals != 2) return false;
        if (c.state == IClaimLedger.ClaimState.REJECTED && c.juryRound == 0 && c.reviewRejections == 0) return false;
        if (c.commitEnds != 0 && c.state != IClaimLedger.ClaimState.DISPUTED) return false;
        return true;
    }

    /// Claims whose stored state differs from the ghost copy (a change no action observed).
    function unobservedChanges() external view returns (uint256 count) {
        for (uint256 i = 0; i < ids.length; ++i) {
            if (ledger.state(ids[i]) != ghostState[ids[i]]) count += 1;
        }
    }

    /// A juror drawn for the round when `seed` is odd (progress), any juror otherwise (probes).
    function _drawnJuror(bytes32 id, uint32 round, uint256 seed) internal view returns (address) {
        if (seed % 2 == 1) {
            for (uint256 k = 0; k < JURORS; ++k) {
                address juror = _jurors[(seed % JURORS + k) % JURORS];
                if (ledger.ballot(id, round, juror).drawn) return juror;
            }
        }
        return _jurors[seed % JURORS];
    }

    function _salt(bytes32 id, uint32 round, address juror) internal pure returns (bytes32) {
        return keccak256(abi.encode(id, round, juror));
    }
}

/// @notice The lifecycle's edges (IClaimLedger docs), the single definition the invariants use.
library StateEdges {
    function isEdgeTo(IClaimLedger.ClaimState from, IClaimLedger.ClaimState to) internal pure returns (bool) {
        if (from == IClaimLedger.ClaimState.NONE) return to == IClaimLedger.ClaimState.FILED;
        if (from == IClaimLedger.ClaimState.FILED) {
            return to == IClaimLedger.ClaimState.UNDER_REVIEW || to == IClaimLedger.ClaimState.WITHDRAWN;
        }
        if (from == IClaimLedger.ClaimState.UNDER_REVIEW) {
            return to == IClaimLedger.ClaimState.IN_NOTICE || to == IClaimLedger.ClaimState.REJECTED
                || to == IClaimLedger.ClaimState.WITHDRAWN;
        }
        if (from == IClaimLedger.ClaimState.IN_NOTICE) {
            return to == IClaimLedger.ClaimState.APPROVED || to == IClaimLedger.ClaimState.DISPUTED
                || to == IClaimLedger.ClaimState.WITHDRAWN;
        }
        if (from == IClaimLedger.ClaimState.REJECTED) return to == IClaimLedger.ClaimState.DISPUTED;
        if (from == IClaimLedger.ClaimState.DISPUTED) {
            return to == IClaimLedger.ClaimState.APPROVED || to == IClaimLedger.ClaimState.REJECTED
                || to == IClaimLedger.ClaimState.WITHDRAWN;
        }
        if (from == IClaimLedger.ClaimState.APPROVED) return to == IClaimLedger.ClaimState.PAID;
        return false; // PAID and WITHDRAWN are terminal
    }
}

/**
 * @notice RELIABILITY C4 for ClaimLedger: the claim state machine moves only along legal edges,
 * no id is accepted twice, the stored claims agree with the ghost model and with their own
 * bookkeeping, and the default admin changes only by the two-step transfer. runs = 256,
 * depth = 500 (foundry.toml defaults).
 */
contract ClaimLedgerInvariantTest {
    /// forge-std's StdInvariant.FuzzSelector layout, which forge's runner decodes.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address internal constant ADMIN = address(0xAD);
    address internal constant OPERATOR = address(0x0FE);
    bytes32 internal constant RULES = keccak256("hubao.rules.invariant");

    ClaimLedger internal ledger;
    ClaimLedgerHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        ledger = new ClaimLedger(ADMIN, OPERATOR, 1 days, address(0x705));
        handler = new ClaimLedgerHandler(ledger, OPERATOR);
        vm.prank(OPERATOR);
        // quorum 2, jury 3, turnout 2; windows of 1-2 days, crossed by a few clock steps
        ledger.anchorRuleSet(RULES, 2 days, 2, 3, 2, 1 days, 1 days, 800, 10, 18_800);
        vm.startPrank(handler.ROSTER());
        ledger.grantRole(ledger.REVIEWER_ROLE(), vm.addr(0xA11CE));
        ledger.grantRole(ledger.REVIEWER_ROLE(), vm.addr(0xB0B));
        ledger.grantRole(ledger.REVIEWER_ROLE(), vm.addr(0xC0C));
        address[9] memory jurors = handler.jurors();
        for (uint256 i = 0; i < jurors.length; ++i) {
            ledger.grantRole(ledger.JUROR_ROLE(), jurors[i]);
        }
        vm.stopPrank();
    }

    /// forge's invariant runner fuzzes only these contracts (forge-std's StdInvariant convention).
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// The handler's actions (not its ghost getters).
    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](20);
        selectors[0] = ClaimLedgerHandler.fileClaim.selector;
        selectors[1] = ClaimLedgerHandler.refileClaim.selector;
        selectors[2] = ClaimLedgerHandler.openReview.selector;
        selectors[3] = ClaimLedgerHandler.submitVerdict.selector;
        selectors[4] = ClaimLedgerHandler.submitVerdict.selector; // reviews need the most calls
        selectors[5] = ClaimLedgerHandler.object.selector;
        selectors[6] = ClaimLedgerHandler.finalizeNotice.selector;
        selectors[7] = ClaimLedgerHandler.appeal.selector;
        selectors[8] = ClaimLedgerHandler.drawJury.selector;
        selectors[9] = ClaimLedgerHandler.commitVote.selector;
        selectors[10] = ClaimLedgerHandler.commitVote.selector;
        selectors[11] = ClaimLedgerHandler.revealVote.selector;
        selectors[12] = ClaimLedgerHandler.revealVote.selector;
        selectors[13] = ClaimLedgerHandler.tallyJury.selector;
        selectors[14] = ClaimLedgerHandler.withdrawClaim.selector;
        selectors[15] = ClaimLedgerHandler.recordPayout.selector;
        selectors[16] = ClaimLedgerHandler.anyCallAnyClaim.selector;
        selectors[17] = ClaimLedgerHandler.warp.selector;
        selectors[18] = ClaimLedgerHandler.seizeAdmin.selector;
        selectors[19] = ClaimLedgerHandler.fileForReview.selector;
        targets = new FuzzSelector[](2);
        targets[0] = FuzzSelector({addr: address(handler), selectors: selectors});
        bytes4[] memory rare = new bytes4[](2);
        rare[0] = ClaimLedgerHandler.declareConflict.selector;
        rare[1] = ClaimLedgerHandler.changeRoster.selector;
        targets[1] = FuzzSelector({addr: address(handler), selectors: rare});
    }

    /// One campaign checks every property after every call (one campaign per invariant function
    /// would repeat the 256 x 500 calls for each).
    function invariant_claimLedger() public view {
        _claimStatesMoveOnlyAlongLegalEdges();
        _noClaimIdAcceptedTwice();
        _storedStatesMatchGhostModel();
        _claimBookkeepingIsConsistent();
        _defaultAdminChangesOnlyByTwoSteps();
        vm.assertEq(handler.rosterMismatches(), 0, "jurors() differs from the JUROR_ROLE holders");
        vm.assertEq(handler.ghostBadSeats(), 0, "a draw seated a non-juror, a repeat juror or the wrong count");
    }

    function _claimStatesMoveOnlyAlongLegalEdges() internal view {
        vm.assertEq(handler.ghostIllegalMoves(), 0, "illegal state move observed");
    }

    function _noClaimIdAcceptedTwice() internal view {
        vm.assertEq(handler.ghostDuplicateFilings(), 0, "duplicate filing accepted");
    }

    function _storedStatesMatchGhostModel() internal view {
        vm.assertEq(handler.unobservedChanges(), 0, "a claim changed state without an observed call");
    }

    function _claimBookkeepingIsConsistent() internal view {
        vm.assertEq(handler.ghostBookkeepingViolations(), 0, "claim bookkeeping inconsistent after a call");
    }

    function _defaultAdminChangesOnlyByTwoSteps() internal view {
        vm.assertEq(ledger.defaultAdmin(), ADMIN, "default admin");
        (address pending,) = ledger.pendingDefaultAdmin();
        vm.assertEq(pending, address(0), "no transfer begun by anyone else");
        vm.assertFalse(ledger.hasRole(ledger.DEFAULT_ADMIN_ROLE(), OPERATOR), "operator never admin");
    }
}
