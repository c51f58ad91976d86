"""Several ``hubao serve`` hosts on this machine, as separate machines would run them.

One place launches them for ``tests/multihost`` and ``benchmarks/bench_claims`` (two hosts
against one). A :class:`Cluster` is:

* one PostgreSQL database (created fresh on the server at ``POSTGRES_ADMIN_URL``, dropped after:
  ``tests/scratch_db.py``);
* one anvil (automining), one evidence store reached over the Kubo RPC API (the repository's
  Kubo-compatible server, ``hubao evidence-store serve``, in a process of its own with its own
  blocks: no host reads another's disk);
* the deployment's shared secrets as production provides them: a key-encryption-key directory
  (``HUBAO_KEYS_DIR``) and ``HUBAO_JWT_SECRET``;
* ``hosts`` :class:`Host` processes, ``python -m backend serve`` each with its **own** data
  directory and port, every other setting the same, their output in ``<host>.log``. Hosts can be
  killed (SIGKILL) and started again on the same data directory and port.

:func:`enrol` makes the claimants (members past the waiting period, with tokens) through the
services of an in-process runtime over the same settings; :func:`file_claims` sends one filing per
claimant at once, spread over the hosts (httpx, one connection each).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from sqlalchemy import func, select

from backend.chain.anvil import AnvilNode
from backend.config import REPO_ROOT, Settings
from backend.db.models import AnchorBatch, AnchorItem, Claim, MembershipBatch, MembershipLogEntry
from backend.runtime import Runtime, build_runtime
from backend.services.accounts import create_staff_account, register_member
from backend.services.auth import issue_token
from backend.services.membership import join
from evidence_store.crypto import DirectoryKeyring
from tests.scratch_db import POSTGRES_ADMIN_URL, create_database, drop_database

PASSWORD = "correct horse battery"

# Every host's settings beside its own data dir and port. Automining chain: no confirmations to wait
# for; the workflow clock's apportionment publication is off (no period is due in these runs).
HOST_SETTINGS = {
    "HUBAO_ENV": "development",
    "HUBAO_CONFIRMATIONS": "0",
    "HUBAO_BATCH_MAX_WAIT": "0.5",
    "HUBAO_APPORTIONMENT_AUTO": "false",
    "HUBAO_LOG_JSON": "true",
    "HUBAO_LOG_LEVEL": "INFO",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """This process's environment without any HUBAO_* setting (each host gets exactly the cluster's)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HUBAO_")}


def _wait_http(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float, method: str = "GET") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{url} exited with {process.returncode} before answering:\n{tail}")
        try:
            if httpx.request(method, url, timeout=2.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Host:
    """One ``hubao serve`` process: its own data directory and port, the cluster's other settings."""

    name: str
    data_dir: Path
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> Host:
        """Start the process (its output appended to :attr:`log_path`); :meth:`wait_ready` waits."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} of {self.name} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backend", "serve"],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout: float = 180.0) -> Host:
        assert self.process is not None
        _wait_http(self.url + "/health", self.process, self.log_path, timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease released, requests in flight cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        _stop(self.process)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Cluster:
    """The stack of the module docstring; a context manager (everything stopped and dropped at exit)."""

    workdir: Path
    hosts_count: int = 2
    admin_url: str = POSTGRES_ADMIN_URL
    host_settings: dict[str, str] = field(default_factory=dict)
    anvil: AnvilNode | None = None
    database_url: str = ""
    ipfs_api: str = ""
    keys_dir: Path = field(init=False)
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    hosts: list[Host] = field(default_factory=list)
    _database: str = ""
    _evidence: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Cluster:
        try:
            self._create_database()
            self.anvil = AnvilNode(log_path=self.workdir / "anvil.log").start()
            self._start_evidence_store()
            self.keys_dir = self.workdir / "keys"
            DirectoryKeyring(self.keys_dir).create_kek()
            env = {
                **_clean_env(),
                **HOST_SETTINGS,
                "HUBAO_RPC_URL": self.anvil.url,
                "HUBAO_DATABASE_URL": self.database_url,
                "HUBAO_IPFS_API": self.ipfs_api,
                "HUBAO_KEYS_DIR": str(self.keys_dir),
                "HUBAO_JWT_SECRET": self.jwt_secret,
                **self.host_settings,
            }
            for i in range(self.hosts_count):
                name = f"host-{chr(ord('a') + i)}"
                port = free_port()
                data_dir = self.workdir / name
                host_env = {**env, "HUBAO_DATA_DIR": str(data_dir), "HUBAO_API_PORT": str(port)}
                self.hosts.append(Host(name, data_dir, port, host_env, self.workdir / f"{name}.log"))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self, timeout: float = 180.0) -> None:
        """Start every host at once (a fresh database: they take turns to migrate and deploy)."""
        for host in self.hosts:
            host.launch()
        for host in self.hosts:
            host.wait_ready(timeout)

    def settings(self, data_dir: Path, **overrides: Any) -> Settings:
        """Settings of an in-process host (for set-up and checks) on its own data dir: no background loops."""
        values: dict[str, Any] = {
            "rpc_url": self.anvil.url if self.anvil else None,
            "data_dir": data_dir,
            "database_url": self.database_url,
            "ipfs_api": self.ipfs_api,
            "keys_dir": self.keys_dir,
            "jwt_secret": self.jwt_secret,
            "confirmations": 0,
            "anchoring": False,
            "apportionment_auto": False,
            "log_level": "WARNING",
        }
        values.update(overrides)
        return Settings(**values)

    def runtime(self, name: str = "tool") -> Runtime:
        """An in-process runtime (a CLI-like host with its own data dir): migrates nothing new, deploys nothing."""
        return build_runtime(self.settings(self.workdir / name), migrate_db=False)

    def cli_env(self, data_dir: Path) -> dict[str, str]:
        """The environment a ``hubao`` command run beside the hosts gets (e.g. ``hubao audit``)."""
        return {**self.hosts[0].env, "HUBAO_DATA_DIR": str(data_dir)}

    def close(self) -> None:
        for host in self.hosts:
            host.stop()
        _stop(self._evidence)
        if self.anvil is not None:
            self.anvil.kill()
        self._drop_database()

    # -- the shared services ----------------------------------------------------------------------

    def _create_database(self) -> None:
        name = f"hubao_multihost_{uuid.uuid4().hex[:10]}"
        self.database_url = create_database(name, self.admin_url)
        self._database = name

    def _drop_database(self) -> None:
        if self._database:
            drop_database(self._database, self.admin_url)
            self._database = ""

    def _start_evidence_store(self) -> None:
        port = free_port()
        log_path = self.workdir / "evidence-store.log"
        with log_path.open("wb") as log:
            self._evidence = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "backend",
                    "evidence-store",
                    "serve",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(self.workdir / "evidence-node"),
                ],
                env=_clean_env(),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.ipfs_api = f"http://127.0.0.1:{port}"
        _wait_http(self.ipfs_api + "/api/v0/version", self._evidence, log_path, 60.0, method="POST")


# -- claimants and filings --------------------------------------------------------------------------


def enrol(runtime: Runtime, claimants: int, *, prefix: str = "claimant", reviewers: int = 3) -> list[str]:
    """``reviewers`` reviewers (once per prefix) and ``claimants`` members who joined 200 days ago
    (waiting period over); returns the members' bearer tokens."""
    for i in range(reviewers):
        create_staff_account(runtime, f"{prefix}-reviewer-{i}", PASSWORD, "reviewer")
    joined = datetime.now(UTC) - timedelta(days=200)
    tokens = []
    for i in range(claimants):
        with runtime.sessions.begin() as session:
            account = register_member(session, f"{prefix}-{i}", PASSWORD)
            join(session, runtime, account, date(1990, 5, 17), 700, [False, False, False], joined)
            tokens.append(issue_token(session, account, runtime.jwt_secret))
    return tokens


def pdf_of(size: int, seed: int) -> bytes:
    """A ``size``-byte file that sniffs as PDF; distinct per seed (no duplicate-evidence flags)."""
    import random

    head, tail = b"%PDF-1.7\n", b"\n%%EOF\n"
    return head + random.Random(seed).randbytes(size - len(head) - len(tail)) + tail


DIAGNOSED = (date.today() - timedelta(days=10)).isoformat()
# Answers a client retries (on the next host, with the same Idempotency-Key): over the in-flight
# limit (503 OVERLOADED, with Retry-After), a request body cut by the server's deadline.
RETRIED_STATUSES = frozenset({503, 408})


@dataclass
class Filing:
    """One claimant's filing: where it was acknowledged (if it was), and every attempt's outcome."""

    index: int
    idempotency_key: str
    answer: dict[str, Any] | None = None  # the 2xx body
    host: str | None = None  # the host that acknowledged it
    attempts: list[str] = field(default_factory=list)  # "host-a: 201", "host-b: ReadError", …
    seconds: float = 0.0

    @property
    def acknowledged(self) -> bool:
        return self.answer is not None


def _retry_after(response: httpx.Response) -> float:
    """The seconds the answer's ``Retry-After`` asks for (503 OVERLOADED sends one), capped; 0 if none."""
    value = response.headers.get("retry-after", "")
    return min(float(value), 30.0) if value.isdigit() else 0.0


async def _file_one(
    client: httpx.AsyncClient,
    hosts: Sequence[Host],
    first: int,
    token: str,
    body: bytes,
    filing: Filing,
    retries: int,
    on_answer: Callable[[Host, Filing], None] | None,
) -> None:
    """File with ``hosts[first]``; a transport failure (the host died) or a 503/408 (a host over
    its in-flight limit, ``OVERLOADED``; a body cut by its deadline) is retried on the next host
    with the same Idempotency-Key after a short back-off (at least the answer's ``Retry-After``),
    as a client behind a load balancer would."""
    form = {"illnessCode": "CI001", "diagnosisDate": DIAGNOSED, "claimantKey": "0x" + os.urandom(20).hex()}
    t0 = time.perf_counter()
    for attempt in range(retries + 1):
        host = hosts[(first + attempt) % len(hosts)]
        try:
            response = await client.post(
                host.url + "/claims",
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": filing.idempotency_key},
                data=form,
                files=[("files", (f"report-{filing.index}.pdf", body, "application/pdf"))],
            )
        except httpx.TransportError as exc:
            filing.attempts.append(f"{host.name}: {exc.__class__.__name__}")
            await asyncio.sleep(min(0.5 * (attempt + 1), 3.0))
            continue
        if 200 <= response.status_code < 300:
            filing.attempts.append(f"{host.name}: {response.status_code}")
        else:
            filing.attempts.append(f"{host.name}: {response.status_code} {response.text[:300]}")
            if response.status_code in RETRIED_STATUSES:
                await asyncio.sleep(max(min(0.5 * (attempt + 1), 3.0), _retry_after(response)))
                continue
        if 200 <= response.status_code < 300:
            filing.answer, filing.host = response.json(), host.name
            if on_answer is not None:
                on_answer(host, filing)
        break
    filing.seconds = time.perf_counter() - t0


async def file_claims_async(
    hosts: Sequence[Host],
    tokens: Sequence[str],
    bodies: Sequence[bytes],
    *,
    retries: int = 0,
    on_answer: Callable[[Host, Filing], None] | None = None,
) -> tuple[float, list[Filing]]:
    """Every claimant files at once, claimant ``i`` with host ``i mod len(hosts)``; (seconds, filings)."""
    filings = [Filing(i, str(uuid.uuid4())) for i in range(len(tokens))]
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(limits=limits, timeout=600.0) as client:
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                _file_one(client, hosts, i % len(hosts), token, body, filing, retries, on_answer)
                for i, (token, body, filing) in enumerate(zip(tokens, bodies, filings, strict=True))
            )
        )
        return time.perf_counter() - t0, filings


def file_claims(hosts: Sequence[Host], tokens: Sequence[str], bodies: Sequence[bytes]) -> tuple[float, list[Filing]]:
    """:func:`file_claims_async` in a fresh event loop."""
    return asyncio.run(file_claims_async(hosts, tokens, bodies))


# -- settling ---------------------------------------------------------------------------------------


def unsettled(runtime: Runtime) -> dict[str, int]:
    """What the hosts still owe: claims not yet relayed, evidence and joins not yet anchored and
    confirmed. All zero once the cluster has settled."""
    with runtime.sessions() as session:
        return {
            "claims_filed": session.scalar(select(func.count()).where(Claim.status == "FILED")) or 0,
            "evidence_queued": session.scalar(select(func.count()).where(AnchorItem.batch_id.is_(None))) or 0,
            "evidence_batches_open": session.scalar(select(func.count()).where(AnchorBatch.status != "confirmed")) or 0,
            "joins_queued": session.scalar(select(func.count()).where(MembershipLogEntry.batch_id.is_(None))) or 0,
            "join_batches_open": session.scalar(select(func.count()).where(MembershipBatch.status != "confirmed")) or 0,
        }


def wait_settled(runtime: Runtime, timeout: float = 240.0) -> dict[str, int]:
    """Poll :func:`unsettled` until all zero; returns the last counts (non-zero after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = unsettled(runtime)
        if not any(counts.values()) or time.monotonic() > deadline:
            return counts
        time.sleep(1.0)
