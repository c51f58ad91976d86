// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ClaimLedger} from "../src/ClaimLedger.sol";
import {IClaimLedger} from "../src/IClaimLedger.sol";

/**
 * @title ClaimLedgerVm
 * @notice The forge cheatcodes the ClaimLedger tests use, declared by hand (forge-std is not
 * installed). Every signature is forge's own; a typo surfaces as "unknown cheatcode", never as a pass.
 */
interface ClaimLedgerVm {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function warp(uint256 newTimestamp) external;
    function roll(uint256 newHeight) external;
    function setBlockhash(uint256 blockNumber, bytes32 blockHash) external;
    function chainId(uint256 newChainId) external;
    function etch(address target, bytes calldata newRuntimeBytecode) external;
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
    function addr(uint256 privateKey) external pure returns (address keyAddr);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function assume(bool condition) external pure;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert() external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter)
        external;
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);
    function assertEq(uint256 left, uint256 right, string calldata error) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata error) external pure;
    function assertEq(address left, address right, string calldata error) external pure;
    function assertEq(bool left, bool right, string calldata error) external pure;
    function assertEq(string calldata left, string calldata right, string calldata error) external pure;
    function assertEq(address[] calldata left, address[] calldata right, string calldata error) external pure;
    function assertLe(uint256 left, uint256 right, string calldata error) external pure;
    function assertTrue(bool condition, string calldata error) external pure;
    function assertFalse(bool condition, string calldata error) external pure;
    function projectRoot() external view returns (string memory path);
    function readFile(string calldata path) external view returns (string memory data);
    function parseJsonBytes32(string calldata json, string calldata key) external pure returns (bytes32);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
    function parseJsonUint(string calldata json, string calldata key) external pure returns (uint256);
    function parseJsonAddress(string calldata json, string calldata key) external pure returns (address);
    function parseJsonAddressArray(string calldata json, string calldata key) external pure returns (address[] memory);
    function parseJsonString(string calldata json, string calldata key) external pure returns (string memory);
    function parseJsonBool(string calldata json, string calldata key) external pure returns (bool);
    function keyExistsJson(string calldata json, string calldata key) external view returns (bool);
    function toString(uint256 value) external pure returns (string memory);
}

/// @dev The cheatcode address, `address(uint160(uint256(keccak256("hevm cheat code"))))`.
ClaimLedgerVm constant vm = ClaimLedgerVm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

/**
 * @notice Shared fixture: a ledger with one rule set (quorum 2, jury of 5, turnout 3), three
 * reviewers with known keys, seven jurors, and helpers that walk a claim along its lifecycle.
 */
abstract contract ClaimLedgerTestBase {
    uint256 internal constant NOTICE = 7 days;
    uint256 internal constant COMMIT = 2 days;
    uint256 internal constant REVEAL = 2 days;
    uint8 internal constant QUORUM = 2;
    uint8 internal constant JURY = 5;
    uint8 internal constant TURNOUT = 3;
    uint8 internal constant APPROVE = 1;
    uint8 internal constant REJECT = 2;
    /// Jurors on the roster: enough for two rounds of JURY with a few conflicts.
    uint160 internal constant POOL = 12;
    bytes32 internal constant JURY_DRAWN_TOPIC = keccak256("JuryDrawn(bytes32,uint32,bytes32,address[],uint64,uint64)");

    bytes32 internal constant RULES = keccak256("hubao.rules.v1");
    bytes32 internal constant MEMBER = keccak256("member-commitment-1");
    bytes32 internal constant EVIDENCE = keccak256("evidence-root-1");
    bytes32 internal constant OBJECTOR = keccak256("objector-commitment-1");
    uint64 internal constant PAYOUT = 30_000_000; // RMB 300,000 in fen

    uint256 internal constant REVIEWER_A_KEY = 0xA11CE;
    uint256 internal constant REVIEWER_B_KEY = 0xB0B;
    uint256 internal constant REVIEWER_C_KEY = 0xC0C;
    uint256 internal constant STRANGER_KEY = 0x5757;

    /// secp256k1 group order: s' = N - s is the high-s twin of a signature.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    address internal admin = address(0xAD);
    address internal operator = address(0x0FE);
    address internal attacker = address(0xBAD);
    /// Stands in for the RosterTimelock (ROSTER_ROLE holder); the timelock itself is tested in RosterTimelock.t.sol.
    address internal roster = address(0x705);
    address internal reviewerA;
    address internal reviewerB;
    address internal reviewerC;
    address[] internal jurorPool;

    ClaimLedger internal ledger;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        vm.roll(100);
        reviewerA = vm.addr(REVIEWER_A_KEY);
        reviewerB = vm.addr(REVIEWER_B_KEY);
        reviewerC = vm.addr(REVIEWER_C_KEY);
        ledger = new ClaimLedger(admin, operator, 1 days, roster);
        vm.prank(operator);
        ledger.anchorRuleSet(RULES, uint32(NOTICE), QUORUM, JURY, TURNOUT, uint32(COMMIT), uint32(REVEAL), 800, 10, 18_800);
        vm.startPrank(roster);
        ledger.grantRole(ledger.REVIEWER_ROLE(), reviewerA);
        ledger.grantRole(ledger.REVIEWER_ROLE(), reviewerB);
        ledger.grantRole(ledger.REVIEWER_ROLE(), reviewerC);
        for (uint160 i = 1; i <= POOL; ++i) {
            address juror = address(0x1000 + i);
            jurorPool.push(juror);
            ledger.grantRole(ledger.JUROR_ROLE(), juror);
        }
        vm.stopPrank();
    }

    // ───────────────────────── builders ─────────────────────────

    function _claimId(bytes32 member, bytes32 evidence, uint64 payout) internal pure returns (bytes32) {
        return keccak256(abi.encode(member, evidence, RULES, payout));
    }

    function _file(bytes32 member, bytes32 evidence, uint64 payout) internal returns (bytes32 id) {
        id = _claimId(member, evidence, payout);
        vm.prank(operator);
        ledger.fileClaim(id, member, evidence, RULES, payout);
    }

    function _fileDefault() internal returns (bytes32) {
        return _file(MEMBER, EVIDENCE, PAYOUT);
    }

    function _underReview() internal returns (bytes32 id) {
        id = _fileDefault();
        vm.prank(operator);
        ledger.openReview(id);
    }

    function _verdict(bytes32 id, uint8 kind, address signer) internal view returns (IClaimLedger.Verdict memory) {
        return IClaimLedger.Verdict({
            claimId: id,
            verdict: kind,
            reasonCode: kind == APPROVE ? 0 : 3,
            reportHash: keccak256(abi.encode("report", id, signer)),
            ruleSetHash: RULES,
            nonce: ledger.nonces(signer),
            deadline: block.timestamp + 1 days
        });
    }

    function _sign(uint256 key, IClaimLedger.Verdict memory v) internal view returns (bytes memory) {
        (uint8 sv, bytes32 r, bytes32 s) = vm.sign(key, ledger.hashVerdict(v));
        return abi.encodePacked(r, s, sv);
    }

    function _review(bytes32 id, uint256 key, uint8 kind) internal returns (IClaimLedger.ClaimState) {
        IClaimLedger.Verdict memory v = _verdict(id, kind, vm.addr(key));
        return ledger.submitVerdict(id, v, _sign(key, v));
    }

    function _inNotice() internal returns (bytes32 id) {
        id = _underReview();
        _review(id, REVIEWER_A_KEY, APPROVE);
        _review(id, REVIEWER_B_KEY, APPROVE);
    }

    function _rejected() internal returns (bytes32 id) {
        id = _underReview();
        _review(id, REVIEWER_A_KEY, APPROVE);
        _review(id, REVIEWER_B_KEY, REJECT);
    }

    function _disputed() internal returns (bytes32 id) {
        id = _inNotice();
        vm.prank(operator);
        ledger.object(id, OBJECTOR);
    }

    function _approved() internal returns (bytes32 id) {
        id = _inNotice();
        vm.warp(block.timestamp + NOTICE);
        ledger.finalizeNotice(id);
    }

    function _jurors(uint256 count) internal view returns (address[] memory jurors) {
        jurors = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            jurors[i] = jurorPool[i];
        }
    }

    /// Roll past the scheduled draw block and draw (anyone may): the seated jurors in seat order.
    function _draw(bytes32 id) internal returns (address[] memory jurors) {
        vm.roll(uint256(ledger.claim(id).drawBlock) + 1);
        vm.recordLogs();
        vm.prank(attacker);
        ledger.drawJury(id);
        ClaimLedgerVm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].topics[0] == JURY_DRAWN_TOPIC) {
                (, jurors,,) = abi.decode(logs[i].data, (bytes32, address[], uint64, uint64));
            }
        }
    }

    function _salt(address juror) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", juror));
    }

    /// `keccak256(abi.encode(claimId, round, juror, approve, salt))` for the claim's current round.
    function _commitment(bytes32 id, address juror, bool approve, bytes32 salt) internal view returns (bytes32) {
        return keccak256(abi.encode(id, ledger.claim(id).juryRound, juror, approve, salt));
    }

    function _commit(bytes32 id, address juror, bool approve) internal {
        bytes32 commitment = _commitment(id, juror, approve, _salt(juror));
        vm.prank(juror);
        ledger.commitVote(id, commitment);
    }

    function _reveal(bytes32 id, address juror, bool approve) internal {
        ledger.revealVote(id, juror, approve, _salt(juror));
    }

    /// Draw a jury for a DISPUTED claim, have the first `votes.length` jurors vote, and tally.
    function _juryDecides(bytes32 id, bool[] memory votes) internal returns (IClaimLedger.ClaimState) {
        _juryVotes(id, votes);
        return ledger.tallyJury(id);
    }

    /// Draw a jury, have the first `votes.length` jurors commit and reveal, and end the reveal window.
    function _juryVotes(bytes32 id, bool[] memory votes) internal {
        address[] memory jurors = _draw(id);
        for (uint256 i = 0; i < votes.length; ++i) {
            _commit(id, jurors[i], votes[i]);
        }
        vm.warp(block.timestamp + COMMIT);
        for (uint256 i = 0; i < votes.length; ++i) {
            _reveal(id, jurors[i], votes[i]);
        }
        vm.warp(block.timestamp + REVEAL);
    }

    function _votes(uint256 approvals, uint256 rejections) internal pure returns (bool[] memory votes) {
        votes = new bool[](approvals + rejections);
        for (uint256 i = 0; i < approvals; ++i) {
            votes[i] = true;
        }
    }

    function _err(bytes4 selector, bytes32 id, IClaimLedger.ClaimState a, IClaimLedger.ClaimState b)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodeWithSelector(selector, id, a, b);
    }

    function _assertState(bytes32 id, IClaimLedger.ClaimState expected, string memory what) internal view {
        vm.assertEq(uint256(ledger.state(id)), uint256(expected), what);
    }
}
