// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/**
 * @title RosterTimelock
 * @notice The public delay in front of ClaimLedger's reviewer and juror rosters: it holds
 * ClaimLedger's `ROSTER_ROLE` (the admin of `REVIEWER_ROLE` and `JUROR_ROLE`), so every grant or
 * revocation is first announced (`CallScheduled`, with its calldata) and takes effect only when
 * executed (`CallExecuted`) at least `getMinDelay()` seconds later.
 * @dev A thin OpenZeppelin {TimelockController}: `proposer` (the operator key) schedules and may
 * cancel; anyone executes a ready operation (`EXECUTOR_ROLE` is held by `address(0)`);
 * `canceller` (the contracts' admin, whose key never reaches the server) may also cancel an
 * announced change it objects to. No admin: the timelock administers itself, so changing its
 * delay or its proposers is itself an announced, delayed operation.
 */
contract RosterTimelock is TimelockController {
    /**
     * @param minDelay Seconds between scheduling and execution (`HUBAO_ROSTER_DELAY`).
     * @param proposer The account that announces roster changes (the operator key).
     * @param canceller A second account allowed to cancel announced changes (the admin).
     */
    constructor(uint256 minDelay, address proposer, address canceller)
        TimelockController(minDelay, _one(proposer), _one(address(0)), address(0))
    {
        _grantRole(CANCELLER_ROLE, canceller);
    }

    /// @notice Semantic version of this contract.
    function version() external pure returns (string memory) {
        return "1.0.0";
    }

    function _one(address account) private pure returns (address[] memory list) {
        list = new address[](1);
        list[0] = account;
    }
}
