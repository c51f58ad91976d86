"""Reviewers' verdicts signed with their own keys, over HTTP, on a real anvil, database and evidence store.

Each reviewer's "device" is a key this test holds (never given to the server). Registering it is a
signed challenge; the server then holds only its address, the server-held key is deleted and its
on-chain role revoked. A verdict is a draft from the server, signed here, relayed by the server:
ClaimLedger records it under the device address. The server refuses a verdict not signed by the
registered key, a message it did not draft, a registration signed by another key or too late, and
server-side signing for an account with a device key. Afterwards the database file and the data
directory hold neither the device keys nor anything that opens them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account as EthAccount
from eth_utils.crypto import keccak
from sqlalchemy import select

from backend.chain import typed_data
from backend.chain.roster import REVIEWER
from backend.db.models import Account, ReviewAssignment, ServerHeldKey
from backend.services.rule_sets import roster_for
from tests.claims.builders import Person, World, pdf, start_world
from tests.stacks import node_of

pytestmark = pytest.mark.xdist_group("device-verdicts")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = start_world(tmp_path_factory.mktemp("device-verdicts"), reviewers=3, jurors=0, legacy_reviewers=True)
    try:
        yield world
    finally:
        world.runtime.close()
        node_of(world.runtime).kill()


DEVICE_KEYS = [keccak(text=f"hubao-device-verdict-reviewer-{i}") for i in range(3)]


def _register(world: World, reviewer: Person, key: bytes, *, sign_with: bytes | None = None) -> Any:
    address = EthAccount.from_key(key).address
    challenge = world.api.post("/signing-key/challenge", reviewer.token, json={"address": address})
    assert challenge.status_code == 200, challenge.text
    document = challenge.json()["typedData"]
    assert document["primaryType"] == "KeyRegistration"
    assert document["message"]["key"] == address
    signature = typed_data.sign(typed_data.load_document(document), sign_with or key)
    return world.api.post(
        "/signing-key",
        reviewer.token,
        json={
            "address": address,
            "expiresAt": int(document["message"]["expiresAt"]),
            "signature": "0x" + signature.hex(),
        },
    )


def _claim_under_review(world: World) -> str:
    member = world.member()
    filed = world.file(member, [("report.pdf", pdf("pathology"), "application/pdf")])
    assert filed.status_code in (200, 201, 202), filed.text
    claim_pk = str(filed.json()["id"])
    world.anchor()
    return claim_pk


def _draft(world: World, reviewer: Person, claim_pk: str, verdict: str = "APPROVE", **extra: Any) -> Any:
    body = {"verdict": verdict, "report": "pathology confirms the diagnosis"} | extra
    return world.api.post(f"/review/claims/{claim_pk}/verdict/draft", reviewer.token, json=body)


def _signed(world: World, reviewer: Person, claim_pk: str, message: dict[str, Any], signature: bytes) -> Any:
    return world.api.post(
        f"/review/claims/{claim_pk}/verdict/signed",
        reviewer.token,
        json={"message": message, "signature": "0x" + signature.hex()},
    )


def test_register_key_proves_possession_and_retires_the_server_key(world: World) -> None:
    reviewer = world.reviewers[0]
    old = reviewer.address
    with world.runtime.sessions() as session:
        held = session.get(Account, reviewer.id)
        assert held is not None
        assert held.signing_key_encrypted is not None
        sealed = bytes(held.signing_key_encrypted)
    before = world.api.get("/signing-key", reviewer.token).json()
    held_role = {"role": "REVIEWER_ROLE", "status": "held", "changeAt": None}
    assert before == {"address": old, "custody": "server", "deviceKeysSupported": True, "onChainRole": held_role}
    response = _register(world, reviewer, DEVICE_KEYS[0])
    assert response.status_code == 200, response.text
    new = EthAccount.from_key(DEVICE_KEYS[0]).address
    body = response.json()
    assert body["address"] == new
    assert body["previousAddress"] == old
    assert body["retiredServerKey"] is True
    assert body["grantTx"] is not None
    assert body["revokeTx"] is not None
    assert world.api.get("/signing-key", reviewer.token).json()["custody"] == "device"
    with world.runtime.sessions() as session:
        account = session.get(Account, reviewer.id)
        assert account is not None
        assert account.signing_address == new
        assert account.signing_key_encrypted is None
        # The retired key stays on record: the audit still counts what it signed as server-made.
        retired = session.get(ServerHeldKey, old)
        assert retired is not None
        assert retired.account_id == reviewer.id
        assert retired.retired_at is not None
        assert session.get(ServerHeldKey, new) is None
    roster = roster_for(world.runtime)
    assert roster.has_role(REVIEWER, new) is True
    assert roster.has_role(REVIEWER, old) is False
    data_dir = Path(world.runtime.settings.resolved_data_dir)
    assert [p.name for p in data_dir.rglob("*") if p.is_file() and sealed in p.read_bytes()] == []
    again = _register(world, reviewer, DEVICE_KEYS[0])
    assert again.status_code == 200, again.text
    assert again.json()["previousAddress"] == new
    assert again.json()["grantTx"] is None


def test_register_refuses_another_keys_signature_an_expired_challenge_and_a_taken_key(world: World) -> None:
    reviewer = world.reviewers[1]
    forged = _register(world, reviewer, DEVICE_KEYS[1], sign_with=keccak(text="someone else"))
    assert forged.status_code == 403, forged.text
    assert forged.json()["code"] == "KEY_NOT_PROVEN"
    address = EthAccount.from_key(DEVICE_KEYS[1]).address
    challenge = world.api.post("/signing-key/challenge", reviewer.token, json={"address": address}).json()
    stale = world.api.post(
        "/signing-key",
        reviewer.token,
        json={"address": address, "expiresAt": 1000, "signature": "0x" + "11" * 65},
    )
    assert stale.status_code == 403
    assert stale.json()["code"] == "CHALLENGE_EXPIRED"
    replayed = world.api.post(
        "/signing-key",
        world.reviewers[2].token,
        json={
            "address": address,
            "expiresAt": int(challenge["typedData"]["message"]["expiresAt"]),
            "signature": "0x" + typed_data.sign(typed_data.load_document(challenge["typedData"]), DEVICE_KEYS[1]).hex(),
        },
    )
    assert replayed.status_code == 403, "a challenge answered for one account registers nothing for another"
    member = world.member()
    refused = world.api.post("/signing-key/challenge", member.token, json={"address": address})
    assert refused.status_code == 403  # by role, before the body is read (tests/accounts/policy.json)
    assert refused.json()["code"] == "FORBIDDEN"
    taken = _register(world, reviewer, DEVICE_KEYS[0])
    assert taken.status_code == 409
    assert taken.json()["code"] == "KEY_IN_USE"
    with world.runtime.sessions() as session:
        account = session.get(Account, reviewer.id)
        assert account is not None
        assert account.signing_key_encrypted is not None


def test_verdicts_signed_on_devices_are_relayed_and_recorded_on_chain(world: World) -> None:
    for reviewer, key in zip(world.reviewers[1:], DEVICE_KEYS[1:], strict=True):
        assert _register(world, reviewer, key).status_code == 200
    claim_pk = _claim_under_review(world)
    panel = world.reviewers_of(claim_pk)
    assert len(panel) >= 2
    for reviewer in panel:
        key = DEVICE_KEYS[world.reviewers.index(reviewer)]
        draft = _draft(world, reviewer, claim_pk)
        assert draft.status_code == 200, draft.text
        body = draft.json()
        document = typed_data.check_hubao_document(typed_data.load_document(body["typedData"]), primary_type="Verdict")
        assert body["signer"] == EthAccount.from_key(key).address
        assert document["domain"]["version"] == "2"
        signature = typed_data.sign(document, key)
        done = _signed(world, reviewer, claim_pk, document["message"], signature)
        assert done.status_code == 200, done.text
        result = done.json()
        assert result["digest"] == "0x" + typed_data.digest(document).hex()
        assert result["txHash"] is not None
        recorded = world.runtime.claim_ledger.verdict_digest(
            bytes.fromhex(document["message"]["claimId"][2:]), body["signer"]
        )
        assert "0x" + recorded.hex() == result["digest"]
    assert result["claim"]["status"] == "IN_NOTICE"


def test_server_refuses_a_verdict_not_signed_by_the_registered_key(world: World) -> None:
    claim_pk = _claim_under_review(world)
    reviewer = world.reviewers_of(claim_pk)[0]
    key = DEVICE_KEYS[world.reviewers.index(reviewer)]
    body = _draft(world, reviewer, claim_pk, "REJECT", reasonCode="INSUFFICIENT_EVIDENCE").json()
    document = typed_data.load_document(body["typedData"])
    wrong = _signed(world, reviewer, claim_pk, document["message"], typed_data.sign(document, keccak(text="thief")))
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "SIGNATURE_NOT_REGISTERED_KEY"
    altered = typed_data.load_document(body["typedData"])
    altered["message"]["reportHash"] = "0x" + "00" * 32
    undrafted = _signed(world, reviewer, claim_pk, altered["message"], typed_data.sign(altered, key))
    assert undrafted.status_code == 409
    assert undrafted.json()["code"] == "DRAFT_NOT_FOUND"
    server_side = world.verdict(reviewer, claim_pk, "APPROVE", None, "the server would sign this")
    assert server_side.status_code == 409
    assert server_side.json()["code"] == "DEVICE_KEY_REQUIRED"
    with world.runtime.sessions() as session:
        account = session.get(Account, reviewer.id)
        assert account is not None
        assert account.signing_key_encrypted is None
    ok = _signed(world, reviewer, claim_pk, document["message"], typed_data.sign(document, key))
    assert ok.status_code == 200, ok.text


def test_server_held_key_accounts_keep_the_old_path_and_cannot_draft(world: World) -> None:
    legacy = world.staff("reviewer", server_key=True)
    assert legacy.account.signing_key_encrypted is not None
    world.reviewers.append(legacy)
    try:
        # The least-loaded reviewers are assigned first: within two claims the new reviewer is on a panel.
        claim_pk = next(pk for pk in (_claim_under_review(world) for _ in range(2)) if legacy in world.reviewers_of(pk))
        drafted = _draft(world, legacy, claim_pk)
        assert drafted.status_code == 409
        assert drafted.json()["code"] == "SERVER_KEY_STILL_IN_USE"
        kept = world.verdict(legacy, claim_pk, "APPROVE", None, "server-signed, as before")
        assert kept.status_code == 200, kept.text
        assert kept.json()["txHash"] is not None
        # Moving over keeps history: the server-signed verdict stays recorded (and audited, below)
        # under the retired address once the reviewer registers a key of their own.
        moved = _register(world, legacy, keccak(text="legacy reviewer's new device"))
        assert moved.status_code == 200, moved.text
        assert moved.json()["retiredServerKey"] is True
        claim_id = bytes.fromhex(kept.json()["claim"]["claimId"][2:])
        assert world.runtime.claim_ledger.verdict_digest(claim_id, legacy.address) == bytes.fromhex(
            kept.json()["digest"][2:]
        )
    finally:
        world.reviewers.remove(legacy)


def test_no_device_key_in_the_database_or_the_data_directory(world: World) -> None:
    data_dir = Path(world.runtime.settings.resolved_data_dir)
    needles = []
    for key in DEVICE_KEYS:
        needles += [key, key.hex().encode(), key.hex().upper().encode()]
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert files
    database = [p for p in files if p.suffix in (".db", ".sqlite", ".sqlite3")]
    assert database, "the SQLite database lives in the data directory"
    hits = [(p, n[:4]) for p in files for n in needles if n in p.read_bytes()]
    assert hits == []


def _audit(world: World) -> Any:
    from backend.audit.context import AuditSources
    from backend.audit.runner import run_audit

    return run_audit(
        AuditSources(
            rpc_url=world.runtime.settings.chain_url,
            deployment=world.runtime.deployment,
            sessions=world.runtime.sessions,
            store=world.runtime.store,
        )
    )


def test_audit_accepts_device_signed_verdicts_and_a_retired_keys_history(world: World) -> None:
    report = _audit(world)
    signatures = report.step(3)
    assert signatures.status.value == "passed", [f.message for f in signatures.findings]
    assert report.findings == []
    # Verdicts by keys the server generated (the other tests' legacy reviewers) keep the report
    # incomplete; the device keys never appear among them.
    device = {EthAccount.from_key(k).address.lower() for k in DEVICE_KEYS}
    with world.runtime.sessions() as session:
        server_made = {a.lower() for a in session.scalars(select(ServerHeldKey.address))}
    for entry in report.operator_satisfiable:
        assert entry["id"] == "serverHeldKeys"
        assert set(entry["addresses"]) <= server_made
        assert not set(entry["addresses"]) & device
    assert report.complete is (not report.operator_satisfiable)


def test_audit_still_refuses_another_reviewers_verdict_copied_onto_a_row(world: World) -> None:
    with world.runtime.sessions.begin() as session:
        pending = session.scalars(select(ReviewAssignment).where(ReviewAssignment.verdict.is_(None))).first()
        assert pending is not None
        donor = session.scalars(
            select(ReviewAssignment).where(
                ReviewAssignment.claim_pk == pending.claim_pk, ReviewAssignment.signature.is_not(None)
            )
        ).first()
        assert donor is not None
        saved = (pending.id, donor.verdict, donor.reason_code, donor.report_hash, donor.signature)
        pending.verdict, pending.reason_code, pending.report_hash, pending.signature = saved[1:]
    try:
        findings = [f.message for f in _audit(world).findings]
        assert findings == [f"review_assignments row id={saved[0]}: a verdict that ClaimLedger never recorded"]
    finally:
        with world.runtime.sessions.begin() as session:
            row = session.get(ReviewAssignment, saved[0])
            assert row is not None
            row.verdict = row.reason_code = row.report_hash = row.signature = None


def test_a_verdict_signed_in_the_terminal_with_hubao_sign_is_relayed(world: World, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import backend.cli.sign  # noqa: F401 - registers the commands
    from backend.cli import app as cli_app

    claim_pk = _claim_under_review(world)
    reviewer = world.reviewers_of(claim_pk)[0]
    key = DEVICE_KEYS[world.reviewers.index(reviewer)]
    (tmp_path / "key.json").write_text(json.dumps(EthAccount.encrypt(key, "terminal pass", iterations=2**10)))
    (tmp_path / "pass.txt").write_text("terminal pass\n")
    draft = _draft(world, reviewer, claim_pk)
    assert draft.status_code == 200, draft.text
    (tmp_path / "draft.json").write_text(draft.text)  # the API's answer, as saved by the reviewer
    signed = CliRunner().invoke(
        cli_app,
        ["sign", "typed-data", "--keystore", str(tmp_path / "key.json"), "--input", str(tmp_path / "draft.json"),
         "--passphrase-file", str(tmp_path / "pass.txt"), "--out", str(tmp_path / "signed.json"),
         "--expect", "Verdict"],
    )  # fmt: skip
    assert signed.exit_code == 0, signed.output
    relayed = world.api.post(
        f"/review/claims/{claim_pk}/verdict/signed",
        reviewer.token,
        json=json.loads((tmp_path / "signed.json").read_text()),
    )
    assert relayed.status_code == 200, relayed.text
    assert relayed.json()["txHash"] is not None
