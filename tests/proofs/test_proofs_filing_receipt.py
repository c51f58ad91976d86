"""Filing receipts (``backend.proofs.filing_receipt``): golden vectors, schema, signature, and the
on-chain verdicts (on chain, pending, CENSORED, late, another evidence root) against a fake chain.

The real chain, the API and ``hubao receipt verify`` are exercised by tests/claims/test_filing_receipt.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backend.proofs.filing_receipt import (
    FilingOnchainClaim,
    FilingStep,
    filing_receipt_digest,
    verify_filing_receipt_offline,
    verify_filing_receipt_onchain,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "filing_receipt.json").read_text())["vectors"]


def _receipt(vector: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "kind": "filing",
        "chainId": vector["chainId"],
        "contract": vector["contract"],
        "domainVersion": vector["domainVersion"],
        "operator": vector["operator"],
        "claimId": vector["claimId"],
        "evidenceRoot": vector["evidenceRoot"],
        "filedAt": vector["filedAt"],
        "onChainBy": vector["onChainBy"],
        "signature": vector["signature"],
    }


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"chain{v['chainId']}")
def test_digest_and_signature_match_eth_account(vector: dict[str, Any]) -> None:
    digest = filing_receipt_digest(
        chain_id=vector["chainId"],
        contract=vector["contract"],
        domain_version=vector["domainVersion"],
        claim_id=bytes.fromhex(vector["claimId"][2:]),
        evidence_root=bytes.fromhex(vector["evidenceRoot"][2:]),
        filed_at=vector["filedAt"],
        on_chain_by=vector["onChainBy"],
    )
    assert "0x" + digest.hex() == vector["digest"]
    report = verify_filing_receipt_offline(json.dumps(_receipt(vector)), operator=vector["operator"])
    assert report.ok, report.to_json()


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("claimId", "0x" + "03" * 32),
        ("evidenceRoot", "0x" + "03" * 32),
        ("filedAt", 1767225601),
        ("onChainBy", 1767229201),
        ("chainId", 5),
        ("contract", "0x" + "00" * 19 + "01"),
        ("domainVersion", "3"),
        ("operator", "0x" + "00" * 19 + "02"),
    ],
)
def test_altering_any_signed_field_fails_the_signature(field_name: str, value: Any) -> None:
    doc = _receipt(VECTORS[0]) | {field_name: value}
    report = verify_filing_receipt_offline(doc)
    assert report.failed_step == FilingStep.SIGNATURE, report.to_json()


def test_a_receipt_by_another_key_fails_against_the_deployment_operator() -> None:
    """Self-consistent (signed by the key it names) but not the deployment's operator: refused."""
    report = verify_filing_receipt_offline(_receipt(VECTORS[0]), operator=VECTORS[1]["operator"])
    assert report.failed_step == FilingStep.SIGNATURE
    assert report.error is not None
    assert report.error.fields["field"] == "operator"


@pytest.mark.parametrize(
    ("mutate", "field_name"),
    [
        (lambda d: d.pop("signature"), "signature"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d.update(kind="evidence"), "kind"),
        (lambda d: d.update(filedAt=True), "filedAt"),
        (lambda d: d.update(onChainBy=1), "onChainBy"),
        (lambda d: d.update(onChainBy=2**64), "onChainBy"),
        (lambda d: d.update(claimId="0x" + "AB" * 32), "claimId"),
        (lambda d: d.update(signature=d["signature"][:-2]), "signature"),
        (lambda d: d.update(domainVersion=2), "domainVersion"),
    ],
)
def test_schema_refusals_name_the_field(mutate: Any, field_name: str) -> None:
    doc = _receipt(VECTORS[0])
    mutate(doc)
    report = verify_filing_receipt_offline(doc)
    assert report.failed_step == FilingStep.SCHEMA
    assert report.error is not None
    assert report.error.fields["field"] == field_name


def test_duplicate_keys_are_not_json() -> None:
    text = json.dumps(_receipt(VECTORS[0]))[:-1] + ', "filedAt": 0}'
    assert verify_filing_receipt_offline(text).failed_step == FilingStep.SCHEMA


@dataclass
class FakeChain:
    chain: int = 31337
    operators: set[str] = field(default_factory=set)
    claims: dict[bytes, FilingOnchainClaim] = field(default_factory=dict)
    now: int = 0

    def chain_id(self) -> int:
        return self.chain

    def ledger_deployed(self, contract: str) -> bool:
        return True

    def is_operator(self, contract: str, account: str) -> bool:
        return account.lower() in self.operators

    def claim(self, contract: str, claim_id: bytes) -> FilingOnchainClaim | None:
        return self.claims.get(claim_id)

    def latest_timestamp(self) -> int:
        return self.now


def _chain(**kwargs: Any) -> tuple[dict[str, Any], FakeChain]:
    vector = VECTORS[0]
    return _receipt(vector), FakeChain(operators={vector["operator"].lower()}, **kwargs)


def test_onchain_in_time() -> None:
    doc, chain = _chain(now=1767230000)
    chain.claims[bytes.fromhex(doc["claimId"][2:])] = FilingOnchainClaim(
        bytes.fromhex(doc["evidenceRoot"][2:]), 1767226000
    )
    report = verify_filing_receipt_onchain(doc, chain)
    assert report.ok
    assert report.outcome == "on_chain"
    assert not report.censored


def test_pending_before_the_deadline() -> None:
    doc, chain = _chain(now=doc_on_chain_by())
    report = verify_filing_receipt_onchain(doc, chain)
    assert report.ok
    assert report.outcome == "pending"
    assert report.steps[-1].status == "skipped"


def doc_on_chain_by() -> int:
    return int(VECTORS[0]["onChainBy"])


def test_censored_after_the_deadline() -> None:
    doc, chain = _chain(now=doc_on_chain_by() + 1)
    report = verify_filing_receipt_onchain(doc, chain)
    assert report.outcome == "censored"
    assert report.censored
    assert report.error is not None
    assert report.error.code == "FILING_CENSORED"
    assert report.failed_step == FilingStep.INCLUSION


def test_late_and_other_evidence_are_broken_promises() -> None:
    doc, chain = _chain(now=2**40)
    claim_id = bytes.fromhex(doc["claimId"][2:])
    chain.claims[claim_id] = FilingOnchainClaim(bytes.fromhex(doc["evidenceRoot"][2:]), doc_on_chain_by() + 1)
    late = verify_filing_receipt_onchain(doc, chain)
    assert (late.outcome, late.error.code if late.error else None) == ("late", "FILING_LATE")
    chain.claims[claim_id] = FilingOnchainClaim(b"\x09" * 32, 1)
    other = verify_filing_receipt_onchain(doc, chain)
    assert other.outcome == "evidence_mismatch"
    assert other.censored


def test_signer_without_the_operator_role_and_another_chain() -> None:
    doc, chain = _chain(now=0)
    chain.operators.clear()
    assert verify_filing_receipt_onchain(doc, chain).failed_step == FilingStep.OPERATOR
    doc, chain = _chain(now=0, chain=1)
    assert verify_filing_receipt_onchain(doc, chain).failed_step == FilingStep.DEPLOYMENT
