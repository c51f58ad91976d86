"""The operator's filing receipt on a real anvil, database and API (issue 14 item 4).

* a filing answers with a receipt signed by the deployment's operator key, downloadable again by the
  claimant only; ``hubao receipt verify`` accepts it offline and, with --rpc, finds the claim on chain;
* a filing the operator accepted and then dropped (never relayed) is proven by the claimant's
  receipt: pending before ``onChainBy``, CENSORED (exit code 2) once the chain's time passes it;
* a claim the rules reject at filing (waiting period) never goes on chain and gets no receipt;
* a receipt made up with another key (naming the operator) is refused (exit code 1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

import backend.cli.receipts  # noqa: F401 - registers the command
from backend.api.routes.claims import prefers_async
from backend.chain.ledger_types import ClaimState
from backend.cli import app
from backend.proofs.filing_receipt import (
    FilingReceipt,
    filing_receipt_digest,
    parse_filing_receipt,
    verify_filing_receipt_offline,
)
from backend.services import claim_filing as service
from backend.services.auth import Principal
from backend.services.claims import ledger
from tests.claims.builders import World, pdf, world_fixture

pytestmark = pytest.mark.xdist_group("claims-filing-receipt")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "filing-receipt")


def _verify(world: World, path: Path, *extra: str) -> tuple[int, dict[str, object]]:
    args = ["receipt", "verify", str(path), "--json", "--operator", world.runtime.operator.address, *extra]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def test_filing_answers_with_the_operators_receipt(world: World, tmp_path: Path) -> None:
    claimant = world.member()
    response = world.file(claimant, [("report.pdf", pdf("receipt on chain"), "application/pdf")])
    assert response.status_code == 201, response.text
    body = response.json()
    receipt = body["filingReceipt"]
    assert receipt["claimId"] == body["claimId"]
    assert receipt["evidenceRoot"] == body["evidenceRoot"]
    assert receipt["operator"] == world.runtime.operator.address
    assert receipt["onChainBy"] - receipt["filedAt"] == world.runtime.settings.filing_onchain_deadline
    assert verify_filing_receipt_offline(receipt, operator=world.runtime.operator.address).ok
    again = world.api.get(f"/claims/{body['id']}/filing-receipt", claimant.token)
    assert again.status_code == 200
    assert again.json() == receipt
    assert world.api.get(f"/claims/{body['id']}/filing-receipt", world.member().token).status_code == 404
    path = tmp_path / "filing.json"
    path.write_text(json.dumps(receipt))
    code, report = _verify(world, path)
    assert (code, report["ok"], report["outcome"]) == (0, True, None)
    code, report = _verify(world, path, "--rpc", world.runtime.settings.chain_url)
    assert (code, report["outcome"]) == (0, "on_chain"), report


def test_respond_async_answers_once_durable_with_the_receipt_and_the_relay_files_it(world: World) -> None:
    """``Prefer: respond-async``: 202 FILED as soon as the claim is committed, the signed receipt
    being the promise; the relay then takes it on chain (review opened, reviewers assigned)."""
    claimant = world.member()
    response = world.file(
        claimant, [("report.pdf", pdf("filed asynchronously"), "application/pdf")], respond_async=True
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "FILED"
    assert response.headers["preference-applied"] == "respond-async"
    assert response.headers["location"] == f"/claims/{body['id']}"
    receipt = body["filingReceipt"]
    assert (receipt["claimId"], receipt["evidenceRoot"]) == (body["claimId"], body["evidenceRoot"])
    assert verify_filing_receipt_offline(receipt, operator=world.runtime.operator.address).ok
    deadline = time.monotonic() + 60
    while (status := world.api.get(f"/claims/{body['id']}", claimant.token).json()["status"]) == "FILED":
        assert time.monotonic() < deadline, "the relay did not file the claim"
        time.sleep(0.05)
    assert status == "UNDER_REVIEW"
    assert ledger(world.runtime).state(bytes.fromhex(body["claimId"][2:])) == ClaimState.UNDER_REVIEW
    kinds = [e["kind"] for e in world.api.get(f"/claims/{body['id']}/timeline", claimant.token).json()]
    assert [k for k in kinds if k in ("ClaimFiled", "ReviewOpened")] == ["ClaimFiled", "ReviewOpened"]
    assert len(world.reviewers_of(body["id"])) == 2
    # Without the preference (or with another one) the answer still waits for the chain.
    plain = world.file(world.member(), [("b.pdf", pdf("filed and waited"), "application/pdf")])
    assert (plain.status_code, plain.json()["status"]) == (201, "UNDER_REVIEW")
    assert "preference-applied" not in plain.headers


@pytest.mark.parametrize(
    ("header", "applies"),
    [
        ("respond-async", True),
        ("RESPOND-ASYNC", True),
        ("return=minimal, respond-async; wait=10", True),
        (" respond-async ", True),
        ("return=representation", False),
        ("respond-asynchronously", False),
        ("", False),
        (None, False),
    ],
)
def test_prefer_header_is_read_as_rfc_7240_says(header: str | None, applies: bool) -> None:
    assert prefers_async(header) is applies


def test_a_dropped_filing_is_proven_censored_by_the_receipt(world: World, tmp_path: Path) -> None:
    """The operator accepts the filing (and signs the receipt) but never relays it to the chain."""
    claimant = world.member()
    principal = Principal(claimant.id, "member", claimant.account.username)
    draft = service.begin_claim(
        world.runtime,
        principal,
        service.ClaimRequest(
            "CI001", datetime.now(UTC).date() - timedelta(days=10), claimant_key=Account.create().address
        ),
    )
    service.add_claim_file(world.runtime, draft, [pdf("dropped")], "application/pdf", "report.pdf")
    claim_pk = service.record_claim(world.runtime, draft)  # accepted; the relay is never asked
    assert draft.filing_receipt is not None
    fetched = world.api.get(f"/claims/{claim_pk}/filing-receipt", claimant.token).json()
    receipt = parse_filing_receipt(fetched)
    assert receipt == draft.filing_receipt
    assert ledger(world.runtime).state(receipt.claim_id) == ClaimState.NONE
    path = tmp_path / "dropped.json"
    path.write_text(json.dumps(fetched))
    rpc = world.runtime.settings.chain_url
    code, report = _verify(world, path, "--rpc", rpc)
    assert (code, report["outcome"]) == (0, "pending"), report
    now = int(world.runtime.w3.eth.get_block("latest")["timestamp"])
    world.advance(receipt.on_chain_by - now + 1)
    code, report = _verify(world, path, "--rpc", rpc)
    assert (code, report["outcome"], report["code"]) == (2, "censored", "FILING_CENSORED"), report
    text = CliRunner().invoke(app, ["receipt", "verify", str(path), "--rpc", rpc], catch_exceptions=False)
    assert text.exit_code == 2
    assert "CENSORED" in text.stdout


def test_waiting_period_claims_get_no_receipt(world: World) -> None:
    claimant = world.member(joined_days_ago=10)
    response = world.file(
        claimant, [("report.pdf", pdf("too early"), "application/pdf")], acknowledge_waiting_period=True
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "REJECTED"
    assert response.json()["filingReceipt"] is None
    missing = world.api.get(f"/claims/{response.json()['id']}/filing-receipt", claimant.token)
    assert missing.status_code == 404
    assert missing.json()["code"] == "NO_FILING_RECEIPT"


def test_a_receipt_made_up_with_another_key_is_refused(world: World, tmp_path: Path) -> None:
    forger = Account.create()
    domain = ledger(world.runtime).domain()
    fields = dict(
        chain_id=domain.chain_id,
        contract=domain.verifying_contract,
        domain_version=domain.version,
        claim_id=b"\x07" * 32,
        evidence_root=b"\x08" * 32,
        filed_at=1,
        on_chain_by=2,
    )
    signed = forger.unsafe_sign_hash(filing_receipt_digest(**fields))
    forged = FilingReceipt(operator=world.runtime.operator.address, signature=bytes(signed.signature), **fields)
    path = tmp_path / "forged.json"
    path.write_text(forged.to_json_text())
    code, report = _verify(world, path, "--rpc", world.runtime.settings.chain_url)
    assert (code, report["failedStep"], report["outcome"]) == (1, 2, None)


def test_receipts_ask_the_node_its_chain_id_once_not_per_filing(world: World) -> None:
    """Each filing signs its receipt inside its database transaction: the EIP-712 domain's chain
    id is read once per client, not with an ``eth_chainId`` round trip per filing."""
    from typing import Any

    from web3.middleware import Web3Middleware
    from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

    from backend.services.filing_receipts import sign_filing_receipt

    sent: list[str] = []

    class Recording(Web3Middleware):
        def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
            def record(method: RPCEndpoint, params: Any) -> RPCResponse:
                sent.append(str(method))
                return make_request(method, params)

            return record

    w3 = world.runtime.w3
    w3.middleware_onion.add(Recording, "chain-id-probe")
    try:
        receipts = [
            sign_filing_receipt(world.runtime, bytes([i]) * 32, b"\x02" * 32, datetime.now(UTC)) for i in range(3)
        ]
    finally:
        w3.middleware_onion.remove("chain-id-probe")
    assert sent.count("eth_chainId") <= 1, sent
    assert {r.chain_id for r in receipts} == {w3.eth.chain_id}


def test_a_filing_after_the_development_chain_moved_ahead_is_on_time(world: World, tmp_path: Path) -> None:
    """The demo moves the chain's clock days ahead (``POST /chain/advance``). A receipt stamped on the
    wall clock then named an ``onChainBy`` days before the block that records the filing, and
    ``hubao receipt verify --rpc`` called an honest, prompt filing LATE (exit 2). The receipt is on
    the chain's clock (block time), like the deadline it promises."""
    claimant = world.member()
    moved = world.api.post("/chain/advance", claimant.token, json={"seconds": 3 * 86_400})
    assert moved.status_code == 200, moved.text
    before = moved.json()["chainTime"]
    response = world.file(claimant, [("report.pdf", pdf("filed after the jump"), "application/pdf")])
    assert response.status_code == 201, response.text
    receipt = response.json()["filingReceipt"]
    assert receipt["filedAt"] >= before
    path = tmp_path / "after-jump.json"
    path.write_text(json.dumps(receipt))
    code, report = _verify(world, path, "--rpc", world.runtime.settings.chain_url)
    assert (code, report["outcome"]) == (0, "on_chain"), report
