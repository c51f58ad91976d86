"""Member consent on a real anvil, database and API (issue 14 items 4 and 7): the operator, with
everything the server holds — its ClaimLedger key, the database, the data directory, the API — can
no longer withdraw, appeal or object in a member's name.

* the claimant's own withdrawal and appeal (signed with the claim's key, relayed) go through;
* the operator's forgeries are refused by the contract (its own key, a key it makes up, a member's
  signature replayed on another claim of the same member, on another action, or a second time) and
  by the API before that (WRONG_SIGNER);
* an objection's signature cannot be moved to another claim or commitment;
* the server stores claimant key addresses only: no claim key is in the database or the data dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account as EthAccount
from sqlalchemy import select

from backend.chain import typed_data
from backend.chain.ledger_types import ClaimState
from backend.chain.transactions import ContractReverted
from backend.db.models import Claim
from backend.services.claims import ledger
from tests.claims.builders import Person, World, pdf, world_fixture

pytestmark = pytest.mark.xdist_group("claims-consent")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "consent")


def _filed(world: World, person: Person, text: str) -> dict[str, str]:
    response = world.file(person, [("r.pdf", pdf(text), "application/pdf")])
    assert response.status_code == 201, response.text
    return dict(response.json())


def _rejected(world: World, person: Person, text: str) -> dict[str, str]:
    claim = _filed(world, person, text)
    first, second = world.reviewers_of(claim["id"])
    assert world.verdict(first, claim["id"], "REJECT", "INSUFFICIENT_EVIDENCE", "unreadable").status_code == 200
    assert world.verdict(second, claim["id"], "APPROVE", None, "fine").status_code == 200
    return claim


def _signed(world: World, kind: str, claim_id: bytes, key: bytes, deadline: int, **extra: bytes) -> bytes:
    domain = ledger(world.runtime).domain().as_dict()
    doc = typed_data.consent_document(domain, kind, claim_id=claim_id, deadline=deadline, **extra)
    return typed_data.sign(typed_data.load_document(doc), key)


def _deadline(world: World) -> int:
    return int(world.runtime.w3.eth.get_block("latest")["timestamp"]) + 3600


def _id(claim: dict[str, str]) -> bytes:
    return bytes.fromhex(claim["claimId"][2:])


def test_the_claim_binds_the_claimants_key(world: World) -> None:
    claimant = world.member()
    claim = _filed(world, claimant, "binds the key")
    key = world.claim_keys[claim["id"]]
    assert claim["claimantKey"] == key.address
    assert ledger(world.runtime).claim(_id(claim)).claimant_key == key.address
    reused = world.file(claimant, [("r.pdf", pdf("same key again"), "application/pdf")], claim_key=key)
    assert (reused.status_code, reused.json()["code"]) == (409, "CLAIMANT_KEY_REUSED")
    missing = world.api.post(
        "/claims",
        claimant.token,
        data={"illnessCode": "CI001", "diagnosisDate": "2026-11-01"},
        files=[("files", ("r.pdf", pdf("no key"), "application/pdf"))],
    )
    assert (missing.status_code, missing.json()["code"]) == (400, "MISSING_FIELD")


def test_attack_operator_cannot_withdraw_a_members_claim(world: World) -> None:
    claimant = world.member()
    claim = _filed(world, claimant, "operator withdraws")
    client, deadline = ledger(world.runtime), _deadline(world)
    operator_key = bytes(world.runtime.operator.signer.key)
    for key in (operator_key, bytes(EthAccount.create().key)):  # its own key, or one it makes up
        with pytest.raises(ContractReverted) as refused:
            client.withdraw_claim_by_sig(_id(claim), deadline, _signed(world, "Withdrawal", _id(claim), key, deadline))
        assert refused.value.error == "ClaimLedgerConsentSignerMismatch"
    # through the API with a forged signature: refused before the chain
    forged = world.consent(claimant, claim["id"], "withdraw", key=EthAccount.create())
    assert (forged.status_code, forged.json()["code"]) == (422, "WRONG_SIGNER")
    assert client.state(_id(claim)) == ClaimState.UNDER_REVIEW


def test_attack_replayed_withdrawal_and_appeal_signatures_are_refused(world: World) -> None:
    """The member signed a withdrawal of one claim: it withdraws nothing else, and only once; an
    appeal signature is no withdrawal."""
    claimant = world.member()
    first = _filed(world, claimant, "first claim")
    second = _filed(world, claimant, "second claim")
    key = bytes(world.claim_keys[first["id"]].key)
    client, deadline = ledger(world.runtime), _deadline(world)
    signature = _signed(world, "Withdrawal", _id(first), key, deadline)
    with pytest.raises(ContractReverted):
        client.withdraw_claim_by_sig(_id(second), deadline, signature)
    appeal_signature = _signed(world, "Appeal", _id(first), key, deadline)
    with pytest.raises(ContractReverted):
        client.withdraw_claim_by_sig(_id(first), deadline, appeal_signature)
    client.withdraw_claim_by_sig(_id(first), deadline, signature)  # the member's own: goes through
    with pytest.raises(ContractReverted) as again:
        client.withdraw_claim_by_sig(_id(first), deadline, signature)
    assert again.value.error == "ClaimLedgerInvalidTransition"
    assert client.state(_id(second)) == ClaimState.UNDER_REVIEW


def test_claimant_withdraws_with_the_claims_key(world: World) -> None:
    claimant, other = world.member(), world.member()
    claim = _filed(world, claimant, "withdraw mine")
    assert world.consent(other, claim["id"], "withdraw").status_code == 404
    done = world.consent(claimant, claim["id"], "withdraw")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "WITHDRAWN"
    assert ledger(world.runtime).state(_id(claim)) == ClaimState.WITHDRAWN


def test_attack_operator_cannot_appeal_and_the_claimant_can_once(world: World) -> None:
    claimant = world.member()
    claim = _rejected(world, claimant, "appeal attack")
    client, deadline = ledger(world.runtime), _deadline(world)
    forged = _signed(world, "Appeal", _id(claim), bytes(world.runtime.operator.signer.key), deadline)
    with pytest.raises(ContractReverted) as refused:
        client.appeal_by_sig(_id(claim), deadline, forged)
    assert refused.value.error == "ClaimLedgerConsentSignerMismatch"
    key = bytes(world.claim_keys[claim["id"]].key)
    mine = _signed(world, "Appeal", _id(claim), key, deadline)
    appealed = world.consent(claimant, claim["id"], "appeal")
    assert appealed.status_code == 200, appealed.text
    assert appealed.json()["status"] == "DISPUTED"
    with pytest.raises(ContractReverted):  # a second appeal, even with the member's signature
        client.appeal_by_sig(_id(claim), deadline, mine)


def test_attack_objection_signature_is_bound_to_its_claim_and_commitment(world: World) -> None:
    claimant, objector = world.member(), world.member()
    one, two = _filed(world, claimant, "objected one"), _filed(world, claimant, "objected two")
    for claim in (one, two):
        world.approve_by_review(claim["id"])
    client, deadline = ledger(world.runtime), _deadline(world)
    key = EthAccount.create()
    commitment = b"\x42" * 32
    signature = _signed(world, "Objection", _id(one), bytes(key.key), deadline, objector_commitment=commitment)
    with pytest.raises(ContractReverted):  # moved to another claim
        client.object_by_sig(_id(two), commitment, key.address, deadline, signature)
    with pytest.raises(ContractReverted):  # moved to another member's commitment
        client.object_by_sig(_id(one), b"\x43" * 32, key.address, deadline, signature)
    assert client.state(_id(one)) == client.state(_id(two)) == ClaimState.IN_NOTICE
    objected = world.object(objector, one["claimId"], "signed on my device")
    assert objected.status_code == 201, objected.text
    assert client.state(_id(one)) == ClaimState.DISPUTED


def test_the_server_keeps_claim_key_addresses_only(world: World) -> None:
    with world.runtime.sessions() as session:
        stored = set(session.scalars(select(Claim.claimant_key).where(Claim.claimant_key.is_not(None))).all())
    assert stored == {k.address for k in world.claim_keys.values()} & stored
    assert stored
    secrets = [bytes(k.key) for k in world.claim_keys.values()]
    patterns = [s for k in secrets for s in (k, k.hex().encode(), k.hex().upper().encode())]
    data_dir = Path(world.runtime.settings.resolved_data_dir)
    for path in data_dir.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert not any(p in blob for p in patterns), f"a claim key in {path}"
