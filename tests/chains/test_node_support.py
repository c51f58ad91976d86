"""Start-up refuses a node that cannot run the contracts, with one line saying why; the committed
artifacts are compiled for an EVM every supported node runs (shanghai: ganache 7.9.2's newest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.chain import compiler
from backend.chain.client import connect
from backend.chain.deploy import SUITE
from backend.chain.node import NodeUnsupported, artifacts_evm_version, check_evm
from backend.config import Settings
from backend.runtime import build_runtime
from tests.chains.nodes import Node, start_node

pytestmark = pytest.mark.xdist_group("chains-ganache")


@pytest.fixture(scope="module")
def ganache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = start_node("ganache", tmp_path_factory.mktemp("ganache"))
    yield node
    node.kill()


def test_committed_artifacts_target_shanghai() -> None:
    artifacts = [compiler.load_artifact(spec.artifact_name) for spec in SUITE]
    assert artifacts_evm_version(artifacts) == "shanghai"
    assert compiler.COMPILER_SETTINGS["evmVersion"] == "shanghai"
    foundry = (compiler.REPO_ROOT / "contracts" / "foundry.toml").read_text()
    assert 'evm_version = "shanghai"' in foundry  # forge tests the bytecode the server deploys


def test_ganache_runs_shanghai_and_refuses_cancun_naming_the_opcode(ganache: Node) -> None:
    w3 = connect(ganache.url)
    check_evm(w3, "shanghai", ganache.url)
    with pytest.raises(NodeUnsupported) as refused:
        check_evm(w3, "cancun", ganache.url)
    message = str(refused.value)
    assert "\n" not in message
    assert "compiled for evmVersion cancun and the node rejects MCOPY (a cancun opcode): invalid opcode" in message


def test_start_up_refuses_the_node_before_deploying(
    ganache: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = compiler.load_artifact

    def cancun(name: str, layout: Any = None) -> dict[str, Any]:
        artifact = real(name, layout)
        settings = {**artifact["provenance"]["settings"], "evmVersion": "cancun"}
        return {**artifact, "provenance": {**artifact["provenance"], "settings": settings}}

    monkeypatch.setattr("backend.runtime.load_artifact", cancun)
    settings = Settings(rpc_url=ganache.url, data_dir=tmp_path / "data", anchoring=False, log_level="WARNING")
    with pytest.raises(NodeUnsupported, match="rejects MCOPY"):
        build_runtime(settings)
    assert not (tmp_path / "data" / "deployment.json").exists()
