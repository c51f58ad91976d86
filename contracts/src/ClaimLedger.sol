// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

import {IClaimLedger} from "./IClaimLedger.sol";

/**
 * @title ClaimLedger
 * @notice The claim state machine of Hubao. See {IClaimLedger} for the lifecycle and the rules.
 * @dev Storage: claims by id (4 slots of commitments + 2 packed slots), rule sets by hash (1 slot),
 * one verdict digest per (claim, reviewer), one ballot per (claim, round, juror), and the conflict
 * set keyed by `keccak256(abi.encode(account, memberCommitment))`. Juror lists live only in the
 * `JuryDrawn` event; the per-ballot `drawn` flag is what voting checks.
 */
contract ClaimLedger is IClaimLedger, AccessControlDefaultAdminRules, EIP712, Nonces {
    /// @inheritdoc IClaimLedger
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @inheritdoc IClaimLedger
    bytes32 public constant REVIEWER_ROLE = keccak256("REVIEWER_ROLE");
    /// @inheritdoc IClaimLedger
    bytes32 public constant JUROR_ROLE = keccak256("JUROR_ROLE");
    /// @inheritdoc IClaimLedger
    bytes32 public constant ROSTER_ROLE = keccak256("ROSTER_ROLE");
    /// @inheritdoc IClaimLedger
    bytes32 public constant VOTE_COMMIT_TYPEHASH =
        keccak256("VoteCommit(bytes32 claimId,uint32 round,bytes32 commitment)");
    /// @inheritdoc IClaimLedger
    uint64 public constant JURY_DRAW_DELAY = 2;
    /// @inheritdoc IClaimLedger
    bytes32 public constant VERDICT_TYPEHASH = keccak256(
        "Verdict(bytes32 claimId,uint8 verdict,uint16 reasonCode,bytes32 reportHash,bytes32 ruleSetHash,uint256 nonce,uint256 deadline)"
    );

    /// Delay between `beginDefaultAdminTransfer` and `acceptDefaultAdminTransfer`.
    uint48 public constant INITIAL_ADMIN_DELAY = 1 days;

    /// @inheritdoc IClaimLedger
    uint64 public immutable RULE_SET_DELAY;

    uint8 private constant _APPROVE = 1;
    uint8 private constant _REJECT = 2;
    uint16 private constant _MAX_FEE_BPS = 10_000;

    // Indices for ClaimLedgerZeroArgument (documented in the interface).
    uint8 private constant _ARG_MEMBER = 1;
    uint8 private constant _ARG_EVIDENCE = 2;
    uint8 private constant _ARG_RULE_SET = 3;
    uint8 private constant _ARG_OBJECTOR = 4;
    uint8 private constant _ARG_VOTE = 5;
    uint8 private constant _ARG_PAYMENT = 6;

    mapping(bytes32 claimId => Claim) private _claims;
    mapping(bytes32 ruleSetHash => RuleSet) private _ruleSets;
    mapping(bytes32 claimId => mapping(address reviewer => bytes32 digest)) private _verdictDigests;
    mapping(bytes32 ballotKey => Ballot) private _ballots;
    // Block number of each declaration (0 = none): a draw counts only conflicts declared before its
    // seed block, so the operator cannot exclude jurors after seeing the seed.
    mapping(bytes32 conflictKey => uint256 declaredAt) private _conflicts;

    // The juror roster (JUROR_ROLE holders) in the order `_grantRole`/`_revokeRole` leave it:
    // appended on grant, swap-and-pop on revocation; `_jurorSlot` is index + 1 (0 = not listed).
    address[] private _jurors;
    mapping(address juror => uint256 slot) private _jurorSlot;
    // Seats of each drawn round (keyed by `_roundKey(claimId, round)`), read back at the tally.
    mapping(bytes32 roundKey => address[]) private _seats;
    // Accounts seated in any round of a claim (keyed by `_conflictKey(juror, claimId)`): never redrawn for it.
    mapping(bytes32 seatKey => bool) private _seated;
    mapping(address juror => uint32) private _absences;
    // Block of the last juror-roster change: a draw whose roster changed at or after its seed block is re-scheduled.
    uint256 private _rosterChangedAt;

    // Rule-set registry: anchoring order and when each comes into force (non-decreasing, see RULE_SET_DELAY).
    bytes32[] private _ruleSetOrder;
    uint64[] private _ruleSetEffectiveAt;

    // Final approvals, append-only, one entry per approval (so its gas does not depend on whether
    // another approval shares the block time): block time and cumulative (count << 144 | Σ payoutFen).
    struct ApprovalMark {
        uint48 at;
        uint208 cumulative;
    }

    ApprovalMark[] private _approvals;
    uint256 private constant _PAYOUT_BITS = 144;
    uint256 private constant _PAYOUT_MASK = (uint256(1) << _PAYOUT_BITS) - 1;

    /**
     * @param initialAdmin The single `DEFAULT_ADMIN_ROLE` holder (transferable in two delayed steps).
     * @param initialOperator The first `OPERATOR_ROLE` holder (the backend's key).
     * @param ruleSetDelay Seconds from a rule set's anchoring to its coming into force (fixed for the deployment).
     * @param rosterAdmin The `ROSTER_ROLE` holder, admin of the reviewer and juror rosters: the
     * RosterTimelock, so every roster change is announced a public delay before it takes effect.
     */
    constructor(address initialAdmin, address initialOperator, uint64 ruleSetDelay, address rosterAdmin)
        AccessControlDefaultAdminRules(INITIAL_ADMIN_DELAY, initialAdmin)
        EIP712("Hubao", "2")
    {
        RULE_SET_DELAY = ruleSetDelay;
        if (initialOperator == address(0)) revert ClaimLedgerInvalidAccount(initialOperator);
        if (rosterAdmin == address(0)) revert ClaimLedgerInvalidAccount(rosterAdmin);
        // The rosters are administered by ROSTER_ROLE (the timelock), not by the operator: every
        // grant and revocation is a CallScheduled announcement, then a RoleGranted/RoleRevoked
        // event sent by the timelock, which the auditor replays.
        _setRoleAdmin(REVIEWER_ROLE, ROSTER_ROLE);
        _setRoleAdmin(JUROR_ROLE, ROSTER_ROLE);
        _grantRole(OPERATOR_ROLE, initialOperator);
        _grantRole(ROSTER_ROLE, rosterAdmin);
    }

    /// @inheritdoc IClaimLedger
    function version() external pure returns (string memory) {
        return "2.0.0";
    }

    // ───────────────────────────── rule sets ─────────────────────────────

    /// @inheritdoc IClaimLedger
    function anchorRuleSet(
        bytes32 ruleSetHash,
        uint32 noticeSeconds,
        uint8 reviewQuorum,
        uint8 jurySize,
        uint8 minTurnout,
        uint32 commitSeconds,
        uint32 revealSeconds,
        uint16 feeBps,
        uint64 perCaseCapFen,
        uint64 annualCapFen
    ) external onlyRole(OPERATOR_ROLE) {
        if (ruleSetHash == bytes32(0)) revert ClaimLedgerZeroArgument(_ARG_RULE_SET);
        // reviewQuorum != 0 marks an anchored rule set.
        if (_ruleSets[ruleSetHash].reviewQuorum != 0) revert ClaimLedgerRuleSetExists(ruleSetHash);
        if (
            noticeSeconds == 0 || commitSeconds == 0 || revealSeconds == 0 || reviewQuorum == 0 || jurySize == 0
                || minTurnout == 0 || minTurnout > jurySize || feeBps > _MAX_FEE_BPS
        ) revert ClaimLedgerInvalidRuleSet(ruleSetHash);
        uint64 anchoredAt = uint64(block.timestamp);
        // The first rule set governs a deployment with no claim and no period yet: nothing to protect.
        uint64 effectiveAt = _ruleSetOrder.length == 0 ? anchoredAt : anchoredAt + RULE_SET_DELAY;
        _ruleSets[ruleSetHash] = RuleSet({
            noticeSeconds: noticeSeconds,
            reviewQuorum: reviewQuorum,
            jurySize: jurySize,
            minTurnout: minTurnout,
            commitSeconds: commitSeconds,
            revealSeconds: revealSeconds,
            retired: false,
            feeBps: feeBps,
            perCaseCapFen: perCaseCapFen,
            annualCapFen: annualCapFen,
            anchoredAt: anchoredAt,
            effectiveAt: effectiveAt
        });
        _ruleSetOrder.push(ruleSetHash);
        _ruleSetEffectiveAt.push(effectiveAt);
        emit RuleSetAnchored(
            ruleSetHash,
            noticeSeconds,
            reviewQuorum,
            jurySize,
            minTurnout,
            commitSeconds,
            revealSeconds,
            feeBps,
            perCaseCapFen,
            annualCapFen,
            effectiveAt
        );
    }

    /// @inheritdoc IClaimLedger
    function retireRuleSet(bytes32 ruleSetHash) external onlyRole(OPERATOR_ROLE) {
        RuleSet storage rules = _ruleSet(ruleSetHash);
        if (rules.retired) revert ClaimLedgerRuleSetRetired(ruleSetHash);
        rules.retired = true;
        emit RuleSetRetired(ruleSetHash);
    }

    /// @inheritdoc IClaimLedger
    function declareConflict(address account, bytes32 memberCommitment) external onlyRole(OPERATOR_ROLE) {
        if (account == address(0)) revert ClaimLedgerInvalidAccount(account);
        if (memberCommitment == bytes32(0)) revert ClaimLedgerZeroArgument(_ARG_MEMBER);
        bytes32 key = _conflictKey(account, memberCommitment);
        if (_conflicts[key] != 0) revert ClaimLedgerConflictExists(account, memberCommitment);
        _conflicts[key] = block.number;
        emit ConflictDeclared(account, memberCommitment);
    }

    // ───────────────────────────── filing and review ─────────────────────────────

    /// @inheritdoc IClaimLedger
    function fileClaim(
        bytes32 claimId,
        bytes32 memberCommitment,
        bytes32 evidenceRoot,
        bytes32 ruleSetHash,
        uint64 payoutFen
    ) external onlyRole(OPERATOR_ROLE) returns (bytes32) {
        Claim storage c = _checkedFiling(claimId, memberCommitment, evidenceRoot, ruleSetHash, payoutFen);
        _requireOpenRuleSet(ruleSetHash);
        if (c.state != ClaimState.NONE) revert ClaimLedgerClaimExists(claimId);
        _file(c, claimId, memberCommitment, evidenceRoot, ruleSetHash, payoutFen);
        return claimId;
    }

    /// @inheritdoc IClaimLedger
    function openReview(bytes32 claimId) external onlyRole(OPERATOR_ROLE) {
        _openReview(_claim(claimId), claimId);
    }

    /// @inheritdoc IClaimLedger
    function fileForReview(ClaimFiling[] calldata filings) external onlyRole(OPERATOR_ROLE) returns (uint256 opened) {
        for (uint256 i = 0; i < filings.length; ++i) {
            ClaimFiling calldata f = filings[i];
            Claim storage c =
                _checkedFiling(f.claimId, f.memberCommitment, f.evidenceRoot, f.ruleSetHash, f.payoutFen);
            if (c.state == ClaimState.NONE) {
                _requireOpenRuleSet(f.ruleSetHash);
                _file(c, f.claimId, f.memberCommitment, f.evidenceRoot, f.ruleSetHash, f.payoutFen);
            }
            if (c.state == ClaimState.FILED) {
                _openReview(c, f.claimId);
                ++opened;
            }
        }
    }

    /// @inheritdoc IClaimLedger
    function submitVerdict(bytes32 claimId, Verdict calldata v, bytes calldata signature)
        external
        returns (ClaimState)
    {
        if (v.claimId != claimId) revert ClaimLedgerVerdictClaimMismatch(claimId, v.claimId);
        if (v.verdict != _APPROVE && v.verdict != _REJECT) revert ClaimLedgerInvalidVerdict(v.verdict);
        if (block.timestamp > v.deadline) revert ClaimLedgerVerdictExpired(v.deadline, block.timestamp);
        bytes32 digest = _hashVerdict(v);
        address reviewer = ECDSA.recover(digest, signature);
        if (!hasRole(REVIEWER_ROLE, reviewer)) revert ClaimLedgerSignerNotReviewer(reviewer);
        _useCheckedNonce(reviewer, v.nonce);

        Claim storage c = _claim(claimId);
        if (c.state != ClaimState.UNDER_REVIEW) {
            revert ClaimLedgerWrongState(claimId, c.state, ClaimState.UNDER_REVIEW);
        }
        if (v.ruleSetHash != c.ruleSetHash) {
            revert ClaimLedgerVerdictRuleSetMismatch(claimId, c.ruleSetHash, v.ruleSetHash);
        }
        if (_conflicts[_conflictKey(reviewer, c.memberCommitment)] != 0) {
            revert ClaimLedgerReviewerConflicted(claimId, reviewer);
        }
        if (_verdictDigests[claimId][reviewer] != bytes32(0)) revert ClaimLedgerAlreadyReviewed(claimId, reviewer);

        _verdictDigests[claimId][reviewer] = digest;
        if (v.verdict == _APPROVE) {
            c.reviewApprovals += 1;
        } else {
            c.reviewRejections += 1;
        }
        emit VerdictRecorded(
            claimId, reviewer, v.verdict, v.reasonCode, v.reportHash, digest, v.ruleSetHash, v.nonce, v.deadline, signature
        );

        // Unanimity of the quorum: the first `reviewQuorum` verdicts decide, and only all-approve approves.
        if (c.reviewApprovals + c.reviewRejections == _ruleSets[c.ruleSetHash].reviewQuorum) {
            if (c.reviewRejections == 0) {
                c.noticeEnds = uint64(block.timestamp) + _ruleSets[c.ruleSetHash].noticeSeconds;
                c.state = ClaimState.IN_NOTICE;
            } else {
                c.state = ClaimState.REJECTED;
            }
            emit ReviewDecided(claimId, c.state, c.reviewApprovals, c.reviewRejections, c.noticeEnds);
        }
        return c.state;
    }

    // ───────────────────────────── notice and appeal ─────────────────────────────

    /// @inheritdoc IClaimLedger
    function object(bytes32 claimId, bytes32 objectorCommitment) external onlyRole(OPERATOR_ROLE) {
        if (objectorCommitment == bytes32(0)) revert ClaimLedgerZeroArgument(_ARG_OBJECTOR);
        Claim storage c = _claim(claimId);
        _move(c, claimId, ClaimState.IN_NOTICE, ClaimState.DISPUTED);
        if (block.timestamp >= c.noticeEnds) revert ClaimLedgerNoticeClosed(claimId, c.noticeEnds, block.timestamp);
        c.objectorCommitment = objectorCommitment;
        emit ObjectionRecorded(claimId, objectorCommitment);
        _scheduleDraw(c, claimId);
    }

    /// @inheritdoc IClaimLedger
    function finalizeNotice(bytes32 claimId) external {
        Claim storage c = _claim(claimId);
        _move(c, claimId, ClaimState.IN_NOTICE, ClaimState.APPROVED);
        if (block.timestamp < c.noticeEnds) revert ClaimLedgerNoticeOpen(claimId, c.noticeEnds, block.timestamp);
        _recordApproval(c.payoutFen);
        emit NoticeFinalized(claimId);
    }

    /// @inheritdoc IClaimLedger
    function appeal(bytes32 claimId) external onlyRole(OPERATOR_ROLE) {
        Claim storage c = _claim(claimId);
        _move(c, claimId, ClaimState.REJECTED, ClaimState.DISPUTED);
        // juryRound != 0: the rejection came from a jury, which is final.
        if (c.appealed || c.juryRound != 0) revert ClaimLedgerAppealNotAllowed(claimId);
        c.appealed = true;
        emit ClaimAppealed(claimId);
        _scheduleDraw(c, claimId);
    }

    // ───────────────────────────── jury ─────────────────────────────

    /// @inheritdoc IClaimLedger
    function drawJury(bytes32 claimId) external returns (uint32 round) {
        Claim storage c = _claim(claimId);
        if (c.state != ClaimState.DISPUTED) revert ClaimLedgerWrongState(claimId, c.state, ClaimState.DISPUTED);
        uint64 drawBlock = c.drawBlock;
        if (drawBlock == 0) revert ClaimLedgerJuryAlreadyDrawn(claimId, c.juryRound);
        if (block.number <= drawBlock) revert ClaimLedgerDrawTooEarly(claimId, drawBlock, block.number);
        if (block.number > drawBlock + 256 || _rosterChangedAt >= drawBlock) {
            // blockhash(drawBlock) is gone, or the roster changed once the seed could be known:
            // fix a new future block instead of drawing from a seed someone could react to.
            _scheduleDraw(c, claimId);
            return 0;
        }
        round = c.juryRound + 1;
        bytes32 seed = keccak256(abi.encode(blockhash(drawBlock), claimId, round));
        RuleSet storage rules = _ruleSets[c.ruleSetHash];
        address[] memory seated = _selectJurors(c, claimId, seed, rules.jurySize, drawBlock);
        bytes32 roundKey = _roundKey(claimId, round);
        for (uint256 k = 0; k < seated.length; ++k) {
            address juror = seated[k];
            _ballots[_ballotKey(claimId, round, juror)].drawn = true;
            _seated[_conflictKey(juror, claimId)] = true;
            _seats[roundKey].push(juror);
        }
        uint64 commitEnds = uint64(block.timestamp) + rules.commitSeconds;
        uint64 revealEnds = commitEnds + rules.revealSeconds;
        c.drawBlock = 0;
        c.juryRound = round;
        c.commitEnds = commitEnds;
        c.revealEnds = revealEnds;
        c.committedVotes = 0;
        c.revealedVotes = 0;
        c.juryApprovals = 0;
        emit JuryDrawn(claimId, round, seed, seated, commitEnds, revealEnds);
    }

    /// @inheritdoc IClaimLedger
    function commitVote(bytes32 claimId, bytes32 commitment) external {
        _commit(claimId, msg.sender, commitment);
    }

    /// @inheritdoc IClaimLedger
    function commitVoteBySig(bytes32 claimId, address juror, bytes32 commitment, bytes calldata signature) external {
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(VOTE_COMMIT_TYPEHASH, claimId, _claims[claimId].juryRound, commitment))
        );
        address signer = ECDSA.recover(digest, signature);
        if (signer != juror) revert ClaimLedgerVoteSignerMismatch(juror, signer);
        _commit(claimId, juror, commitment);
    }

    /// @inheritdoc IClaimLedger
    function revealVote(bytes32 claimId, address juror, bool approve, bytes32 salt) external {
        Claim storage c = _openRound(claimId);
        uint32 round = c.juryRound;
        Ballot storage b = _drawnBallot(claimId, round, juror);
        if (block.timestamp < c.commitEnds || block.timestamp >= c.revealEnds) {
            revert ClaimLedgerRevealClosed(claimId, c.commitEnds, c.revealEnds, block.timestamp);
        }
        if (b.commitment == bytes32(0)) revert ClaimLedgerNoCommitment(claimId, juror);
        if (b.revealed) revert ClaimLedgerAlreadyRevealed(claimId, juror);
        // The commitment binds claim, round and juror, and the juror signed it (or sent it): a
        // matching opening can only be the juror's own vote, whoever relays it.
        if (keccak256(abi.encode(claimId, round, juror, approve, salt)) != b.commitment) {
            revert ClaimLedgerCommitmentMismatch(claimId, juror);
        }
        b.revealed = true;
        b.approve = approve;
        c.revealedVotes += 1;
        if (approve) c.juryApprovals += 1;
        emit VoteRevealed(claimId, round, juror, approve, salt);
    }

    /// @inheritdoc IClaimLedger
    function tallyJury(bytes32 claimId) external returns (ClaimState) {
        Claim storage c = _openRound(claimId);
        if (block.timestamp < c.revealEnds) revert ClaimLedgerVotingOpen(claimId, c.revealEnds, block.timestamp);
        RuleSet storage rules = _ruleSets[c.ruleSetHash];
        uint8 revealed = c.revealedVotes;
        uint32 round = c.juryRound;
        c.commitEnds = 0;
        c.revealEnds = 0;
        address[] storage seats = _seats[_roundKey(claimId, round)];
        for (uint256 k = 0; k < seats.length; ++k) {
            address juror = seats[k];
            Ballot storage b = _ballots[_ballotKey(claimId, round, juror)];
            if (b.commitment == bytes32(0)) {
                _absences[juror] += 1;
                emit JurorAbsent(claimId, round, juror);
            } else if (!b.revealed) {
                _absences[juror] += 1;
                emit VoteNotRevealed(claimId, round, juror);
            }
        }
        if (revealed < rules.minTurnout) {
            c.committedVotes = 0;
            c.revealedVotes = 0;
            c.juryApprovals = 0;
            emit JuryRoundVoided(claimId, round, revealed, rules.minTurnout);
            _scheduleDraw(c, claimId);
            return ClaimState.DISPUTED;
        }
        uint8 approvals = c.juryApprovals;
        // Strict majority of revealed votes approves; a tie rejects.
        ClaimState outcome = uint256(approvals) * 2 > revealed ? ClaimState.APPROVED : ClaimState.REJECTED;
        c.state = outcome;
        if (outcome == ClaimState.APPROVED) _recordApproval(c.payoutFen);
        emit JuryTallied(claimId, round, outcome, approvals, revealed - approvals, rules.jurySize);
        return outcome;
    }

    // ───────────────────────────── withdrawal and payout ─────────────────────────────

    /// @inheritdoc IClaimLedger
    function withdrawClaim(bytes32 claimId) external onlyRole(OPERATOR_ROLE) {
        Claim storage c = _claim(claimId);
        ClaimState from = c.state;
        if (
            from != ClaimState.FILED && from != ClaimState.UNDER_REVIEW && from != ClaimState.IN_NOTICE
                && from != ClaimState.DISPUTED
        ) revert ClaimLedgerInvalidTransition(claimId, from, ClaimState.WITHDRAWN);
        c.state = ClaimState.WITHDRAWN;
        c.commitEnds = 0; // closes an open jury round: no vote or tally may follow
        c.revealEnds = 0;
        c.drawBlock = 0; // and cancels a scheduled draw
        emit ClaimWithdrawn(claimId, from);
    }

    /// @inheritdoc IClaimLedger
    function recordPayout(bytes32 claimId, bytes32 paymentRef) external onlyRole(OPERATOR_ROLE) {
        if (paymentRef == bytes32(0)) revert ClaimLedgerZeroArgument(_ARG_PAYMENT);
        Claim storage c = _claim(claimId);
        _move(c, claimId, ClaimState.APPROVED, ClaimState.PAID);
        c.paymentRef = paymentRef;
        emit PayoutRecorded(claimId, paymentRef, c.payoutFen);
    }

    // ───────────────────────────── views ─────────────────────────────

    /// @inheritdoc IClaimLedger
    function claim(bytes32 claimId) external view returns (Claim memory) {
        return _claim(claimId);
    }

    /// @inheritdoc IClaimLedger
    function state(bytes32 claimId) external view returns (ClaimState) {
        return _claims[claimId].state;
    }

    /// @inheritdoc IClaimLedger
    function ruleSet(bytes32 ruleSetHash) external view returns (RuleSet memory) {
        return _ruleSet(ruleSetHash);
    }

    /// @inheritdoc IClaimLedger
    function ruleSetInForce(uint64 at) external view returns (bytes32) {
        return _ruleSetInForce(at);
    }

    /// @inheritdoc IClaimLedger
    function approvalTotals(uint64 fromTime, uint64 toTime) external view returns (uint256 count, uint256 payoutsFen) {
        if (toTime <= fromTime) return (0, 0);
        uint256 upTo = _approvalsBefore(toTime);
        uint256 before = _approvalsBefore(fromTime);
        count = (upTo >> _PAYOUT_BITS) - (before >> _PAYOUT_BITS);
        payoutsFen = (upTo & _PAYOUT_MASK) - (before & _PAYOUT_MASK);
    }

    /// @inheritdoc IClaimLedger
    function hashVerdict(Verdict calldata v) external view returns (bytes32) {
        return _hashVerdict(v);
    }

    /// @inheritdoc IClaimLedger
    function jurors() external view returns (address[] memory) {
        return _jurors;
    }

    /// @inheritdoc IClaimLedger
    function absences(address juror) external view returns (uint32) {
        return _absences[juror];
    }

    /// @inheritdoc IClaimLedger
    function verdictDigest(bytes32 claimId, address reviewer) external view returns (bytes32) {
        return _verdictDigests[claimId][reviewer];
    }

    /// @inheritdoc IClaimLedger
    function ballot(bytes32 claimId, uint32 round, address juror) external view returns (Ballot memory) {
        return _ballots[_ballotKey(claimId, round, juror)];
    }

    /// @inheritdoc IClaimLedger
    function isConflicted(address account, bytes32 memberCommitment) external view returns (bool) {
        return _conflicts[_conflictKey(account, memberCommitment)] != 0;
    }

    /// @inheritdoc IClaimLedger
    function nonces(address signer) public view override(IClaimLedger, Nonces) returns (uint256) {
        return super.nonces(signer);
    }

    /// @notice ERC-165: also answers for {IClaimLedger}.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IClaimLedger).interfaceId || super.supportsInterface(interfaceId);
    }

    // ───────────────────────────── internals ─────────────────────────────

    function _claim(bytes32 claimId) private view returns (Claim storage c) {
        c = _claims[claimId];
        if (c.state == ClaimState.NONE) revert ClaimLedgerUnknownClaim(claimId);
    }

    function _ruleSet(bytes32 ruleSetHash) private view returns (RuleSet storage rules) {
        rules = _ruleSets[ruleSetHash];
        if (rules.reviewQuorum == 0) revert ClaimLedgerUnknownRuleSet(ruleSetHash);
    }

    /// The argument checks of a filing; the claim's storage slot (any state) when they pass.
    function _checkedFiling(
        bytes32 claimId,
        bytes32 memberCommitment,
        bytes32 evidenceRoot,
        bytes32 ruleSetHash,
        uint64 payoutFen
    ) private view returns (Claim storage) {
        if (memberCommitment == bytes32(0)) revert ClaimLedgerZeroArgument(_ARG_MEMBER);
        if (evidenceRoot == bytes32(0)) revert ClaimLedgerZeroArgument(_ARG_EVIDENCE);
        if (payoutFen == 0) revert ClaimLedgerZeroPayout();
        bytes32 expected = _claimIdOf(memberCommitment, evidenceRoot, ruleSetHash, payoutFen);
        if (claimId != expected) revert ClaimLedgerClaimIdMismatch(expected, claimId);
        return _claims[claimId];
    }

    /// A new claim needs the anchored rule set in force now (`ruleSetInForce`), not retired.
    function _requireOpenRuleSet(bytes32 ruleSetHash) private view {
        RuleSet storage rules = _ruleSet(ruleSetHash);
        if (rules.retired) revert ClaimLedgerRuleSetRetired(ruleSetHash);
        if (block.timestamp < rules.effectiveAt) {
            revert ClaimLedgerRuleSetNotInForce(ruleSetHash, rules.effectiveAt, block.timestamp);
        }
        bytes32 inForce = _ruleSetInForce(uint64(block.timestamp));
        if (inForce != ruleSetHash) revert ClaimLedgerRuleSetSuperseded(ruleSetHash, inForce);
    }

    /// The last-anchored rule set with effectiveAt <= at (zero when none): effectiveAt is
    /// non-decreasing in anchoring order (a fixed delay after each anchoring block's time).
    function _ruleSetInForce(uint64 at) private view returns (bytes32) {
        uint256 low = 0;
        uint256 high = _ruleSetEffectiveAt.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (_ruleSetEffectiveAt[mid] > at) {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        return low == 0 ? bytes32(0) : _ruleSetOrder[low - 1];
    }

    /// Append one final approval at this block's time to the cumulative record.
    function _recordApproval(uint64 payoutFen) private {
        uint256 n = _approvals.length;
        uint256 previous = 0;
        if (n > 0) previous = _approvals[n - 1].cumulative;
        uint256 next = previous + (uint256(1) << _PAYOUT_BITS) + payoutFen;
        _approvals.push(ApprovalMark({at: uint48(block.timestamp), cumulative: uint208(next)}));
    }

    /// Cumulative (count << 144 | Σ payoutFen) of the approvals with block time < `time`: binary
    /// search for the first mark at or after `time` (marks are in block-time order).
    function _approvalsBefore(uint64 time) private view returns (uint256) {
        uint256 low = 0;
        uint256 high = _approvals.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (_approvals[mid].at >= time) {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        return low == 0 ? 0 : _approvals[low - 1].cumulative;
    }

    /// NONE → FILED for a claim whose arguments `_checkedFiling` and `_requireOpenRuleSet` accepted.
    function _file(
        Claim storage c,
        bytes32 claimId,
        bytes32 memberCommitment,
        bytes32 evidenceRoot,
        bytes32 ruleSetHash,
        uint64 payoutFen
    ) private {
        c.memberCommitment = memberCommitment;
        c.evidenceRoot = evidenceRoot;
        c.ruleSetHash = ruleSetHash;
        c.payoutFen = payoutFen;
        c.filedAt = uint64(block.timestamp);
        c.state = ClaimState.FILED;
        emit ClaimFiled(claimId, memberCommitment, ruleSetHash, evidenceRoot, payoutFen);
    }

    function _openReview(Claim storage c, bytes32 claimId) private {
        _move(c, claimId, ClaimState.FILED, ClaimState.UNDER_REVIEW);
        emit ReviewOpened(claimId);
    }

    /// The single place where a transition is checked and applied (callers emit right after).
    function _move(Claim storage c, bytes32 claimId, ClaimState from, ClaimState to) private {
        if (c.state != from) revert ClaimLedgerInvalidTransition(claimId, c.state, to);
        c.state = to;
    }

    function _openRound(bytes32 claimId) private view returns (Claim storage c) {
        c = _claim(claimId);
        if (c.state != ClaimState.DISPUTED) revert ClaimLedgerWrongState(claimId, c.state, ClaimState.DISPUTED);
        if (c.commitEnds == 0) revert ClaimLedgerNoJury(claimId);
    }

    function _drawnBallot(bytes32 claimId, uint32 round, address juror) private view returns (Ballot storage b) {
        b = _ballots[_ballotKey(claimId, round, juror)];
        if (!b.drawn) revert ClaimLedgerNotDrawn(claimId, juror);
    }

    /// Record `juror`'s commitment (authenticated by the caller: the juror itself or its signature).
    function _commit(bytes32 claimId, address juror, bytes32 commitment) private {
        if (commitment == bytes32(0)) revert ClaimLedgerZeroArgument(_ARG_VOTE);
        Claim storage c = _openRound(claimId);
        Ballot storage b = _drawnBallot(claimId, c.juryRound, juror);
        if (block.timestamp >= c.commitEnds) revert ClaimLedgerCommitClosed(claimId, c.commitEnds, block.timestamp);
        if (b.commitment != bytes32(0)) revert ClaimLedgerAlreadyCommitted(claimId, juror);
        b.commitment = commitment;
        c.committedVotes += 1;
        emit VoteCommitted(claimId, c.juryRound, juror, commitment);
    }

    /// Fix the block whose hash seeds the next round's draw (JURY_DRAW_DELAY blocks ahead).
    function _scheduleDraw(Claim storage c, bytes32 claimId) private {
        uint64 drawBlock = uint64(block.number) + JURY_DRAW_DELAY;
        c.drawBlock = drawBlock;
        emit JuryDrawScheduled(claimId, c.juryRound + 1, drawBlock);
    }

    /**
     * Partial Fisher–Yates over a memory copy of the roster: position i takes a uniformly chosen
     * remaining juror (`keccak256(abi.encode(seed, i))`); it is seated unless excluded (related to
     * the claimant or objector by a conflict declared before the seed block, a reviewer of the
     * claim, or seated in an earlier round).
     */
    function _selectJurors(Claim storage c, bytes32 claimId, bytes32 seed, uint256 size, uint256 drawBlock)
        private
        view
        returns (address[] memory seated)
    {
        address[] memory a = _jurors;
        uint256 n = a.length;
        seated = new address[](size);
        uint256 count = 0;
        for (uint256 i = 0; i < n && count < size; ++i) {
            // The seed hashes a block fixed before anyone could know it (`drawBlock`, JURY_DRAW_DELAY
            // blocks after the scheduling); its producer's residual influence is an audited trust
            // assumption (contracts/README.md, Auditor notes). An unbiased-enough shuffle index:
            // slither-disable-next-line weak-prng
            uint256 j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i);
            address candidate = a[j];
            a[j] = a[i];
            a[i] = candidate;
            if (
                _declaredBefore(_conflictKey(candidate, c.memberCommitment), drawBlock)
                    || (c.objectorCommitment != bytes32(0)
                        && _declaredBefore(_conflictKey(candidate, c.objectorCommitment), drawBlock))
                    || _verdictDigests[claimId][candidate] != bytes32(0) || _seated[_conflictKey(candidate, claimId)]
            ) continue;
            seated[count++] = candidate;
        }
        // The loop ended early only when every seat was filled: otherwise `count` is every eligible juror.
        if (count < size) revert ClaimLedgerNotEnoughJurors(count, size);
    }

    /// A conflict declared before the seed block (so before its hash could be known).
    function _declaredBefore(bytes32 key, uint256 drawBlock) private view returns (bool) {
        uint256 at = _conflicts[key];
        return at != 0 && at < drawBlock;
    }

    /// Keep `_jurors` in step with JUROR_ROLE (append on grant).
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == JUROR_ROLE) {
            _jurors.push(account);
            _jurorSlot[account] = _jurors.length;
            _rosterChangedAt = block.number;
        }
    }

    /// Keep `_jurors` in step with JUROR_ROLE (swap-and-pop on revocation or renunciation).
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == JUROR_ROLE) {
            uint256 slot = _jurorSlot[account];
            uint256 last = _jurors.length;
            if (slot != last) {
                address moved = _jurors[last - 1];
                _jurors[slot - 1] = moved;
                _jurorSlot[moved] = slot;
            }
            _jurors.pop();
            delete _jurorSlot[account];
            _rosterChangedAt = block.number;
        }
    }

    function _hashVerdict(Verdict calldata v) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    VERDICT_TYPEHASH, v.claimId, v.verdict, v.reasonCode, v.reportHash, v.ruleSetHash, v.nonce, v.deadline
                )
            )
        );
    }

    function _claimIdOf(bytes32 memberCommitment, bytes32 evidenceRoot, bytes32 ruleSetHash, uint64 payoutFen)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(memberCommitment, evidenceRoot, ruleSetHash, payoutFen));
    }

    function _roundKey(bytes32 claimId, uint32 round) private pure returns (bytes32) {
        return keccak256(abi.encode(claimId, round));
    }

    function _ballotKey(bytes32 claimId, uint32 round, address juror) private pure returns (bytes32) {
        return keccak256(abi.encode(claimId, round, juror));
    }

    function _conflictKey(address account, bytes32 memberCommitment) private pure returns (bytes32) {
        return keccak256(abi.encode(account, memberCommitment));
    }
}
