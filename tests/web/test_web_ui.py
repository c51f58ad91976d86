"""The web UI in a real browser (Debian's chromium, headless, driven by Playwright).

One story on a real anvil, database and evidence store, the app served by uvicorn on loopback:
a claimant files a claim with two files (one dropped, one chosen) and sees each on-chain step;
two reviewers see the four evidence checks pass, the document inline, and approve; the notice
window passes on anvil's clock and the claim is finalized; the period is published; the member
verifies the share in the browser (and an altered receipt fails); the auditor finds the claim in
the chain history, sees the periods chart and runs the audit. Along the way: joining with a
refusal shown as the API's {code, message}, an objection sending another claim to a jury, and a
juror committing then revealing with the key kept in this browser. Every main page is screenshotted
at 1280 and 375 px; no console error may occur outside the steps that provoke an API refusal on
purpose.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from eth_account import Account as EthAccount

from backend.apportionment.publish import compute_and_publish_period
from backend.apportionment.schedule import DEFAULT_SCHEDULE
from backend.chain.anvil import rpc_call
from backend.proofs.filing_receipt import verify_filing_receipt_offline
from backend.services.claims import ledger
from tests.claims.builders import PASSWORD, World, pdf
from tests.stacks import rules_of
from tests.web.browser import ConsoleLog, shoot
from tests.web.browser_fixtures import browser_world, chromium, served

pytestmark = pytest.mark.xdist_group("web-ui")
JUROR_PASSPHRASE = "juror device passphrase"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # The reviewers sign in the browser with the server-held key of a data directory from before
    # device keys; the device-key browser flow is tests/device/test_device_review_browser.py.
    root = tmp_path_factory.mktemp("web")
    with browser_world(root, reviewers=2, jurors=3, legacy_reviewers=True) as world:
        yield world


@pytest.fixture(scope="module")
def base_url(world: World) -> Iterator[str]:
    with served(world) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


class Ui:
    """The page plus the steps every role repeats."""

    def __init__(self, page: Any, base_url: str, log: ConsoleLog) -> None:
        self.page = page
        self.base = base_url
        self.log = log
        self.shots: list[Path] = []

    def open(self, route: str) -> None:
        self.page.goto(f"{self.base}/app/{route}")

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        self.page.evaluate("sessionStorage.clear()")
        self.open("#/signin")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("#signin-form button[type=submit]")
        self.page.wait_for_selector("#signout")

    def shoot(self, name: str) -> None:
        self.shots += shoot(self.page, name)


def real_pdf(text: str, padding: int = 0) -> bytes:
    """A one-page PDF the browser's viewer renders (no xref table: viewers rebuild it)."""
    content = f"BT /F1 20 Tf 24 60 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 360 140] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"".join(b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n" for i, o in enumerate(objects))
    return b"%PDF-1.4\n" + body + b"%" + b"x" * padding + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def real_png(width: int = 48, height: int = 32) -> bytes:
    """A small RGB PNG (a two-colour stripe) the browser decodes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + (b"\x0b\x5d\x57" * (width // 2) + b"\xd0\x8c\x00" * (width - width // 2)) for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def chain_time(world: World) -> int:
    return int(world.runtime.w3.eth.get_block("latest")["timestamp"])


def set_chain_time(world: World, instant: int) -> None:
    url = world.runtime.settings.chain_url
    rpc_call(url, "evm_setNextBlockTimestamp", [instant])
    rpc_call(url, "evm_mine")


def test_claim_to_verified_share_in_the_browser(world: World, base_url: str, browser: Any) -> None:
    log = ConsoleLog()
    page = browser.new_page()
    page.on("console", log.on_console)
    page.on("pageerror", log.on_page_error)
    ui = Ui(page, base_url, log)
    rules = rules_of(world.runtime)
    claimant = world.member(name="web-claimant")
    neighbour = world.member(name="web-neighbour")
    username = claimant.account.username

    # --- sign in by keyboard alone: skip link, then the form in tab order, Enter submits ----------
    log.phase = "sign-in"
    ui.open("#/signin")
    page.wait_for_selector("#signin-form")
    ui.shoot("signin")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "skip"
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "username":
            break
    assert page.evaluate("document.activeElement.id") == "username"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused field has no visible focus ring"
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("#signout")
    assert page.url.endswith("#/member")
    page.wait_for_selector("text=Membership")
    ui.shoot("member-home")

    # --- file a claim: one file dropped on the zone, one chosen; the upload progress reaches 100 --
    log.phase = "file"
    ui.open("#/file")
    page.wait_for_selector("#file-form")
    page.select_option("#illness", "CI001")
    page.fill("#diagnosis", (datetime.now(UTC).date() - timedelta(days=10)).isoformat())
    page.focus("#diagnosis")
    for _ in range(4):  # a date field takes a Tab per part (month, day, year); then the file chooser
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") != "diagnosis":
            break
    assert page.evaluate("document.activeElement.id") == "files"
    assert page.evaluate("getComputedStyle(document.querySelector('#choose-files')).outlineStyle") != "none"
    report = real_pdf("Pathology report: web claimant", padding=400_000)  # several upload progress events
    page.evaluate(
        """([name, text]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, { type: "application/pdf" }));
            const zone = document.getElementById("drop-zone");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
            }
        }""",
        ["pathology.pdf", report.decode()],
    )
    page.set_input_files("#files", files=[{"name": "scan.png", "mimeType": "image/png", "buffer": real_png()}])
    assert page.locator("#file-list li").count() == 2
    # the claim's own key is made in this browser, encrypted under this passphrase (never sent)
    page.fill("#claim-passphrase", "claim key passphrase")
    page.fill("#claim-passphrase-again", "claim key passphrase")
    ui.shoot("file-claim")
    page.evaluate(
        """() => {
            window.__progress = [];
            const bar = document.getElementById("upload-progress");
            new MutationObserver(() => window.__progress.push(Number(bar.getAttribute("value") ?? bar.value)))
                .observe(bar, { attributes: true });
        }"""
    )
    page.click("#submit-claim")
    page.wait_for_url("**/#/claims/*")
    claim_pk = page.url.rsplit("/", 1)[1]
    assert "filed and recorded on chain" in page.inner_text("#status")
    assert page.evaluate("window.__progress.at(-1)") == 100
    page.wait_for_selector("#claim-timeline li[data-kind=ClaimFiled]")
    filed = page.locator("#claim-timeline li[data-kind=ClaimFiled]").inner_text()
    assert "block" in filed
    assert "tx 0x" in filed
    claim = world.claim(claimant, claim_pk)
    assert claim["status"] == "UNDER_REVIEW"
    # "Filed" (and the membership's "Joined") read in the plan's time zone, like every deadline.
    shanghai = ZoneInfo("Asia/Shanghai")
    filed_at = datetime.fromisoformat(claim["filedAt"]).astimezone(shanghai)
    assert f"{filed_at:%Y-%m-%d %H:%M} Asia/Shanghai (GMT+08:00)" in page.inner_text("main")
    assert {e["originalName"] for e in claim["evidence"]} == {"pathology.pdf", "scan.png"}
    assert claim["claimId"] in page.inner_text("main")
    with page.expect_download() as got:  # the operator's signed promise to have it on chain in time
        page.click("#download-filing-receipt")
    filing = json.loads(Path(got.value.path()).read_text())
    assert (filing["kind"], filing["claimId"]) == ("filing", claim["claimId"])
    assert verify_filing_receipt_offline(filing, operator=world.runtime.operator.address).ok
    world.anchor()
    page.reload()
    page.wait_for_selector("#evidence-list button:has-text('Verify receipt here')")
    page.locator("#evidence-list button:has-text('Verify receipt here')").first.click()
    page.wait_for_selector("#evidence-list [data-verified=true]")
    assert page.locator("#evidence-list [data-verified=true] li").count() == 11  # offline 1–5, chain 6–11
    missing = world.api.get("/anchors/999", claimant.token)
    assert (missing.status_code, missing.json()["code"]) == (404, "BATCH_NOT_FOUND")
    with page.expect_download() as download:
        page.locator("#evidence-list button:has-text('Download receipt')").first.click()
    receipt = json.loads(Path(download.value.path()).read_text())
    # the chain's newest batches, newest first, each with its anchoring transaction
    listed = world.api.get("/anchors?limit=5", claimant.token)
    assert listed.status_code == 200, listed.text
    batches = listed.json()
    assert [b["batchId"] for b in batches] == sorted((b["batchId"] for b in batches), reverse=True)
    ours = next(b for b in batches if b["batchId"] == receipt["batchId"])
    assert (ours["root"], ours["txHash"], ours["blockNumber"]) == (
        receipt["root"],
        receipt["anchorTx"],
        receipt["anchorBlock"],
    )
    anchoring = world.runtime.w3.eth.get_transaction(ours["txHash"])
    assert anchoring["blockNumber"] == ours["blockNumber"]
    assert anchoring["to"] == world.runtime.contracts["EvidenceNotary"].address
    page.locator("#evidence-list > li", has_text="scan.png").locator("button:has-text('View file')").click()
    page.wait_for_selector("#evidence-list img.doc-image")
    assert page.locator("button:has-text('Withdraw claim')").count() == 1
    # the claim's key: kept here (keystore v3 under its address), bound on chain, only its address sent
    kept = page.evaluate(f"localStorage.getItem('hubao.keystore.v3:claim:{claim['claimantKey'].lower()}')")
    assert kept is not None
    assert json.loads(kept)["address"] == claim["claimantKey"][2:].lower()
    assert ledger(world.runtime).claim(bytes.fromhex(claim["claimId"][2:])).claimant_key == claim["claimantKey"]
    assert receipt["kind"] == "evidence"
    assert "salt" in receipt
    ui.shoot("claim-timeline")
    ui.open("#/member")
    page.wait_for_selector("#claims-table")
    joined_at = datetime.fromisoformat(world.api.get("/members/me", claimant.token).json()["joinedAt"])
    assert f"{joined_at.astimezone(shanghai):%Y-%m-%d %H:%M} Asia/Shanghai (GMT+08:00)" in page.inner_text("main")
    assert f"{filed_at:%Y-%m-%d} (UTC+08:00)" in page.inner_text("#claims-table")
    assert " UTC" not in page.inner_text("main")  # no date left in UTC beside them

    # --- reviewers: queue, four checks ✓, the document inline, approve --------------------------
    reviewers = world.reviewers_of(claim_pk)
    assert len(reviewers) == 2
    for n, reviewer in enumerate(reviewers):
        log.phase = f"review-{n}"
        ui.sign_in(reviewer.account.username)
        page.wait_for_selector("#queue-table")
        if n == 0:
            ui.shoot("review-queue")
        page.click(f"#queue-table a[href='#/review/{claim_pk}']")
        page.wait_for_selector("#evidence-review ul.checks")
        page.wait_for_function("() => document.querySelectorAll('#evidence-review ul.checks').length === 2")
        for checks in page.locator("#evidence-review ul.checks").all():
            assert checks.get_attribute("data-verified") == "true"
            marks = checks.locator("li").all()
            assert [m.get_attribute("data-check") for m in marks] == ["decrypt", "rehash", "commitment", "inclusion"]
            assert all(m.get_attribute("data-status") == "pass" for m in marks)
        for item in page.locator("#evidence-review > li").all():
            item.locator("button:has-text('Show document')").click()
        page.wait_for_selector("#evidence-review iframe.doc-frame")
        page.wait_for_selector("#evidence-review img.doc-image")
        assert page.evaluate("document.querySelector('#evidence-review img.doc-image').src").startswith("blob:")
        page.wait_for_function("() => document.querySelector('#evidence-review img.doc-image').complete")
        if n == 0:
            page.wait_for_timeout(1500)  # let the PDF viewer paint before the screenshot
            ui.shoot("review-claim")
        page.focus("input[name=verdict][value=APPROVE]")  # by keyboard: focus the radio, Space picks it
        page.keyboard.press("Space")
        checked = page.evaluate("document.querySelector('input[name=verdict][value=APPROVE]').checked")
        if not checked:
            page.screenshot(path="/tmp/verdict-debug.png", full_page=True)
        assert checked, f"reviewer {n}: {page.url}"
        page.fill("#report", "pathology confirms the diagnosis")
        page.click("#verdict-form button[type=submit]")
        page.wait_for_selector("#verdict-done")
    # The deciding verdict: the page's header follows the claim (no stale UNDER REVIEW).
    assert page.inner_text("#review-status") == "IN NOTICE"
    assert world.claim(claimant, claim_pk)["status"] == "IN_NOTICE"

    # --- public notice: the claimant may not object to their own claim (readable 409) -----------
    log.phase = "expected-4xx:own-objection"
    ui.sign_in(username)
    ui.open("#/notice")
    page.wait_for_selector("#notice-list")
    card = page.locator("#notice-list > li", has_text=claim["claimId"][:12])
    card.locator("summary").click()
    card.locator("textarea").fill("testing my own claim")
    card.locator("button[type=submit]").click()
    error = card.locator(".error")
    error.wait_for()
    assert "OWN_CLAIM" in error.inner_text()
    assert "Traceback" not in page.inner_text("body")
    ui.shoot("notice")

    # --- the notice window passes on anvil's clock; the operator's finalize step approves --------
    log.phase = "finalize"
    world.advance(rules.notice_seconds)
    done = world.api.post(f"/claims/{claim_pk}/finalize-notice", world.operator.token)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "APPROVED"
    final_at = datetime.fromtimestamp(chain_time(world), UTC)
    period = DEFAULT_SCHEDULE.period_for(final_at)
    set_chain_time(world, int(period.window_end.timestamp()) + 60)
    published = compute_and_publish_period(world.runtime, period, period.window_end + timedelta(minutes=1))
    assert published.record.claim_count == 1
    assert published.record.member_count >= 2

    # --- the member's share for the period, verified in the browser ------------------------------
    log.phase = "shares"
    ui.sign_in(username)
    ui.open("#/claims/" + claim_pk)
    page.wait_for_selector("#claim-timeline li[data-kind=NoticeFinalized]")
    ui.open("#/shares")
    page.wait_for_selector("#shares-table")
    # The membership-log section: the join anchored (or queued), and no period left this member out.
    page.wait_for_selector("#membership-log #join-status")
    assert "left out" not in page.inner_text("#membership-log")
    # The debit day is the plan's (Asia/Shanghai), as the API says it, with the zone named.
    debit_at = next(
        s for s in world.api.get("/me/shares", claimant.token).json()["shares"] if s["periodId"] == period.period_id
    )["debitAt"]
    assert debit_at.endswith("+08:00")
    row = page.locator("#shares-table tr", has=page.locator(f"button[data-period='{period.period_id}']"))
    assert f"{debit_at[:10]} (UTC+08:00)" in row.inner_text()
    page.click(f"#shares-table button[data-period='{period.period_id}']")
    page.wait_for_selector("#verify-result [data-verified]")
    result = page.locator("#verify-result [data-verified]")
    assert result.get_attribute("data-verified") == "true", result.inner_text()
    assert result.locator("li").count() == 7  # six offline steps and the chain's record
    assert "recorded on chain" in result.inner_text()
    ui.shoot("shares-verified")
    altered = json.loads(page.input_value("#receipt-text"))
    altered["leaf"]["shareFen"] += 1
    page.fill("#receipt-text", json.dumps(altered, indent=2))
    page.click("#verify-text")
    page.wait_for_selector("#verify-result [data-verified=false]")
    assert "failed at step 2" in page.inner_text("#verify-result")
    forged = {**altered, "leaf": {**altered["leaf"], "shareFen": altered["leaf"]["shareFen"] - 1}}
    forged["ledgerRoot"] = "0x" + "42" * 32
    page.fill("#receipt-text", json.dumps(forged, indent=2))
    page.click("#verify-text")
    page.wait_for_selector("#verify-result [data-verified=false]")
    assert "failed at step 3" in page.inner_text("#verify-result")
    ui.shoot("shares-altered")

    # --- an objection sends the neighbour's claim to a jury; a juror commits then reveals ---------
    log.phase = "jury"
    other = world.file(neighbour, [("n.pdf", pdf("neighbour biopsy"), "application/pdf")])
    assert other.status_code == 201, other.text
    other_pk, other_id = other.json()["id"], other.json()["claimId"]
    world.anchor()
    world.approve_by_review(other_pk)
    ui.open("#/notice")
    card = page.locator("#notice-list > li", has_text=other_id[:12])
    card.locator("summary").click()
    card.locator("textarea").fill("I saw the neighbour running a marathon last week")
    card.locator("button[type=submit]").click()
    card.locator(".success").wait_for()
    assert "DISPUTED" in card.inner_text()
    seated = world.seated(other_pk)
    assert seated
    juror = seated[0]
    ui.sign_in(juror.account.username)
    page.wait_for_selector("#jury-seats")
    # The juror's own key (the test holds it) goes into this browser as its encrypted keystore.
    assert juror.device_key is not None
    keystore = EthAccount.encrypt(juror.device_key, JUROR_PASSPHRASE, kdf="scrypt", iterations=2**10)
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [f"hubao.keystore.v3:{juror.id}", json.dumps(keystore)])
    ui.shoot("jury-seats")
    page.click(f"#jury-seats a[href='#/jury/{other_pk}']")
    page.wait_for_selector("#commit-form")
    assert "marathon" in page.inner_text("main"), page.inner_text("main")
    page.check("input[name=vote][value=approve]")
    page.fill("#vote-passphrase", JUROR_PASSPHRASE)
    page.click("#commit-form button[type=submit]")
    # Inside the commit window: no reveal button, the windows' times, and (demo chain) a clock button.
    page.wait_for_selector("#reveal-wait", timeout=60_000)
    assert page.locator("#reveal").count() == 0
    assert "Revealing opens at" in page.inner_text("#reveal-wait")
    assert "commit window open" in page.inner_text("main")
    assert "Asia/Shanghai (GMT+08:00)" in page.inner_text("main")  # deadlines in the plan's zone, named
    assert "Reveal window" in page.inner_text("main")
    assert page.evaluate("localStorage.getItem('hubao.jury.commits')") is None  # the vote is kept nowhere
    early = world.reveal(juror, other_pk, True)
    assert (early.status_code, early.json()["code"]) == (409, "REVEAL_NOT_OPEN")
    ui.shoot("jury-committed")
    before = chain_time(world)
    page.click("#advance-clock")  # the demo moves the chain's clock to the reveal window
    page.wait_for_selector("#reveal")
    assert chain_time(world) > before + 60
    assert "reveal window open" in page.inner_text("main")
    page.fill("#vote-passphrase", JUROR_PASSPHRASE)
    page.click("#reveal")
    page.wait_for_selector("#vote-panel .success")
    assert "Revealed: approve" in page.inner_text("#vote-panel")

    # --- the auditor: the claim in the chain history, the periods chart, the audit ----------------
    log.phase = "auditor"
    ui.sign_in(world.auditor.account.username)
    page.wait_for_selector("#history-table")
    page.fill("#history-filter", claim["claimId"])
    rows = page.locator(f"#history-table tr[data-claim='{claim['claimId']}']")
    kinds = {r.get_attribute("data-kind") for r in rows.all()}
    assert {"ClaimFiled", "ReviewOpened", "NoticeFinalized"} <= kinds, kinds
    assert "of" in page.inner_text("#history-count")
    ui.shoot("auditor-history")
    page.fill("#history-filter", "")
    assert page.locator("#history-table tr[data-kind=BatchAnchored]").count() >= 1  # evidence batches too
    ui.open("#/audit/periods")
    page.wait_for_selector("#periods-chart")
    assert page.locator("#periods-chart rect.bar-payouts").count() == 1
    for axis in ("tick-due", "tick-base"):  # five distinct labels, never ¥0.01 twice on a flat axis
        ticks = page.locator(f"#periods-chart text.{axis}").all_text_contents()
        assert len(ticks) == 5
        assert len(set(ticks)) == 5, ticks
    assert str(period.period_id) in page.inner_text("#periods-table")
    ui.shoot("auditor-periods")
    ui.open("#/audit/report")
    page.click("#run-audit")
    page.wait_for_selector("#audit-verdict", timeout=60_000)
    assert page.locator("#audit-steps > li").count() >= 3
    ui.shoot("auditor-audit")

    # --- an unknown page and an unknown claim: a readable answer, never a stack trace -------------
    log.phase = "expected-4xx:not-found"
    ui.open("#/claims/no-such-claim")
    page.wait_for_selector("main .error")
    assert page.inner_text("main h1") == "Not found"
    assert "(NOT_FOUND)" in page.inner_text("main .error")
    ui.open("#/no/such/page")
    page.wait_for_selector("text=Page not found")
    assert "Traceback" not in page.inner_text("body")

    # --- joining: a refusal is the API's code and message; then a valid declaration joins --------
    log.phase = "expected-4xx:join"
    page.evaluate("sessionStorage.clear()")
    ui.open("#/register")
    page.fill("#reg-username", "web-newcomer")
    page.fill("#reg-password", "a long enough password")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#join-form")
    page.fill("#birth", "1990-05-17")
    page.fill("#credit", "10")
    for radio in page.locator("#join-form input[value=no]").all():
        radio.check()
    page.click("#join-form button[type=submit]")
    error = page.locator("#join-form .error")
    error.wait_for()
    assert "NOT_ELIGIBLE_CREDIT" in error.inner_text()
    assert "Not eligible: credit score." in error.inner_text()
    ui.shoot("join-refused")
    log.phase = "join"
    page.fill("#credit", "700")
    page.click("#join-form button[type=submit]")
    page.wait_for_selector("text=Membership")
    assert "ACTIVE" in page.inner_text("main") or "WAITING" in page.inner_text("main").upper()

    page.close()
    assert log.unexpected() == [], log.unexpected()
    assert len(ui.shots) >= 26
    assert all(p.stat().st_size > 1000 for p in ui.shots)
