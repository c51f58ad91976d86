"""EIP-712 verdicts and the other hashes ``ClaimLedger`` checks: what reviewers sign, what jurors commit.

Verification-critical (DESIGN.md "Exact formats" 6): a digest computed here must be byte-equal to
``ClaimLedger.hashVerdict`` for the same verdict, chain and contract, or reviewers' signatures stop
verifying. Pinned by ``tests/vectors/eip712_verdict.json`` (digests and signatures),
``tests/vectors/eip712_vote_commitment.json`` (vote commitments and claim ids) and
``tests/vectors/eip712_vote.json`` (VoteSalt / VoteCommit digests, signatures, salts), compared with
the deployed contract by ``tests/contracts/test_claim_ledger_eip712.py`` and with forge by
``contracts/test/ClaimLedgerVectors.t.sol``. All functions are pure.

* **Domain**: ``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)``
  with name ``"Hubao"`` and version ``"2"`` (the major of ``ClaimLedger.version()``).
* **Verdict**::

      Verdict(bytes32 claimId,uint8 verdict,uint16 reasonCode,bytes32 reportHash,
              bytes32 ruleSetHash,uint256 nonce,uint256 deadline)

  ``verdict`` is 1 (APPROVE) or 2 (REJECT); ``reportHash`` is a commitment of the report, never a
  plaintext CID; ``nonce`` is the signer's ``ClaimLedger.nonces(signer)``; ``deadline`` a block
  timestamp. digest = ``keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)``, computed with
  eth-account's ``encode_typed_data``. Signatures are 65 bytes ``r ‖ s ‖ v`` with low ``s``
  (eth-account signs canonically; the contract rejects high-``s`` twins).
* **Jury vote** (all by the juror's own key):

  - ``VoteSalt(bytes32 claimId,uint32 round)`` — signed on the juror's device, never sent before
    the reveal; ``salt = keccak256(signature)`` (65 bytes ``r ‖ s ‖ v``). RFC 6979 signatures are
    deterministic, so the device re-derives the same salt at reveal time.
  - commitment = ``keccak256(abi.encode(bytes32 claimId, uint32 round, address juror, bool approve,
    bytes32 salt))`` — binds claim, round and juror, so a copied commitment opens for nobody else.
  - ``VoteCommit(bytes32 claimId,uint32 round,bytes32 commitment)`` — the signature
    ``commitVoteBySig`` checks (anyone relays it). The reveal needs no signature: the opening of a
    signed commitment authenticates itself.
* **Claim id**: ``keccak256(abi.encode(bytes32 memberCommitment, bytes32 evidenceRoot,
  bytes32 ruleSetHash, uint64 payoutFen, address claimantKey))`` (checked by ``ClaimLedger.fileClaim``;
  ``claimantKey`` is the claimant device's key for this claim, which signs its withdrawal and appeal).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from backend.errors import InvalidInput

DOMAIN_NAME = "Hubao"
DOMAIN_VERSION = "2"

VERDICT_TYPE_STRING = (
    "Verdict(bytes32 claimId,uint8 verdict,uint16 reasonCode,bytes32 reportHash,"
    "bytes32 ruleSetHash,uint256 nonce,uint256 deadline)"
)
VERDICT_TYPEHASH = keccak(text=VERDICT_TYPE_STRING)
VOTE_SALT_TYPE_STRING = "VoteSalt(bytes32 claimId,uint32 round)"
VOTE_COMMIT_TYPE_STRING = "VoteCommit(bytes32 claimId,uint32 round,bytes32 commitment)"
VOTE_COMMIT_TYPEHASH = keccak(text=VOTE_COMMIT_TYPE_STRING)

_DOMAIN_FIELDS: list[dict[str, str]] = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_VERDICT_FIELDS: list[dict[str, str]] = [
    {"name": "claimId", "type": "bytes32"},
    {"name": "verdict", "type": "uint8"},
    {"name": "reasonCode", "type": "uint16"},
    {"name": "reportHash", "type": "bytes32"},
    {"name": "ruleSetHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


class VerdictKind(IntEnum):
    """The ``verdict`` field of a signed verdict."""

    APPROVE = 1
    REJECT = 2


def _bytes32(value: bytes, name: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise InvalidInput(f"{name} must be 32 bytes", code="INVALID_BYTES32", field=name)
    return bytes(value)


def _uint(value: int, bits: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise InvalidInput(f"{name} must be a uint{bits}", code="INVALID_UINT", field=name)
    return value


def _address(value: str, name: str) -> str:
    return str(to_checksum_address(_address_bytes(value, name)))


def _address_bytes(value: str, name: str) -> bytes:
    """The 20 bytes of a hex address (a mixed-case one must be a valid checksum), for ``abi.encode``
    with no checksum to compute: every filing's claim id encodes one."""
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{name} must be a 20-byte hex address", code="INVALID_ADDRESS", field=name)
    return bytes.fromhex(value[2:] if value[:2] in ("0x", "0X") else value)


@dataclass(frozen=True)
class Eip712Domain:
    """The ClaimLedger signing domain on one chain, for one deployment."""

    chain_id: int
    verifying_contract: str
    name: str = DOMAIN_NAME
    version: str = DOMAIN_VERSION

    def __post_init__(self) -> None:
        _uint(self.chain_id, 256, "chain_id")
        object.__setattr__(self, "verifying_contract", _address(self.verifying_contract, "verifying_contract"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


@dataclass(frozen=True)
class Verdict:
    """A reviewer's verdict as signed (field for field the Solidity ``IClaimLedger.Verdict``).

    ``verdict`` accepts any uint8 so that malformed verdicts can be hashed for tests; the contract
    records only 1 (APPROVE) and 2 (REJECT).
    """

    claim_id: bytes
    verdict: int
    reason_code: int
    report_hash: bytes
    rule_set_hash: bytes
    nonce: int
    deadline: int

    def __post_init__(self) -> None:
        _bytes32(self.claim_id, "claim_id")
        _uint(int(self.verdict), 8, "verdict")
        _uint(self.reason_code, 16, "reason_code")
        _bytes32(self.report_hash, "report_hash")
        _bytes32(self.rule_set_hash, "rule_set_hash")
        _uint(self.nonce, 256, "nonce")
        _uint(self.deadline, 256, "deadline")

    def as_message(self) -> dict[str, Any]:
        """The EIP-712 ``message`` (Solidity field names)."""
        return {
            "claimId": self.claim_id,
            "verdict": int(self.verdict),
            "reasonCode": self.reason_code,
            "reportHash": self.report_hash,
            "ruleSetHash": self.rule_set_hash,
            "nonce": self.nonce,
            "deadline": self.deadline,
        }

    def as_abi_tuple(self) -> tuple[bytes, int, int, bytes, bytes, int, int]:
        """The struct as a web3 call argument (``submitVerdict``, ``hashVerdict``)."""
        return (
            self.claim_id,
            int(self.verdict),
            self.reason_code,
            self.report_hash,
            self.rule_set_hash,
            self.nonce,
            self.deadline,
        )


def verdict_typed_data(verdict: Verdict, domain: Eip712Domain) -> dict[str, Any]:
    """The full EIP-712 typed-data document (``eth_signTypedData_v4`` shape) for ``verdict``."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Verdict": _VERDICT_FIELDS},
        "primaryType": "Verdict",
        "domain": domain.as_dict(),
        "message": verdict.as_message(),
    }


def _signable(verdict: Verdict, domain: Eip712Domain) -> SignableMessage:
    return encode_typed_data(full_message=verdict_typed_data(verdict, domain))


def domain_separator(domain: Eip712Domain) -> bytes:
    """``hashStruct(EIP712Domain)``; equals OpenZeppelin's ``_domainSeparatorV4()``."""
    dummy = Verdict(b"\0" * 32, 0, 0, b"\0" * 32, b"\0" * 32, 0, 0)
    return bytes(_signable(dummy, domain).header)


def verdict_struct_hash(verdict: Verdict) -> bytes:
    """``hashStruct(Verdict)``: ``keccak256(abi.encode(VERDICT_TYPEHASH, fields...))``."""
    encoded = abi_encode(
        ["bytes32", "bytes32", "uint8", "uint16", "bytes32", "bytes32", "uint256", "uint256"],
        [VERDICT_TYPEHASH, *verdict.as_abi_tuple()],
    )
    return keccak(encoded)


def verdict_digest(verdict: Verdict, domain: Eip712Domain) -> bytes:
    """The 32-byte digest a reviewer signs; equals ``ClaimLedger.hashVerdict(verdict)``."""
    signable = _signable(verdict, domain)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_verdict(signer: LocalAccount, verdict: Verdict, domain: Eip712Domain) -> bytes:
    """The 65-byte ``r ‖ s ‖ v`` signature (low ``s``, ``v`` in {27, 28}) of ``verdict`` by ``signer``."""
    signed = signer.sign_message(_signable(verdict, domain))
    return bytes(signed.signature)


def recover_verdict_signer(verdict: Verdict, domain: Eip712Domain, signature: bytes) -> str:
    """The checksummed address whose key made ``signature`` over ``verdict`` in ``domain``."""
    if len(signature) != 65:
        raise InvalidInput("a verdict signature is 65 bytes", code="INVALID_SIGNATURE", length=len(signature))
    return str(Account.recover_message(_signable(verdict, domain), signature=signature))


def vote_commitment(claim_id: bytes, round_: int, juror: str, approve: bool, salt: bytes) -> bytes:
    """``keccak256(abi.encode(claimId, round, juror, approve, salt))``: what ``revealVote`` opens."""
    encoded = abi_encode(
        ["bytes32", "uint32", "address", "bool", "bytes32"],
        [
            _bytes32(claim_id, "claim_id"),
            _uint(round_, 32, "round"),
            _address(juror, "juror"),
            bool(approve),
            _bytes32(salt, "salt"),
        ],
    )
    return keccak(encoded)


def salt_from_signature(signature: bytes) -> bytes:
    """The vote salt: ``keccak256`` of the 65-byte ``VoteSalt`` signature."""
    if len(signature) != 65:
        raise InvalidInput("a signature is 65 bytes", code="INVALID_SIGNATURE", length=len(signature))
    return keccak(signature)


def claim_id(
    member_commitment: bytes, evidence_root: bytes, rule_set_hash: bytes, payout_fen: int, claimant_key: str
) -> bytes:
    """The deterministic claim id ``ClaimLedger.fileClaim`` requires: ``keccak256(abi.encode(
    memberCommitment, evidenceRoot, ruleSetHash, payoutFen, claimantKey))``."""
    encoded = abi_encode(
        ["bytes32", "bytes32", "bytes32", "uint64", "address"],
        [
            _bytes32(member_commitment, "member_commitment"),
            _bytes32(evidence_root, "evidence_root"),
            _bytes32(rule_set_hash, "rule_set_hash"),
            _uint(payout_fen, 64, "payout_fen"),
            _address_bytes(claimant_key, "claimant_key"),
        ],
    )
    return keccak(encoded)
