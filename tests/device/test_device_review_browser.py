"""A reviewer's own key, end to end in the browser (Debian's chromium), on a real anvil and database.

The reviewer signs in, creates a key in the browser (a keystore v3 backup is downloaded), drops it
from the browser and imports the backup file again, registers the key (the server's challenge,
signed in the page), and approves a claim with it: the verdict is drafted by the server, signed in
the page, relayed, and ClaimLedger records it under the reviewer's own address. The server-held key
is gone. Afterwards no request body the page sent, no file of the data directory (the database
included) holds the private key or the passphrase.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backend.db.models import Account
from tests.claims.builders import PASSWORD, World, pdf
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

pytestmark = pytest.mark.xdist_group("device-review-browser")

KEY_PASSPHRASE = "my reviewer key passphrase 42"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Reviewers of a data directory from before device keys: the browser takes over from the server key.
    root = tmp_path_factory.mktemp("device-review")
    with browser_world(root, reviewers=2, jurors=0, legacy_reviewers=True) as world:
        yield world


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with served(world) as url:
        yield url


@pytest.fixture(scope="module")
def page(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("device-review-profile")) as context:
        yield watched_page(context)


def test_reviewer_creates_exports_reimports_registers_and_signs_in_the_browser(
    world: World, base_url: str, page: Any, tmp_path: Path
) -> None:
    member = world.member()
    filed = world.file(member, [("report.pdf", pdf("pathology"), "application/pdf")])
    assert filed.status_code in (200, 201, 202), filed.text
    claim_pk = str(filed.json()["id"])
    world.anchor()
    reviewer = world.reviewers_of(claim_pk)[0]
    old_address = reviewer.address
    page.reviewer = reviewer  # signed in, key in this browser: used below

    page.log.phase = "sign-in"
    sign_in(page, base_url, reviewer.account.username)
    page.goto(f"{base_url}/app/#/review")
    page.wait_for_selector("#key-create-form")
    assert "still signed with a key the server holds" in page.inner_text("#key-status")
    assert page.inner_text("#role-status[data-status=held]") == "Your reviewer role is in force on chain."
    shoot(page, "device-key-none")
    created, private_key = create_reimport_and_register_key(page, KEY_PASSPHRASE, tmp_path)
    shoot(page, "device-key-registered")
    with world.runtime.sessions() as session:
        account = session.get(Account, reviewer.id)
        assert account is not None
        assert account.signing_address == created
        assert account.signing_key_encrypted is None

    page.log.phase = "verdict"
    page.goto(f"{base_url}/app/#/review/{claim_pk}")
    page.wait_for_selector("#verdict-form")
    page.check("input[name=verdict][value=APPROVE]")
    page.fill("#report", "Pathology confirms the diagnosis; signed on my device.")
    page.fill("#verdict-passphrase", KEY_PASSPHRASE)
    page.click("#verdict-form button[type=submit]")
    page.wait_for_selector("#verdict-done", timeout=60_000)
    claim_id = bytes.fromhex(world.claim(member, claim_pk)["claimId"][2:])
    assert world.runtime.claim_ledger.verdict_digest(claim_id, created) != b"\x00" * 32
    assert world.runtime.claim_ledger.verdict_digest(claim_id, old_address) == b"\x00" * 32
    assert page.log.unexpected() == []

    secrets = [private_key.hex(), KEY_PASSPHRASE]
    posted = [line for line in page.sent if not line.startswith("GET ")]
    assert any("/verdict/signed" in line for line in posted)
    for secret in secrets:
        assert not [line for line in page.sent if secret.lower() in line.lower()]
    data_dir = Path(world.runtime.settings.resolved_data_dir)
    needles = [bytes(private_key), private_key.hex().encode(), KEY_PASSPHRASE.encode()]
    hits = [(p.name, n[:4]) for p in data_dir.rglob("*") if p.is_file() for n in needles if n in p.read_bytes()]
    assert hits == []


WALLET_KEY = bytes.fromhex("8f" * 32)


def test_reviewer_registers_a_browser_wallet_and_signs_with_it(world: World, base_url: str, page: Any) -> None:
    member = world.member()
    filed = world.file(member, [("scan.pdf", pdf("wallet"), "application/pdf")])
    assert filed.status_code in (200, 201, 202), filed.text
    claim_pk = str(filed.json()["id"])
    world.anchor()
    with world.runtime.sessions() as session:
        legacy = set(session.scalars(select(Account.id).where(Account.signing_key_encrypted.is_not(None))))
    reviewer = next(r for r in world.reviewers_of(claim_pk) if r.id in legacy)  # still on a server-held key
    injected = InjectedWallet(WALLET_KEY, v_base=27)
    wallet = injected.address
    context = page.context
    fresh = context.new_page()
    try:
        injected.install(fresh)
        fresh.goto(f"{base_url}/app/#/signin")
        fresh.evaluate("sessionStorage.clear()")
        fresh.fill("#username", reviewer.account.username)
        fresh.fill("#password", PASSWORD)
        fresh.click("#signin-form button[type=submit]")
        fresh.wait_for_selector("#signout")
        fresh.goto(f"{base_url}/app/#/review")
        fresh.click("#key-wallet")
        fresh.wait_for_selector(f"#key-status[data-address='{wallet}'][data-registered=true]", timeout=60_000)
        fresh.goto(f"{base_url}/app/#/review/{claim_pk}")
        fresh.wait_for_selector("#verdict-form")
        assert fresh.query_selector("#verdict-passphrase") is None  # the wallet holds the key
        fresh.check("input[name=verdict][value=APPROVE]")
        fresh.fill("#report", "Confirmed; signed with my wallet.")
        fresh.click("#verdict-form button[type=submit]")
        fresh.wait_for_selector("#verdict-done", timeout=60_000)
    finally:
        fresh.close()
    claim_id = bytes.fromhex(world.claim(member, claim_pk)["claimId"][2:])
    assert world.runtime.claim_ledger.verdict_digest(claim_id, wallet) != b"\x00" * 32


def test_device_refuses_a_draft_that_is_not_the_verdict_chosen(world: World, base_url: str, page: Any) -> None:
    member = world.member()
    filed = world.file(member, [("scan.pdf", pdf("altered draft"), "application/pdf")])
    assert filed.status_code in (200, 201, 202), filed.text
    claim_pk = str(filed.json()["id"])
    world.anchor()
    assert page.reviewer in world.reviewers_of(claim_pk)

    def altered(route: Any) -> None:
        # What an operator could hand out: the draft of a rejection for the approval the reviewer chose.
        response = route.fetch()
        body = response.json()
        body["typedData"]["message"]["verdict"] = "2"
        body["typedData"]["message"]["reasonCode"] = "7"
        route.fulfill(response=response, json=body)

    page.route("**/verdict/draft", altered)
    try:
        page.log.phase = "expected-4xx:altered-draft"
        page.goto(f"{base_url}/app/#/review/{claim_pk}")
        page.wait_for_selector("#verdict-form")
        sent_before = len(page.sent)
        page.check("input[name=verdict][value=APPROVE]")
        page.fill("#report", "Approve, as I read the file.")
        page.fill("#verdict-passphrase", KEY_PASSPHRASE)
        page.click("#verdict-form button[type=submit]")
        page.wait_for_selector("#verdict-form .error, #verdict-form [role=alert]", timeout=60_000)
        assert "DRAFT_MISMATCH" in page.inner_text("#verdict-form") or "not the verdict you chose" in page.inner_text(
            "#verdict-form"
        )
        assert not [line for line in page.sent[sent_before:] if "/verdict/signed" in line]
    finally:
        page.unroute("**/verdict/draft")
    claim_id = bytes.fromhex(world.claim(member, claim_pk)["claimId"][2:])
    with world.runtime.sessions() as session:
        account = session.get(Account, page.reviewer.id)
        assert account is not None
        assert account.signing_key_encrypted is None
        device_address = account.signing_address
    assert device_address is not None
    assert world.runtime.claim_ledger.verdict_digest(claim_id, device_address) == b"\x00" * 32
