"""Jury votes by the jurors' own keys, and the operator's attacks on them replayed (issue 14 items 3, 6, 7).

Real anvil, ClaimLedger 2, database and data directory. Each juror's "device" is a key this test
holds; the server holds its address only. The operator is given everything the server holds — the
database, the data directory (keyring included), the operator key and the JWT secret — and tries:

* to commit a vote for a juror, through the API with a minted login token (refused before any gas)
  and straight to ``commitVoteBySig`` (ClaimLedger refuses: the signature is not the juror's);
* to replay a juror's genuine VoteCommit signature in another round (refused: it binds the round);
* to use a juror's retired server-held key kept from a backup of the data directory (refused: its
  role was revoked and it holds no seat);
* to read a vote before the reveal: ``jury_seats`` holds no vote and no salt column, and no 32-byte
  value anywhere in the database or data directory opens any juror's commitment either way;
* to reveal for a juror (refused: no salt opens the commitment) — and to block a juror by not
  relaying: the juror commits and reveals straight on chain with ``hubao sign vote --rpc --send``.

No private key, no VoteSalt signature and (before the reveal) no salt is in the database or the data
directory; after the reveal ``jury_seats.vote`` is the chain's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account as EthAccount
from eth_utils.crypto import keccak
from sqlalchemy import inspect, select
from typer.testing import CliRunner

import backend.cli.sign  # noqa: F401 - registers the commands
from backend.chain import eip712, typed_data
from backend.chain.anvil import rpc_call
from backend.chain.ledger_types import ClaimState
from backend.chain.roster import JUROR
from backend.chain.transactions import ContractReverted, TransactionSender
from backend.cli import app as cli_app
from backend.db.models import Account, JurySeat
from backend.services.accounts import signing_account
from backend.services.auth import start_session
from backend.services.claims import ledger
from backend.services.rule_sets import roster_for
from tests.claims.builders import Person, World, pdf, start_world
from tests.stacks import node_of, rules_of

pytestmark = pytest.mark.xdist_group("jury-device-votes")

PASSPHRASE = "juror keystore passphrase"
RETIRED_KEYS: list[bytes] = []  # legacy server-held juror keys, as an operator's old backup keeps them


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = start_world(tmp_path_factory.mktemp("jury-device"), reviewers=3, jurors=3)
    try:
        yield world
    finally:
        world.runtime.close()
        node_of(world.runtime).kill()


def _disputed(world: World) -> tuple[str, bytes, list[Person]]:
    """A claim approved by review, objected to, with its jury seated: (pk, claim id, seated jurors)."""
    claimant, objector = world.member(), world.member()
    filed = world.file(claimant, [("report.pdf", pdf("pathology"), "application/pdf")])
    assert filed.status_code == 201, filed.text
    claim = filed.json()
    world.anchor()
    world.approve_by_review(str(claim["id"]))
    objected = world.object(objector, claim["claimId"], "doubt")
    assert objected.status_code == 201, objected.text
    seated = world.seated(str(claim["id"]))
    assert len(seated) == 3
    return str(claim["id"]), bytes.fromhex(str(claim["claimId"])[2:]), seated


def _files(world: World) -> Iterator[tuple[str, bytes]]:
    """Every file the server holds: the data directory, the database (and its WAL) included."""
    root = world.runtime.settings.resolved_data_dir
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            try:
                yield str(path), path.read_bytes()
            except OSError:
                continue


def _absent(world: World, secrets: dict[str, bytes]) -> None:
    for where, content in _files(world):
        lowered = content.lower()
        for what, secret in secrets.items():
            assert secret not in content, f"{what} in {where}"
            assert secret.hex().encode() not in lowered, f"{what} (hex) in {where}"


def _candidates(world: World) -> set[bytes]:
    """32-byte values the operator holds: every offset of every binary database value, every 64-digit
    hex string in any file of the data directory, and each file's 32-byte windows at 16-byte steps."""
    import re

    found: set[bytes] = set()
    for _where, content in _files(world):
        for m in re.finditer(rb"[0-9a-fA-F]{64}", content):
            found.add(bytes.fromhex(m.group().decode()))
        for i in range(0, max(0, len(content) - 31), 16):  # and raw 32-byte windows at 16-byte steps
            found.add(content[i : i + 32])
    with world.runtime.engine.connect() as connection:
        for table in inspect(world.runtime.engine).get_table_names():
            for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes | memoryview) and len(bytes(value)) >= 32:
                        raw = bytes(value)
                        found.update(raw[i : i + 32] for i in range(len(raw) - 31))
    return found


def _salt(juror: Person, claim_id: bytes, round_: int, domain: dict[str, Any]) -> tuple[bytes, bytes]:
    """What only the juror's device can make: (VoteSalt signature, salt)."""
    assert juror.device_key is not None
    doc = typed_data.load_document(typed_data.vote_salt_document(domain, claim_id=claim_id, round_=round_))
    signature = typed_data.sign(doc, juror.device_key)
    return signature, typed_data.salt_from_signature(signature)


def test_a_new_juror_registers_its_own_key_and_a_legacy_server_key_is_retired(world: World) -> None:
    legacy = world.staff("juror", server_key=True)  # as a data directory of the legacy custody has it
    old_address = legacy.address
    with world.runtime.sessions() as session:
        account = session.get(Account, legacy.id)
        assert account is not None
        old_key = bytes(signing_account(world.runtime, account).key)  # what an operator's backup keeps
    roster = roster_for(world.runtime)
    assert roster.has_role(JUROR, old_address)
    assert world.api.get("/signing-key", legacy.token).json()["custody"] == "server"
    new_address = world.own_key(legacy)
    assert legacy.account.signing_key_encrypted is None
    assert legacy.account.signing_address == new_address
    assert roster.has_role(JUROR, new_address)
    assert not roster.has_role(JUROR, old_address)  # the retired key votes for nobody
    _absent(world, {"retired server key": old_key, "device key": legacy.device_key or b""})
    world.jurors.append(legacy)  # on the roster now: it may be drawn in the tests below
    RETIRED_KEYS.append(old_key)


def test_jurors_vote_with_their_own_keys_and_the_server_never_holds_a_vote_or_salt(world: World) -> None:
    claim_pk, claim_id, seated = _disputed(world)
    client = ledger(world.runtime)
    domain = client.domain().as_dict()
    round_ = client.claim(claim_id).jury_round
    votes = [True, True, False]
    for juror, vote in zip(seated, votes, strict=True):
        committed = world.commit(juror, claim_pk, vote)
        assert committed.status_code == 200, committed.text
        assert committed.json()["committed"] is True
        assert committed.json()["vote"] is None
    secrets: dict[str, bytes] = {}
    for i, juror in enumerate(seated):
        signature, salt = _salt(juror, claim_id, round_, domain)
        secrets |= {f"key {i}": juror.device_key or b"", f"VoteSalt signature {i}": signature, f"salt {i}": salt}
        ballot = client.ballot(claim_id, round_, juror.address)
        assert ballot.commitment == eip712.vote_commitment(claim_id, round_, juror.address, votes[i], salt)
    with world.runtime.sessions() as session:
        assert "vote_salt" not in {c["name"] for c in inspect(world.runtime.engine).get_columns("jury_seats")}
        rows = session.scalars(select(JurySeat).where(JurySeat.claim_pk == claim_pk)).all()
        assert [r.vote for r in rows] == [None, None, None]  # nothing to read during the commit window
    _absent(world, secrets)

    world.advance(rules_of(world.runtime).commit_seconds)
    for juror, vote in zip(seated, votes, strict=True):
        revealed = world.reveal(juror, claim_pk, vote)
        assert revealed.status_code == 200, revealed.text
        assert revealed.json()["vote"] is vote  # known to the server once public on chain
    with world.runtime.sessions() as session:
        rows = session.scalars(select(JurySeat).where(JurySeat.claim_pk == claim_pk)).all()
        by_juror = {r.juror_id: r.vote for r in rows}
    assert [by_juror[j.id] for j in seated] == votes
    _absent(world, {k: v for k, v in secrets.items() if not k.startswith("salt")})
    world.advance(rules_of(world.runtime).reveal_seconds)
    tallied = world.api.post(f"/claims/{claim_pk}/tally", world.operator.token)
    assert tallied.status_code == 200, tallied.text
    assert tallied.json()["status"] == "APPROVED"


def test_an_operator_with_everything_the_server_holds_cannot_vote_or_read_a_vote(world: World) -> None:
    claim_pk, claim_id, seated = _disputed(world)
    client = ledger(world.runtime)
    domain = client.domain().as_dict()
    round_ = client.claim(claim_id).jury_round
    victim, honest = seated[0], seated[1]
    operator_key = bytes(world.runtime.operator.signer.key)

    # 1. A forged commit through the API, with a login token minted from the JWT secret.
    forged_salt = keccak(text="operator's salt")
    commitment = eip712.vote_commitment(claim_id, round_, victim.address, False, forged_salt)
    commit_doc = typed_data.vote_commit_document(domain, claim_id=claim_id, round_=round_, commitment=commitment)
    forged = typed_data.sign(typed_data.load_document(commit_doc), operator_key)
    minted = start_session(world.runtime.sessions, victim.account, world.runtime.jwt_secret)
    body = {"commitment": "0x" + commitment.hex(), "signature": "0x" + forged.hex()}
    refused = world.api.post(f"/jury/claims/{claim_pk}/commit", minted, json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "VOTE_NOT_SIGNED")

    # 2. The same forgery sent straight to ClaimLedger with the operator key: the contract refuses.
    with pytest.raises(ContractReverted) as on_chain:
        client.commit_vote_by_sig(claim_id, victim.address, commitment, forged)
    assert on_chain.value.error == "ClaimLedgerVoteSignerMismatch"

    # 2b. The retired server-held key of a juror who registered its own (kept in an old backup of
    # the data directory) commits directly: its role is gone and it holds no seat.
    assert RETIRED_KEYS, "run with the registration test first (module order)"
    retired = EthAccount.from_key(RETIRED_KEYS[0])
    rpc_call(world.runtime.settings.chain_url, "anvil_setBalance", [retired.address, hex(10**17)])
    with pytest.raises(ContractReverted) as stale:
        client.commit_vote(claim_id, commitment, juror=TransactionSender(world.runtime.w3, retired))
    assert stale.value.error in ("ClaimLedgerNotDrawn", "AccessControlUnauthorizedAccount")

    # 3. The honest juror commits; its genuine signature replayed for the victim, or in a later round, fails.
    assert world.commit(honest, claim_pk, True).status_code == 200
    honest_commitment = client.ballot(claim_id, round_, honest.address).commitment
    honest_doc = typed_data.vote_commit_document(domain, claim_id=claim_id, round_=round_, commitment=honest_commitment)
    assert honest.device_key is not None
    genuine = typed_data.sign(typed_data.load_document(honest_doc), honest.device_key)
    with pytest.raises(ContractReverted) as replayed:
        client.commit_vote_by_sig(claim_id, victim.address, honest_commitment, genuine)
    assert replayed.value.error == "ClaimLedgerVoteSignerMismatch"

    # 4. Reading the committed vote: no 32-byte value the operator holds opens the commitment.
    candidates = _candidates(world)
    assert len(candidates) > 1000
    for vote in (True, False):  # keccak256(abi.encode(claimId, round, juror, vote, candidate)), inlined for speed
        prefix = claim_id + round_.to_bytes(32, "big") + bytes(12) + bytes.fromhex(honest.address[2:]) + bytes(31)
        prefix += bytes([vote])
        assert all(keccak(prefix + c) != honest_commitment for c in candidates)
    assert keccak(prefix[:-1] + b"\x01" + _salt(honest, claim_id, round_, domain)[1]) == honest_commitment
    with world.runtime.sessions() as session:
        rows = session.scalars(select(JurySeat).where(JurySeat.claim_pk == claim_pk)).all()
        assert all(r.vote is None for r in rows)

    # 5. The operator stops relaying: the victim commits from its own key with hubao sign vote --send.
    keystore = world.runtime.settings.resolved_data_dir.parent / "victim-keystore.json"
    assert victim.device_key is not None
    keystore.write_text(json.dumps(EthAccount.encrypt(victim.device_key, PASSPHRASE, iterations=2**10)))
    passphrase = keystore.with_suffix(".pass")
    passphrase.write_text(PASSPHRASE + "\n")
    rpc_call(world.runtime.settings.chain_url, "anvil_setBalance", [victim.address, hex(10**17)])
    ledger_address = client.address
    cli = ["sign", "vote", "--keystore", str(keystore), "--passphrase-file", str(passphrase)]
    chain = ["--rpc", world.runtime.settings.chain_url, "--ledger", ledger_address, "--claim", "0x" + claim_id.hex()]
    sent = CliRunner().invoke(cli_app, [*cli, *chain, "--reject", "--send"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["tx"].startswith("0x")
    victim_commitment = client.ballot(claim_id, round_, victim.address).commitment
    assert victim_commitment != bytes(32)
    _, victim_salt = _salt(victim, claim_id, round_, domain)
    assert victim_commitment == eip712.vote_commitment(claim_id, round_, victim.address, False, victim_salt)
    case = world.api.get(f"/jury/claims/{claim_pk}", victim.token).json()
    assert case["vote"]["commitment"] == "0x" + victim_commitment.hex()  # read from the chain
    assert case["assignment"]["committed"] is True

    # 6. Revealing for a juror: the operator's best guesses do not open the commitment.
    world.advance(rules_of(world.runtime).commit_seconds)
    with pytest.raises(ContractReverted) as guessed:
        client.reveal_vote(claim_id, victim.address, False, forged_salt)
    assert guessed.value.error == "ClaimLedgerCommitmentMismatch"
    wrong = world.api.post(
        f"/jury/claims/{claim_pk}/reveal", minted, json={"approve": True, "salt": "0x" + forged_salt.hex()}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "COMMITMENT_MISMATCH")

    # 7. The victim reveals itself, straight on chain (the vote is read back from its commitment).
    shown = CliRunner().invoke(cli_app, [*cli, *chain, "--reveal", "--send"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["reveal"] == {"approve": False, "salt": "0x" + victim_salt.hex()}
    assert client.ballot(claim_id, round_, victim.address).revealed is True
    assert world.reveal(honest, claim_pk, True).status_code == 200
    world.advance(rules_of(world.runtime).reveal_seconds)
    tallied = world.api.post(f"/claims/{claim_pk}/tally", world.operator.token)
    assert tallied.status_code == 200, tallied.text
    assert tallied.json()["status"] == "REJECTED"  # one approval, one rejection (a tie), one absent
    assert ledger(world.runtime).state(claim_id) == ClaimState.REJECTED
