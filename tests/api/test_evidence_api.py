"""Evidence over HTTP: upload → encrypted store → anchored → receipt, and the refusals (D5–D8, A4)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backend.api.app import create_app
from backend.chain.anvil import rpc_call
from backend.chain.client import account
from backend.chain.notary import NotaryBatchLookup, NotaryClient
from backend.chain.transactions import TransactionSender
from backend.config import ANVIL_DEV_KEYS
from backend.proofs.receipts import verify_receipt_offline, verify_receipt_onchain
from backend.runtime import Runtime
from backend.services.accounts import register_member
from backend.services.auth import start_session
from tests.accounts.support import uploader_client

PDF = b"%PDF-1.7\n" + b"medical report\n" * 100
CLAIM = "0x" + "ab" * 32


async def _upload(
    client: httpx.AsyncClient, body: bytes, media_type: str = "application/pdf", claim: str = CLAIM
) -> httpx.Response:
    return await client.post(
        "/evidence", params={"claim_ref": claim}, content=body, headers={"Content-Type": media_type}
    )


def test_upload_anchor_and_receipt_verifies_on_chain(runtime: Runtime) -> None:
    async def scenario() -> None:
        async with uploader_client(runtime) as client:
            created = await _upload(client, PDF)
            assert created.status_code == 201, created.text
            body = created.json()
            assert body["size"] == len(PDF)
            assert body["cid"].startswith(("bafk", "bafy"))  # CIDv1, raw leaves
            early = await client.get(body["receiptUrl"])
            assert early.status_code == 409
            assert early.json()["code"] == "NOT_YET_ANCHORED"
            runtime.anchoring_worker().run_until_idle()
            receipt = (await client.get(body["receiptUrl"])).json()
            private = {**receipt, "salt": body["salt"], "plaintextSha256": body["plaintextSha256"]}
            assert verify_receipt_offline(private).ok
            lookup = NotaryBatchLookup(NotaryClient(runtime.w3, runtime.contracts["EvidenceNotary"]))
            assert verify_receipt_onchain(private, lookup).ok
            health = (await client.get("/health")).json()
            assert health["status"] == "ok"
            assert health["chain"]["chainId"] == 31337
            assert health["anchoring"]["backlog"] == 0
            assert health["anchoring"]["lastBatch"]["batchId"] == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("body", "media_type", "status", "code"),
    [
        (b"PK\x03\x04zip bytes here", "application/pdf", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"<html><script>x</script>", "application/pdf", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"\x7fELF\x02\x01\x01\x00", "image/jpeg", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (PDF, "image/png", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (PDF, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"", "application/pdf", 422, "EMPTY_FILE"),
    ],
)
def test_upload_refuses_spoofed_content_type(
    runtime: Runtime, body: bytes, media_type: str, status: int, code: str
) -> None:
    async def scenario() -> httpx.Response:
        async with uploader_client(runtime) as client:
            return await _upload(client, body, media_type)

    response = asyncio.run(scenario())
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert runtime.anchoring_worker().backlog() == 0  # nothing recorded


def test_upload_over_limit_is_413_declared_and_streamed(runtime_factory: object) -> None:
    runtime = runtime_factory(upload_max_bytes=64 * 1024)  # type: ignore[operator]

    async def chunked() -> AsyncIterator[bytes]:
        yield b"%PDF-1.7\n"
        for _ in range(100):
            yield b"x" * 4096

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with uploader_client(runtime) as client:
            declared = await _upload(client, b"%PDF-" + b"x" * (64 * 1024))
            streamed = await client.post(
                "/evidence", params={"claim_ref": CLAIM}, content=chunked(), headers={"Content-Type": "application/pdf"}
            )
            return declared, streamed

    declared, streamed = asyncio.run(scenario())
    assert declared.status_code == 413
    assert declared.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert streamed.status_code == 413
    assert runtime.anchoring_worker().backlog() == 0


def test_upload_needs_a_member_token(runtime: Runtime) -> None:
    async def scenario() -> httpx.Response:
        app = create_app(runtime=runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hubao.test") as client:
            return await _upload(client, PDF)

    response = asyncio.run(scenario())
    assert (response.status_code, response.json()["code"]) == (401, "UNAUTHORIZED")


def test_upload_rejects_malformed_claim_ref(runtime: Runtime) -> None:
    async def scenario() -> httpx.Response:
        async with uploader_client(runtime) as client:
            return await _upload(client, PDF, claim="0x1234")

    response = asyncio.run(scenario())
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_plaintext_never_reaches_disk(runtime: Runtime, tmp_path: Path) -> None:
    """D6: a canary inside a 5 MiB upload appears nowhere on disk: data dir, DB, TMPDIR."""
    canary = os.urandom(16).hex().encode()
    body = b"%PDF-1.7\n" + (b"patient " + canary + b" diagnosis\n") * (5 * 1024 * 1024 // 50)

    async def scenario() -> httpx.Response:
        async with uploader_client(runtime) as client:
            return await _upload(client, body)

    assert asyncio.run(scenario()).status_code == 201
    roots = [runtime.settings.resolved_data_dir, Path(os.environ.get("TMPDIR", "/tmp"))]
    hits = []
    for root in roots:
        # os.walk, not rglob: other tests (browsers, anvils) create and delete directories under
        # TMPDIR while this scans, and rglob raises on a directory that vanished mid-walk.
        for directory, _, names in os.walk(root, onerror=lambda _: None):
            for name in names:
                path = Path(directory, name)
                try:
                    if path.is_file() and path.stat().st_size < 200 * 1024 * 1024 and canary in path.read_bytes():
                        hits.append(path)
                except OSError:  # vanished or unreadable between listing and reading
                    continue
    assert hits == []


def test_fifty_concurrent_uploads_anchor_with_consecutive_nonces(runtime: Runtime) -> None:
    """A4: 50 concurrent API calls; one anchor per item from one signer: 50 consecutive nonces."""

    async def scenario() -> list[httpx.Response]:
        async with uploader_client(runtime) as client:
            return list(await asyncio.gather(*[_upload(client, PDF + bytes([i])) for i in range(50)]))

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [201] * 50
    notary_address = runtime.notary.address
    start = runtime.w3.eth.get_transaction_count(notary_address)
    worker = runtime.anchoring_worker()
    worker.max_batch = 1
    worker.run_until_idle(max_cycles=200)
    assert runtime.w3.eth.get_transaction_count(notary_address) == start + 50
    node_url = runtime.settings.chain_url
    status = rpc_call(node_url, "txpool_status")
    assert isinstance(status, dict)
    assert int(str(status["queued"]), 16) == 0


def test_nonce_allocator_gives_distinct_consecutive_nonces_under_threads(runtime: Runtime) -> None:
    """A4: 50 threads send at once through one sender: nonces 0..49 exactly, no -32003."""
    sender = TransactionSender(runtime.w3, account(ANVIL_DEV_KEYS[7]))
    nonces: list[int] = []
    lock = threading.Lock()

    def send() -> None:
        sent = sender.send({"to": "0x000000000000000000000000000000000000dEaD", "value": 1, "gas": 21000})
        with lock:
            nonces.append(sent.nonce)

    threads = [threading.Thread(target=send) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(nonces) == list(range(50))


def test_uploads_are_for_members_within_a_daily_quota(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17 item 12: an account that never joined stored and queued files for anchoring."""
    with runtime.sessions.begin() as session:
        outsider = register_member(session, f"outsider-{os.urandom(4).hex()}", "correct horse battery")
    outsider_token = start_session(runtime.sessions, outsider, runtime.jwt_secret)
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"evidence_uploads_per_day": 2}))

    async def scenario() -> None:
        app = create_app(runtime=runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://hubao.test",
            headers={"Authorization": f"Bearer {outsider_token}"},
        ) as outsider_client:
            refused = await _upload(outsider_client, PDF)
            assert (refused.status_code, refused.json()["code"]) == (403, "NOT_A_MEMBER")
        async with uploader_client(runtime) as client:
            for _ in range(2):
                assert (await _upload(client, PDF)).status_code == 201
            over = await _upload(client, PDF)
            assert (over.status_code, over.json()["code"]) == (429, "UPLOAD_QUOTA")
            assert 1 <= int(over.headers["retry-after"]) <= 86_400 + 1

    asyncio.run(scenario())
