// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ClaimLedger} from "../src/ClaimLedger.sol";
import {IClaimLedger} from "../src/IClaimLedger.sol";
import {vm} from "./ClaimLedgerBase.t.sol";

/**
 * @notice Golden vectors shared with Python (tests/vectors/eip712_verdict.json and
 * eip712_vote_commitment.json, see their "derivation"): the Solidity digest, vote commitment and
 * claim id equal the ones eth-account / eth-abi computed, for every vector.
 */
contract ClaimLedgerVectorsTest {
    string internal constant VERDICTS = "/../tests/vectors/eip712_verdict.json";
    string internal constant COMMITMENTS = "/../tests/vectors/eip712_vote_commitment.json";

    ClaimLedger internal ledger;

    function setUp() public {
        ledger = new ClaimLedger(address(0xAD), address(0x0FE), 1 days, address(0x705));
    }

    function _read(string memory file) internal view returns (string memory) {
        return vm.readFile(string.concat(vm.projectRoot(), file));
    }

    function test_hashVerdict_equalsGoldenDigests() public {
        string memory json = _read(VERDICTS);
        vm.assertEq(vm.parseJsonBytes32(json, ".typeHash"), ledger.VERDICT_TYPEHASH(), "type hash");
        bytes memory code = address(ledger).code;
        uint256 checked;
        for (uint256 i = 0; vm.keyExistsJson(json, string.concat(".vectors[", vm.toString(i), "]")); ++i) {
            _checkVerdictVector(json, string.concat(".vectors[", vm.toString(i), "]"), code);
            checked += 1;
        }
        vm.assertEq(checked, 6, "every vector checked");
    }

    /// ClaimLedger 2.0.0 has no voteCommitment / claimIdOf views (bytecode budget): the vectors
    /// are checked against the Solidity abi.encode the contract itself uses in revealVote / fileClaim.
    function test_voteCommitmentAndClaimId_equalGoldenValues() public view {
        string memory json = _read(COMMITMENTS);
        uint256 checked;
        for (uint256 i = 0; vm.keyExistsJson(json, string.concat(".voteCommitments[", vm.toString(i), "]")); ++i) {
            string memory p = string.concat(".voteCommitments[", vm.toString(i), "]");
            bytes32 c = keccak256(
                abi.encode(
                    vm.parseJsonBytes32(json, string.concat(p, ".claimId")),
                    uint32(vm.parseJsonUint(json, string.concat(p, ".round"))),
                    vm.parseJsonAddress(json, string.concat(p, ".juror")),
                    vm.parseJsonBool(json, string.concat(p, ".approve")),
                    vm.parseJsonBytes32(json, string.concat(p, ".salt"))
                )
            );
            vm.assertEq(c, vm.parseJsonBytes32(json, string.concat(p, ".commitment")), p);
            checked += 1;
        }
        for (uint256 i = 0; vm.keyExistsJson(json, string.concat(".claimIds[", vm.toString(i), "]")); ++i) {
            string memory p = string.concat(".claimIds[", vm.toString(i), "]");
            bytes32 id = keccak256(
                abi.encode(
                    vm.parseJsonBytes32(json, string.concat(p, ".memberCommitment")),
                    vm.parseJsonBytes32(json, string.concat(p, ".evidenceRoot")),
                    vm.parseJsonBytes32(json, string.concat(p, ".ruleSetHash")),
                    uint64(vm.parseJsonUint(json, string.concat(p, ".payoutFen")))
                )
            );
            vm.assertEq(id, vm.parseJsonBytes32(json, string.concat(p, ".claimId")), p);
            checked += 1;
        }
        vm.assertEq(checked, 8, "every vector checked");
    }

    function _checkVerdictVector(string memory json, string memory p, bytes memory code) internal {
        address verifying = vm.parseJsonAddress(json, string.concat(p, ".domain.verifyingContract"));
        vm.chainId(vm.parseJsonUint(json, string.concat(p, ".domain.chainId")));
        // The same runtime code at the vector's address: OZ EIP712 rebuilds the domain for it.
        vm.etch(verifying, code);
        bytes32 digest = IClaimLedger(verifying).hashVerdict(_verdict(json, p));
        vm.assertEq(digest, vm.parseJsonBytes32(json, string.concat(p, ".digest")), p);
        (bytes32 r, bytes32 s, uint8 sv) = _split(vm.parseJsonBytes(json, string.concat(p, ".signature")));
        vm.assertEq(ecrecover(digest, sv, r, s), vm.parseJsonAddress(json, string.concat(p, ".signer")), "signer");
    }

    function _verdict(string memory json, string memory p) internal pure returns (IClaimLedger.Verdict memory v) {
        v.claimId = vm.parseJsonBytes32(json, string.concat(p, ".verdict.claimId"));
        v.verdict = uint8(vm.parseJsonUint(json, string.concat(p, ".verdict.verdict")));
        v.reasonCode = uint16(vm.parseJsonUint(json, string.concat(p, ".verdict.reasonCode")));
        v.reportHash = vm.parseJsonBytes32(json, string.concat(p, ".verdict.reportHash"));
        v.ruleSetHash = vm.parseJsonBytes32(json, string.concat(p, ".verdict.ruleSetHash"));
        v.nonce = vm.parseJsonUint(json, string.concat(p, ".verdict.nonce"));
        v.deadline = vm.parseJsonUint(json, string.concat(p, ".verdict.deadline"));
    }

    function _split(bytes memory sig) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly ("memory-safe") {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
    }
}
