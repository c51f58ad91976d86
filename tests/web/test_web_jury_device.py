"""A juror's own key, end to end in the browser (Debian's chromium), on a real anvil and ClaimLedger 2.

The juror (no key: jurors get none from the server) signs in, creates a key in the browser (a
keystore v3 backup is downloaded), drops it from the browser and imports the backup again, and
registers it. Seated on a disputed claim, the juror commits an approval: the page derives the salt
by signing VoteSalt (never sent), signs VoteCommit and sends {commitment, signature}. The tab is then
"lost" (reload, nothing kept but the encrypted keystore): the page re-derives the vote from the
on-chain commitment, and after anvil's clock passes the commit window it reveals {approve, salt}.
ClaimLedger records the vote under the juror's address. Then the juror switches to an injected
EIP-1193 wallet (eth_signTypedData_v4) and votes on a second claim with it.

Every request body the page sent is logged and scanned: no private key, no passphrase, no VoteSalt
signature, and the salt only in the reveal; the database and the data directory hold none of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.chain import eip712, typed_data
from backend.services.accounts import create_staff_account
from backend.services.auth import start_session
from backend.services.claims import ledger
from tests.claims.builders import PASSWORD, Person, World, new_name, pdf
from tests.stacks import rules_of
from tests.web.browser import shoot
from tests.web.browser_fixtures import (
    InjectedWallet,
    browser_world,
    chromium,
    create_reimport_and_register_key,
    served,
    sign_in,
    watched_page,
)

pytestmark = pytest.mark.xdist_group("web-jury-device")

KEY_PASSPHRASE = "my juror key passphrase 7"
WALLET_KEY = bytes.fromhex("5e" * 32)
KEEP_ONLY_THE_KEYSTORE = (
    "for (const k of Object.keys(localStorage)) if (!k.startsWith('hubao.keystore')) localStorage.removeItem(k)"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # A jury of 3 out of 2 + the page's juror: the page's juror sits.
    with browser_world(tmp_path_factory.mktemp("web-jury"), reviewers=3, jurors=2) as world:
        yield world


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with served(world) as url:
        yield url


@pytest.fixture(scope="module")
def page(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("web-jury-profile")) as context:
        yield watched_page(context)


def _disputed(world: World) -> tuple[str, bytes]:
    claimant, objector = world.member(), world.member()
    filed = world.file(claimant, [("report.pdf", pdf("pathology"), "application/pdf")])
    assert filed.status_code == 201, filed.text
    claim = filed.json()
    world.anchor()
    world.approve_by_review(str(claim["id"]))
    objected = world.object(objector, claim["claimId"], "doubt")
    assert objected.status_code == 201, objected.text
    return str(claim["id"]), bytes.fromhex(str(claim["claimId"])[2:])


def _scan_files(world: World, needles: dict[str, bytes]) -> list[tuple[str, str]]:
    hits = []
    for folder, _dirs, names in os.walk(world.runtime.settings.resolved_data_dir):
        for name in names:
            try:
                content = (Path(folder) / name).read_bytes()
            except OSError:
                continue
            hits += [(name, what) for what, n in needles.items() if n in content or n.hex().encode() in content.lower()]
    return hits


def test_juror_creates_exports_reimports_registers_commits_and_reveals_in_the_browser(
    world: World, base_url: str, page: Any, tmp_path: Path
) -> None:
    account = create_staff_account(world.runtime, new_name("juror"), PASSWORD, "juror")
    juror = Person(account, start_session(world.runtime.sessions, account, world.runtime.jwt_secret))
    assert account.signing_address is None  # the server made no key for the juror
    page.juror = juror

    page.log.phase = "sign-in"
    sign_in(page, base_url, account.username)
    page.goto(f"{base_url}/app/#/jury")
    page.wait_for_selector("#key-create-form")
    created, private_key = create_reimport_and_register_key(page, KEY_PASSPHRASE, tmp_path)
    # The role follows the key on chain (a zero roster delay here: in force at once), said on the card.
    assert page.inner_text("#role-status[data-status=held]") == "Your juror role is in force on chain."

    page.log.phase = "commit"
    claim_pk, claim_id = _disputed(world)
    client = ledger(world.runtime)
    round_ = client.claim(claim_id).jury_round
    assert client.ballot(claim_id, round_, created).drawn  # a jury of 3 from 3 jurors
    page.goto(f"{base_url}/app/#/jury/{claim_pk}")
    page.wait_for_selector("#commit-form")
    page.check("input[name=vote][value=approve]")
    page.fill("#vote-passphrase", KEY_PASSPHRASE)
    page.click("#commit-form button[type=submit]")
    page.wait_for_selector("#reveal-form", timeout=60_000)
    shoot(page, "jury-device-committed")
    domain = client.domain().as_dict()
    salt_doc = typed_data.load_document(typed_data.vote_salt_document(domain, claim_id=claim_id, round_=round_))
    salt_signature = typed_data.sign(salt_doc, private_key)
    salt = eip712.salt_from_signature(salt_signature)
    commitment = client.ballot(claim_id, round_, created).commitment
    assert commitment == eip712.vote_commitment(claim_id, round_, created, True, salt)
    committed_bodies = [line for line in page.sent if "/commit" in line and line.startswith("POST")]
    assert len(committed_bodies) == 1
    assert salt.hex() not in " ".join(page.sent).lower()  # the salt stayed in the page

    page.log.phase = "lost-tab"
    page.reload()  # nothing about the vote is kept in the browser: the key re-derives it
    page.evaluate(KEEP_ONLY_THE_KEYSTORE)
    page.wait_for_selector("#reveal-form")
    page.fill("#vote-passphrase", KEY_PASSPHRASE)
    page.click("#show-vote")
    page.wait_for_function("document.querySelector('#my-vote').textContent.includes('approve')", timeout=60_000)

    page.log.phase = "reveal"
    assert page.locator("#reveal").count() == 0  # the reveal window is not open yet
    world.advance(rules_of(world.runtime).commit_seconds)
    page.reload()
    page.wait_for_selector("#reveal")
    page.fill("#vote-passphrase", KEY_PASSPHRASE)
    page.click("#reveal")
    page.wait_for_selector("#vote-panel .success", timeout=60_000)
    ballot = client.ballot(claim_id, round_, created)
    assert (ballot.revealed, ballot.approve) == (True, True)
    assert page.log.unexpected() == []

    sent = " ".join(page.sent).lower()
    for secret in (private_key.hex(), KEY_PASSPHRASE.lower(), salt_signature.hex()):
        assert secret not in sent
    reveal_bodies = [line for line in page.sent if line.startswith("POST") and "/reveal" in line]
    assert len(reveal_bodies) == 1
    assert salt.hex() in reveal_bodies[0].lower()
    assert [line for line in page.sent if salt.hex() in line.lower()] == reveal_bodies
    needles = {"private key": private_key, "passphrase": KEY_PASSPHRASE.encode(), "VoteSalt signature": salt_signature}
    assert _scan_files(world, needles) == []


def test_juror_votes_with_an_injected_wallet(world: World, base_url: str, page: Any) -> None:
    juror: Person = page.juror
    injected = InjectedWallet(WALLET_KEY)
    wallet = injected.address
    fresh = watched_page(page.context)
    sent: list[str] = fresh.sent
    try:
        injected.install(fresh)
        fresh.goto(f"{base_url}/app/#/signin")
        fresh.evaluate("Object.keys(localStorage).forEach((k) => localStorage.removeItem(k))")
        fresh.fill("#username", juror.account.username)
        fresh.fill("#password", PASSWORD)
        fresh.click("#signin-form button[type=submit]")
        fresh.wait_for_selector("#signout")
        fresh.goto(f"{base_url}/app/#/jury")
        fresh.click("#key-wallet")
        fresh.wait_for_selector(f"#key-status[data-address='{wallet}'][data-registered=true]", timeout=60_000)

        claim_pk, claim_id = _disputed(world)
        client = ledger(world.runtime)
        round_ = client.claim(claim_id).jury_round
        assert client.ballot(claim_id, round_, wallet).drawn
        fresh.goto(f"{base_url}/app/#/jury/{claim_pk}")
        fresh.wait_for_selector("#commit-form")
        assert fresh.query_selector("#vote-passphrase") is None  # the wallet holds the key
        fresh.check("input[name=vote][value=reject]")
        fresh.click("#commit-form button[type=submit]")
        fresh.wait_for_selector("#reveal-form", timeout=60_000)
        world.advance(rules_of(world.runtime).commit_seconds)
        fresh.reload()
        fresh.click("#reveal")
        fresh.wait_for_selector("#vote-panel .success", timeout=60_000)
    finally:
        fresh.close()
    ballot = client.ballot(claim_id, round_, wallet)
    assert (ballot.revealed, ballot.approve) == (True, False)
    salt_doc = typed_data.vote_salt_document(client.domain().as_dict(), claim_id=claim_id, round_=round_)
    salt_signature = typed_data.sign(typed_data.load_document(salt_doc), WALLET_KEY)
    assert salt_signature.hex() not in " ".join(sent).lower()
    assert juror.id  # the same account, now voting with its wallet
