"""The first hour of a real user (issue 17), in a real browser (Debian's chromium, headless).

A member still in the waiting period is warned on the filing page and must confirm before a filing
that ends the membership; the rejected claim shows no on-chain id, no payout and no stray "null".
A claimant whose answer is lost after the upload gets the claim back (idempotency key), never a
second one. The receipt the user downloaded — or a file they load, or text they paste — is what
the browser verifies. /docs renders Swagger UI offline, and no page asks anything of another origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.claims.builders import PASSWORD, World, pdf
from tests.web.browser import ConsoleLog
from tests.web.browser_fixtures import browser_world, chromium, served

pytestmark = pytest.mark.xdist_group("web-first-hour")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with browser_world(tmp_path_factory.mktemp("web-first-hour"), reviewers=2, jurors=3) as world:
        yield world


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with served(world) as url:
        yield url


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory, base_url: str) -> Iterator[Any]:
    """One browser profile for the module; every request to another origin is refused and recorded."""
    with chromium(tmp_path_factory.mktemp("chromium-first-hour")) as ctx:
        ctx.off_origin = []

        def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(base_url) or url.startswith(("blob:", "data:")):
                route.fallback()
            else:
                ctx.off_origin.append(url)
                route.abort()

        ctx.route("**/*", guard)
        yield ctx


def _page(context: Any) -> tuple[Any, ConsoleLog]:
    log = ConsoleLog()
    page = context.new_page()
    page.on("console", log.on_console)
    page.on("pageerror", log.on_page_error)
    return page, log


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/app/#/signin")
    page.evaluate("sessionStorage.clear()")
    page.goto(f"{base}/app/#/signin")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signout")


def _fill_claim(page: Any, diagnosed: str, name: str = "report.pdf") -> None:
    page.wait_for_selector("#file-form")
    page.select_option("#illness", "CI001")
    page.fill("#diagnosis", diagnosed)
    page.dispatch_event("#diagnosis", "change")
    page.set_input_files("#files", files=[{"name": name, "mimeType": "application/pdf", "buffer": pdf(name)}])
    page.fill("#claim-passphrase", "claim key passphrase")  # the claim's own key, made in this browser
    page.fill("#claim-passphrase-again", "claim key passphrase")


def test_filing_in_the_waiting_period_needs_a_confirmation(world: World, base_url: str, context: Any) -> None:
    page, log = _page(context)
    newcomer = world.member(name="web-newcomer-waiting", joined_days_ago=30)
    with world.runtime.sessions() as session:
        from backend.db.models import Member

        member = session.get(Member, newcomer.member.id)  # type: ignore[union-attr]
        assert member is not None
        ends = member.waiting_ends_at.date().isoformat()
    _sign_in(page, base_url, newcomer.account.username)
    page.goto(f"{base_url}/app/#/file")
    page.wait_for_selector("#waiting-hint")
    assert ends in page.inner_text("#waiting-hint")
    assert page.is_hidden("#waiting-warning")
    _fill_claim(page, (datetime.now(UTC).date() - timedelta(days=3)).isoformat())
    assert page.is_visible("#waiting-warning")
    warning = page.inner_text("#waiting-warning")
    assert ends in warning
    assert "membership ends for good" in warning
    page.click("#submit-claim")  # not confirmed: refused in the page, nothing sent
    page.wait_for_selector("#file-form .error")
    assert "WAITING_PERIOD_NOT_ACKNOWLEDGED" in page.inner_text("#file-form .error")
    assert world.api.get("/claims", newcomer.token).json() == []
    page.check("#ack-waiting")
    page.click("#submit-claim")
    page.wait_for_url("**/#/claims/*")
    page.wait_for_selector("#claim-timeline")
    assert "rejected by the plan's rules" in page.inner_text("#status")
    main = page.inner_text("main")
    assert "null" not in main
    assert "none: the plan's rules rejected the claim before it was filed on chain" in main
    assert "Payout\nnone" in main
    assert "diagnosed inside the waiting period (WAITING_PERIOD)" in main
    (claim,) = world.api.get("/claims", newcomer.token).json()
    assert (claim["status"], claim["reasonCode"]) == ("REJECTED", "WAITING_PERIOD")
    page.close()
    assert log.unexpected() == [], log.unexpected()


def test_a_lost_answer_after_the_upload_recovers_the_claim(world: World, base_url: str, context: Any) -> None:
    page, log = _page(context)
    claimant = world.member(name="web-dropped-connection")
    _sign_in(page, base_url, claimant.account.username)
    page.goto(f"{base_url}/app/#/file")
    _fill_claim(page, (datetime.now(UTC).date() - timedelta(days=10)).isoformat())
    calls: list[str | None] = []

    def drop_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        calls.append(route.request.headers.get("idempotency-key"))
        if len(calls) == 1:
            route.fetch(timeout=120_000)  # the server records the claim; its answer never arrives
            route.abort("connectionreset")
        else:
            route.fallback()

    page.route("**/claims", drop_first_answer)
    log.phase = "expected-network-drop"
    page.click("#submit-claim")
    page.wait_for_url("**/#/claims/*", timeout=120_000)
    assert "recovered" in page.inner_text("#status")
    assert len(calls) == 2
    assert calls[0] is not None
    assert calls[0] == calls[1]
    claims = world.api.get("/claims", claimant.token).json()
    assert len(claims) == 1
    assert page.url.endswith(claims[0]["id"])
    page.close()
    assert [e for e in log.unexpected() if "ERR_CONNECTION_RESET" not in e[1]] == []


def test_the_receipt_the_user_holds_is_what_the_browser_verifies(
    world: World, base_url: str, context: Any, tmp_path: Path
) -> None:
    page, log = _page(context)
    claimant = world.member(name="web-receipt-holder")
    filed = world.file(claimant, [("scan.pdf", pdf("receipt holder"), "application/pdf")])
    assert filed.status_code == 201, filed.text
    world.anchor()
    _sign_in(page, base_url, claimant.account.username)
    page.goto(f"{base_url}/app/#/claims/{filed.json()['id']}")
    page.wait_for_selector("#evidence-list button:has-text('Download receipt')")
    with page.expect_download() as download:
        page.click("#evidence-list button:has-text('Download receipt')")
    saved = Path(download.value.path()).read_text()
    page.click("#evidence-list button:has-text('Verify receipt here')")
    page.wait_for_selector("#evidence-list [data-verified=true]")
    assert page.input_value("#evidence-list textarea.receipt-text") == saved  # the downloaded copy
    # A file the user loads: an altered one fails at a numbered step, the original passes.
    altered = json.loads(saved)
    altered["root"] = "0x" + "42" * 32
    bad = tmp_path / "altered.json"
    bad.write_text(json.dumps(altered, indent=2))
    page.set_input_files("#evidence-list input.receipt-file", str(bad))
    page.wait_for_selector("#evidence-list [data-verified=false]")
    assert "verification failed at step" in page.inner_text("#evidence-list")
    assert page.input_value("#evidence-list textarea.receipt-text") == bad.read_text()
    # Pasted text: the original again.
    page.fill("#evidence-list textarea.receipt-text", saved)
    page.click("#evidence-list button.verify-receipt-text")
    page.wait_for_selector("#evidence-list [data-verified=true]")
    page.fill("#evidence-list textarea.receipt-text", "{not json")
    page.click("#evidence-list button.verify-receipt-text")
    page.wait_for_selector("#evidence-list [data-verified=false]")
    assert "the text is not valid JSON" in page.inner_text("#evidence-list")
    page.close()
    assert log.unexpected() == [], log.unexpected()


def test_docs_render_offline_and_no_page_asks_another_origin(world: World, base_url: str, context: Any) -> None:
    page, log = _page(context)
    page.goto(f"{base_url}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Hubao" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag-section")
    assert page.locator(".opblock").count() > 20
    member = world.member(name="web-off-origin")
    world.anchor()  # the join is on the membership log: "My shares" has its receipt (no 409 to log)
    _sign_in(page, base_url, member.account.username)
    for route in ("#/member", "#/file", "#/shares", "#/notice"):
        page.goto(f"{base_url}/app/{route}")
        page.wait_for_selector("main h1")
        page.wait_for_load_state("networkidle")
    page.close()
    assert context.off_origin == []  # over every page this module opened
    assert log.unexpected() == [], log.unexpected()


def test_sign_out_ends_the_session_on_the_server_and_in_the_browser(world: World, base_url: str, context: Any) -> None:
    page, log = _page(context)
    juror = world.jurors[0]
    _sign_in(page, base_url, juror.account.username)
    assert page.locator("#nav a[href='#/notice']").count() == 0  # GET /notice refuses jurors
    page.evaluate("localStorage.setItem('hubao.jury.commits', JSON.stringify({'x:1': {approve: true}}))")
    token = page.evaluate("JSON.parse(sessionStorage.getItem('hubao.session')).token")
    assert world.api.get("/auth/me", token).status_code == 200
    page.click("#signout")
    page.wait_for_selector("#signin-form")
    assert page.evaluate("localStorage.getItem('hubao.jury.commits')") is None
    assert page.evaluate("sessionStorage.getItem('hubao.session')") is None
    assert world.api.get("/auth/me", token).status_code == 401  # revoked, not merely forgotten
    page.close()
    assert log.unexpected() == [], log.unexpected()


def test_sign_out_on_a_shared_computer_keeps_the_phone_signed_in(world: World, base_url: str, context: Any) -> None:
    """Two devices of one member (two tabs: each keeps its own token). "Your sessions" lists both and
    signs the other out; "Sign out" ends this device's session only."""
    member = world.member(name="web-two-devices")
    phone, phone_log = _page(context)
    shared_pc, pc_log = _page(context)
    spare, spare_log = _page(context)
    for page in (phone, shared_pc, spare):
        _sign_in(page, base_url, member.account.username)
    token = {
        p: p.evaluate("JSON.parse(sessionStorage.getItem('hubao.session')).token") for p in (phone, shared_pc, spare)
    }

    shared_pc.click("#sessions-link")
    shared_pc.wait_for_selector("#sessions-table")
    assert shared_pc.locator("#sessions-table tbody tr").count() == 4  # and the test's own API session
    assert "This device" in shared_pc.inner_text("#sessions-table tr[data-current='true']")
    sid = world.api.get("/auth/sessions", token[spare]).json()
    spare_id = next(s["id"] for s in sid if s["current"])
    shared_pc.click(f"button[data-session='{spare_id}']")
    shared_pc.wait_for_selector("#status:has-text('Signed out Chrome on Linux')")
    shared_pc.wait_for_selector("#sessions-table")
    assert shared_pc.locator(f"button[data-session='{spare_id}']").count() == 0
    assert shared_pc.locator("#sessions-table tbody tr").count() == 3
    assert world.api.get("/auth/me", token[spare]).status_code == 401
    spare_log.phase = "expected-4xx: the ended session's token is refused"
    spare.goto(f"{base_url}/app/#/member")
    spare.reload()
    spare.wait_for_selector("#signin-form")
    spare.wait_for_selector("#status:has-text('Your session ended')")

    shared_pc.click("#signout")
    shared_pc.wait_for_selector("#signin-form")
    assert world.api.get("/auth/me", token[shared_pc]).status_code == 401
    assert world.api.get("/auth/me", token[phone]).status_code == 200  # the phone stays signed in
    phone.goto(f"{base_url}/app/#/sessions")
    phone.wait_for_selector("#sessions-table")
    assert phone.locator("#sessions-table tbody tr").count() == 2
    assert "This device" in phone.inner_text("#sessions-table tr[data-current='true']")
    for page in (phone, shared_pc, spare):
        page.close()
    for log in (phone_log, pc_log, spare_log):
        assert log.unexpected() == [], log.unexpected()


def test_files_are_refused_in_the_page_before_any_upload(world: World, base_url: str, context: Any) -> None:
    """A 0-byte file and one above the limit are named and refused on the filing page, not after
    the upload (issue 17 item 11: "not application/pdf" for an empty file, a 30 MB file uploaded
    first, "20971520-byte limit")."""
    page, log = _page(context)
    claimant = world.member(name="web-file-checks")
    original = world.runtime.settings
    world.runtime.settings = original.model_copy(update={"upload_max_bytes": 2 * 1024 * 1024})
    try:
        _sign_in(page, base_url, claimant.account.username)
        page.goto(f"{base_url}/app/#/file")
        page.wait_for_selector("#file-form")
        # A member past the waiting period reads that it ended (not "ends on" a day gone by).
        assert "Your waiting period ended on" in page.inner_text("#waiting-hint")
        assert "up to 2 MiB each" in page.inner_text("#drop-zone")
        page.set_input_files("#files", files=[{"name": "blank.pdf", "mimeType": "application/pdf", "buffer": b""}])
        page.wait_for_selector("#file-form .error")
        assert "blank.pdf is empty (0 bytes)" in page.inner_text("#file-form .error")
        big = pdf("big") + b"%" * (3 * 1024 * 1024)
        page.set_input_files("#files", files=[{"name": "big scan.pdf", "mimeType": "application/pdf", "buffer": big}])
        page.wait_for_function("() => document.querySelector('#file-form .error').textContent.includes('big scan.pdf')")
        error = page.inner_text("#file-form .error")
        assert "each file may be at most 2 MiB" in error
        assert "byte limit" not in error
        assert page.locator("#file-list li").count() == 0  # nothing queued for upload
    finally:
        world.runtime.settings = original
    page.close()
    assert log.unexpected() == [], log.unexpected()


def test_a_demo_chain_moved_ahead_shows_both_clocks(world: World, base_url: str, context: Any) -> None:
    """After POST /chain/advance (the demo), the filing page accepts a diagnosis dated on the
    chain's today, and the claim page names the chain's and the server's clock where they differ
    (the QA walk-through saw a claim 'filed' three months before its diagnosis). Last in the module:
    it moves the chain's clock."""
    page, log = _page(context)
    claimant = world.member(name="web-clocks")
    world.advance(40 * 86_400)
    chain_now = datetime.fromtimestamp(int(world.runtime.w3.eth.get_block("latest")["timestamp"]), UTC)
    diagnosed = (chain_now - timedelta(days=1)).date().isoformat()
    assert diagnosed > datetime.now(UTC).date().isoformat()  # in the future by the wall clock
    _sign_in(page, base_url, claimant.account.username)
    page.goto(f"{base_url}/app/#/file")
    page.wait_for_selector("#file-form")
    assert page.get_attribute("#diagnosis", "max") == chain_now.date().isoformat()
    _fill_claim(page, diagnosed, "clocks.pdf")
    page.click("#submit-claim")
    page.wait_for_url("**/#/claims/*")
    page.wait_for_selector("#claim-timeline li[data-kind=ClaimFiled]")
    assert "on the chain's clock" in page.inner_text("#claim-timeline li[data-kind=ClaimFiled]")
    assert "on the server's" in page.inner_text("main section.card")  # the "Filed" fact
    page.close()
    assert log.unexpected() == [], log.unexpected()
