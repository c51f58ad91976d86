// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Apportionment} from "../src/Apportionment.sol";
import {ClaimLedger} from "../src/ClaimLedger.sol";
import {IApportionment} from "../src/IApportionment.sol";
import {IClaimLedger} from "../src/IClaimLedger.sol";
import {CLAIMANT, ClaimLedgerTestBase, OBJECTOR_SIGNER, vm} from "./ClaimLedgerBase.t.sol";

/**
 * @notice The share basis on chain (issue 15, item 3): rule sets carry the share parameters and
 * come into force only after `RULE_SET_DELAY`; ClaimLedger keeps the cumulative final-approval
 * record; Apportionment takes a period's rule set and claim totals from ClaimLedger. The attacks
 * of RELIABILITY G5 and G7 are replayed with only what the operator holds.
 */
abstract contract ShareBasisBase is ClaimLedgerTestBase {
    uint16 internal constant FEE_BPS = 800;
    uint64 internal constant PER_CASE = 10;
    uint64 internal constant ANNUAL = 18_800;
    uint256 internal _claimSeq;

    /// A claim filed, reviewed into notice and left there (finalized later by the test).
    function _noticeClaim(uint64 payout) internal returns (bytes32 id) {
        bytes32 evidence = keccak256(abi.encode("evidence", ++_claimSeq));
        id = _file(MEMBER, evidence, payout);
        vm.prank(operator);
        ledger.openReview(id);
        _review(id, REVIEWER_A_KEY, APPROVE);
        _review(id, REVIEWER_B_KEY, APPROVE);
    }
}

contract ClaimLedgerRuleSetDelayTest is ShareBasisBase {
    bytes32 internal constant LAX = keccak256("hubao.rules.lax");

    function test_firstRuleSet_isInForceAtOnce() public view {
        IClaimLedger.RuleSet memory r = ledger.ruleSet(RULES);
        vm.assertEq(uint256(r.effectiveAt), uint256(r.anchoredAt), "first rule set: no delay");
        vm.assertEq(ledger.ruleSetInForce(uint64(block.timestamp)), RULES, "in force now");
        vm.assertEq(ledger.ruleSetInForce(uint64(block.timestamp - 1)), bytes32(0), "nothing before it");
        vm.assertEq(uint256(ledger.RULE_SET_DELAY()), 1 days, "delay");
    }

    /// G7: a lax rule set anchored and used at once is refused until its public delay has passed.
    function test_fileClaim_refusesRuleSetBeforeItsDelay() public {
        vm.startPrank(operator);
        ledger.anchorRuleSet(LAX, 1, 1, 1, 1, 1, 1, 10_000, 5_000_000, 5_000_000);
        uint64 effectiveAt = uint64(block.timestamp + 1 days);
        bytes32 id = keccak256(abi.encode(MEMBER, EVIDENCE, LAX, PAYOUT, CLAIMANT));
        vm.expectRevert(
            abi.encodeWithSelector(
                IClaimLedger.ClaimLedgerRuleSetNotInForce.selector, LAX, effectiveAt, block.timestamp
            )
        );
        ledger.fileClaim(IClaimLedger.ClaimFiling(id, MEMBER, EVIDENCE, LAX, PAYOUT, CLAIMANT));
        IClaimLedger.ClaimFiling[] memory batch = new IClaimLedger.ClaimFiling[](1);
        batch[0] = IClaimLedger.ClaimFiling(id, MEMBER, EVIDENCE, LAX, PAYOUT, CLAIMANT);
        vm.warp(effectiveAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IClaimLedger.ClaimLedgerRuleSetNotInForce.selector, LAX, effectiveAt, block.timestamp
            )
        );
        ledger.fileForReview(batch);
        vm.assertEq(ledger.ruleSetInForce(uint64(block.timestamp)), RULES, "the old rules still govern");

        vm.warp(effectiveAt);
        vm.assertEq(ledger.fileForReview(batch), 1, "in force after the delay");
        vm.stopPrank();
        vm.assertEq(ledger.ruleSetInForce(effectiveAt), LAX, "the newer rule set governs from effectiveAt");
        vm.assertEq(ledger.ruleSetInForce(effectiveAt - 1), RULES, "and the older one before");
        // The operator cannot keep filing chosen claims under the superseded rule set.
        bytes32 old = _claimId(MEMBER, keccak256("other evidence"), PAYOUT);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerRuleSetSuperseded.selector, RULES, LAX));
        ledger.fileClaim(IClaimLedger.ClaimFiling(old, MEMBER, keccak256("other evidence"), RULES, PAYOUT, CLAIMANT));
    }

    function test_anchorRuleSet_rejectsFeeAboveOneHundredPercent() public {
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IClaimLedger.ClaimLedgerInvalidRuleSet.selector, LAX));
        ledger.anchorRuleSet(LAX, 1, 1, 1, 1, 1, 1, 10_001, 10, 10);
    }

    function test_ruleSetInForce_staysWithTheLatestWhenRetired() public {
        vm.startPrank(operator);
        ledger.anchorRuleSet(LAX, 1, 1, 1, 1, 1, 1, 800, 10, 18_800);
        vm.warp(block.timestamp + 1 days);
        ledger.retireRuleSet(LAX);
        vm.stopPrank();
        // Retirement closes LAX to new claims; it does not bring RULES back into force.
        vm.assertEq(ledger.ruleSetInForce(uint64(block.timestamp)), LAX, "still the latest in force");
    }
}

contract ClaimLedgerApprovalTotalsTest is ShareBasisBase {
    function test_approvalTotals_countsNoticeAndJuryApprovalsByTime() public {
        bytes32 a = _noticeClaim(100);
        bytes32 b = _noticeClaim(200);
        bytes32 c = _noticeClaim(400);
        vm.prank(operator);
        _object(ledger, c, OBJECTOR);
        vm.warp(block.timestamp + NOTICE);
        uint64 t1 = uint64(block.timestamp);
        ledger.finalizeNotice(a);
        ledger.finalizeNotice(b); // same block time as a
        vm.assertEq(uint256(_juryDecides(c, _votes(3, 0))), uint256(IClaimLedger.ClaimState.APPROVED), "jury");
        uint64 t2 = uint64(block.timestamp);

        (uint256 n, uint256 p) = ledger.approvalTotals(t1, t1 + 1);
        vm.assertEq(n, 2, "two at t1");
        vm.assertEq(p, 300, "payouts at t1");
        (n, p) = ledger.approvalTotals(t1 + 1, t2 + 1);
        vm.assertEq(n, 1, "the jury's approval");
        vm.assertEq(p, 400, "its payout");
        (n, p) = ledger.approvalTotals(0, t2);
        vm.assertEq(n, 2, "window end is exclusive");
        (n, p) = ledger.approvalTotals(t2 + 1, t2);
        vm.assertEq(n + p, 0, "empty window");
    }

    function test_approvalTotals_ignoresRejections() public {
        bytes32 id = _rejected();
        vm.prank(operator);
        _appeal(ledger, id);
        _juryDecides(id, _votes(0, 3));
        (uint256 n, uint256 p) = ledger.approvalTotals(0, type(uint64).max);
        vm.assertEq(n + p, 0, "nothing approved");
    }

    /// Window totals equal a brute-force sum over the approvals, for any times and any window.
    function testFuzz_approvalTotals_equalBruteForce(uint16[6] memory gaps, uint32[6] memory payouts, uint64 a, uint64 b)
        public
    {
        bytes32[6] memory ids;
        for (uint256 i = 0; i < 6; ++i) {
            ids[i] = _noticeClaim(1 + uint64(payouts[i]));
        }
        vm.warp(block.timestamp + NOTICE);
        uint64[6] memory at;
        for (uint256 i = 0; i < 6; ++i) {
            vm.warp(block.timestamp + gaps[i] % 3); // repeats of a block time included
            ledger.finalizeNotice(ids[i]);
            at[i] = uint64(block.timestamp);
        }
        uint64 lo = at[0] - 2;
        a = lo + a % 12;
        b = lo + b % 12;
        uint256 count;
        uint256 sum;
        for (uint256 i = 0; i < 6; ++i) {
            if (a <= at[i] && at[i] < b) {
                ++count;
                sum += 1 + uint256(payouts[i]);
            }
        }
        (uint256 n, uint256 p) = ledger.approvalTotals(a, b);
        vm.assertEq(n, count, "count");
        vm.assertEq(p, sum, "payouts");
    }
}

/// Drives approvals at random times; the cumulative record may only grow.
contract ApprovalHandler is ShareBasisBase {
    bytes32[] internal _open;
    uint256 public ghostCount;
    uint256 public ghostPayouts;

    constructor() {
        setUp();
    }

    function file(uint32 payout) external {
        if (_open.length >= 8) return;
        _open.push(_noticeClaim(1 + uint64(payout)));
    }

    function approve(uint256 seed) external {
        if (_open.length == 0) return;
        uint256 i = seed % _open.length;
        bytes32 id = _open[i];
        _open[i] = _open[_open.length - 1];
        _open.pop();
        IClaimLedger.Claim memory c = ledger.claim(id);
        if (block.timestamp < c.noticeEnds) vm.warp(c.noticeEnds);
        ledger.finalizeNotice(id);
        ghostCount += 1;
        ghostPayouts += c.payoutFen;
    }

    function advance(uint16 by) external {
        vm.warp(block.timestamp + by);
    }

    function totals() external view returns (uint256, uint256) {
        return ledger.approvalTotals(0, uint64(block.timestamp) + 1);
    }
}

contract ApprovalTotalsInvariant {
    ApprovalHandler internal handler;
    uint256 internal _lastCount;
    uint256 internal _lastPayouts;

    function setUp() public {
        handler = new ApprovalHandler();
    }

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// Only the actions: the handler's inherited `setUp` would redeploy the ledger.
    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory actions = new bytes4[](3);
        actions[0] = ApprovalHandler.file.selector;
        actions[1] = ApprovalHandler.approve.selector;
        actions[2] = ApprovalHandler.advance.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), actions);
    }

    /// Cumulative totals only grow, and equal every approval ever made.
    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 200
    function invariant_cumulativeTotalsOnlyGrow() public {
        (uint256 n, uint256 p) = handler.totals();
        vm.assertTrue(n >= _lastCount && p >= _lastPayouts, "cumulative totals never shrink");
        vm.assertEq(n, handler.ghostCount(), "every approval counted once");
        vm.assertEq(p, handler.ghostPayouts(), "every payout summed once");
        (_lastCount, _lastPayouts) = (n, p);
    }
}

/**
 * @notice G5 against the real ClaimLedger: the operator publishes crafted periods with its own key.
 */
contract ApportionmentBasisTest is ShareBasisBase {
    Apportionment internal periods;
    uint64 internal windowStart;
    uint64 internal windowEnd;
    uint64 internal constant MEMBERS = 1_000;

    function setUp() public override {
        super.setUp();
        periods = new Apportionment(admin, operator, IClaimLedger(address(ledger)));
        windowStart = uint64(block.timestamp);
        bytes32 a = _noticeClaim(30_000_000);
        bytes32 b = _noticeClaim(10_000_000);
        vm.warp(block.timestamp + NOTICE);
        ledger.finalizeNotice(a);
        ledger.finalizeNotice(b);
        windowEnd = uint64(block.timestamp + 1);
        vm.warp(windowEnd);
    }

    /// The honest record: 2 claims, Σ 40,000,000 fen, the anchored rule set's fee and caps.
    function _honest() internal view returns (IApportionment.PeriodRecord memory r) {
        r.periodId = 20240307;
        r.windowStart = windowStart;
        r.windowEnd = windowEnd;
        r.ruleSetHash = RULES;
        r.feeBps = FEE_BPS;
        r.perCaseCapFen = PER_CASE;
        r.annualCapFen = ANNUAL;
        r.claimCount = 2;
        r.payoutsFen = 40_000_000;
        _settle(r);
    }

    /// Recompute the outputs of `r` from its inputs (every member pays min(base, perCase × claims)).
    function _settle(IApportionment.PeriodRecord memory r) internal pure {
        r.memberCount = MEMBERS;
        r.feeFen = uint64(uint256(r.payoutsFen) * r.feeBps / 10_000);
        uint256 due = uint256(r.payoutsFen) + r.feeFen;
        uint256 base = (due + MEMBERS - 1) / MEMBERS;
        uint256 cap = uint256(r.perCaseCapFen) * r.claimCount;
        uint256 share = base < cap ? base : cap;
        r.baseFen = uint64(base);
        r.surplusOutFen = uint64(MEMBERS * base - due);
        r.shareTotalFen = uint64(share * MEMBERS);
        r.subsidyTotalFen = uint64((base - share) * MEMBERS);
        r.membershipRoot = keccak256("members");
        r.ledgerRoot = keccak256("ledger");
        r.ledgerCid = hex"01551220aa";
    }

    function _refused(IApportionment.PeriodRecord memory r, bytes memory err) internal {
        vm.prank(operator);
        vm.expectRevert(err);
        periods.publishPeriod(r);
        vm.assertEq(periods.periodCount(), 0, "nothing published");
    }

    function test_publishPeriod_acceptsTheHonestPeriod() public {
        IApportionment.PeriodRecord memory r = _honest();
        vm.prank(operator);
        periods.publishPeriod(r);
        vm.assertEq(keccak256(abi.encode(periods.period(r.periodId))), keccak256(abi.encode(r)), "stored");
    }

    function test_publishPeriod_refusesFeeOfOneHundredPercent() public {
        IApportionment.PeriodRecord memory r = _honest();
        r.feeBps = 10_000;
        _settle(r);
        _refused(
            r,
            abi.encodeWithSelector(IApportionment.ApportionmentParametersMismatch.selector, FEE_BPS, PER_CASE, ANNUAL)
        );
    }

    function test_publishPeriod_refusesAHugePerCaseCap() public {
        IApportionment.PeriodRecord memory r = _honest();
        r.perCaseCapFen = 5_000_000;
        _settle(r);
        _refused(
            r,
            abi.encodeWithSelector(IApportionment.ApportionmentParametersMismatch.selector, FEE_BPS, PER_CASE, ANNUAL)
        );
    }

    function test_publishPeriod_refusesAnUnanchoredRuleSet() public {
        IApportionment.PeriodRecord memory r = _honest();
        r.ruleSetHash = keccak256("never anchored");
        _refused(r, abi.encodeWithSelector(IApportionment.ApportionmentRuleSetNotInForce.selector, RULES, r.ruleSetHash));
    }

    function test_publishPeriod_refusesARuleSetNotYetInForceAtTheSnapshot() public {
        bytes32 lax = keccak256("hubao.rules.lax");
        vm.prank(operator);
        ledger.anchorRuleSet(lax, 1, 1, 1, 1, 1, 1, 10_000, 5_000_000, 5_000_000);
        vm.warp(block.timestamp + 2 days); // in force now, but not at the period's snapshot
        IApportionment.PeriodRecord memory r = _honest();
        r.ruleSetHash = lax;
        r.feeBps = 10_000;
        r.perCaseCapFen = 5_000_000;
        r.annualCapFen = 5_000_000;
        _settle(r);
        _refused(r, abi.encodeWithSelector(IApportionment.ApportionmentRuleSetNotInForce.selector, RULES, lax));
    }

    function test_publishPeriod_refusesOtherClaimTotals() public {
        IApportionment.PeriodRecord memory r = _honest();
        r.claimCount = 3;
        r.payoutsFen = 70_000_000;
        _settle(r);
        _refused(
            r,
            abi.encodeWithSelector(
                IApportionment.ApportionmentClaimTotalsMismatch.selector, 2, 40_000_000, 3, 70_000_000
            )
        );
        r = _honest();
        r.claimCount = 1;
        r.payoutsFen = 30_000_000;
        _settle(r);
        _refused(
            r,
            abi.encodeWithSelector(
                IApportionment.ApportionmentClaimTotalsMismatch.selector, 2, 40_000_000, 1, 30_000_000
            )
        );
    }

    function test_publishPeriod_refusesAnOpenWindowAndAGap() public {
        IApportionment.PeriodRecord memory r = _honest();
        r.windowEnd = uint64(block.timestamp + 1);
        _refused(
            r,
            abi.encodeWithSelector(IApportionment.ApportionmentPeriodNotClosed.selector, r.windowEnd, block.timestamp)
        );
        vm.prank(operator);
        periods.publishPeriod(_honest());
        r = _honest();
        r.periodId = 20240321;
        r.windowStart = windowEnd + 1; // leaves out whatever is approved at windowEnd
        r.windowEnd = windowEnd + 10;
        vm.warp(r.windowEnd);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IApportionment.ApportionmentWindowGap.selector, windowEnd, windowEnd + 1));
        periods.publishPeriod(r);
    }

    function test_publishPeriod_refusesBeforeAnyRuleSetWasInForce() public {
        IApportionment.PeriodRecord memory r = _honest();
        r.windowStart = 1;
        r.windowEnd = 2;
        _refused(r, abi.encodeWithSelector(IApportionment.ApportionmentNoRuleSetInForce.selector, 2));
    }
}
