"""Claim filing under load: concurrent ``POST /claims`` against a running API, next to an upload floor.

Everything is real and runs in one run per database backend (SQLite file; PostgreSQL too when
``postgresql+psycopg://postgres@127.0.0.1:5432/test`` answers — a fresh database is created for the
run and dropped after):

* a fresh automining anvil with the suite deployed, the default rule set anchored, three reviewers
  on the roster and ``claimants`` members who joined 200 days ago (waiting period over), each with
  a bearer token — all built through the services, as ``tests/claims/builders.py`` does;
* the API served by **uvicorn** in a child process on a free 127.0.0.1 port, the app built by
  ``create_app`` over the same data directory, database and chain. Before serving, the benchmark
  mounts one extra route on that app object (never on the product API), the **baseline**:
  ``POST /_bench/discard`` reads the request body to the end and discards it, returning a tiny JSON.
  Each backend runs twice: one API process, and ``HUBAO_API_WORKERS=2`` — the product's supervised
  worker processes (``backend.api.workers``), the baseline route mounted in each through the
  supervisor's ``prepare`` hook; server CPU is summed over the worker processes;
* a client process (this one) that sends ``claimants`` requests at once (httpx, one connection each):
  first the baseline, each carrying exactly the multipart body of a claim (fields + one PDF of
  ``file_bytes``), then the real filings, one per member, each with its own distinct PDF.

``claims_per_s`` (and the baseline's ``uploads_per_s``) is requests over the wall time from the
first send to the last response; ``p50_ms`` / ``p99_ms`` are per-request latencies (nearest rank).
A filing is the whole product path: streamed multipart, AES-GCM encryption into the evidence
store, the claim with its evidence rows in one database transaction, then the **filing relay**
(``backend/services/filing.py``): concurrent filings share one ``ClaimLedger.fileForReview``
transaction (file + open review for every claim waiting), recorded with the reviewer assignments
in one database transaction; each request waits for its group and answers ``201 UNDER_REVIEW``.
After the clock stops every response must be ``201 UNDER_REVIEW`` and every claim
``UNDER_REVIEW`` on chain. Each endpoint gets warm-up requests first (two per API process); then
baseline and filing rounds run in turns, three of each (each filing round with its own members
and files), and each side's figure is its best round (``rounds_per_s`` lists them all).

Each turn also files ``claimants`` more claims with ``Prefer: respond-async`` (``claims_async``): the
API answers ``202 FILED`` once the claim and its evidence are durable, with the operator's signed
filing receipt (its ``onChainBy`` deadline binds the operator, as an evidence upload's receipt binds
the anchoring worker); the relay takes them on chain in its next rounds. ``claims_per_s`` counts the
answers; after the last one the clock keeps running until every claim of the round is
``UNDER_REVIEW`` in the database (``drain_seconds``), giving ``on_chain_per_s``; the server's CPU
is counted to then, relay rounds included, and every claim is checked ``UNDER_REVIEW`` on chain.

Target (issue 18 item 6): filings/s ≥ 0.8 × ``evidence_upload`` on one host
(``ratio_vs_evidence_upload``, the ``target``, counts the asynchronous filing's answers — the
claimant's filing is then as durable and as receipted as an upload; ``ratio_on_chain_vs_evidence_upload``
counts to the last claim on chain, ``ratio_waiting_for_chain_vs_evidence_upload`` the default answer
that waits for the chain): ``evidence_upload`` is the product's ``POST
/evidence`` with the same 1 MiB file — read, encrypted, stored durably with its database and
outbox rows; no claim, no chain — measured in the same turns, so a filing is priced against
storing its evidence. The discard route stays as an informative floor (``ratio_vs_baseline``;
the target of earlier sessions, 0.5 ×, was never reachable: see below).

**Two hosts against one** (``hosts``, PostgreSQL only): the cluster of ``benchmarks/cluster.py``
— the same launching code as ``tests/multihost`` — two ``hubao serve`` hosts with their own data
directories on one PostgreSQL database, one evidence store reached over the Kubo RPC API
(``hubao evidence-store serve``), one anvil and the shared secrets, anchoring and the workflow
clock on as deployed. In turns: uploads then filings on host A alone, uploads then filings spread
over both (request ``i`` to host ``i mod 2``); each figure is its best round, server CPU summed
over both hosts. ``two_hosts_vs_one`` is filings/s on two hosts over one.

Results (``python -m benchmarks claims``: 50 claimants × 1 MiB, 2-core dev machine;
``results/bench_claims.json`` holds the latest run, 2026-11-29 13:15 UTC on an idle machine;
filings/s vs discards/s → ratio; the product's evidence upload of the same file alongside):

==================================  =============================  =============================
run                                 SQLite                         PostgreSQL
==================================  =============================  =============================
earlier: two operator transactions  11.6 vs 147.7 → 0.078          8.5 vs 120.5 → 0.071
per claim
filing relay (group commit)         27.0 vs 225.7 → 0.12,          24.7 vs 210.3 → 0.12,
                                    30.6 ms server CPU per filing  30.4 ms
now, one API process                68.7 vs 666.2 → 0.10,          61.6 vs 675.1 → 0.09,
                                    15.8 ms CPU per filing;        16.4 ms;
                                    evidence upload 125.1/s        evidence upload 114.0/s
                                    (9.8 ms CPU) → filing 0.55 ×   (10.2 ms) → 0.54 ×
now, ``HUBAO_API_WORKERS=2``        66.5 vs 638.2 → 0.10,          62.2 vs 635.9 → 0.10,
                                    18.4 ms; evidence upload       19.4 ms; evidence upload
                                    137.1/s → 0.48 ×               102.9/s → 0.60 ×
==================================  =============================  =============================

This session (2026-12-06 11:53 UTC, after the chain outbox landed; ``python -m benchmarks
claims``, 50 claimants × 1 MiB, while other sessions' suites held the 2 cores at a load of ~9:
absolute figures far below the idle ones above, the same-run ratios the comparable part;
``results/bench_claims.json``): filings vs the durable evidence upload on one host — SQLite
25.5 vs 43.3/s → **0.59 ×**, PostgreSQL 24.6 vs 44.2/s → **0.56 ×**; two API workers 0.55 × and
0.57 × (earlier runs the same day, before the outbox: 0.52–0.68 ×). Target 0.8 × **not met**.
Two hosts against one (PostgreSQL, the store over Kubo RPC): filings 20.7 vs 22.7/s → **0.92 ×**
(a second host adds no core here, only processes on the same two); filings 0.69 × the uploads on
one host, 0.63 × on two.

Then (2026-12-06 15:20 UTC, ``python -m benchmarks claims``, load 1.2 → 5.2 while another session's
tests ran; ``results/bench_claims.json``), after answering ``202 FILED`` with ``Prefer: respond-async``,
one statement for the filing's checks, Core inserts, the relay's Core round writes, web3's keccak
on safe-pysha3 and the relay's wait for filings still arriving: filings (202) vs the durable upload
on one host — SQLite 45.5 vs 59.8/s → **0.76 ×** (to the last claim on chain 0.71 ×; waiting for
the chain 0.80 ×), PostgreSQL 32.5 vs 49.8/s → **0.65 ×** (0.61 ×; 0.61 ×); two API workers
SQLite 0.79 ×, PostgreSQL 0.67 ×; two hosts (PostgreSQL, store over Kubo RPC) 1.12 × one host,
filings 0.83 × the uploads on one host and 0.75 × on two. Every 50-claim round went on chain in
2–5 ClaimLedger transactions, drained 0.06–0.20 s after the last answer. Target 0.8 × met by
SQLite alone, not by PostgreSQL: server CPU per filing 24–30 ms against 19–20 ms per upload (the
answer comes earlier, but the work per filing is the same; on two shared cores the CPU decides).
Again at 15:46 UTC on a quiet machine (load 0.04 at the start; ``results/bench_claims.json``): SQLite
54.3 vs 65.0/s → **0.84 ×** (on chain 0.78 ×, waiting 0.77 ×), PostgreSQL 35.0 vs 48.7/s → **0.72 ×**
(0.61 ×, 0.65 ×; CPU 27.8 vs 21.2 ms); two API workers 0.61 × / 0.60 × (the upload scales to
100.6/s on two processes, the filing to 61.4/s: one relay per process, a ClaimLedger transaction
per round); one cluster host 0.84 ×, two hosts 0.83 ×, two hosts vs one 1.04 ×.

Then (2026-12-06 17:32–17:38 UTC, quiet machine, load 0.4; two runs back to back, ``results/bench_claims.json``
the second): **target met on both databases** — filings (202) vs the durable upload on one host,
SQLite 0.90 / 0.89 × (83.4 vs 94.2/s), PostgreSQL 0.86 / 0.86 × (71.7 vs 82.9/s; server CPU 14.8 vs
13.2 ms; to the last claim on chain 0.73 ×, waiting for the chain 0.78 / 0.71 ×); two API workers
SQLite 0.89 / 0.88 ×, PostgreSQL 0.90 / 0.94 × (97.2 vs 103.0/s: the filing now scales with the
workers, 0.60 × before); two hosts against one 1.13 / 1.06 ×, filings 0.91 / 0.90 × the uploads on one
cluster host. What changed, measured with a per-thread CPU sampler in the server and a count of
PostgreSQL connects:

* a bounded pool (``HUBAO_DATABASE_POOL_SIZE``, no overflow): SQLAlchemy's default 5 + 10 opened and
  closed 0.7 PostgreSQL connections per filing (0.36 per upload) under the burst — a server process
  start each, ~5–10 ms of machine CPU; now none after warm-up;
* the **filing writer** (``backend/services/filing_writer.py``): the filings that arrive together are
  written with one statement per table and one commit instead of ~6 statements and a commit each;
* ``begin_claim`` reads the rule set with the member, the member's salt is not read again, the
  duplicate query is built once, a pooled connection is pinged only after 5 s idle (``pool_pre_ping``
  cost a round trip per checkout), the receipt's EIP-712 domain is built once, and the relay slices
  ClaimLedger's plain event words instead of eth_abi's generic decoding;
* the client encodes every request body before the clock starts (a filing's multipart built inside
  the burst cost the client ~1.5 ms more than a raw upload on the shared cores).

Where the time went before that (server CPU per request from the same run: filing 27 ms, upload 17–19 ms;
per phase, thread CPU summed over a 50-filing burst on SQLite with the functions wrapped): the
evidence itself costs the same in both (``seal_upload`` 7–11 ms: hashing, AES-GCM, six durable
block writes); a filing adds ``begin_claim`` 2.9–3.1 ms (member, claim-key reuse, daily quota
and rule-set queries), ``record_claim`` 4.2–4.5 ms (the claim, evidence, outbox and event rows,
the duplicate-digest query, the signed filing receipt — 0.7–1.6 ms until this session, now
0.26 ms: the receipt's EIP-712 domain made an ``eth_chainId`` round trip per filing) against the
upload's 1.5–2.4 ms of rows, and its share of the relay rounds, ~3 ms (6–8 rounds per 50
filings, each ~25 ms: ``load_filings``, building, signing and decoding ``fileForReview`` —
``send_filings`` 13 ms — and ``_commit``'s ORM rows for events and reviewer assignments, 9 ms).
On top of the CPU, the relay is serial: the last filings of a burst wait for the round in flight,
then their own (now through the chain outbox's elected sender). Reaching 0.8 × needs the relay's
per-claim work as bulk Core statements, fewer and fuller rounds, or answering on the database
commit (``202 FILED``, the signed receipt being the promise) instead of after the chain — an API
change left to the issue.

Filing rounds vary by ±25 % between rounds of one run (``rounds_per_s``) and between runs
(one-process SQLite: 40–70 claims/s in four runs the same hour); the baseline by less once warm.
**The discard target (0.5 ×) was not met, and cannot be on this machine**: the baseline costs
~1.0 ms of server CPU per request; a filing must at the least hash the plaintext and the
ciphertext blocks (SHA-256 0.52 ms/MiB each, SHA-NI), encrypt (AES-GCM 0.07 ms/MiB) and write
six block files durably (~2 ms of kernel time, ``bench_evidence``) before its database commit
and its share of a chain transaction — a floor of ~4 ms, so at best ~0.25–0.3 × the discard
route on the two cores the client and anvil share. Where a filing's ~16 ms go now: ~10 ms user
(multipart, FastAPI, SQLAlchemy Core inserts, the relay's web3 signing and DB writes, GIL
handoffs between ~40 upload threads), ~6 ms system (fsyncs, file creation, sockets).

What changed since the 30 ms: bulk inserts for a claim's rows, evidence views in two queries,
the rule set parsed once, a four-column auth read, no thread hop for ``get_runtime``, the 201
built from what was written (no read-back), JSON-RPC through one session without the
per-call proxy scan, the relay's receipt read without web3's formatters, pins in SQLite
instead of a pins.json rewrite per upload, concurrent fsyncs of a file's blocks, and API
workers that each listen in the port's ``SO_REUSEPORT`` group (one shared listener let one
worker take a whole burst).

``python -m benchmarks claims [--quick]`` runs it (``--quick``: 5 claimants, 100 KiB files — a smoke
run, not a measurement).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import func, select

from backend.chain.anvil import AnvilNode
from backend.chain.ledger_types import ClaimState
from backend.config import Settings
from backend.db.models import Claim, ClaimEvent
from backend.runtime import Runtime, build_runtime
from backend.services.accounts import create_staff_account, register_member
from backend.services.auth import issue_token
from backend.services.bootstrap import bootstrap
from backend.services.claims import ledger
from backend.services.membership import join
from benchmarks import run_dir
from benchmarks.cluster import pdf_of
from tests.scratch_db import postgres_reachable, scratch_database

TARGET_RATIO = 0.8  # filings/s over the durable evidence upload's, one host
BASELINE_PATH = "/_bench/discard"
# A second, informative floor (not the target's): the product's evidence upload — the same file
# read, encrypted and stored durably with its database row, no claim and no chain.
EVIDENCE_PATH = "/evidence"
# API processes per run: the default (one), and one per core of the 2-core machines the figures
# come from (``HUBAO_API_WORKERS=2``; the baseline route then runs in both workers too).
WORKER_COUNTS = (1, 2)
PASSWORD = "correct horse battery"
REVIEWERS = 3


@dataclass(frozen=True)
class ClaimsBenchConfig:
    """Sizes of one run."""

    claimants: int
    file_bytes: int
    rounds: int = 3  # of each, in turns


FULL = ClaimsBenchConfig(claimants=50, file_bytes=1024 * 1024)
QUICK = ClaimsBenchConfig(claimants=5, file_bytes=100 * 1024, rounds=1)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0…100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the server (child process) -------------------------------------------------------------------


def _server_settings(values: dict[str, Any]) -> Settings:
    return Settings(
        rpc_url=values["rpc_url"],
        data_dir=Path(values["data_dir"]),
        database_url=values["database_url"],
        confirmations=0,
        batch_max_wait=0,
        anchoring=False,
        log_level="WARNING",
    )


def add_baseline_route(app: Any) -> None:
    """Mount the baseline on this app object only, for this run: the product API has no such route.
    A plain Starlette route: no dependency injection, no validation — only the body read."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def discard(request: Request) -> JSONResponse:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
        return JSONResponse({"received": received}, status_code=201)

    app.add_route(BASELINE_PATH, discard, methods=["POST"], include_in_schema=False)


def serve(config_path: Path) -> None:
    """Child process: the product app over the run's data dir, database and chain, plus the baseline
    route — in this process (``workers`` = 1) or in the product's supervised worker processes."""
    import uvicorn

    from backend.api.app import create_app
    from backend.api.workers import Supervisor, bind_socket

    values = json.loads(config_path.read_text(encoding="utf-8"))
    settings = _server_settings(values)
    if values["workers"] > 1:
        Supervisor(
            settings, bind_socket("127.0.0.1", int(values["port"])), values["workers"], prepare=add_baseline_route
        ).run()
        return
    runtime = build_runtime(settings, migrate_db=False)
    app = create_app(runtime=runtime)
    add_baseline_route(app)
    try:
        uvicorn.run(app, host="127.0.0.1", port=int(values["port"]), log_level="warning", access_log=False)
    finally:
        runtime.close()


class ServerProcess:
    """``serve`` in a child process; ``start`` returns once ``/health`` answers."""

    def __init__(self, workdir: Path, values: dict[str, Any]) -> None:
        self.config_path = workdir / "server.json"
        self.config_path.write_text(json.dumps(values), encoding="utf-8")
        self.url = f"http://127.0.0.1:{values['port']}"
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> ServerProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.bench_claims", "--serve", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2.0).status_code < 500:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the API server did not come up")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- the plan (this process) ----------------------------------------------------------------------


@dataclass
class Plan:
    runtime: Runtime
    tokens: list[str]
    warmup_tokens: list[str]


def build_plan(settings: Settings, claimants: int, warmups: int = 1) -> Plan:
    """Deploy, bootstrap the rule set, add reviewers and ``claimants + warmups`` members past their waiting period."""
    runtime = build_runtime(settings)
    bootstrap(runtime)
    for i in range(REVIEWERS):
        create_staff_account(runtime, f"bench-reviewer-{i}", PASSWORD, "reviewer")
    joined = datetime.now(UTC) - timedelta(days=200)
    tokens = []
    for i in range(claimants + warmups):
        with runtime.sessions.begin() as session:
            account = register_member(session, f"bench-member-{i}", PASSWORD)
            join(session, runtime, account, date(1990, 5, 17), 700, [False, False, False], joined)
            tokens.append(issue_token(session, account, runtime.jwt_secret))
    return Plan(runtime, tokens[warmups:], tokens[:warmups])


# -- the load -------------------------------------------------------------------------------------

Form = dict[str, str]
DIAGNOSED = (date.today() - timedelta(days=10)).isoformat()


def _form() -> Form:
    # A fresh claim key per filing, as a claimant's device makes one (only its address is sent).
    return {"illnessCode": "CI001", "diagnosisDate": DIAGNOSED, "claimantKey": "0x" + os.urandom(20).hex()}


def _request(
    client: httpx.AsyncClient, path: str, token: str | None, body: bytes, name: str, respond_async: bool = False
) -> httpx.Request:
    """The request, its body already encoded: the client then sends bytes for every kind (a filing's
    multipart built by httpx inside the timed burst cost the client ~1.5 ms more CPU than an upload's
    raw body, on the 2 cores the server shares — the harness's work, not the product's)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if respond_async:
        headers["Prefer"] = "respond-async"
    if path.endswith(EVIDENCE_PATH):  # the product's bare evidence upload: the raw file, its type in the header
        headers["Content-Type"] = "application/pdf"
        params = {"claim_ref": "0x" + os.urandom(32).hex()}
        request = client.build_request("POST", path, headers=headers, params=params, content=body)
    else:
        request = client.build_request(
            "POST", path, headers=headers, data=_form(), files=[("files", (name, body, "application/pdf"))]
        )
    request.read()
    return request


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    response = await client.send(request)
    return time.perf_counter() - t0, response


async def _burst(
    urls: list[str], path: str, tokens: list[str | None], bodies: list[bytes], respond_async: bool
) -> tuple[float, list[tuple[float, httpx.Response]]]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(limits=limits, timeout=600.0) as client:
        requests = [
            _request(client, urls[i % len(urls)] + path, token, body, f"report-{i}.pdf", respond_async)
            for i, (token, body) in enumerate(zip(tokens, bodies, strict=True))
        ]
        t0 = time.perf_counter()
        results = await asyncio.gather(*(_send(client, request) for request in requests))
        return time.perf_counter() - t0, list(results)


def burst(
    url: str | list[str], path: str, tokens: list[str | None], bodies: list[bytes], *, respond_async: bool = False
) -> dict[str, Any]:
    """Send every body at once (request ``i`` to ``url[i mod len]`` when given several servers;
    ``respond_async``: with ``Prefer: respond-async``); figures, and the responses under ``"_responses"``."""
    urls = [url] if isinstance(url, str) else url
    seconds, results = asyncio.run(_burst(urls, path, tokens, bodies, respond_async))
    latencies = [lat * 1000 for lat, _ in results]
    return {
        "requests": len(bodies),
        "seconds": round(seconds, 3),
        "per_s": round(len(bodies) / seconds, 2),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "_responses": [response for _, response in results],
    }


def server_cpu_seconds(pid: int | list[int]) -> float:
    """User + system CPU time of process ``pid`` (or of each of several) and its worker processes (every thread)."""
    total = 0.0
    for one in [pid] if isinstance(pid, int) else pid:
        root = psutil.Process(one)
        for process in [root, *root.children(recursive=True)]:
            times = process.cpu_times()
            total += times.user + times.system
    return total


def measured(pid: int | list[int], action: Any) -> dict[str, Any]:
    """Run ``action`` (a burst) and add the servers' CPU milliseconds per request to its figures."""
    before = server_cpu_seconds(pid)
    result: dict[str, Any] = action()
    result["server_cpu_ms_per_request"] = round((server_cpu_seconds(pid) - before) * 1000 / result["requests"], 1)
    return result


def measured_async(pid: int | list[int], plan: Plan, action: Any, timeout: float = 300.0) -> dict[str, Any]:
    """Run ``action`` (a burst with ``Prefer: respond-async``), check every answer is ``202 FILED``,
    then wait until every claim is ``UNDER_REVIEW`` in the database (the relay's rounds done).
    ``per_s`` counts the answers; ``on_chain_per_s`` counts to the last claim on chain; the
    servers' CPU is counted up to then, relay rounds included."""
    before = server_cpu_seconds(pid)
    result: dict[str, Any] = action()
    responses = result["_responses"]
    bad = [r for r in responses if r.status_code != 202 or r.json().get("status") != "FILED"]
    if bad:
        raise RuntimeError(f"{len(bad)} asynchronous filings failed, e.g. {bad[0].status_code} {bad[0].text[:300]}")
    t0 = time.perf_counter()
    pks = [r.json()["id"] for r in responses]
    while True:
        with plan.runtime.sessions() as session:
            waiting = session.scalar(select(func.count()).where(Claim.id.in_(pks), Claim.status == "FILED"))
        if not waiting:
            break
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"{waiting} asynchronous filings were not relayed within {timeout:.0f} s")
        time.sleep(0.01)
    drain = time.perf_counter() - t0
    result["drain_seconds"] = round(drain, 3)
    result["on_chain_per_s"] = round(result["requests"] / (result["seconds"] + drain), 2)
    result["server_cpu_ms_per_request"] = round((server_cpu_seconds(pid) - before) * 1000 / result["requests"], 1)
    return result


def _check_filed(
    plan: Plan, responses: list[httpx.Response], *, answered: tuple[int, str] = (201, "UNDER_REVIEW")
) -> int:
    """Every filing answered ``answered`` (201 UNDER_REVIEW unless told) and is UNDER_REVIEW on
    chain; returns how many ClaimLedger transactions opened their reviews (the filing relay's groups)."""
    bad = [r for r in responses if (r.status_code, r.json().get("status")) != answered]
    if bad:
        raise RuntimeError(f"{len(bad)} filings failed, e.g. {bad[0].status_code} {bad[0].text[:300]}")
    client = ledger(plan.runtime)
    for response in responses:
        if client.state(bytes.fromhex(response.json()["claimId"][2:])) != ClaimState.UNDER_REVIEW:
            raise RuntimeError("a filed claim is not UNDER_REVIEW on chain")
    with plan.runtime.sessions() as session:
        hashes = session.scalars(
            select(ClaimEvent.tx_hash).where(
                ClaimEvent.claim_pk.in_([r.json()["id"] for r in responses]), ClaimEvent.kind == "ReviewOpened"
            )
        ).all()
    return len(set(hashes))


def run_backend(workdir: Path, database_url: str | None, config: ClaimsBenchConfig, workers: int) -> dict[str, Any]:
    """One full run (chain, plan, server with ``workers`` API processes, baseline, filings) against one database."""
    node = AnvilNode(log_path=workdir / "anvil.log").start()
    server: ServerProcess | None = None
    plan: Plan | None = None
    try:
        values = {
            "rpc_url": node.url,
            "data_dir": str(workdir / "data"),
            "database_url": database_url,
            "port": free_port(),
            "workers": workers,
        }
        plan = build_plan(_server_settings(values), 2 * config.claimants * config.rounds, warmups=2 * workers)
        server = ServerProcess(workdir, values).start()
        n = config.claimants
        bodies = [pdf_of(config.file_bytes, seed) for seed in range(n + 1)]

        # Warm-ups: first-request imports and connection set-up stay out of both measurements; with
        # several workers, a few concurrent requests so that each worker (very likely) gets some.
        warm = len(plan.warmup_tokens)
        warm_base = burst(server.url, BASELINE_PATH, [None] * warm, [bodies[n]] * warm)
        warm_bodies = [pdf_of(config.file_bytes, 1_000_000 + i) for i in range(warm)]
        warm_claim = burst(server.url, "/claims", list(plan.warmup_tokens), warm_bodies)
        if any(r.status_code != 201 for r in warm_base["_responses"]):
            raise RuntimeError(f"the baseline route failed: {warm_base['_responses'][0].text[:300]}")
        _check_filed(plan, warm_claim["_responses"])

        assert server.process is not None
        pid = server.process.pid
        # In turns (baseline, filings, evidence uploads, baseline, …), best of ``rounds`` each: drift
        # in the machine's load hits all three; every round has its own members and distinct files.
        rounds: list[dict[str, Any]] = []
        claim_rounds: list[dict[str, Any]] = []
        async_rounds: list[dict[str, Any]] = []
        store_rounds: list[dict[str, Any]] = []
        for i in range(config.rounds):
            figures = measured(pid, lambda: burst(server.url, BASELINE_PATH, [None] * n, bodies[:n]))
            if any(r.status_code != 201 or r.json()["received"] < config.file_bytes for r in figures["_responses"]):
                raise RuntimeError("a baseline upload was not read to the end")
            rounds.append(figures)
            files = bodies[:n] if i == 0 else [pdf_of(config.file_bytes, i * n + j) for j in range(n)]
            tokens = list(plan.tokens[i * n : (i + 1) * n])
            figures = measured(pid, lambda tokens=tokens, files=files: burst(server.url, "/claims", tokens, files))
            figures["transactions"] = _check_filed(plan, figures["_responses"])
            claim_rounds.append(figures)
            files = [pdf_of(config.file_bytes, 20_000_000 + i * n + j) for j in range(n)]
            tokens = list(plan.tokens[(config.rounds + i) * n : (config.rounds + i + 1) * n])
            figures = measured_async(
                pid,
                plan,
                lambda tokens=tokens, files=files: burst(server.url, "/claims", tokens, files, respond_async=True),
            )
            figures["transactions"] = _check_filed(plan, figures["_responses"], answered=(202, "FILED"))
            async_rounds.append(figures)
            files = [pdf_of(config.file_bytes, 10_000_000 + i * n + j) for j in range(n)]
            figures = measured(pid, lambda tokens=tokens, files=files: burst(server.url, EVIDENCE_PATH, tokens, files))
            if any(r.status_code != 201 for r in figures["_responses"]):
                raise RuntimeError(f"an evidence upload failed: {figures['_responses'][0].text[:300]}")
            store_rounds.append(figures)
        baseline = max(rounds, key=lambda f: f["per_s"])
        claims = max(claim_rounds, key=lambda f: f["per_s"])
        filed_async = max(async_rounds, key=lambda f: f["per_s"])
        store = max(store_rounds, key=lambda f: f["per_s"])
    finally:
        if server is not None:
            server.stop()
        if plan is not None:
            plan.runtime.close()
        node.stop()
    for figures in [*rounds, *claim_rounds, *async_rounds, *store_rounds]:
        figures.pop("_responses", None)
    ratio = filed_async["per_s"] / store["per_s"]
    return {
        "api_workers": workers,
        "baseline_discard": {
            "uploads_per_s": baseline["per_s"],
            "p50_ms": baseline["p50_ms"],
            "p99_ms": baseline["p99_ms"],
            "seconds": baseline["seconds"],
            "rounds_per_s": [r["per_s"] for r in rounds],
            "server_cpu_ms_per_request": baseline.get("server_cpu_ms_per_request"),
        },
        "claims": {
            "claims_per_s": claims["per_s"],
            "p50_ms": claims["p50_ms"],
            "p99_ms": claims["p99_ms"],
            "seconds": claims["seconds"],
            "rounds_per_s": [r["per_s"] for r in claim_rounds],
            "ledger_transactions": claims["transactions"],
            "server_cpu_ms_per_request": claims.get("server_cpu_ms_per_request"),
        },
        "claims_async": {
            "claims_per_s": filed_async["per_s"],
            "on_chain_per_s": filed_async["on_chain_per_s"],
            "drain_seconds": filed_async["drain_seconds"],
            "p50_ms": filed_async["p50_ms"],
            "p99_ms": filed_async["p99_ms"],
            "seconds": filed_async["seconds"],
            "rounds_per_s": [r["per_s"] for r in async_rounds],
            "rounds_on_chain_per_s": [r["on_chain_per_s"] for r in async_rounds],
            "ledger_transactions": filed_async["transactions"],
            "server_cpu_ms_per_request": filed_async.get("server_cpu_ms_per_request"),
        },
        "evidence_upload": {
            "uploads_per_s": store["per_s"],
            "p50_ms": store["p50_ms"],
            "p99_ms": store["p99_ms"],
            "rounds_per_s": [r["per_s"] for r in store_rounds],
            "server_cpu_ms_per_request": store.get("server_cpu_ms_per_request"),
        },
        "ratio_vs_evidence_upload": round(ratio, 3),
        "ratio_on_chain_vs_evidence_upload": round(filed_async["on_chain_per_s"] / store["per_s"], 3),
        "ratio_waiting_for_chain_vs_evidence_upload": round(claims["per_s"] / store["per_s"], 3),
        "ratio_vs_baseline": round(claims["per_s"] / baseline["per_s"], 3),
        "target": {"value": round(ratio, 3), "minimum": TARGET_RATIO, "met": ratio >= TARGET_RATIO},
    }


# -- PostgreSQL -----------------------------------------------------------------------------------


def _postgres_reachable() -> bool:
    return postgres_reachable() is None


def _with_postgres(workdir: Path, config: ClaimsBenchConfig, workers: int) -> dict[str, Any]:
    with scratch_database("hubao_bench_claims") as url:
        return run_backend(workdir, url, config, workers)


# -- two hosts against one ------------------------------------------------------------------------


def run_hosts(workdir: Path, config: ClaimsBenchConfig) -> dict[str, Any]:
    """Filings on one host, then across two, of one cluster (``benchmarks/cluster.py``: PostgreSQL,
    the evidence store over the Kubo RPC API, the shared secrets, each host its own data dir), in
    turns with the durable evidence upload on one host and on both."""
    from benchmarks.cluster import Cluster, enrol

    # The hosts as deployed (anchoring and the workflow clock on), logging warnings only.
    with Cluster(workdir, host_settings={"HUBAO_LOG_JSON": "false", "HUBAO_LOG_LEVEL": "WARNING"}) as cluster:
        cluster.start()
        tool = cluster.runtime()
        try:
            n = config.claimants
            warm = 2 * len(cluster.hosts)
            tokens = enrol(tool, warm + 2 * n * config.rounds, prefix="hosts")
            plan = Plan(tool, tokens[warm:], tokens[:warm])
            one, both = [cluster.hosts[0].url], [host.url for host in cluster.hosts]
            warm_bodies = [pdf_of(config.file_bytes, 2_000_000 + i) for i in range(warm)]
            _check_filed(plan, burst(both, "/claims", list(plan.warmup_tokens), warm_bodies)["_responses"])
            pids = [host.process.pid for host in cluster.hosts if host.process is not None]
            figures: dict[str, list[dict[str, Any]]] = {
                "one_host": [],
                "two_hosts": [],
                "upload_one": [],
                "upload_two": [],
            }
            for i in range(config.rounds):
                for key, urls, offset in (("one_host", one, 0), ("two_hosts", both, n)):
                    base = (2 * i * n) + offset
                    round_tokens = list(plan.tokens[base : base + n])
                    files = [pdf_of(config.file_bytes, 3_000_000 + base + j) for j in range(n)]
                    upload = "upload_one" if key == "one_host" else "upload_two"
                    stored = measured(pids, lambda u=urls, t=round_tokens, f=files: burst(u, EVIDENCE_PATH, t, f))
                    if any(r.status_code != 201 for r in stored["_responses"]):
                        raise RuntimeError(f"an evidence upload failed: {stored['_responses'][0].text[:300]}")
                    figures[upload].append(stored)
                    files = [pdf_of(config.file_bytes, 4_000_000 + base + j) for j in range(n)]
                    filed = measured(pids, lambda u=urls, t=round_tokens, f=files: burst(u, "/claims", t, f))
                    filed["transactions"] = _check_filed(plan, filed["_responses"])
                    figures[key].append(filed)
        finally:
            tool.close()
    best = {key: max(rounds, key=lambda f: f["per_s"]) for key, rounds in figures.items()}

    def summary(key: str) -> dict[str, Any]:
        return {
            "per_s": best[key]["per_s"],
            "p50_ms": best[key]["p50_ms"],
            "p99_ms": best[key]["p99_ms"],
            "rounds_per_s": [r["per_s"] for r in figures[key]],
            "server_cpu_ms_per_request": best[key]["server_cpu_ms_per_request"],
        }

    return {
        "hosts": 2,
        "database": "postgresql",
        "evidence_store": "Kubo RPC (evidence_store.server)",
        "claims_one_host": summary("one_host"),
        "claims_two_hosts": summary("two_hosts"),
        "evidence_upload_one_host": summary("upload_one"),
        "evidence_upload_two_hosts": summary("upload_two"),
        "two_hosts_vs_one": round(best["two_hosts"]["per_s"] / best["one_host"]["per_s"], 3),
        "ratio_vs_evidence_upload_one_host": round(best["one_host"]["per_s"] / best["upload_one"]["per_s"], 3),
        "ratio_vs_evidence_upload_two_hosts": round(best["two_hosts"]["per_s"] / best["upload_two"]["per_s"], 3),
    }


# -- the run --------------------------------------------------------------------------------------


def run(quick: bool = False) -> dict[str, Any]:
    """SQLite, then PostgreSQL when reachable; see the module docstring."""
    config = QUICK if quick else FULL
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        "command": "python -m benchmarks claims" + (" --quick" if quick else ""),
        "quick": quick,
        "claimants": config.claimants,
        "file_bytes": config.file_bytes,
    }
    postgres = _postgres_reachable()
    with run_dir("hubao-bench-claims-") as tmp:
        for workers in WORKER_COUNTS:
            suffix = "" if workers == 1 else f"_workers_{workers}"
            (Path(tmp) / f"sqlite{suffix}").mkdir()
            result[f"sqlite{suffix}"] = run_backend(Path(tmp) / f"sqlite{suffix}", None, config, workers)
            if postgres:
                (Path(tmp) / f"postgresql{suffix}").mkdir()
                result[f"postgresql{suffix}"] = _with_postgres(Path(tmp) / f"postgresql{suffix}", config, workers)
            else:
                result[f"postgresql{suffix}"] = "skipped: unreachable"
        if postgres:
            (Path(tmp) / "hosts").mkdir()
            result["hosts"] = run_hosts(Path(tmp) / "hosts", config)
        else:
            result["hosts"] = "skipped: PostgreSQL unreachable"
    result["total_seconds"] = round(time.perf_counter() - t_start, 1)
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(Path(sys.argv[2]))
    else:
        print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
