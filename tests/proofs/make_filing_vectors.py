"""Regenerate ``tests/vectors/filing_receipt.json`` (the filing receipt's digests and signatures).

Digests and signatures come from eth-account (``encode_typed_data`` of the full EIP-712 document,
``Account.sign_message``), not from ``backend.proofs.filing_receipt``: the module is checked
against them. Run: ``PYTHONPATH=$PWD .venv/bin/python -m tests.proofs.make_filing_vectors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from backend.proofs.filing_receipt import filing_receipt_typed_data

OUT = Path(__file__).parents[1] / "vectors" / "filing_receipt.json"

CASES: list[dict[str, Any]] = [
    {
        "chainId": 31337,
        "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "domainVersion": "1",
        "privateKey": "0x" + "11" * 32,
        "claimId": "0x" + "01" * 32,
        "evidenceRoot": "0x" + "02" * 32,
        "filedAt": 1767225600,
        "onChainBy": 1767229200,
    },
    {
        "chainId": 1,
        "contract": "0x00000000000000000000000000000000deadbeef",
        "domainVersion": "2",
        "privateKey": "0x" + "ab" * 32,
        "claimId": "0x" + keccak(text="claim").hex(),
        "evidenceRoot": "0x" + keccak(text="evidence").hex(),
        "filedAt": 0,
        "onChainBy": 2**64 - 1,
    },
]


def main() -> None:
    vectors = []
    for case in CASES:
        doc = filing_receipt_typed_data(
            chain_id=case["chainId"],
            contract=case["contract"],
            domain_version=case["domainVersion"],
            claim_id=bytes.fromhex(case["claimId"][2:]),
            evidence_root=bytes.fromhex(case["evidenceRoot"][2:]),
            filed_at=case["filedAt"],
            on_chain_by=case["onChainBy"],
        )
        signable = encode_typed_data(full_message=doc)
        digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
        account = Account.from_key(case["privateKey"])
        signature = account.sign_message(signable).signature
        vectors.append(
            {
                **case,
                "operator": account.address,
                "typedData": doc,
                "digest": "0x" + digest.hex(),
                "signature": "0x" + bytes(signature).hex(),
            }
        )
    OUT.write_text(
        json.dumps(
            {
                "about": "FilingReceipt(bytes32 claimId,bytes32 evidenceRoot,uint64 filedAt,uint64 onChainBy) in "
                "the ClaimLedger EIP-712 domain; digests and signatures by eth-account "
                "(tests/proofs/make_filing_vectors.py)",
                "vectors": vectors,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
