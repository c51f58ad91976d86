"""The claimant's Withdraw and Appeal buttons, clicked in the browser (Debian's chromium) on a real
anvil, ClaimLedger 2 and database.

A claim's key is made by the claimant's browser at filing and kept there, encrypted under the
claimant's passphrase (keystore v3); the claims here are filed through the API with a key of the
test's, whose keystore (eth-account's) is put in the browser's storage where the filing page keeps
it. On the claim's page the claimant confirms, the server drafts the EIP-712 Withdrawal / Appeal,
the page checks the draft and signs it with the claim's key, and the server relays it: ClaimLedger
records the withdrawal of an open claim, and the appeal of a rejected one, signed by that key. A
wrong passphrase signs nothing and sends nothing. Neither the key nor the passphrase leaves the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount

from backend.chain.ledger_types import ClaimState
from backend.services.claims import ledger
from tests.claims.builders import Person, World, pdf
from tests.web.browser import shoot
from tests.web.browser_fixtures import browser_world, chromium, served, sign_in, watched_page

pytestmark = pytest.mark.xdist_group("web-claimant-actions")

PASSPHRASE = "my claim key passphrase"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with browser_world(tmp_path_factory.mktemp("web-claimant-actions"), reviewers=2, jurors=3) as world:
        yield world


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with served(world) as url:
        yield url


@pytest.fixture(scope="module")
def page(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("web-claimant-actions-profile")) as context:
        page = watched_page(context)
        page.questions = []

        def answer(dialog: Any) -> None:  # the page asks "Withdraw this claim?" / "Appeal the rejection?"
            page.questions.append(dialog.message)
            dialog.accept()

        page.on("dialog", answer)
        yield page


def _filed_from_this_browser(world: World, page: Any, base_url: str, claimant: Person) -> tuple[dict[str, Any], bytes]:
    """A claim filed with a fresh key, whose keystore this browser keeps as the filing page would."""
    key: LocalAccount = EthAccount.create()
    filed = world.file(claimant, [("report.pdf", pdf(f"report {key.address}"), "application/pdf")], claim_key=key)
    assert filed.status_code == 201, filed.text
    world.anchor()
    sign_in(page, base_url, claimant.account.username)
    keystore = EthAccount.encrypt(key.key, PASSPHRASE)
    page.evaluate(
        "([name, value]) => localStorage.setItem(name, value)",
        [f"hubao.keystore.v3:claim:{key.address.lower()}", json.dumps(keystore)],
    )
    return dict(filed.json()), bytes(key.key)


def _click(page: Any, button: str, passphrase: str) -> None:
    page.fill("#claim-action-passphrase", passphrase)
    page.click(button)


def _secrets_stayed_in_the_page(page: Any, key: bytes) -> None:
    sent = " ".join(page.sent).lower()
    assert key.hex() not in sent
    assert PASSPHRASE.lower() not in sent


def test_claimant_withdraws_an_open_claim_by_clicking_withdraw(world: World, base_url: str, page: Any) -> None:
    claimant = world.member()
    claim, key = _filed_from_this_browser(world, page, base_url, claimant)
    claim_id = bytes.fromhex(claim["claimId"][2:])
    page.goto(f"{base_url}/app/#/claims/{claim['id']}")
    page.wait_for_selector("#withdraw-claim")
    assert page.query_selector("#appeal-claim") is None  # an open claim: nothing to appeal

    page.log.phase = "wrong-passphrase"
    withdrawal = f"POST {base_url}/claims/{claim['id']}/withdraw "  # the relay (not its /draft)
    sent_before = len(page.sent)
    _click(page, "#withdraw-claim", "not the passphrase")
    page.wait_for_selector("#claim-actions .error[role=alert]")
    assert "The passphrase does not open this claim's key." in page.inner_text("#claim-actions")
    assert not [line for line in page.sent[sent_before:] if line.startswith(withdrawal)]  # nothing signed, sent
    assert ledger(world.runtime).claim(claim_id).state != ClaimState.WITHDRAWN

    page.log.phase = "withdraw"
    _click(page, "#withdraw-claim", PASSPHRASE)
    page.wait_for_selector("#status:has-text('Your claim was withdrawn.')", timeout=60_000)
    assert page.questions[-1] == "Withdraw this claim? This cannot be undone."
    assert world.claim(claimant, claim["id"])["status"] == "WITHDRAWN"
    assert ledger(world.runtime).claim(claim_id).state == ClaimState.WITHDRAWN
    assert page.query_selector("#withdraw-claim") is None
    shoot(page, "claim-withdrawn")
    posted = [line for line in page.sent if line.startswith(withdrawal)]
    assert len(posted) == 1  # the signed withdrawal, relayed once
    assert '"signature"' in posted[0]
    _secrets_stayed_in_the_page(page, key)
    assert page.log.unexpected() == []


def test_claimant_appeals_a_rejection_by_clicking_appeal(world: World, base_url: str, page: Any) -> None:
    claimant = world.member()
    claim, key = _filed_from_this_browser(world, page, base_url, claimant)
    claim_id = bytes.fromhex(claim["claimId"][2:])
    first, second = world.reviewers_of(claim["id"])
    assert world.verdict(first, claim["id"], "REJECT", "INSUFFICIENT_EVIDENCE", "unreadable").status_code == 200
    assert world.verdict(second, claim["id"], "APPROVE", None, "fine").status_code == 200
    assert ledger(world.runtime).claim(claim_id).state == ClaimState.REJECTED

    page.log.phase = "appeal"
    page.goto(f"{base_url}/app/#/claims/{claim['id']}")
    page.wait_for_selector("#appeal-claim")
    assert page.query_selector("#withdraw-claim") is None  # a decided claim is not withdrawn
    _click(page, "#appeal-claim", PASSPHRASE)
    page.wait_for_selector("#status:has-text('Your appeal was recorded: a jury will decide.')", timeout=60_000)
    assert page.questions[-1] == "Appeal the rejection? A jury of members will decide."
    assert world.claim(claimant, claim["id"])["status"] == "DISPUTED"
    onchain = ledger(world.runtime).claim(claim_id)
    assert (onchain.state, onchain.appealed) == (ClaimState.DISPUTED, True)
    assert page.query_selector("#appeal-claim") is None  # once
    shoot(page, "claim-appealed")
    _secrets_stayed_in_the_page(page, key)
    assert page.log.unexpected() == []
