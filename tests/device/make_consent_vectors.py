"""Regenerate ``tests/vectors/eip712_consent.json``: the member actions' EIP-712 digests and signatures.

The documents are written out here by hand (not by ``backend.chain.typed_data.consent_document``) and
hashed and signed by eth-account, so the builders in Python and in the browser are checked against
an independent encoding. Run: ``PYTHONPATH=$PWD .venv/bin/python -m tests.device.make_consent_vectors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

OUT = Path(__file__).parents[1] / "vectors" / "eip712_consent.json"
DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
DOMAINS = [
    {
        "name": "Hubao",
        "version": "2",
        "chainId": 31337,
        "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    },
    {"name": "Hubao", "version": "2", "chainId": 1, "verifyingContract": "0x00000000000000000000000000000000DeaDBeef"},
]
TYPES = {
    "Withdrawal": [{"name": "claimId", "type": "bytes32"}, {"name": "deadline", "type": "uint256"}],
    "Appeal": [{"name": "claimId", "type": "bytes32"}, {"name": "deadline", "type": "uint256"}],
    "Objection": [
        {"name": "claimId", "type": "bytes32"},
        {"name": "objectorCommitment", "type": "bytes32"},
        {"name": "deadline", "type": "uint256"},
    ],
}


def main() -> None:
    vectors: list[dict[str, Any]] = []
    for i, (kind, fields) in enumerate([*TYPES.items(), *TYPES.items()]):
        key = keccak(text=f"hubao-consent-{i}")
        message: dict[str, Any] = {"claimId": "0x" + keccak(text=f"consent-claim-{i}").hex()}
        if kind == "Objection":
            message["objectorCommitment"] = "0x" + keccak(text=f"objector-{i}").hex()
        message["deadline"] = str([1767229200, 2**64 - 1, 0, 1, 1800000000, 2**255][i])
        doc = {
            "types": {"EIP712Domain": DOMAIN_TYPE, kind: fields},
            "primaryType": kind,
            "domain": DOMAINS[i % 2],
            "message": message,
        }
        signable = encode_typed_data(full_message=doc)
        vectors.append(
            {
                "name": f"{kind.lower()}-{i}",
                "kind": kind,
                "typeString": f"{kind}({','.join(f['type'] + ' ' + f['name'] for f in fields)})",
                "domain": doc["domain"],
                "message": message,
                "privateKey": "0x" + key.hex(),
                "signer": Account.from_key(key).address,
                "digest": "0x" + keccak(b"\x19" + signable.version + signable.header + signable.body).hex(),
                "signature": "0x" + bytes(Account.sign_message(signable, key).signature).hex(),
            }
        )
    about = (
        "ClaimLedger 2.0.0 member actions (issue 14 item 4): Withdrawal/Appeal signed by the claim's claimantKey, "
        "Objection by the objector's per-objection key; digests and signatures by eth-account "
        "(tests/device/make_consent_vectors.py)"
    )
    OUT.write_text(json.dumps({"about": about, "vectors": vectors}, indent=1) + "\n")


if __name__ == "__main__":
    main()
