// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// Every revert shape a contract produces, for recording how each node reports it
/// (tests/chains/record_reverts.py writes tests/chains/fixtures/revert_bodies.json).
contract RevertProbe {
    error ProbeNoArgs();
    error ProbeWithArgs(uint256 code, bytes32 ref);

    function noArgs() external pure {
        revert ProbeNoArgs();
    }

    function withArgs() external pure {
        revert ProbeWithArgs(42, keccak256("ref"));
    }

    function reason() external pure {
        require(false, "probe reason");
    }

    function panic(uint256 i) external pure returns (uint256) {
        uint256[] memory a = new uint256[](1);
        return a[i];
    }

    function empty() external pure {
        revert();
    }
}
