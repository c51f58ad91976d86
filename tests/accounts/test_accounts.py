"""Accounts: sealed signing keys (never at rest in the clear), on-chain roles, relations as
conflicts on chain, token revocation, staff and self-service routes, quotas and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account as EthAccount
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from sqlalchemy import func, select
from typer.testing import CliRunner
from web3 import Web3

from backend import devices
from backend.cli import app as cli_app
from backend.db.models import Account, Member, Relation, ServerHeldKey
from backend.errors import InvalidInput
from backend.runtime import Runtime
from backend.services import membership
from backend.services.accounts import (
    JUROR_MIN_BALANCE_WEI,
    SigningKeyUnavailable,
    UsernameTaken,
    create_account,
    open_signing_key,
    revoke_tokens,
    signing_account,
    sync_roster,
)
from backend.services.rule_sets import roster_for
from evidence_store.crypto import StaticKeyring
from tests.accounts.support import PASSWORD, Api, make_account, new_name, token_for

pytestmark = pytest.mark.xdist_group(name="accounts-accounts")


def _reload(runtime: Runtime, account_id: str) -> Account:
    with runtime.sessions() as session:
        account = session.get(Account, account_id)
        assert account is not None
        return account


def _new_member(runtime: Runtime) -> Member:
    from datetime import date

    account = make_account(runtime, "member")
    with runtime.sessions.begin() as session:
        fresh = session.get(Account, account.id)
        assert fresh is not None
        return membership.join(session, runtime, fresh, date(1990, 1, 1), 700, [False] * 3, date(2025, 6, 15))


def _account_count(runtime: Runtime, username: str) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Account).where(Account.username == username)) or 0)


# --- signing keys ---------------------------------------------------------------------------------


def test_a_new_juror_holds_no_key_and_no_role_until_it_registers_its_own(plan_runtime: Runtime) -> None:
    account = _reload(plan_runtime, make_account(plan_runtime, "juror").id)
    assert (account.signing_address, account.signing_key_encrypted) == (None, None)
    key = Api(plan_runtime).get("/signing-key", token_for(plan_runtime, account)).json()
    assert key == {"address": None, "custody": "none", "deviceKeysSupported": True, "onChainRole": None}


@pytest.mark.parametrize(("role", "onchain_role"), [("reviewer", "REVIEWER_ROLE")])
def test_create_signer_grants_its_role_on_chain(plan_runtime: Runtime, role: str, onchain_role: str) -> None:
    account = make_account(plan_runtime, role, server_key=True)
    assert account.signing_address is not None
    ledger = plan_runtime.contracts["ClaimLedger"]
    role_id = keccak(text=onchain_role)  # the contract's constant, derived independently
    assert ledger.functions.hasRole(role_id, account.signing_address).call() is True
    granted = ledger.events.RoleGranted().get_logs(from_block=0, argument_filters={"account": account.signing_address})
    # Announced by the operator on the RosterTimelock, executed by it (zero delay here): the grant's sender.
    timelock = plan_runtime.contracts["RosterTimelock"].address
    assert [(e["args"]["role"], e["args"]["sender"]) for e in granted] == [(role_id, timelock)]
    balance = plan_runtime.w3.eth.get_balance(Web3.to_checksum_address(account.signing_address))
    assert (balance >= JUROR_MIN_BALANCE_WEI) is (role == "juror")


def test_new_reviewer_has_no_key_until_their_device_registers_one(plan_runtime: Runtime) -> None:
    """Issue 14 item 1: the server makes no key for a reviewer; the role follows the device's key."""
    api = Api(plan_runtime)
    account = _reload(plan_runtime, make_account(plan_runtime, "reviewer").id)
    assert (account.signing_address, account.signing_key_encrypted) == (None, None)
    with plan_runtime.sessions() as session:
        assert session.scalars(select(ServerHeldKey).where(ServerHeldKey.account_id == account.id)).all() == []
    with pytest.raises(InvalidInput) as refused:
        signing_account(plan_runtime, account)
    assert refused.value.code == "NOT_A_SIGNER"
    device = keccak(text="hubao-accounts-test-device")
    address = devices.register_key(api, token_for(plan_runtime, account), device)
    assert _reload(plan_runtime, account.id).signing_address == address
    assert roster_for(plan_runtime).has_role("REVIEWER_ROLE", address)


@pytest.mark.parametrize("role", ["member", "auditor", "operator"])
def test_create_non_signer_has_no_key(plan_runtime: Runtime, role: str) -> None:
    account = _reload(plan_runtime, make_account(plan_runtime, role).id)
    assert (account.signing_address, account.signing_key_encrypted) == (None, None)
    with pytest.raises(InvalidInput) as refused:
        signing_account(plan_runtime, account)
    assert refused.value.code == "NOT_A_SIGNER"


def test_signing_key_is_sealed_at_rest_and_opens_to_its_address(plan_runtime: Runtime) -> None:
    account = _reload(plan_runtime, make_account(plan_runtime, "reviewer", server_key=True).id)
    signer = signing_account(plan_runtime, account)
    assert signer.address == account.signing_address
    raw = bytes(signer.key)
    sealed = bytes(account.signing_key_encrypted or b"")
    assert raw not in sealed
    assert raw.hex().encode() not in sealed
    # Nowhere in the database files either (main file and write-ahead log).
    data_dir = plan_runtime.settings.resolved_data_dir
    for path in data_dir.glob("hubao.db*"):
        content = path.read_bytes()
        assert raw not in content, path.name
        assert raw.hex().encode() not in content, path.name
    # The key signs what the contract recovers: an EIP-712 verdict digest from ClaimLedger itself.
    verdict = (b"\x01" * 32, 1, 0, b"\x02" * 32, b"\x03" * 32, 0, 2**40)
    digest = plan_runtime.contracts["ClaimLedger"].functions.hashVerdict(verdict).call()
    signature = signer.unsafe_sign_hash(digest).signature
    assert EthAccount._recover_hash(digest, signature=signature) == account.signing_address


def test_sealed_key_does_not_open_for_another_account_or_keyring(plan_runtime: Runtime) -> None:
    first = _reload(plan_runtime, make_account(plan_runtime, "juror", server_key=True).id)
    second = _reload(plan_runtime, make_account(plan_runtime, "juror", server_key=True).id)
    second.signing_key_encrypted = first.signing_key_encrypted  # a row copied onto another account
    with pytest.raises(SigningKeyUnavailable):
        open_signing_key(plan_runtime.keyring, second)
    kid = plan_runtime.keyring.current_kid
    other = StaticKeyring({kid: b"\x42" * 32}, kid)
    with pytest.raises(SigningKeyUnavailable):
        open_signing_key(other, first)
    tampered = bytearray(first.signing_key_encrypted or b"")
    tampered[-1] ^= 1
    first.signing_key_encrypted = bytes(tampered)
    with pytest.raises(SigningKeyUnavailable):
        open_signing_key(plan_runtime.keyring, first)


def test_create_account_refuses_taken_and_malformed_credentials(plan_runtime: Runtime) -> None:
    name = make_account(plan_runtime, "member").username
    with plan_runtime.sessions() as session:
        with pytest.raises(UsernameTaken):
            create_account(session, name, PASSWORD, "member")
        for username, password, role, code in [
            ("a", PASSWORD, "member", "INVALID_USERNAME"),
            ("has space", PASSWORD, "member", "INVALID_USERNAME"),
            (new_name("ok"), "short", "member", "WEAK_PASSWORD"),
            (new_name("ok"), PASSWORD, "admin", "INVALID_ROLE"),
        ]:
            with pytest.raises(InvalidInput) as refused:
                create_account(session, username, password, role)
            assert refused.value.code == code


def test_sync_roster_grants_a_role_the_chain_lacks(plan_runtime: Runtime) -> None:
    with plan_runtime.sessions.begin() as session:  # committed, then the process "died" before the grant
        account = create_account(
            session, new_name("reviewer"), PASSWORD, "reviewer", keyring=plan_runtime.keyring, server_key=True
        )
    assert account.signing_address is not None
    roster = roster_for(plan_runtime)
    assert not roster.has_role("REVIEWER_ROLE", account.signing_address)
    assert sync_roster(plan_runtime) == 1
    assert roster.has_role("REVIEWER_ROLE", account.signing_address)
    assert sync_roster(plan_runtime) == 0


# --- tokens ---------------------------------------------------------------------------------------


def test_revoke_tokens_invalidates_issued_tokens(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    operator = token_for(plan_runtime, make_account(plan_runtime, "operator"))
    victim = make_account(plan_runtime, "member")
    token = token_for(plan_runtime, victim)
    assert api.get("/auth/me", token).status_code == 200
    member_token = token_for(plan_runtime, make_account(plan_runtime, "member"))
    assert api.post(f"/accounts/{victim.id}/revoke-tokens", member_token).status_code == 403
    revoked = api.post(f"/accounts/{victim.id}/revoke-tokens", operator)
    assert revoked.status_code == 200, revoked.text
    assert api.get("/auth/me", token).status_code == 401
    assert api.get("/auth/me", token_for(plan_runtime, victim)).status_code == 200  # a new sign-in works
    assert api.post(f"/accounts/{'0' * 32}/revoke-tokens", operator).json()["code"] == "ACCOUNT_NOT_FOUND"
    with plan_runtime.sessions.begin() as session:
        assert revoke_tokens(session, victim.id).token_version == 2


# --- relations ------------------------------------------------------------------------------------


def test_declare_relation_stores_it_and_declares_the_conflict_on_chain(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    operator = token_for(plan_runtime, make_account(plan_runtime, "operator"))
    reviewer = make_account(plan_runtime, "reviewer", server_key=True)
    member = _new_member(plan_runtime)
    created = api.post(f"/accounts/{reviewer.id}/relations", operator, json={"memberId": member.id})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["accountId"], body["memberId"]) == (reviewer.id, member.id)
    ledger = plan_runtime.contracts["ClaimLedger"]
    receipt = plan_runtime.w3.eth.get_transaction_receipt(HexBytes(body["txHash"]))
    events = ledger.events.ConflictDeclared().process_receipt(receipt)
    assert [dict(e["args"]) for e in events] == [
        {"account": reviewer.signing_address, "memberCommitment": bytes(member.commitment)}
    ]
    assert ledger.functions.isConflicted(reviewer.signing_address, member.commitment).call() is True
    with plan_runtime.sessions() as session:
        rows = session.scalars(select(Relation).where(Relation.account_id == reviewer.id)).all()
        assert [r.member_id for r in rows] == [member.id]
    again = api.post(f"/accounts/{reviewer.id}/relations", operator, json={"memberId": member.id})
    assert (again.status_code, again.json()["code"]) == (409, "RELATION_EXISTS")


def test_relation_of_a_reviewer_without_a_key_is_declared_on_chain_when_they_register(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    operator = token_for(plan_runtime, make_account(plan_runtime, "operator"))
    reviewer = make_account(plan_runtime, "reviewer")
    member = _new_member(plan_runtime)
    created = api.post(f"/accounts/{reviewer.id}/relations", operator, json={"memberId": member.id})
    assert created.status_code == 201, created.text
    assert created.json()["txHash"] is None  # no address yet: nothing to declare on chain
    address = devices.register_key(api, token_for(plan_runtime, reviewer), keccak(text="hubao-relation-device"))
    ledger = plan_runtime.contracts["ClaimLedger"]
    assert ledger.functions.isConflicted(address, member.commitment).call() is True


def test_declare_relation_completes_after_a_crash_between_chain_and_database(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    operator = token_for(plan_runtime, make_account(plan_runtime, "operator"))
    signer = make_account(plan_runtime, "juror", server_key=True)  # a signer with an address
    member = _new_member(plan_runtime)
    assert signer.signing_address is not None
    assert roster_for(plan_runtime).declare_conflict(signer.signing_address, bytes(member.commitment)) is not None
    created = api.post(f"/accounts/{signer.id}/relations", operator, json={"memberId": member.id})
    assert created.status_code == 201, created.text
    assert created.json()["txHash"] is None  # already on chain: nothing sent


def test_declare_relation_refuses_non_signers_and_unknown_members(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    operator = token_for(plan_runtime, make_account(plan_runtime, "operator"))
    auditor = make_account(plan_runtime, "auditor")
    reviewer = make_account(plan_runtime, "reviewer")
    member = _new_member(plan_runtime)
    not_signer = api.post(f"/accounts/{auditor.id}/relations", operator, json={"memberId": member.id})
    assert (not_signer.status_code, not_signer.json()["code"]) == (409, "NOT_A_SIGNER")
    unknown = api.post(f"/accounts/{reviewer.id}/relations", operator, json={"memberId": "ab" * 16})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "MEMBER_NOT_FOUND")
    reviewer_token = token_for(plan_runtime, reviewer)
    assert (
        api.post(f"/accounts/{reviewer.id}/relations", reviewer_token, json={"memberId": member.id}).status_code == 403
    )


# --- staff and self-service routes --------------------------------------------------------------


def test_operator_creates_staff_over_http(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    operator = token_for(plan_runtime, make_account(plan_runtime, "operator"))
    username = new_name("rev")
    created = api.post("/accounts", operator, json={"username": username, "password": PASSWORD, "role": "reviewer"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["role"] == "reviewer"
    assert body["signingAddress"] is None  # the reviewer's device registers the key (issue 14 item 1)
    dup = api.post("/accounts", operator, json={"username": username, "password": PASSWORD, "role": "juror"})
    assert (dup.status_code, dup.json()["code"]) == (409, "USERNAME_TAKEN")
    member = api.post("/accounts", operator, json={"username": new_name("m"), "password": PASSWORD, "role": "member"})
    assert member.status_code == 422  # members register themselves


@pytest.mark.parametrize(
    "extra",
    [
        {"signingAddress": "0x" + "11" * 20},
        {"tokenVersion": 5},
        {"disabled": True},
        {"passwordHash": "x"},
        {"password_hash": "x"},
    ],
)
def test_create_staff_refuses_mass_assignment(plan_runtime: Runtime, extra: dict[str, object]) -> None:
    api = Api(plan_runtime)
    operator = token_for(plan_runtime, make_account(plan_runtime, "operator"))
    username = new_name("mass")
    body = {"username": username, "password": PASSWORD, "role": "auditor", **extra}
    response = api.post("/accounts", operator, json=body)
    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")
    assert _account_count(plan_runtime, username) == 0


@pytest.mark.parametrize("extra", [{"role": "operator"}, {"token_version": 3}, {"id": "ab" * 16}])
def test_register_refuses_mass_assignment(plan_runtime: Runtime, extra: dict[str, object]) -> None:
    username = new_name("self")
    response = Api(plan_runtime).post("/accounts/register", json={"username": username, "password": PASSWORD, **extra})
    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")
    assert _account_count(plan_runtime, username) == 0


def test_register_loop_hits_the_quota(plan_runtime: Runtime) -> None:
    """D13: registrations from one address are bounded; the rest get 429 with Retry-After."""
    from backend.api.routes.accounts import REGISTRATIONS_PER_WINDOW

    api = Api(plan_runtime)  # a fresh app: a fresh quota
    responses = [
        api.post("/accounts/register", json={"username": new_name("loop"), "password": PASSWORD})
        for _ in range(REGISTRATIONS_PER_WINDOW + 5)
    ]
    assert [r.status_code for r in responses] == [201] * REGISTRATIONS_PER_WINDOW + [429] * 5
    assert responses[-1].json()["code"] == "RATE_LIMITED"
    assert int(responses[-1].headers["Retry-After"]) >= 1


def test_list_accounts_clamps_the_page(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    operator = token_for(plan_runtime, make_account(plan_runtime, "operator"))
    for limit in (0, 101, 1_000_000):
        response = api.get("/accounts", operator, params={"limit": limit})
        assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")
    page = api.get("/accounts", operator, params={"limit": 2, "role": "operator"})
    assert page.status_code == 200
    assert len(page.json()) <= 2
    assert all(a["role"] == "operator" for a in page.json())


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_creates_a_juror_without_a_server_held_key(plan_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    import backend.cli.accounts  # noqa: F401 - registers the command

    data_dir: Path = plan_runtime.settings.resolved_data_dir
    monkeypatch.setenv("HUBAO_RPC_URL", plan_runtime.settings.chain_url)
    monkeypatch.setenv("HUBAO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HUBAO_ANCHORING", "false")
    monkeypatch.setenv("HUBAO_LOG_LEVEL", "WARNING")
    username = new_name("clijuror")
    result = CliRunner().invoke(cli_app, ["accounts", "create", username, "--role", "juror"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    with plan_runtime.sessions() as session:
        account = session.scalars(select(Account).where(Account.username == username)).one()
    assert account.role == "juror"
    assert (account.signing_address, account.signing_key_encrypted) == (None, None)  # the juror makes their own
    assert "no signing key" in result.output
    member = new_name("climember")
    result = CliRunner().invoke(cli_app, ["accounts", "create", member, "--role", "member", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert _account_count(plan_runtime, member) == 1
