// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IClaimLedger
 * @notice The on-chain state machine of Hubao claims: filing, review by signed verdicts, public
 * notice, jury (commit-reveal) and payout, under versioned rule sets anchored by hash.
 *
 * Lifecycle (DESIGN.md "Plan rules"; every edge checks the current state, any other move reverts
 * `ClaimLedgerInvalidTransition`):
 *
 *     NONE ──fileClaim──▶ FILED ──openReview──▶ UNDER_REVIEW ──(quorum verdicts)──▶ IN_NOTICE | REJECTED
 *     IN_NOTICE ──object──▶ DISPUTED        IN_NOTICE ──finalizeNotice (after the window)──▶ APPROVED
 *     REJECTED ──appeal (once, only a review rejection)──▶ DISPUTED
 *     DISPUTED ──drawJury, commitVote(BySig), revealVote, tallyJury──▶ APPROVED | REJECTED (final)
 *     APPROVED ──recordPayout──▶ PAID
 *     FILED | UNDER_REVIEW | IN_NOTICE | DISPUTED ──withdrawClaim──▶ WITHDRAWN
 *
 * Decision rules:
 * - Review: the claim is decided by the first `reviewQuorum` distinct reviewers' verdicts, by
 *   unanimity: IN_NOTICE when all of them approve, REJECTED as soon as the quorum is reached with
 *   at least one rejection. (Every member pays for an approved claim, so approval needs every
 *   reviewer of the quorum; a rejection can be appealed to a jury.)
 * - Jury: simple majority of *revealed* votes; a tie rejects (the claim has not convinced a
 *   majority). Fewer than `minTurnout` revealed votes voids the round: the claim stays DISPUTED
 *   and a new draw is scheduled (a new round), so a passive jury cannot strand a claim.
 * - Jury draw: on chain. Entering DISPUTED (objection, appeal) or voiding a round fixes a future
 *   block `drawBlock = block.number + JURY_DRAW_DELAY` (`JuryDrawScheduled`); once it is past,
 *   anyone calls `drawJury`, which seats `jurySize` jurors from the on-chain roster (`jurors()`)
 *   by a partial Fisher–Yates shuffle seeded with `keccak256(abi.encode(blockhash(drawBlock),
 *   claimId, round))`, skipping accounts related to the claimant or objector, the claim's
 *   reviewers and jurors of its earlier rounds.
 * - Withdrawal is operator-only: members have no on-chain key (they are salted commitments), so
 *   the operator relays the claimant's request exactly as it relays the filing.
 *
 * Privacy: members, objectors, evidence, reports and payment references are `bytes32`
 * commitments; nothing personal, no plaintext CID and no document hash is stored or emitted.
 *
 * Roles (OpenZeppelin AccessControlDefaultAdminRules: one default admin, changed in two delayed
 * steps): the admin grants `OPERATOR_ROLE` and `ROSTER_ROLE`; `ROSTER_ROLE` (held by the
 * RosterTimelock, so every change is announced a public delay ahead) grants and revokes
 * `REVIEWER_ROLE` and `JUROR_ROLE` (the rosters). Anyone may renounce their own role at once.
 *
 * EIP-712 domain: name "Hubao", version "2" (the major of `version()`), the chain id and this
 * contract's address; it is rebuilt when the chain id changes (fork), so verdicts signed for
 * another chain or another deployment never verify here.
 */
interface IClaimLedger {
    /// @notice States of a claim; `NONE` means "never filed".
    enum ClaimState {
        NONE,
        FILED,
        UNDER_REVIEW,
        REJECTED,
        IN_NOTICE,
        DISPUTED,
        APPROVED,
        PAID,
        WITHDRAWN
    }

    /// @notice The claim parameters of one anchored rule set.
    struct RuleSet {
        /// Length of the public-notice window.
        uint32 noticeSeconds;
        /// Distinct reviewer verdicts that decide a review (at least 1).
        uint8 reviewQuorum;
        /// Jurors per draw (at least 1).
        uint8 jurySize;
        /// Revealed votes a jury round needs to decide (1..jurySize).
        uint8 minTurnout;
        /// Length of the jury commit window, from the draw.
        uint32 commitSeconds;
        /// Length of the jury reveal window, from the end of the commit window.
        uint32 revealSeconds;
        /// Retired rule sets accept no new claims; claims already filed keep them.
        bool retired;
        /// Management fee of the periods apportioned under this rule set, in basis points (≤ 10000).
        uint16 feeBps;
        /// Most a member pays per approved claim of a period, in fen.
        uint64 perCaseCapFen;
        /// Most a member pays in a calendar year, in fen.
        uint64 annualCapFen;
        /// Block timestamp of the anchoring.
        uint64 anchoredAt;
        /// When the rule set comes into force: `anchoredAt + RULE_SET_DELAY()` (`anchoredAt` for the
        /// first rule set of the deployment, anchored before any claim or period can exist).
        uint64 effectiveAt;
    }

    /// @notice One claim as stored on chain.
    struct Claim {
        /// Salted commitment of the claimant (never an id or a name).
        bytes32 memberCommitment;
        /// Commitment (Merkle root) of the claim's evidence.
        bytes32 evidenceRoot;
        /// Hash of the rule set the claim is decided under.
        bytes32 ruleSetHash;
        /// Salted commitment of the objector, zero unless an objection was recorded.
        bytes32 objectorCommitment;
        /// Commitment of the payment record, zero until paid.
        bytes32 paymentRef;
        /// Lump-sum payout in fen (RMB 0.01).
        uint64 payoutFen;
        /// Block timestamp of the filing.
        uint64 filedAt;
        /// End of the public-notice window (objections while `block.timestamp < noticeEnds`).
        uint64 noticeEnds;
        /// End of the current jury round's commit window, zero when no round is open.
        uint64 commitEnds;
        /// End of the current jury round's reveal window, zero when no round is open.
        uint64 revealEnds;
        /// Current state.
        ClaimState state;
        /// Approving review verdicts recorded.
        uint8 reviewApprovals;
        /// Rejecting review verdicts recorded.
        uint8 reviewRejections;
        /// Whether the claim has used its one appeal.
        bool appealed;
        /// Number of jury rounds drawn so far (the current or last round's number).
        uint32 juryRound;
        /// Votes committed in the current round.
        uint8 committedVotes;
        /// Votes revealed in the current round.
        uint8 revealedVotes;
        /// Approving votes among those revealed in the current round.
        uint8 juryApprovals;
        /// Block whose hash seeds the next round's draw, zero when no draw is scheduled.
        uint64 drawBlock;
    }

    /**
     * @notice A reviewer's signed verdict (EIP-712 type
     * `Verdict(bytes32 claimId,uint8 verdict,uint16 reasonCode,bytes32 reportHash,bytes32 ruleSetHash,uint256 nonce,uint256 deadline)`).
     */
    struct Verdict {
        /// The claim reviewed.
        bytes32 claimId;
        /// 1 = APPROVE, 2 = REJECT.
        uint8 verdict;
        /// Reason code of the plan's enum (0 for approvals by convention; not interpreted on chain).
        uint16 reasonCode;
        /// Commitment of the review report (never a plaintext CID).
        bytes32 reportHash;
        /// The claim's rule set, so a verdict cannot be carried over to other rules.
        bytes32 ruleSetHash;
        /// The signer's next nonce (`nonces(signer)`): each signature is usable once.
        uint256 nonce;
        /// Last block timestamp at which the verdict may be recorded.
        uint256 deadline;
    }

    /// @notice One claim of a `fileForReview` batch: the arguments of `fileClaim`.
    struct ClaimFiling {
        /// `claimIdOf(memberCommitment, evidenceRoot, ruleSetHash, payoutFen)`.
        bytes32 claimId;
        /// Salted commitment of the claimant.
        bytes32 memberCommitment;
        /// Commitment (Merkle root) of the claim's evidence.
        bytes32 evidenceRoot;
        /// Hash of the rule set the claim is decided under.
        bytes32 ruleSetHash;
        /// Lump-sum payout in fen.
        uint64 payoutFen;
    }

    /// @notice One juror's ballot in one jury round.
    struct Ballot {
        /// `keccak256(abi.encode(claimId, round, juror, approve, salt))`, zero until committed.
        bytes32 commitment;
        /// Whether the juror was drawn for the round.
        bool drawn;
        /// Whether the vote was revealed.
        bool revealed;
        /// The revealed vote (meaningful only when `revealed`).
        bool approve;
    }

    // ───────────────────────────── events ─────────────────────────────

    /// @notice Rule set `ruleSetHash` was anchored with these claim and share parameters; it is in
    /// force from `effectiveAt` (see `ruleSetInForce`).
    event RuleSetAnchored(
        bytes32 indexed ruleSetHash,
        uint32 noticeSeconds,
        uint8 reviewQuorum,
        uint8 jurySize,
        uint8 minTurnout,
        uint32 commitSeconds,
        uint32 revealSeconds,
        uint16 feeBps,
        uint64 perCaseCapFen,
        uint64 annualCapFen,
        uint64 effectiveAt
    );

    /// @notice Rule set `ruleSetHash` was retired: it accepts no new claims.
    event RuleSetRetired(bytes32 indexed ruleSetHash);

    /// @notice `account` was declared related to the member behind `memberCommitment`: it may
    /// neither review nor judge that member's claims, nor judge claims that member objected to.
    event ConflictDeclared(address indexed account, bytes32 indexed memberCommitment);

    /// @notice Claim `claimId` was filed.
    event ClaimFiled(
        bytes32 indexed claimId,
        bytes32 indexed memberCommitment,
        bytes32 indexed ruleSetHash,
        bytes32 evidenceRoot,
        uint64 payoutFen
    );

    /// @notice Claim `claimId` moved FILED → UNDER_REVIEW.
    event ReviewOpened(bytes32 indexed claimId);

    /**
     * @notice `reviewer`'s verdict on `claimId` was recorded; `digest` is its EIP-712 digest.
     * @dev The event carries the whole signed verdict (`claimId` is the verdict's, which the call
     * checked) and its `signature`, so an auditor rebuilds `digest` from the event's fields and
     * recovers the signer from the logs alone, without the recording transaction's calldata.
     */
    event VerdictRecorded(
        bytes32 indexed claimId,
        address indexed reviewer,
        uint8 verdict,
        uint16 reasonCode,
        bytes32 reportHash,
        bytes32 digest,
        bytes32 ruleSetHash,
        uint256 nonce,
        uint256 deadline,
        bytes signature
    );

    /// @notice The review quorum decided `claimId`: `outcome` is IN_NOTICE (with `noticeEnds`) or
    /// REJECTED (`noticeEnds` = 0).
    event ReviewDecided(
        bytes32 indexed claimId, ClaimState outcome, uint8 approvals, uint8 rejections, uint64 noticeEnds
    );

    /// @notice An objection moved `claimId` IN_NOTICE → DISPUTED.
    event ObjectionRecorded(bytes32 indexed claimId, bytes32 objectorCommitment);

    /// @notice The notice window of `claimId` passed without objection: IN_NOTICE → APPROVED.
    event NoticeFinalized(bytes32 indexed claimId);

    /// @notice The claimant appealed the review's rejection: REJECTED → DISPUTED.
    event ClaimAppealed(bytes32 indexed claimId);

    /// @notice The draw of round `round` of `claimId` is seeded by the hash of block `drawBlock`;
    /// `drawJury` may be called once that block is past.
    event JuryDrawScheduled(bytes32 indexed claimId, uint32 round, uint64 drawBlock);

    /**
     * @notice Jury round `round` of `claimId` was drawn on chain: `seed` is
     * `keccak256(abi.encode(blockhash(drawBlock), claimId, round))` and `jurors` the seats in
     * selection order, reproducible from the seed and the roster (`jurors()`) at the draw.
     */
    event JuryDrawn(
        bytes32 indexed claimId,
        uint32 indexed round,
        bytes32 seed,
        address[] jurors,
        uint64 commitEnds,
        uint64 revealEnds
    );

    /// @notice `juror` committed a vote in round `round` of `claimId`.
    event VoteCommitted(bytes32 indexed claimId, uint32 indexed round, address indexed juror, bytes32 commitment);

    /// @notice `juror` revealed its vote in round `round` of `claimId`; `salt` opens its
    /// `VoteCommitted` commitment (`voteCommitment(claimId, juror, approve, salt)`), so the
    /// opening is checkable from the logs alone.
    event VoteRevealed(
        bytes32 indexed claimId, uint32 indexed round, address indexed juror, bool approve, bytes32 salt
    );

    /// @notice Seated `juror` committed no vote in round `round` of `claimId` (counted in `absences`).
    event JurorAbsent(bytes32 indexed claimId, uint32 indexed round, address indexed juror);

    /// @notice Seated `juror` committed but did not reveal in round `round` of `claimId` (counted in `absences`).
    event VoteNotRevealed(bytes32 indexed claimId, uint32 indexed round, address indexed juror);

    /// @notice Round `round` decided `claimId` (final): `outcome` is APPROVED or REJECTED.
    event JuryTallied(
        bytes32 indexed claimId,
        uint32 indexed round,
        ClaimState outcome,
        uint8 approvals,
        uint8 rejections,
        uint8 jurySize
    );

    /// @notice Round `round` of `claimId` had fewer than `minTurnout` revealed votes and was
    /// voided; the claim stays DISPUTED until a new jury is drawn.
    event JuryRoundVoided(bytes32 indexed claimId, uint32 indexed round, uint8 revealed, uint8 minTurnout);

    /// @notice Claim `claimId` was withdrawn from state `from`.
    event ClaimWithdrawn(bytes32 indexed claimId, ClaimState from);

    /// @notice The payout of `claimId` was recorded: APPROVED → PAID.
    event PayoutRecorded(bytes32 indexed claimId, bytes32 paymentRef, uint64 payoutFen);

    // ───────────────────────────── errors ─────────────────────────────

    /// @notice `claimId` cannot move from `from` to `to`.
    error ClaimLedgerInvalidTransition(bytes32 claimId, ClaimState from, ClaimState to);

    /// @notice The action needs `claimId` in state `required`; it is in `current`.
    error ClaimLedgerWrongState(bytes32 claimId, ClaimState current, ClaimState required);

    /// @notice No claim has id `claimId`.
    error ClaimLedgerUnknownClaim(bytes32 claimId);

    /// @notice A claim with id `claimId` already exists.
    error ClaimLedgerClaimExists(bytes32 claimId);

    /// @notice The given claim id is not `claimIdOf` the claim's inputs (`expected`).
    error ClaimLedgerClaimIdMismatch(bytes32 expected, bytes32 given);

    /// @notice A required commitment, root or reference was zero; `argument` names which
    /// (1 member, 2 evidence root, 3 rule-set hash, 4 objector, 5 vote commitment, 6 payment ref).
    error ClaimLedgerZeroArgument(uint8 argument);

    /// @notice A claim was filed with a zero payout.
    error ClaimLedgerZeroPayout();

    /// @notice The zero address was given where an account is needed.
    error ClaimLedgerInvalidAccount(address account);

    /// @notice Rule set `ruleSetHash` is already anchored.
    error ClaimLedgerRuleSetExists(bytes32 ruleSetHash);

    /// @notice Rule set `ruleSetHash` was never anchored.
    error ClaimLedgerUnknownRuleSet(bytes32 ruleSetHash);

    /// @notice Rule set `ruleSetHash` is retired.
    error ClaimLedgerRuleSetRetired(bytes32 ruleSetHash);

    /// @notice The parameters of `ruleSetHash` are out of range (see `anchorRuleSet`).
    error ClaimLedgerInvalidRuleSet(bytes32 ruleSetHash);

    /// @notice Rule set `ruleSetHash` comes into force only at `effectiveAt` (the block's time is `timestamp`).
    error ClaimLedgerRuleSetNotInForce(bytes32 ruleSetHash, uint64 effectiveAt, uint256 timestamp);

    /// @notice Rule set `ruleSetHash` is no longer the one in force: `inForce` came into force after it.
    error ClaimLedgerRuleSetSuperseded(bytes32 ruleSetHash, bytes32 inForce);

    /// @notice `account` is already declared related to `memberCommitment`.
    error ClaimLedgerConflictExists(address account, bytes32 memberCommitment);

    /// @notice The verdict is about `verdictClaimId`, not about `claimId`.
    error ClaimLedgerVerdictClaimMismatch(bytes32 claimId, bytes32 verdictClaimId);

    /// @notice The verdict names rule set `given`; the claim is under `expected`.
    error ClaimLedgerVerdictRuleSetMismatch(bytes32 claimId, bytes32 expected, bytes32 given);

    /// @notice The verdict value is neither 1 (APPROVE) nor 2 (REJECT).
    error ClaimLedgerInvalidVerdict(uint8 verdict);

    /// @notice The verdict's `deadline` has passed (`timestamp` is the block's).
    error ClaimLedgerVerdictExpired(uint256 deadline, uint256 timestamp);

    /// @notice The verdict's signer `signer` does not hold `REVIEWER_ROLE` (also what a signature
    /// made for another chain id or another verifying contract recovers to).
    error ClaimLedgerSignerNotReviewer(address signer);

    /// @notice `reviewer` is declared related to the claimant of `claimId`.
    error ClaimLedgerReviewerConflicted(bytes32 claimId, address reviewer);

    /// @notice `reviewer` already has a verdict on `claimId` (each reviewer counts once).
    error ClaimLedgerAlreadyReviewed(bytes32 claimId, address reviewer);

    /// @notice The notice window of `claimId` is still open until `noticeEnds`.
    error ClaimLedgerNoticeOpen(bytes32 claimId, uint64 noticeEnds, uint256 timestamp);

    /// @notice The notice window of `claimId` closed at `noticeEnds`.
    error ClaimLedgerNoticeClosed(bytes32 claimId, uint64 noticeEnds, uint256 timestamp);

    /// @notice `claimId` cannot be appealed: its one appeal is used, or a jury rejected it (final).
    error ClaimLedgerAppealNotAllowed(bytes32 claimId);

    /// @notice Round `round` of `claimId` is still open (tally it first), or no draw is scheduled.
    error ClaimLedgerJuryAlreadyDrawn(bytes32 claimId, uint32 round);

    /// @notice `claimId` has no open jury round.
    error ClaimLedgerNoJury(bytes32 claimId);

    /// @notice Only `eligible` jurors of the roster may sit on this claim's jury of `needed`.
    error ClaimLedgerNotEnoughJurors(uint256 eligible, uint256 needed);

    /// @notice The draw of `claimId` is seeded by block `drawBlock`, not yet past (`blockNumber`).
    error ClaimLedgerDrawTooEarly(bytes32 claimId, uint64 drawBlock, uint256 blockNumber);

    /// @notice The `VoteCommit` signature for `juror` was made by `signer`.
    error ClaimLedgerVoteSignerMismatch(address juror, address signer);

    /// @notice `juror` was not drawn for the open round of `claimId`.
    error ClaimLedgerNotDrawn(bytes32 claimId, address juror);

    /// @notice The commit window of `claimId` closed at `commitEnds`.
    error ClaimLedgerCommitClosed(bytes32 claimId, uint64 commitEnds, uint256 timestamp);

    /// @notice Reveals of `claimId` are accepted only while `commitEnds <= timestamp < revealEnds`.
    error ClaimLedgerRevealClosed(bytes32 claimId, uint64 commitEnds, uint64 revealEnds, uint256 timestamp);

    /// @notice The jury round of `claimId` cannot be tallied before `revealEnds`.
    error ClaimLedgerVotingOpen(bytes32 claimId, uint64 revealEnds, uint256 timestamp);

    /// @notice `juror` already committed in this round of `claimId`.
    error ClaimLedgerAlreadyCommitted(bytes32 claimId, address juror);

    /// @notice `juror` has no commitment in this round of `claimId`.
    error ClaimLedgerNoCommitment(bytes32 claimId, address juror);

    /// @notice `juror` already revealed in this round of `claimId`.
    error ClaimLedgerAlreadyRevealed(bytes32 claimId, address juror);

    /// @notice The revealed vote and salt do not open `juror`'s commitment on `claimId`.
    error ClaimLedgerCommitmentMismatch(bytes32 claimId, address juror);

    // ─────────────────────────── functions ───────────────────────────

    /// @notice Semantic version of this contract ("2.0.0"); its major is the EIP-712 domain version.
    function version() external pure returns (string memory);

    /// @notice The role that files claims, relays objections, appeals and withdrawals, records
    /// payouts, manages rule sets and declares conflicts.
    function OPERATOR_ROLE() external view returns (bytes32);

    /// @notice The role whose EIP-712 signatures count as review verdicts.
    function REVIEWER_ROLE() external view returns (bytes32);

    /// @notice The role of accounts that may be drawn for juries and vote.
    function JUROR_ROLE() external view returns (bytes32);

    /// @notice The admin role of `REVIEWER_ROLE` and `JUROR_ROLE`, held by the RosterTimelock.
    function ROSTER_ROLE() external view returns (bytes32);

    /// @notice keccak256 of the EIP-712 type `VoteCommit(bytes32 claimId,uint32 round,bytes32 commitment)`.
    function VOTE_COMMIT_TYPEHASH() external view returns (bytes32);

    /// @notice Blocks between a draw's scheduling and its seed block (2).
    function JURY_DRAW_DELAY() external view returns (uint64);

    /// @notice keccak256 of the EIP-712 `Verdict` type string.
    function VERDICT_TYPEHASH() external view returns (bytes32);

    /**
     * @notice Anchor a rule set's claim and share parameters under its hash (operator only). It
     * comes into force `RULE_SET_DELAY()` seconds later (at once for the deployment's first rule set).
     * @dev Reverts `ClaimLedgerZeroArgument(3)` for a zero hash, `ClaimLedgerRuleSetExists` for a
     * hash already anchored, `ClaimLedgerInvalidRuleSet` unless every window is > 0,
     * `reviewQuorum >= 1`, `jurySize >= 1`, `1 <= minTurnout <= jurySize` and `feeBps <= 10000`.
     * Appends the rule set to the in-force history (`ruleSetInForce`). Emits `RuleSetAnchored`.
     * The contract cannot recompute `ruleSetHash` from the document: the audit checks that these
     * parameters are the anchored document's.
     * @param ruleSetHash Hash of the full, versioned rule-set document.
     */
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
    ) external;

    /**
     * @notice Retire an anchored rule set: no new claim may use it (operator only).
     * @dev Reverts `ClaimLedgerUnknownRuleSet` / `ClaimLedgerRuleSetRetired`. Emits `RuleSetRetired`.
     */
    function retireRuleSet(bytes32 ruleSetHash) external;

    /**
     * @notice Declare `account` related to the member behind `memberCommitment` (operator only).
     * @dev The account then cannot review that member's claims (`ClaimLedgerReviewerConflicted`)
     * nor sit on a jury for them or for claims that member objected to (`ClaimLedgerJurorConflicted`).
     * Declarations are permanent. Reverts `ClaimLedgerInvalidAccount` for the zero address,
     * `ClaimLedgerZeroArgument(1)` for a zero commitment, `ClaimLedgerConflictExists` for a
     * repeat. Emits `ConflictDeclared`.
     */
    function declareConflict(address account, bytes32 memberCommitment) external;

    /**
     * @notice File a claim on behalf of a member (operator only): NONE → FILED.
     * @dev `claimId` must equal `claimIdOf(memberCommitment, evidenceRoot, ruleSetHash, payoutFen)`
     * (`ClaimLedgerClaimIdMismatch`); the rule set must be anchored, not retired and the one in
     * force now (`ClaimLedgerRuleSetNotInForce` before its `effectiveAt`,
     * `ClaimLedgerRuleSetSuperseded` once a later one is in force: the operator cannot pick among
     * rule sets per claim); commitments
     * non-zero (`ClaimLedgerZeroArgument`), `payoutFen > 0` (`ClaimLedgerZeroPayout`); a second
     * filing of the same id reverts `ClaimLedgerClaimExists`. Emits `ClaimFiled`.
     * @return The claim id.
     */
    function fileClaim(
        bytes32 claimId,
        bytes32 memberCommitment,
        bytes32 evidenceRoot,
        bytes32 ruleSetHash,
        uint64 payoutFen
    ) external returns (bytes32);

    /**
     * @notice Open the review of a filed claim (operator only): FILED → UNDER_REVIEW.
     * @dev Emits `ReviewOpened`.
     */
    function openReview(bytes32 claimId) external;

    /**
     * @notice File many claims and open their reviews in one call (operator only): the backend's
     * group commit of concurrent filings. Each claim ends UNDER_REVIEW or later.
     * @dev Per item, in order: the checks of `fileClaim` on its arguments (`ClaimLedgerZeroArgument`,
     * `ClaimLedgerZeroPayout`, `ClaimLedgerClaimIdMismatch`); then by the claim's state —
     * NONE: filed (rule set anchored, not retired, in force) and opened, `ClaimFiled` + `ReviewOpened`;
     * FILED: opened, `ReviewOpened`; any later state: left as it is, no event (another relayer
     * got there first — the claim id binds every argument, so it is the same claim). Any failing
     * check reverts the whole call. An empty batch does nothing.
     * @return opened How many claims this call moved to UNDER_REVIEW.
     */
    function fileForReview(ClaimFiling[] calldata filings) external returns (uint256 opened);

    /**
     * @notice Record a reviewer's EIP-712-signed verdict; anyone may relay it.
     * @dev Checks, in order: `v.claimId == claimId`, `v.verdict` is 1 or 2, `block.timestamp <=
     * v.deadline`, the signature recovers (OpenZeppelin ECDSA: `ECDSAInvalidSignature`,
     * `ECDSAInvalidSignatureLength`, `ECDSAInvalidSignatureS` for a high-s twin), the signer
     * holds `REVIEWER_ROLE` (`ClaimLedgerSignerNotReviewer`), `v.nonce == nonces(signer)`
     * (`InvalidAccountNonce`; consumed), the claim exists and is UNDER_REVIEW
     * (`ClaimLedgerWrongState`), `v.ruleSetHash` is the claim's, the signer is not declared
     * related to the claimant and has no verdict on the claim yet. Emits `VerdictRecorded`; when
     * the verdict completes the quorum also moves the claim (see the decision rule above) and
     * emits `ReviewDecided`. Whoever relays it, the same signed verdict yields the same state;
     * a relayer that finds its verdict already recorded checks `verdictDigest`.
     * @param signature 65-byte `r ‖ s ‖ v` ECDSA signature over `hashVerdict(v)`.
     * @return The claim's state after the verdict.
     */
    function submitVerdict(bytes32 claimId, Verdict calldata v, bytes calldata signature)
        external
        returns (ClaimState);

    /**
     * @notice Relay a member's objection during the notice window (operator only): IN_NOTICE → DISPUTED.
     * @dev Needs `block.timestamp < noticeEnds` (`ClaimLedgerNoticeClosed`) and a non-zero
     * commitment (`ClaimLedgerZeroArgument(4)`). Emits `ObjectionRecorded` and schedules the
     * first draw (`JuryDrawScheduled`).
     */
    function object(bytes32 claimId, bytes32 objectorCommitment) external;

    /**
     * @notice Approve a claim whose notice window passed without objection; anyone may call:
     * IN_NOTICE → APPROVED.
     * @dev Needs `block.timestamp >= noticeEnds` (`ClaimLedgerNoticeOpen`). Adds the final approval
     * to the cumulative record (`approvalTotals`). Emits `NoticeFinalized`.
     */
    function finalizeNotice(bytes32 claimId) external;

    /**
     * @notice Relay the claimant's appeal of a review rejection (operator only): REJECTED → DISPUTED.
     * @dev Allowed once, and only when no jury has decided the claim (`ClaimLedgerAppealNotAllowed`).
     * Emits `ClaimAppealed` and schedules the first draw (`JuryDrawScheduled`).
     */
    function appeal(bytes32 claimId) external;

    /**
     * @notice Draw the jury of a disputed claim from the on-chain roster; anyone may call once the
     * scheduled `drawBlock` is past.
     * @dev Needs DISPUTED (`ClaimLedgerWrongState`), a scheduled draw (`ClaimLedgerJuryAlreadyDrawn`
     * when a round is open or none is scheduled) and `block.number > drawBlock`
     * (`ClaimLedgerDrawTooEarly`). When `block.number > drawBlock + 256` (the seed block's hash is
     * no longer readable) or the juror roster changed in a block >= drawBlock (once the seed could
     * be known), the draw is re-scheduled (`JuryDrawScheduled`) and 0 returned. Otherwise
     * `seed = keccak256(abi.encode(blockhash(drawBlock), claimId, round))` and a partial
     * Fisher–Yates over a copy `a` of `jurors()` (n entries): for i = 0, 1, … while seats remain
     * and i < n, `j = i + uint256(keccak256(abi.encode(seed, i))) % (n - i)`, swap a[i] and a[j],
     * seat a[i] unless it is related to the claimant or the objector by a conflict declared in a
     * block < drawBlock (later declarations cannot steer a draw whose seed is known), gave a
     * verdict on the claim or sat in an earlier round of it. Fewer eligible than `jurySize` reverts
     * `ClaimLedgerNotEnoughJurors`. Opens the commit window (`commitSeconds`) followed by the reveal
     * window (`revealSeconds`). Emits `JuryDrawn`. Gas grows with the roster (one copy, one hash per
     * position visited).
     * @return round The new round number (1 for the first draw), 0 when re-scheduled.
     */
    function drawJury(bytes32 claimId) external returns (uint32 round);

    /**
     * @notice Commit the caller's own vote (a drawn juror sending its own transaction).
     * @dev `commitment = keccak256(abi.encode(claimId, round, juror, approve, salt))`: it binds the
     * claim, the round and the juror's address, so a copied commitment opens for nobody else. Needs an
     * open round in which the juror was drawn (`ClaimLedgerNoJury`, `ClaimLedgerNotDrawn`),
     * `block.timestamp < commitEnds` (`ClaimLedgerCommitClosed`), a first commitment
     * (`ClaimLedgerAlreadyCommitted`), non-zero (`ClaimLedgerZeroArgument(5)`). Emits `VoteCommitted`.
     */
    function commitVote(bytes32 claimId, bytes32 commitment) external;

    /**
     * @notice Record `juror`'s commitment signed by the juror (EIP-712 `VoteCommit(bytes32 claimId,
     * uint32 round,bytes32 commitment)` with the current round); anyone may relay it.
     * @dev The signature must recover to `juror` (`ClaimLedgerVoteSignerMismatch`; OpenZeppelin
     * ECDSA errors for malformed or high-s signatures); then the checks of `commitVote`. A signature
     * is usable once: the ballot takes one commitment per round, and the round is signed.
     */
    function commitVoteBySig(bytes32 claimId, address juror, bytes32 commitment, bytes calldata signature) external;

    /**
     * @notice Reveal `juror`'s committed vote while `commitEnds <= block.timestamp < revealEnds`;
     * anyone may send it (the opening of a commitment the juror signed authenticates itself).
     * @dev Reverts `ClaimLedgerNotDrawn`, `ClaimLedgerRevealClosed`, `ClaimLedgerNoCommitment`,
     * `ClaimLedgerAlreadyRevealed`, `ClaimLedgerCommitmentMismatch`. Emits `VoteRevealed`.
     */
    function revealVote(bytes32 claimId, address juror, bool approve, bytes32 salt) external;

    /**
     * @notice Close the open jury round after its reveal window; anyone may call.
     * @dev Needs `block.timestamp >= revealEnds` (`ClaimLedgerVotingOpen`). With at least
     * `minTurnout` revealed votes: APPROVED when approvals are a strict majority of revealed
     * votes, REJECTED otherwise (ties reject), final, `JuryTallied` (an approval is added to the
     * cumulative record, `approvalTotals`). With fewer: the round is
     * voided, the claim stays DISPUTED, `JuryRoundVoided`, and a new draw is scheduled
     * (`JuryDrawScheduled`). Before either, each seated juror who committed nothing gets
     * `JurorAbsent` and each who committed but did not reveal `VoteNotRevealed`; both add one to
     * `absences(juror)`.
     * @return The claim's state afterwards (APPROVED, REJECTED, or DISPUTED when voided).
     */
    function tallyJury(bytes32 claimId) external returns (ClaimState);

    /**
     * @notice Relay the claimant's withdrawal (operator only): FILED | UNDER_REVIEW | IN_NOTICE |
     * DISPUTED → WITHDRAWN. A decided claim (REJECTED, APPROVED, PAID) cannot be withdrawn.
     * @dev Emits `ClaimWithdrawn`.
     */
    function withdrawClaim(bytes32 claimId) external;

    /**
     * @notice Record the payout of an approved claim (operator only): APPROVED → PAID.
     * @dev `paymentRef` is a non-zero commitment of the payment record (`ClaimLedgerZeroArgument(6)`).
     * Emits `PayoutRecorded`.
     */
    function recordPayout(bytes32 claimId, bytes32 paymentRef) external;

    /// @notice The stored claim; reverts `ClaimLedgerUnknownClaim` for an unknown id.
    function claim(bytes32 claimId) external view returns (Claim memory);

    /// @notice The claim's state, `NONE` for an unknown id.
    function state(bytes32 claimId) external view returns (ClaimState);

    /// @notice The anchored rule set; reverts `ClaimLedgerUnknownRuleSet` for an unknown hash.
    function ruleSet(bytes32 ruleSetHash) external view returns (RuleSet memory);

    /// @notice Seconds between a rule set's anchoring and its coming into force (immutable).
    function RULE_SET_DELAY() external view returns (uint64);

    /**
     * @notice The rule set in force at time `at`: of the rule sets with `effectiveAt <= at`, the one
     * anchored last (retired or not: retirement closes a rule set to new claims, it does not bring
     * an older one back). Zero when none is.
     * @dev With a fixed delay, `effectiveAt` grows with the anchoring order, so this is a binary search.
     */
    function ruleSetInForce(uint64 at) external view returns (bytes32);

    /**
     * @notice Totals of the final approvals (NoticeFinalized, or JuryTallied with APPROVED) whose
     * block time lies in `[fromTime, toTime)`: how many, and Σ payoutFen.
     * @dev Read from an append-only cumulative record in approval order (one entry per final
     * approval: block time, cumulative count and payouts), by binary search: O(log approvals).
     * Zero when `toTime <= fromTime`.
     */
    function approvalTotals(uint64 fromTime, uint64 toTime) external view returns (uint256 count, uint256 payoutsFen);

    /// @notice The EIP-712 digest of `v` under this contract's domain (what a reviewer signs).
    function hashVerdict(Verdict calldata v) external view returns (bytes32);

    /// @notice The juror roster: every `JUROR_ROLE` holder, in the order grants append and
    /// revocations swap-and-pop (replayable from RoleGranted/RoleRevoked logs).
    function jurors() external view returns (address[] memory);

    /// @notice Rounds in which `juror` was seated and committed nothing or did not reveal.
    function absences(address juror) external view returns (uint32);

    /// @notice The digest of `reviewer`'s recorded verdict on `claimId`, zero when none.
    function verdictDigest(bytes32 claimId, address reviewer) external view returns (bytes32);

    /// @notice `juror`'s ballot in round `round` of `claimId` (all zero when not drawn).
    function ballot(bytes32 claimId, uint32 round, address juror) external view returns (Ballot memory);

    /// @notice Whether `account` is declared related to `memberCommitment`.
    function isConflicted(address account, bytes32 memberCommitment) external view returns (bool);

    /// @notice The next unused verdict nonce of `signer` (OpenZeppelin Nonces).
    function nonces(address signer) external view returns (uint256);
}
