"""E1 for accounts and membership: nothing personal reaches the chain (calldata, logs, topics)."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from backend.db.models import Account
from backend.runtime import Runtime
from backend.services import membership
from backend.services.accounts import declare_relation
from tests.accounts.support import make_account

pytestmark = pytest.mark.xdist_group(name="accounts-privacy")


def _chain_bytes(runtime: Runtime) -> list[bytes]:
    """Every transaction input, log data and log topic of every block so far."""
    w3 = runtime.w3
    chunks: list[bytes] = []
    for number in range(w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert not isinstance(tx, bytes)
            chunks.append(bytes(tx["input"]))
            receipt = w3.eth.get_transaction_receipt(HexBytes(tx["hash"]))
            for entry in receipt["logs"]:
                chunks.append(bytes(entry["data"]))
                chunks += [bytes(topic) for topic in entry["topics"]]
    return chunks


def test_accounts_membership_and_relations_put_nothing_personal_on_chain(fresh_runtime: Runtime) -> None:
    canary = "zhang-wei-110101199001011234"
    birth = date(1990, 1, 1)
    reviewer = make_account(fresh_runtime, "reviewer", username=f"{canary}-rev", server_key=True)
    member_account = make_account(fresh_runtime, "member", username=canary)
    with fresh_runtime.sessions.begin() as session:
        fresh = session.get(Account, member_account.id)
        assert fresh is not None
        member = membership.join(session, fresh_runtime, fresh, birth, 712, [False] * 3, date(2025, 6, 15))
    declare_relation(fresh_runtime, reviewer.id, member.id)

    needles: dict[str, bytes] = {}
    for label, text in {
        "username": canary,
        "member id": member.id,
        "member account id": member_account.id,
        "reviewer account id": reviewer.id,
        "birth date": birth.isoformat(),
        "birth date compact": birth.strftime("%Y%m%d"),
    }.items():
        needles[label] = text.encode()
        needles[f"keccak({label})"] = keccak(text=text)
        needles[f"sha256({label})"] = hashlib.sha256(text.encode()).digest()
    needles["member id bytes"] = bytes.fromhex(member.id)
    needles["salt"] = bytes(member.salt)
    chain = _chain_bytes(fresh_runtime)
    hits = sorted({label for label, needle in needles.items() for chunk in chain if needle in chunk})
    assert hits == []
    # Positive control: the scan does see what is meant to be there (the salted commitment).
    assert any(bytes(member.commitment) in chunk for chunk in chain)
