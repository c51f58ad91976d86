"""What the browser tests' module fixtures share: a plan on a fresh anvil, the app served to it,
a Chromium profile, a page that records what it sends, and an injected EIP-1193 wallet.

Each test module keeps its own (module-scoped) fixtures, with its own plan and profile names; these
context managers are their bodies::

    @pytest.fixture(scope="module")
    def world(tmp_path_factory):
        with browser_world(tmp_path_factory.mktemp("web-jury"), reviewers=3, jurors=2) as world:
            yield world
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eth_account import Account as EthAccount
from eth_account.messages import encode_typed_data

from backend.api.app import create_app
from tests.claims.builders import PASSWORD, World, start_world
from tests.stacks import node_of
from tests.web.browser import CHROMIUM, CHROMIUM_FLAGS, DESKTOP, ConsoleLog, LoopbackClient, require_browser, serve


@contextmanager
def browser_world(root: Path, **options: Any) -> Iterator[World]:
    """``start_world(root, **options)`` when a browser can run here (else the test skips, saying why);
    its runtime closed and its anvil killed afterwards."""
    require_browser()
    world = start_world(root, **options)
    try:
        yield world
    finally:
        world.runtime.close()
        node_of(world.runtime).kill()


@contextmanager
def served(world: World) -> Iterator[str]:
    """The app on ``world``'s runtime, served on loopback; yields the base URL. ``world.api`` then
    goes over HTTP: Playwright's loop in the test's thread blocks the in-process client."""
    with serve(create_app(runtime=world.runtime)) as url:
        world.api = LoopbackClient(url)
        yield url


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A persistent Chromium context (Debian's chromium, headless, desktop size, downloads kept)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=DESKTOP,  # type: ignore[arg-type]  # a ViewportSize
            accept_downloads=True,
        )
        try:
            yield context
        finally:
            context.close()


def watched_page(context: Any, *, headers: bool = False) -> Any:
    """A new page of ``context`` that keeps every request it sends in ``page.sent`` ("METHOD URL
    [headers] body") and its console and uncaught errors in ``page.log`` (a ConsoleLog)."""
    page = context.new_page()
    sent: list[str] = []
    if headers:
        page.on("request", lambda r: sent.append(f"{r.method} {r.url} {r.headers} {r.post_data!r}"))
    else:
        page.on("request", lambda r: sent.append(f"{r.method} {r.url} {r.post_data!r}"))
    log = ConsoleLog()
    page.on("console", log.on_console)
    page.on("pageerror", log.on_page_error)
    page.sent, page.log = sent, log
    return page


class InjectedWallet:
    """A browser wallet holding one key, injected as ``window.ethereum`` (EIP-1193): eth-account
    signs what ``eth_signTypedData_v4`` receives, as a wallet's signer would, and answers ``v`` in
    {0, 1} as some wallets do (``v_base=27``: in {27, 28}, as others do). Keeps every document it
    was asked to sign."""

    def __init__(self, key: bytes, *, v_base: int = 0) -> None:
        self.account = EthAccount.from_key(key)
        self.v_base = v_base
        self.documents: list[dict[str, Any]] = []

    @property
    def address(self) -> str:
        return str(self.account.address)

    def request(self, method: str, params_json: str) -> str:
        params = json.loads(params_json)
        if method == "eth_requestAccounts":
            return json.dumps([self.address.lower()])
        if method == "eth_signTypedData_v4":
            assert params[0].lower() == self.address.lower()
            document = json.loads(params[1])
            self.documents.append(document)
            raw = bytes(self.account.sign_message(encode_typed_data(full_message=document)).signature)
            return json.dumps("0x" + (raw[:64] + bytes([raw[64] - 27 + self.v_base])).hex())
        raise AssertionError(f"unexpected wallet call {method}")

    def install(self, page: Any) -> None:
        """Give ``page`` (before it loads) this wallet as ``window.ethereum``."""
        page.expose_function("hubaoTestWallet", self.request)
        page.add_init_script(
            "window.ethereum = { request: async ({ method, params }) =>"
            " JSON.parse(await window.hubaoTestWallet(method, JSON.stringify(params || []))) };"
        )


def sign_in(page: Any, base_url: str, username: str) -> None:
    """Sign ``username`` in through the page's form (the test accounts' password)."""
    page.goto(f"{base_url}/app/#/signin")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signout")


def create_reimport_and_register_key(page: Any, passphrase: str, downloads: Path) -> tuple[str, bytes]:
    """On a page showing the key card without a key: create a key in the browser (its keystore v3
    backup is downloaded to ``downloads`` and must decrypt with eth-account to the same address),
    drop it from the browser, import the backup again, and register it. Returns the address and
    the private key (from the backup). ``page.log`` phases: create, re-import, register."""
    page.log.phase = "create"
    page.fill("#key-passphrase", passphrase)
    page.fill("#key-passphrase2", passphrase)
    with page.expect_download(timeout=60_000) as download:
        page.click("#key-create-form button[type=submit]")
    backup = downloads / download.value.suggested_filename
    download.value.save_as(backup)
    page.wait_for_selector("#key-status[data-registered=false][data-address]")
    created = str(page.get_attribute("#key-status", "data-address"))
    private_key = bytes(EthAccount.decrypt(json.loads(backup.read_text()), passphrase))
    assert EthAccount.from_key(private_key).address == created

    page.log.phase = "re-import"
    page.evaluate("Object.keys(localStorage).forEach((k) => localStorage.removeItem(k))")
    page.reload()
    page.wait_for_selector("#key-import-form")
    page.set_input_files("#key-file", str(backup))
    page.fill("#key-import-passphrase", passphrase)
    page.click("#key-import-form button[type=submit]")
    page.wait_for_selector(f"#key-status[data-address='{created}'][data-registered=false]", timeout=60_000)

    page.log.phase = "register"
    # A wrong passphrase says so, and no progress line goes on saying the key is being unlocked.
    page.fill("#key-register-passphrase", passphrase + "-wrong")
    page.click("#key-register-form button[type=submit]")
    page.wait_for_selector("#device-key .error", timeout=60_000)
    assert "does not open this key" in page.inner_text("#device-key .error")
    assert page.inner_text("#key-register-form [role=status]") == ""
    assert page.get_attribute("#key-status", "data-registered") == "false"
    page.fill("#key-register-passphrase", passphrase)
    page.click("#key-register-form button[type=submit]")
    page.wait_for_selector(f"#key-status[data-address='{created}'][data-registered=true]", timeout=60_000)
    return created, private_key
