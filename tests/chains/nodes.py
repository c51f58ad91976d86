"""The EVM nodes Hubao is tested on, each from npm (package.json), started on a free loopback port.

* ``anvil`` — :class:`backend.chain.anvil.AnvilNode` (the embedded chain of ``hubao run``), automining;
* ``ganache`` 7.9.2 — its default instamine (a block per transaction, none in between), hardfork
  shanghai (its newest);
* ``hardhat`` 2.22 — ``hardhat node`` with ``tests/chains/hardhat.config.js`` (every transaction
  mined at once plus an empty block a second).

All three: chain id 31337, the development mnemonic ("test test ... junk": anvil's ten keys).
``HUBAO_TEST_RPC_URL`` points the matrix at a node started elsewhere instead (:func:`external_node`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from backend.chain.anvil import AnvilNode, free_port, rpc_call
from backend.config import REPO_ROOT
from backend.errors import ChainUnavailable

MNEMONIC = "test test test test test test test test test test test junk"
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
HARDHAT_CONFIG = Path(__file__).with_name("hardhat.config.js")
KINDS = ("anvil", "ganache", "hardhat")


class Node(Protocol):
    @property
    def url(self) -> str: ...

    def kill(self) -> None: ...


@dataclass
class NpmNode:
    """A ganache or hardhat node as a child process (killed with its process group)."""

    kind: str
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "ganache":
            return [
                str(NODE_BIN / "ganache"),
                "--server.host=127.0.0.1",
                f"--server.port={self.port}",
                "--chain.chainId=31337",
                "--chain.hardfork=shanghai",
                f"--wallet.mnemonic={MNEMONIC}",
                "--wallet.totalAccounts=10",
                "--logging.quiet",
            ]
        if self.kind == "hardhat":
            return [
                str(NODE_BIN / "hardhat"),
                "--config",
                str(HARDHAT_CONFIG),
                "node",
                "--hostname",
                "127.0.0.1",
                "--port",
                str(self.port),
            ]
        raise ValueError(f"unknown node kind {self.kind!r}")

    def start(self, timeout: float = 60.0) -> NpmNode:
        binary = Path(self.command()[0])
        if not binary.exists():
            raise FileNotFoundError(f"{binary} is missing: run `make setup` (npm ci installs {self.kind})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        env = {
            **os.environ,
            "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
            "HARDHAT_CACHE_DIR": str(self.log_path.parent / f"{self.kind}-cache"),
        }
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}: see {self.log_path}")
            try:
                rpc_call(self.url, "eth_chainId", timeout=1.0)
                return self
            except ChainUnavailable:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.kind} did not answer on {self.url} within {timeout:.0f} s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class ExternalNode:
    """A node someone else started (``HUBAO_TEST_RPC_URL``): never stopped here."""

    url: str

    def kill(self) -> None:
        pass


def external_node() -> ExternalNode | None:
    url = os.environ.get("HUBAO_TEST_RPC_URL")
    return ExternalNode(url) if url else None


def start_node(kind: str, directory: Path) -> Node:
    """Start a node of ``kind`` (``anvil``, ``ganache``, ``hardhat``) logging into ``directory``."""
    if kind == "anvil":
        return AnvilNode(log_path=directory / "anvil.log").start()
    return NpmNode(kind, directory / f"{kind}.log").start()
