// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IApportionment
 * @notice The public record of every apportionment (分摊) period: its inputs, its outputs, the
 * Merkle root of its share ledger and the CID of the ledger file, checked against the share
 * arithmetic of DESIGN.md "Plan rules" → Apportionment before they are stored.
 *
 * Arithmetic (all amounts integer fen), checked on chain by `publishPeriod`:
 *
 *     fee   = floor(P × feeBps / 10000)
 *     D     = P + fee − S_in                              (signed)
 *     base  = 0 when D ≤ 0, else ceil(D / N)
 *     S_out = N × base − D
 *     Σ share + Σ subsidy = N × base = D + S_out          (exact)
 *     Σ share = 0 in wind-down, else Σ share ≤ N × min(base, perCaseCap × claims)
 *
 * Periods form a chain: `surplusInFen` of a period must equal `surplusOutFen` of the period
 * published before it (0 for the first), and period ids strictly increase. Their windows tile
 * time: `windowStart` of a period is `windowEnd` of the one before, and a period is published
 * only once its window has closed (`windowEnd <= block.timestamp`).
 *
 * Nothing of the apportionment basis is the publisher's word (2.0.0): `claimCount` and
 * `payoutsFen` must equal ClaimLedger's final approvals in `[windowStart, windowEnd)`
 * (`IClaimLedger.approvalTotals`), and `ruleSetHash`, `feeBps`, `perCaseCapFen` and
 * `annualCapFen` those of the rule set in force at the membership snapshot `windowEnd`
 * (`IClaimLedger.ruleSetInForce`: the last-anchored rule set whose public delay had passed). A member's own
 * share is proved by a share receipt: its leaf
 * `(bytes32 memberCommitment, uint64 shareFen, uint64 subsidyFen, uint64 yearToDateFen)` under
 * `ledgerRoot` (OpenZeppelin StandardMerkleTree, see contracts/README.md), checked by `verifyShare`.
 *
 * Privacy: members appear only as salted commitments inside the ledger file; on chain there are
 * only totals, roots and the ledger CID (public by design: the file holds commitments and amounts).
 *
 * Wind-down: once the operator calls `beginWindDown` (irreversible), every period published
 * afterwards must carry `windDown = true` (members pay nothing, the operator pays every base), and
 * no period may carry it before.
 *
 * Access: `publishPeriod` and `beginWindDown` need `OPERATOR_ROLE`, granted by the single default
 * admin, which changes only by a delayed two-step transfer (OpenZeppelin AccessControlDefaultAdminRules).
 */
interface IApportionment {
    /**
     * @notice One period as published and stored. Field order is the ABI tuple order.
     * @dev Inputs come first (what the period apportions), then outputs (what it charged).
     */
    struct PeriodRecord {
        /// YYYYMMDD of the notice day (backend.apportionment.schedule), e.g. 20240307.
        uint64 periodId;
        /// Claims final-approved in the period's window (ClaimLedger NoticeFinalized / JuryTallied).
        uint64 claimCount;
        /// P: Σ payoutFen of those claims.
        uint64 payoutsFen;
        /// floor(P × feeBps / 10000).
        uint64 feeFen;
        /// S_in: surplus carried in, the previous period's `surplusOutFen`.
        uint64 surplusInFen;
        /// N: members under protection at the notice instant.
        uint64 memberCount;
        /// Most a member pays per approved claim.
        uint64 perCaseCapFen;
        /// Most a member pays in a calendar year.
        uint64 annualCapFen;
        /// Management fee in basis points (at most 10000).
        uint16 feeBps;
        /// Wind-down period: members pay nothing, the operator pays every base.
        bool windDown;
        /// Hash of the rule set the period was apportioned under.
        bytes32 ruleSetHash;
        /// StandardMerkleTree root over the sharing members' commitments (zero iff N = 0).
        bytes32 membershipRoot;
        /// ceil(D / N), or 0 when D ≤ 0.
        uint64 baseFen;
        /// Σ share over the members.
        uint64 shareTotalFen;
        /// Σ subsidy (base − share) over the members: what the operator pays.
        uint64 subsidyTotalFen;
        /// S_out = N × base − D, carried into the next period.
        uint64 surplusOutFen;
        /// StandardMerkleTree root of the share ledger (zero iff N = 0).
        bytes32 ledgerRoot;
        /// Binary CID of the share-ledger file in the evidence store (never empty).
        bytes ledgerCid;
        /// Start of the window of final approvals the period shares (the previous period's `windowEnd`).
        uint64 windowStart;
        /// End of the window (exclusive) = the notice instant = the membership snapshot.
        uint64 windowEnd;
    }

    /**
     * @notice Period `periodId` was published with `record` (its every field, as stored).
     * @param periodId The period id (also `record.periodId`).
     * @param ledgerRoot The share-ledger root (also `record.ledgerRoot`).
     */
    event PeriodPublished(uint64 indexed periodId, bytes32 indexed ledgerRoot, PeriodRecord record);

    /// @notice The plan entered wind-down after period `lastPeriodId` (0 when none was published).
    event WindDownBegan(uint64 lastPeriodId);

    /// @notice The constructor was given the zero address as the first operator.
    error ApportionmentInvalidOperator(address operator);

    /// @notice The constructor was given the zero address as the ClaimLedger.
    error ApportionmentInvalidClaimLedger(address claimLedger);

    /// @notice The window `[windowStart, windowEnd)` is empty or reversed.
    error ApportionmentInvalidWindow(uint64 windowStart, uint64 windowEnd);

    /// @notice The window starts at `given`; the previous period's window ended at `expected`.
    error ApportionmentWindowGap(uint64 expected, uint64 given);

    /// @notice The window ends at `windowEnd`, after the block's time `timestamp`.
    error ApportionmentPeriodNotClosed(uint64 windowEnd, uint256 timestamp);

    /// @notice No rule set was in force at the snapshot `snapshotAt`.
    error ApportionmentNoRuleSetInForce(uint64 snapshotAt);

    /// @notice The record names rule set `given`; the one in force at the snapshot is `expected`.
    error ApportionmentRuleSetNotInForce(bytes32 expected, bytes32 given);

    /// @notice The record's fee or caps are not the rule set's `feeBps`, `perCaseCapFen`, `annualCapFen`.
    error ApportionmentParametersMismatch(uint16 feeBps, uint64 perCaseCapFen, uint64 annualCapFen);

    /// @notice The record states `givenCount` claims paying `givenPayoutsFen`; ClaimLedger's final
    /// approvals in the window are `expectedCount` claims paying `expectedPayoutsFen`.
    error ApportionmentClaimTotalsMismatch(
        uint256 expectedCount, uint256 expectedPayoutsFen, uint64 givenCount, uint64 givenPayoutsFen
    );

    /// @notice A required value was zero or empty; `argument` names which
    /// (1 period id, 2 rule-set hash, 3 ledger root, 4 membership root, 5 ledger CID).
    error ApportionmentZeroArgument(uint8 argument);

    /// @notice Period `periodId` is already published.
    error ApportionmentPeriodExists(uint64 periodId);

    /// @notice `periodId` does not come after the last published period `lastPeriodId`.
    error ApportionmentPeriodOutOfOrder(uint64 lastPeriodId, uint64 periodId);

    /// @notice No period `periodId` was published.
    error ApportionmentUnknownPeriod(uint64 periodId);

    /// @notice The record's wind-down flag is `given`; the plan's state requires `required`.
    error ApportionmentWindDownMismatch(bool required, bool given);

    /// @notice Wind-down has already begun.
    error ApportionmentWindDownActive();

    /// @notice `feeBps` is above 10000 (100 %).
    error ApportionmentFeeBpsTooHigh(uint16 feeBps);

    /// @notice A period without claims declares payouts `payoutsFen`.
    error ApportionmentPayoutsWithoutClaims(uint64 payoutsFen);

    /// @notice `surplusInFen` is `given`; the previous period carried out `expected`.
    error ApportionmentSurplusInMismatch(uint64 expected, uint64 given);

    /// @notice `feeFen` is `given`; floor(P × feeBps / 10000) is `expected`.
    error ApportionmentFeeMismatch(uint64 expected, uint64 given);

    /// @notice `dueFen` (D) is positive but the period has no sharing members.
    error ApportionmentNoSharingMembers(int256 dueFen);

    /// @notice `baseFen` is `given`; ceil(D / N) (0 when D ≤ 0) is `expected`.
    error ApportionmentBaseMismatch(uint256 expected, uint64 given);

    /// @notice `surplusOutFen` is `given`; N × base − D is `expected`.
    error ApportionmentSurplusOutMismatch(uint256 expected, uint64 given);

    /// @notice Σ share + Σ subsidy is `given`; N × base is `expected`.
    error ApportionmentTotalsMismatch(uint256 expected, uint256 given);

    /// @notice Σ share `given` exceeds `limit` (N × min(base, perCaseCap × claims), 0 in wind-down).
    error ApportionmentShareTotalTooHigh(uint256 limit, uint64 given);

    /// @notice A period without members carries a non-zero root (ledger or membership).
    error ApportionmentRootWithoutMembers();

    /// @notice Semantic version of this contract ("2.0.0").
    function version() external pure returns (string memory);

    /// @notice The ClaimLedger whose final approvals and rule sets every period is checked against.
    function claimLedger() external view returns (address);

    /// @notice The role allowed to publish periods and begin wind-down (`keccak256("OPERATOR_ROLE")`).
    function OPERATOR_ROLE() external view returns (bytes32);

    /**
     * @notice Publish a period's record after checking it (operator only).
     * @dev Checks, in this order: caller holds `OPERATOR_ROLE` (`AccessControlUnauthorizedAccount`);
     * `periodId`, `ruleSetHash`, `ledgerCid` non-zero/non-empty (`ApportionmentZeroArgument` 1, 2, 5);
     * not yet published (`ApportionmentPeriodExists`, first, so that a re-sent publication is
     * recognised); `periodId > lastPeriodId()` (`ApportionmentPeriodOutOfOrder`); `windDown`
     * equals `windDown()` (`ApportionmentWindDownMismatch`); `surplusInFen` equals the last
     * period's `surplusOutFen` (`ApportionmentSurplusInMismatch`); the window: non-empty
     * (`ApportionmentInvalidWindow`), starting where the last period's ended
     * (`ApportionmentWindowGap`), closed (`ApportionmentPeriodNotClosed`); the basis from
     * ClaimLedger: a rule set in force at `windowEnd` (`ApportionmentNoRuleSetInForce`), named by
     * the record (`ApportionmentRuleSetNotInForce`), whose fee and caps the record carries
     * (`ApportionmentParametersMismatch`), and the window's final-approval count and payouts
     * (`ApportionmentClaimTotalsMismatch`); then the arithmetic of the
     * interface notice: `feeBps <= 10000`, no payouts without claims, fee, N > 0 when D > 0,
     * base, S_out, Σ share + Σ subsidy, the Σ share limit; last the roots: both non-zero when N > 0 (`ApportionmentZeroArgument` 3, 4), both
     * zero when N = 0 (`ApportionmentRootWithoutMembers`). Stores the record with the block
     * number, then emits `PeriodPublished`.
     */
    function publishPeriod(PeriodRecord calldata record) external;

    /**
     * @notice Put the plan into wind-down (operator only, irreversible).
     * @dev Reverts `ApportionmentWindDownActive` on a repeat. Emits `WindDownBegan`.
     */
    function beginWindDown() external;

    /// @notice Whether the plan is in wind-down.
    function windDown() external view returns (bool);

    /**
     * @notice The stored record of `periodId`.
     * @dev Reverts `ApportionmentUnknownPeriod` when it was never published.
     */
    function period(uint64 periodId) external view returns (PeriodRecord memory);

    /// @notice Block in which `periodId` was published, 0 when it never was.
    function publishedBlock(uint64 periodId) external view returns (uint64);

    /// @notice Id of the latest published period, 0 before the first.
    function lastPeriodId() external view returns (uint64);

    /// @notice Number of published periods.
    function periodCount() external view returns (uint256);

    /**
     * @notice Whether `proof` proves the share-ledger leaf hash `leaf` under period `periodId`'s root.
     * @dev `leaf` is `shareLeafHash(...)` of the member's row; `proof` the sibling hashes from leaf
     * to root (OpenZeppelin MerkleProof). Reverts `ApportionmentUnknownPeriod` for an unknown period.
     */
    function verifyShare(uint64 periodId, bytes32 leaf, bytes32[] calldata proof) external view returns (bool);

    /**
     * @notice The StandardMerkleTree leaf hash of one share-ledger row:
     * `keccak256(bytes.concat(keccak256(abi.encode(memberCommitment, shareFen, subsidyFen, yearToDateFen))))`.
     */
    function shareLeafHash(bytes32 memberCommitment, uint64 shareFen, uint64 subsidyFen, uint64 yearToDateFen)
        external
        pure
        returns (bytes32);
}
