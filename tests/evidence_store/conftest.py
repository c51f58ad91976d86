"""Backends for the one conformance suite: the in-process blockstore, ipfshttpclient against our
Kubo-RPC server on a free loopback port, and ipfshttpclient against a real Kubo when
HUBAO_TEST_KUBO_API is set."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evidence_store import CID, EvidenceStore, KuboStore, LocalBlockstore
from evidence_store.server import running_server

KUBO_API = os.environ.get("HUBAO_TEST_KUBO_API")


@dataclass
class Backend:
    name: str
    store: EvidenceStore
    # The blockstore behind the API, for fault injection; None for a real Kubo.
    blocks: LocalBlockstore | None

    def corrupt(self) -> Callable[[CID], Path]:
        if self.blocks is None:
            pytest.skip(f"{self.name}: no access to the node's blockstore for fault injection")
        return self.blocks.block_path


@pytest.fixture(params=["local", "rpc", "kubo"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":
        store = LocalBlockstore(tmp_path / "blocks")
        yield Backend("local", store, store)
    elif request.param == "rpc":
        blocks = LocalBlockstore(tmp_path / "served")
        with running_server(blocks) as url:
            client = KuboStore(url, timeout=30)
            yield Backend("rpc", client, blocks)
            client.close()
    else:
        if not KUBO_API:
            pytest.skip("real Kubo: set HUBAO_TEST_KUBO_API (e.g. http://127.0.0.1:5001) to run against one")
        client = KuboStore(KUBO_API, timeout=60)
        yield Backend("kubo", client, None)
        client.close()
