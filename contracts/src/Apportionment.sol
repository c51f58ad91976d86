// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IApportionment} from "./IApportionment.sol";
import {IClaimLedger} from "./IClaimLedger.sol";

/**
 * @title Apportionment
 * @notice Checked public record of apportionment periods. See {IApportionment}.
 * @dev Storage per period: the record (8 slots + the CID bytes) and its publication block. The
 * arithmetic runs in uint256/int256 so that N × base (up to 2^128) cannot overflow; every value
 * stored is a uint64 of the record itself.
 */
contract Apportionment is IApportionment, AccessControlDefaultAdminRules {
    /// @inheritdoc IApportionment
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// Delay between `beginDefaultAdminTransfer` and `acceptDefaultAdminTransfer`.
    uint48 public constant INITIAL_ADMIN_DELAY = 1 days;

    uint256 private constant _BPS = 10_000;

    // Indices for ApportionmentZeroArgument (documented in the interface).
    uint8 private constant _ARG_PERIOD = 1;
    uint8 private constant _ARG_RULE_SET = 2;
    uint8 private constant _ARG_LEDGER_ROOT = 3;
    uint8 private constant _ARG_MEMBERSHIP_ROOT = 4;
    uint8 private constant _ARG_LEDGER_CID = 5;

    IClaimLedger private immutable _CLAIM_LEDGER;

    mapping(uint64 periodId => PeriodRecord) private _periods;
    mapping(uint64 periodId => uint64 blockNumber) private _publishedBlock;
    uint64 private _lastPeriodId;
    uint256 private _periodCount;
    bool private _windDown;

    /**
     * @param initialAdmin The single `DEFAULT_ADMIN_ROLE` holder (transferable in two delayed steps).
     * @param initialOperator The first `OPERATOR_ROLE` holder (the backend's key).
     * @param claimLedger_ The ClaimLedger whose approvals and rule sets periods are checked against.
     */
    constructor(address initialAdmin, address initialOperator, IClaimLedger claimLedger_)
        AccessControlDefaultAdminRules(INITIAL_ADMIN_DELAY, initialAdmin)
    {
        if (initialOperator == address(0)) revert ApportionmentInvalidOperator(initialOperator);
        if (address(claimLedger_) == address(0)) revert ApportionmentInvalidClaimLedger(address(claimLedger_));
        _CLAIM_LEDGER = claimLedger_;
        _grantRole(OPERATOR_ROLE, initialOperator);
    }

    /// @inheritdoc IApportionment
    function version() external pure returns (string memory) {
        return "2.0.0";
    }

    /// @inheritdoc IApportionment
    function claimLedger() external view returns (address) {
        return address(_CLAIM_LEDGER);
    }

    /// @inheritdoc IApportionment
    function publishPeriod(PeriodRecord calldata record) external onlyRole(OPERATOR_ROLE) {
        uint64 periodId = record.periodId;
        if (periodId == 0) revert ApportionmentZeroArgument(_ARG_PERIOD);
        if (record.ruleSetHash == bytes32(0)) revert ApportionmentZeroArgument(_ARG_RULE_SET);
        if (record.ledgerCid.length == 0) revert ApportionmentZeroArgument(_ARG_LEDGER_CID);
        if (_periods[periodId].periodId != 0) revert ApportionmentPeriodExists(periodId);
        uint64 last = _lastPeriodId;
        if (periodId <= last) revert ApportionmentPeriodOutOfOrder(last, periodId);
        if (record.windDown != _windDown) revert ApportionmentWindDownMismatch(_windDown, record.windDown);
        uint64 carried = last == 0 ? 0 : _periods[last].surplusOutFen;
        if (record.surplusInFen != carried) revert ApportionmentSurplusInMismatch(carried, record.surplusInFen);
        _checkWindow(record, last);
        _checkBasis(record);
        _checkArithmetic(record);
        _checkRoots(record);

        _periods[periodId] = record;
        _publishedBlock[periodId] = uint64(block.number);
        _lastPeriodId = periodId;
        _periodCount += 1;
        emit PeriodPublished(periodId, record.ledgerRoot, record);
    }

    /// @inheritdoc IApportionment
    function beginWindDown() external onlyRole(OPERATOR_ROLE) {
        if (_windDown) revert ApportionmentWindDownActive();
        _windDown = true;
        emit WindDownBegan(_lastPeriodId);
    }

    /// @inheritdoc IApportionment
    function windDown() external view returns (bool) {
        return _windDown;
    }

    /// @inheritdoc IApportionment
    function period(uint64 periodId) external view returns (PeriodRecord memory) {
        return _period(periodId);
    }

    /// @inheritdoc IApportionment
    function publishedBlock(uint64 periodId) external view returns (uint64) {
        return _publishedBlock[periodId];
    }

    /// @inheritdoc IApportionment
    function lastPeriodId() external view returns (uint64) {
        return _lastPeriodId;
    }

    /// @inheritdoc IApportionment
    function periodCount() external view returns (uint256) {
        return _periodCount;
    }

    /// @inheritdoc IApportionment
    function verifyShare(uint64 periodId, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        return MerkleProof.verifyCalldata(proof, _period(periodId).ledgerRoot, leaf);
    }

    /// @inheritdoc IApportionment
    function shareLeafHash(bytes32 memberCommitment, uint64 shareFen, uint64 subsidyFen, uint64 yearToDateFen)
        external
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(memberCommitment, shareFen, subsidyFen, yearToDateFen))));
    }

    /// @notice ERC-165: also answers for {IApportionment}.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IApportionment).interfaceId || super.supportsInterface(interfaceId);
    }

    /// Windows tile time from the first period on, and only a closed window is shared.
    function _checkWindow(PeriodRecord calldata r, uint64 last) private view {
        if (r.windowEnd <= r.windowStart) revert ApportionmentInvalidWindow(r.windowStart, r.windowEnd);
        if (last != 0) {
            uint64 previousEnd = _periods[last].windowEnd;
            if (r.windowStart != previousEnd) revert ApportionmentWindowGap(previousEnd, r.windowStart);
        }
        // Block times only grow: no approval can still land in a window that ended at or before now.
        if (r.windowEnd > block.timestamp) revert ApportionmentPeriodNotClosed(r.windowEnd, block.timestamp);
    }

    /// The rule set in force at the snapshot and the window's final approvals, both from ClaimLedger.
    function _checkBasis(PeriodRecord calldata r) private view {
        bytes32 inForce = _CLAIM_LEDGER.ruleSetInForce(r.windowEnd);
        if (inForce == bytes32(0)) revert ApportionmentNoRuleSetInForce(r.windowEnd);
        if (r.ruleSetHash != inForce) revert ApportionmentRuleSetNotInForce(inForce, r.ruleSetHash);
        IClaimLedger.RuleSet memory rules = _CLAIM_LEDGER.ruleSet(inForce);
        if (r.feeBps != rules.feeBps || r.perCaseCapFen != rules.perCaseCapFen || r.annualCapFen != rules.annualCapFen)
        {
            revert ApportionmentParametersMismatch(rules.feeBps, rules.perCaseCapFen, rules.annualCapFen);
        }
        (uint256 count, uint256 payouts) = _CLAIM_LEDGER.approvalTotals(r.windowStart, r.windowEnd);
        if (r.claimCount != count || r.payoutsFen != payouts) {
            revert ApportionmentClaimTotalsMismatch(count, payouts, r.claimCount, r.payoutsFen);
        }
    }

    /// The share arithmetic of the interface notice, in the documented order of its errors.
    function _checkArithmetic(PeriodRecord calldata r) private pure {
        if (r.feeBps > _BPS) revert ApportionmentFeeBpsTooHigh(r.feeBps);
        if (r.claimCount == 0 && r.payoutsFen != 0) revert ApportionmentPayoutsWithoutClaims(r.payoutsFen);
        uint256 fee = uint256(r.payoutsFen) * r.feeBps / _BPS;
        if (r.feeFen != fee) revert ApportionmentFeeMismatch(uint64(fee), r.feeFen);

        int256 due = int256(uint256(r.payoutsFen)) + int256(uint256(r.feeFen)) - int256(uint256(r.surplusInFen));
        uint256 n = r.memberCount;
        uint256 base = 0; // D <= 0: nobody pays
        if (due > 0) {
            if (n == 0) revert ApportionmentNoSharingMembers(due);
            base = (uint256(due) + n - 1) / n; // ceil: a fraction of a fen is charged as a fen
        }
        if (r.baseFen != base) revert ApportionmentBaseMismatch(base, r.baseFen);

        uint256 nBase = n * base;
        // nBase >= due always holds here (base = ceil(D/N), or D <= 0 with base = 0).
        uint256 surplusOut = uint256(int256(nBase) - due);
        if (r.surplusOutFen != surplusOut) revert ApportionmentSurplusOutMismatch(surplusOut, r.surplusOutFen);

        uint256 paid = uint256(r.shareTotalFen) + r.subsidyTotalFen;
        if (paid != nBase) revert ApportionmentTotalsMismatch(nBase, paid);

        uint256 limit = 0; // wind-down: members pay nothing
        if (!r.windDown) {
            uint256 caseCap = uint256(r.perCaseCapFen) * r.claimCount;
            limit = n * (base < caseCap ? base : caseCap);
        }
        if (r.shareTotalFen > limit) revert ApportionmentShareTotalTooHigh(limit, r.shareTotalFen);
    }

    function _checkRoots(PeriodRecord calldata r) private pure {
        if (r.memberCount == 0) {
            if (r.ledgerRoot != bytes32(0) || r.membershipRoot != bytes32(0)) revert ApportionmentRootWithoutMembers();
            return;
        }
        if (r.ledgerRoot == bytes32(0)) revert ApportionmentZeroArgument(_ARG_LEDGER_ROOT);
        if (r.membershipRoot == bytes32(0)) revert ApportionmentZeroArgument(_ARG_MEMBERSHIP_ROOT);
    }

    function _period(uint64 periodId) private view returns (PeriodRecord storage stored) {
        stored = _periods[periodId];
        // periodId != 0 for every stored record (publishPeriod refuses 0), so 0 means "never published".
        if (stored.periodId == 0) revert ApportionmentUnknownPeriod(periodId);
    }
}
