"""D5: oversized uploads against a real uvicorn server (``hubao serve``) on loopback.

Every refusal is a 413 (or 405 for a method the route does not have) with a machine-readable
code, seen by a raw-socket client that stops sending once the server answers or closes. The
server's socket accepts at most the limit + 5 MiB per request (kernel buffers included), and its
RSS and on-disk footprint (data dir, TMPDIR, unlinked-but-open files) barely move.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.security.served import UPLOAD_LIMIT, MiB, Refusal, Served, bounded_upload, connect, start_served

pytestmark = pytest.mark.xdist_group(name="security-served")

TWO_GIB = 2 * 1024 * MiB
SLACK = 5 * MiB
BLOCK = b"\0" * (64 * 1024)
BOUNDARY = "hubao-d5-boundary"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from start_served(tmp_path_factory.mktemp("served-uploads"))


def _raw(data: bytes) -> Iterator[bytes]:
    yield data
    while True:
        yield BLOCK


def _chunked(data: bytes) -> Iterator[bytes]:
    for piece in _raw(data):
        yield b"%x\r\n%s\r\n" % (len(piece), piece)


def _head(method: str, target: str, token: str, content_type: str, framing: str) -> bytes:
    length = "Transfer-Encoding: chunked" if framing == "chunked" else f"Content-Length: {TWO_GIB}"
    return (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {content_type}\r\n{length}\r\n\r\n"
    ).encode()


def _multipart_prefix() -> bytes:
    fields = "".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("illnessCode", "CI001"), ("diagnosisDate", "2026-01-02"))
    )
    file_head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    )
    return (fields + file_head).encode()


def _upload(served: Served, case: str) -> Refusal:
    claim_ref = "0x" + secrets.token_hex(32)
    if case == "claims-declared":
        head = _head("POST", "/claims", served.token, f"multipart/form-data; boundary={BOUNDARY}", "declared")
        body = _raw(_multipart_prefix())
    else:
        method, framing = {
            "evidence-declared": ("POST", "declared"),
            "evidence-chunked": ("POST", "chunked"),
            "evidence-put-chunked": ("PUT", "chunked"),
        }[case]
        head = _head(method, f"/evidence?claim_ref={claim_ref}", served.token, "application/pdf", framing)
        body = (_chunked if framing == "chunked" else _raw)(b"%PDF-1.7\n")
    # Far below 2 GiB: a server that kept reading past this is already failing the bound.
    return bounded_upload(served.port, head, body, give_up_after=UPLOAD_LIMIT + 4 * SLACK)


CASES = {
    "evidence-declared": (413, "PAYLOAD_TOO_LARGE"),
    "evidence-chunked": (413, "PAYLOAD_TOO_LARGE"),
    "claims-declared": (413, "PAYLOAD_TOO_LARGE"),
    "evidence-put-chunked": (405, "METHOD_NOT_ALLOWED"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_upload_refuses_two_gib_with_bounded_reads(served: Served, case: str) -> None:
    _upload(served, "evidence-declared")  # warm-up: first-request allocations are not growth
    rss, disk = served.rss(), served.disk_bytes()
    refusal = _upload(served, case)
    status, code = CASES[case]
    assert (refusal.status, (refusal.body or {}).get("code")) == (status, code), refusal
    assert refusal.sent <= UPLOAD_LIMIT + SLACK, f"server accepted {refusal.sent} bytes"
    assert served.rss() - rss < 50 * MiB
    assert served.disk_bytes() - disk < 1 * MiB


def test_upload_refuses_twenty_parallel_chunked_uploads(served: Served) -> None:
    _upload(served, "evidence-chunked")
    rss, disk = served.rss(), served.disk_bytes()
    cases = ["evidence-chunked", "evidence-declared", "claims-declared", "evidence-put-chunked"] * 5
    with ThreadPoolExecutor(max_workers=len(cases)) as pool:
        refusals = list(pool.map(lambda case: _upload(served, case), cases))
    for case, refusal in zip(cases, refusals, strict=True):
        assert (refusal.status, (refusal.body or {}).get("code")) == CASES[case], (case, refusal)
        assert refusal.sent <= UPLOAD_LIMIT + SLACK, (case, refusal.sent)
    assert served.rss() - rss < 100 * MiB
    assert served.disk_bytes() - disk < 1 * MiB


def _canary_hits(served: Served, canary: bytes) -> list[str]:
    """Files holding ``canary``: data dir (store blocks, database), TMPDIR, and every regular file the
    server process has open — unlinked spool files included (read back through /proc/<pid>/fd)."""
    hits = []
    for root in (served.data_dir, served.tmp_dir):
        for path in root.rglob("*"):
            with contextlib.suppress(OSError):
                if path.is_file() and canary in path.read_bytes():
                    hits.append(str(path))
    for fd in Path(f"/proc/{served.proc.pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("/") and not target.startswith(("/dev/", "/proc/")) and canary in fd.read_bytes():
                hits.append(f"fd {fd.name}: {target}")
    return hits


def test_plaintext_never_hits_disk_during_or_after_an_upload(served: Served) -> None:
    """D6 on the real server: a canary repeated through an upload just under the limit is nowhere on
    disk while the upload is half-sent (the server is holding it) nor after it is stored (201)."""
    canary = secrets.token_hex(16).encode()
    line = b"patient " + canary + b" diagnosis\n"
    body = b"%PDF-1.7\n" + line * ((UPLOAD_LIMIT - 64 * 1024) // len(line))
    head = (
        f"POST /evidence?claim_ref=0x{secrets.token_hex(32)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {served.token}\r\nContent-Type: application/pdf\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    half = len(body) // 2
    with connect(served.port) as sock:
        sock.sendall(head + body[:half])
        time.sleep(1)  # let the server read and process what it was sent (not a timing assertion)
        during = _canary_hits(served, canary)
        sock.sendall(body[half:])
        sock.settimeout(30)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    assert during == []
    assert _canary_hits(served, canary) == []
