"""Filing receipts: the operator's signed promise that a claim will be on chain by a deadline.

Verification-critical (DESIGN.md "Exact formats"; issue 14 item 4), pinned by
``tests/vectors/filing_receipt.json``. Pure: no I/O (the chain is asked through a
:class:`FilingLookup`), no keys (the service signs).

When a filing is accepted — committed to the database, *before* it is relayed to ClaimLedger — the
operator signs, with its ClaimLedger operator key, the EIP-712 message::

    FilingReceipt(bytes32 claimId,bytes32 evidenceRoot,uint64 filedAt,uint64 onChainBy)

in the ClaimLedger domain ``{name "Hubao", version, chainId, verifyingContract}``. It is an
off-chain message (the contract never sees it), in the manner of a Certificate Transparency signed
certificate timestamp: a signed promise of inclusion checked by the party it concerns. A filing
not on chain by ``onChainBy`` is then provable censorship — the receipt carries the operator's
signature, and anyone can ask the chain whether the claim is there.

Format, version 1 (JSON object, exactly these keys; hashes and bytes as lower-case ``0x`` hex)::

    {
      "version": 1,
      "kind": "filing",
      "chainId": 31337,                   EIP-155 chain id (the domain's chainId)
      "contract": "0x…",                  ClaimLedger address (the domain's verifyingContract)
      "domainVersion": "1",               the domain's version (ClaimLedger's major version)
      "operator": "0x…",                  the address whose key signed (EIP-55 or lower case)
      "claimId": "0x…32",                 the claim's id on ClaimLedger
      "evidenceRoot": "0x…32",            the claim's evidence root
      "filedAt": 1767225600,              uint64 unix seconds the operator accepted the filing
      "onChainBy": 1767229200,            uint64 unix seconds (block time) it must be filed by
      "signature": "0x…65"                r ‖ s ‖ v (v 27/28, low s) over the EIP-712 digest
    }

Steps (:class:`FilingStep`); the first failure stops verification:

  offline — :func:`verify_filing_receipt_offline`
    1 SCHEMA      exact keys, types, ranges, canonical hex; filedAt <= onChainBy   FilingSchemaError
    2 SIGNATURE   the signature (low s) recovers to ``operator`` (and to the        FilingSignatureInvalid
                  expected operator address, when the verifier gives one)
  on chain — :func:`verify_filing_receipt_onchain` runs 1–2, then
    3 DEPLOYMENT  the node's chain id is the receipt's; ClaimLedger is there        FilingDeploymentMismatch
    4 OPERATOR    ``operator`` holds ClaimLedger's OPERATOR_ROLE                     FilingSignerNotOperator
    5 INCLUSION   the claim is on ClaimLedger with this evidence root, filed at or   FilingClaimCensored
                  before ``onChainBy``. Before ``onChainBy`` (the latest block's     (code FILING_CENSORED,
                  time) a claim not yet there is *pending*: the step is skipped.     or FILING_LATE, or
                                                                                      FILING_EVIDENCE_MISMATCH)

:attr:`FilingReport.outcome` sums it up: ``on_chain``, ``pending``, ``censored`` (not on chain after
the deadline), ``late`` (on chain, filed after the deadline), or None (the receipt itself failed,
or only the offline steps ran).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Protocol

from backend.proofs.errors import ProofError
from backend.proofs.hexstr import from_hex, is_canonical_hex, to_checksum_address, to_hex
from backend.proofs.keccak import keccak256
from backend.proofs.report import StepReport, StepRunner
from backend.proofs.signatures import is_high_s, recover_address
from backend.proofs.strict_json import ReceiptFields

__all__ = [
    "FILING_RECEIPT_TYPE",
    "KIND_FILING",
    "FilingClaimCensored",
    "FilingDeploymentMismatch",
    "FilingLookup",
    "FilingOnchainClaim",
    "FilingReceipt",
    "FilingReceiptError",
    "FilingReport",
    "FilingSchemaError",
    "FilingSignatureInvalid",
    "FilingSignerNotOperator",
    "FilingStep",
    "filing_receipt_digest",
    "filing_receipt_typed_data",
    "is_filing_receipt",
    "parse_filing_receipt",
    "verify_filing_receipt_offline",
    "verify_filing_receipt_onchain",
]

RECEIPT_VERSION = 1
KIND_FILING = "filing"
DOMAIN_NAME = "Hubao"
FILING_RECEIPT_TYPE = "FilingReceipt(bytes32 claimId,bytes32 evidenceRoot,uint64 filedAt,uint64 onChainBy)"
_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
_FILING_TYPEHASH = keccak256(FILING_RECEIPT_TYPE.encode())
_DOMAIN_TYPEHASH = keccak256(_DOMAIN_TYPE.encode())

_UINT64_MAX = 2**64 - 1
_UINT256_MAX = 2**256 - 1
_KEYS = (
    "version",
    "kind",
    "chainId",
    "contract",
    "domainVersion",
    "operator",
    "claimId",
    "evidenceRoot",
    "filedAt",
    "onChainBy",
    "signature",
)


class FilingStep(IntEnum):
    """The numbered steps of filing-receipt verification (module docstring)."""

    SCHEMA = 1
    SIGNATURE = 2
    DEPLOYMENT = 3
    OPERATOR = 4
    INCLUSION = 5


class FilingReceiptError(ProofError):
    """A filing receipt failed verification at ``step``."""

    code = "FILING_RECEIPT_INVALID"
    step: ClassVar[FilingStep]

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message, step=int(self.step), step_name=self.step.name, **fields)


class FilingSchemaError(FilingReceiptError):
    code = "FILING_RECEIPT_SCHEMA"
    step = FilingStep.SCHEMA


class FilingSignatureInvalid(FilingReceiptError):
    code = "FILING_RECEIPT_SIGNATURE"
    step = FilingStep.SIGNATURE


class FilingDeploymentMismatch(FilingReceiptError):
    code = "FILING_RECEIPT_DEPLOYMENT_MISMATCH"
    step = FilingStep.DEPLOYMENT


class FilingSignerNotOperator(FilingReceiptError):
    code = "FILING_RECEIPT_NOT_OPERATOR"
    step = FilingStep.OPERATOR


class FilingClaimCensored(FilingReceiptError):
    """Step 5: the promise was broken. ``code`` is FILING_CENSORED (not on chain after the
    deadline), FILING_LATE (filed after it) or FILING_EVIDENCE_MISMATCH (another evidence root)."""

    code = "FILING_CENSORED"
    step = FilingStep.INCLUSION

    def __init__(self, message: str, *, code: str = "FILING_CENSORED", **fields: Any) -> None:
        super().__init__(message, code=code, **fields)


# --- the receipt -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilingReceipt:
    """A parsed, schema-valid filing receipt."""

    chain_id: int
    contract: str
    domain_version: str
    operator: str
    claim_id: bytes
    evidence_root: bytes
    filed_at: int
    on_chain_by: int
    signature: bytes

    def digest(self) -> bytes:
        return filing_receipt_digest(
            chain_id=self.chain_id,
            contract=self.contract,
            domain_version=self.domain_version,
            claim_id=self.claim_id,
            evidence_root=self.evidence_root,
            filed_at=self.filed_at,
            on_chain_by=self.on_chain_by,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECEIPT_VERSION,
            "kind": KIND_FILING,
            "chainId": self.chain_id,
            "contract": self.contract,
            "domainVersion": self.domain_version,
            "operator": self.operator,
            "claimId": to_hex(self.claim_id),
            "evidenceRoot": to_hex(self.evidence_root),
            "filedAt": self.filed_at,
            "onChainBy": self.on_chain_by,
            "signature": to_hex(self.signature),
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))


def _u256(value: int) -> bytes:
    return value.to_bytes(32, "big")


def filing_receipt_digest(
    *,
    chain_id: int,
    contract: str,
    domain_version: str,
    claim_id: bytes,
    evidence_root: bytes,
    filed_at: int,
    on_chain_by: int,
) -> bytes:
    """``keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(FilingReceipt))``: what the operator signs.

    Equals eth-account's ``encode_typed_data`` of :func:`filing_receipt_typed_data` (pinned by tests).
    """
    domain_separator = keccak256(
        _DOMAIN_TYPEHASH
        + keccak256(DOMAIN_NAME.encode())
        + keccak256(domain_version.encode())
        + _u256(chain_id)
        + bytes(12)
        + from_hex(contract, length=20)
    )
    struct_hash = keccak256(_FILING_TYPEHASH + claim_id + evidence_root + _u256(filed_at) + _u256(on_chain_by))
    return keccak256(b"\x19\x01" + domain_separator + struct_hash)


def filing_receipt_typed_data(
    *,
    chain_id: int,
    contract: str,
    domain_version: str,
    claim_id: bytes,
    evidence_root: bytes,
    filed_at: int,
    on_chain_by: int,
) -> dict[str, Any]:
    """The EIP-712 document (``eth_signTypedData_v4`` shape) whose digest is :func:`filing_receipt_digest`."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "FilingReceipt": [
                {"name": "claimId", "type": "bytes32"},
                {"name": "evidenceRoot", "type": "bytes32"},
                {"name": "filedAt", "type": "uint64"},
                {"name": "onChainBy", "type": "uint64"},
            ],
        },
        "primaryType": "FilingReceipt",
        "domain": {
            "name": DOMAIN_NAME,
            "version": domain_version,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(contract),
        },
        "message": {
            "claimId": to_hex(claim_id),
            "evidenceRoot": to_hex(evidence_root),
            "filedAt": filed_at,
            "onChainBy": on_chain_by,
        },
    }


# --- step 1: schema ----------------------------------------------------------------------------

_FIELDS = ReceiptFields(FilingSchemaError)


def is_filing_receipt(text: str | bytes) -> bool:
    """Whether ``text`` is a JSON object of kind ``filing`` (to pick the verifier; nothing is checked)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("kind") == KIND_FILING


def parse_filing_receipt(receipt: Mapping[str, Any] | str | bytes) -> FilingReceipt:
    """Step 1: parse and validate a version-1 filing receipt; ``FilingSchemaError`` names the field."""
    doc = _FIELDS.loads(receipt) if isinstance(receipt, str | bytes) else receipt
    if not isinstance(doc, Mapping):
        raise FilingSchemaError("receipt must be a JSON object", field="$")
    if doc.get("version") != RECEIPT_VERSION or type(doc.get("version")) is not int:
        raise FilingSchemaError(f"unsupported receipt version {doc.get('version')!r}", field="version")
    for key in _KEYS:
        if key not in doc:
            raise FilingSchemaError(f"missing field {key}", field=key)
    unknown = sorted(set(doc) - set(_KEYS))
    if unknown:
        raise FilingSchemaError(f"unknown field {unknown[0]}", field=unknown[0])
    if doc["kind"] != KIND_FILING:
        raise FilingSchemaError(f"kind must be {KIND_FILING!r}", field="kind")
    chain_id = _FIELDS.integer(doc, "chainId", 1, _UINT256_MAX)
    contract = _FIELDS.address(doc["contract"], "contract")
    version = doc["domainVersion"]
    if not isinstance(version, str) or not version.isdigit() or not version.isascii():
        raise FilingSchemaError("domainVersion must be the contract's major version as a string", field="domainVersion")
    operator = _FIELDS.address(doc["operator"], "operator")
    claim_id = _FIELDS.bytes32(doc, "claimId")
    evidence_root = _FIELDS.bytes32(doc, "evidenceRoot")
    filed_at = _FIELDS.integer(doc, "filedAt", 0, _UINT64_MAX)
    on_chain_by = _FIELDS.integer(doc, "onChainBy", 0, _UINT64_MAX)
    if on_chain_by < filed_at:
        raise FilingSchemaError("onChainBy is before filedAt", field="onChainBy", other_field="filedAt")
    if not is_canonical_hex(doc["signature"], 65):
        raise FilingSchemaError("signature must be 65 bytes of lower-case 0x hex", field="signature")
    return FilingReceipt(
        chain_id=chain_id,
        contract=contract,
        domain_version=version,
        operator=operator,
        claim_id=claim_id,
        evidence_root=evidence_root,
        filed_at=filed_at,
        on_chain_by=on_chain_by,
        signature=from_hex(doc["signature"]),
    )


# --- the chain, as the on-chain steps see it -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilingOnchainClaim:
    """What ClaimLedger records of a claim (``claim(claimId)``): its evidence root and filing time."""

    evidence_root: bytes
    filed_at: int


class FilingLookup(Protocol):
    """The chain as the on-chain steps ask it (``backend.chain`` implements it over web3)."""

    def chain_id(self) -> int: ...

    def ledger_deployed(self, contract: str) -> bool:
        """Whether ``contract`` holds code (a ClaimLedger)."""
        ...

    def is_operator(self, contract: str, account: str) -> bool:
        """``hasRole(OPERATOR_ROLE, account)`` on ClaimLedger ``contract``."""
        ...

    def claim(self, contract: str, claim_id: bytes) -> FilingOnchainClaim | None:
        """The claim as ClaimLedger records it; None when it was never filed (state NONE)."""
        ...

    def latest_timestamp(self) -> int:
        """The latest block's timestamp (what "now" is on chain)."""
        ...


# --- verification ------------------------------------------------------------------------------


class FilingReport(StepReport[FilingStep, FilingReceiptError, FilingReceipt]):
    """Outcome of verifying one filing receipt; ``outcome`` is set by the on-chain steps."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        super().__init__()
        self.outcome: str | None = None

    @property
    def censored(self) -> bool:
        """The receipt is genuine and the chain shows the promise broken (exit code 2 of the CLI)."""
        return self.outcome in ("censored", "late", "evidence_mismatch")

    def to_json(self) -> dict[str, Any]:
        doc = super().to_json()
        doc["kind"] = KIND_FILING
        doc["outcome"] = self.outcome
        return doc


def _run_offline(
    runner: StepRunner[FilingStep, FilingReceiptError, FilingReceipt],
    receipt: Mapping[str, Any] | str | bytes | FilingReceipt,
    operator: str | None,
) -> None:
    report = runner.report

    def schema() -> None:
        report.receipt = parse_filing_receipt(receipt.to_json() if isinstance(receipt, FilingReceipt) else receipt)

    def signature() -> None:
        r = report.receipt
        assert r is not None
        if is_high_s(r.signature):
            raise FilingSignatureInvalid("high-s signature (not the canonical form)", field="signature")
        signer = recover_address(r.digest(), r.signature)
        if signer is None or signer != r.operator.lower():
            raise FilingSignatureInvalid("the signature is not the operator's over these fields", field="signature")
        if operator is not None and signer != operator.lower():
            raise FilingSignatureInvalid(
                f"signed by {to_checksum_address(signer)}, not by the operator {operator}", field="operator"
            )

    runner.run(FilingStep.SCHEMA, schema)
    runner.run(FilingStep.SIGNATURE, signature)


def verify_filing_receipt_offline(
    receipt: Mapping[str, Any] | str | bytes | FilingReceipt, *, operator: str | None = None
) -> FilingReport:
    """Steps 1–2 (the receipt alone; with ``operator``, also that this address signed). Never raises
    for a bad receipt."""
    report = FilingReport()
    _run_offline(StepRunner(report, FilingReceiptError), receipt, operator)
    return report


def verify_filing_receipt_onchain(
    receipt: Mapping[str, Any] | str | bytes | FilingReceipt, lookup: FilingLookup, *, operator: str | None = None
) -> FilingReport:
    """Steps 1–5: offline, then ClaimLedger through ``lookup``; sets ``report.outcome``."""
    report = FilingReport()
    runner: StepRunner[FilingStep, FilingReceiptError, FilingReceipt] = StepRunner(report, FilingReceiptError)
    _run_offline(runner, receipt, operator)

    def r() -> FilingReceipt:
        assert report.receipt is not None
        return report.receipt

    def deployment() -> None:
        chain_id = lookup.chain_id()
        if chain_id != r().chain_id:
            raise FilingDeploymentMismatch(f"the node serves chain {chain_id}, not {r().chain_id}", field="chainId")
        if not lookup.ledger_deployed(r().contract):
            raise FilingDeploymentMismatch("no contract at the receipt's address", field="contract")

    def operator_role() -> None:
        if not lookup.is_operator(r().contract, r().operator):
            raise FilingSignerNotOperator("the signer does not hold ClaimLedger's OPERATOR_ROLE", field="operator")

    def inclusion() -> str | None:
        rec = r()
        onchain = lookup.claim(rec.contract, rec.claim_id)
        if onchain is None:
            now = lookup.latest_timestamp()
            if now <= rec.on_chain_by:
                report.outcome = "pending"
                return f"not on chain yet; the operator promised it by {rec.on_chain_by} (chain time now {now})"
            report.outcome = "censored"
            raise FilingClaimCensored(
                f"CENSORED: the claim is not on chain and the operator's deadline {rec.on_chain_by} has passed "
                f"(chain time {now})",
                field="claimId",
            )
        if onchain.evidence_root != rec.evidence_root:
            report.outcome = "evidence_mismatch"
            raise FilingClaimCensored(
                "the claim on chain has another evidence root than the one the operator received",
                code="FILING_EVIDENCE_MISMATCH",
                field="evidenceRoot",
            )
        if onchain.filed_at > rec.on_chain_by:
            report.outcome = "late"
            raise FilingClaimCensored(
                f"filed on chain at {onchain.filed_at}, after the operator's deadline {rec.on_chain_by}",
                code="FILING_LATE",
                field="onChainBy",
            )
        report.outcome = "on_chain"
        return None

    runner.run(FilingStep.DEPLOYMENT, deployment)
    runner.run(FilingStep.OPERATOR, operator_role)
    runner.run(FilingStep.INCLUSION, inclusion)
    return report
