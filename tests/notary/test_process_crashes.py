"""Backend process crashes (A9) and two relays on one PostgreSQL database, as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backend.chain.anvil import AnvilNode
from backend.chain.client import connect, contract_at
from backend.chain.compiler import load_artifact
from backend.chain.deploy import DeploymentRecord
from backend.db.engine import make_engine, session_factory
from tests.factories import queue_evidence


def _env(anvil: AnvilNode, data_dir: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBAO_")}
    env.update(
        {
            "HUBAO_RPC_URL": anvil.url,
            "HUBAO_DATA_DIR": str(data_dir),
            "HUBAO_DATABASE_URL": db_url,
            "HUBAO_CONFIRMATIONS": "0",
            "HUBAO_BATCH_MAX_SIZE": "10",
            "HUBAO_BATCH_MAX_WAIT": "0",
            "HUBAO_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


def _hubao(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], env=env, text=True, capture_output=True, timeout=300
    )


def _roots_on_chain(anvil: AnvilNode, data_dir: Path) -> list[tuple[bytes, int]]:
    record = DeploymentRecord.from_json((data_dir / "deployment.json").read_text())
    w3 = connect(anvil.url)
    notary = contract_at(w3, record.address("EvidenceNotary"), load_artifact("EvidenceNotary"))
    return [
        (bytes(e["args"]["root"]), int(e["args"]["leafCount"]))
        for e in notary.events.BatchAnchored().get_logs(from_block=0)
    ]


@pytest.mark.parametrize("point", ["after_sign", "after_send", "after_receipt"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relay_killed_at_each_point_resumes_exactly_once(
    anvil: AnvilNode, tmp_path: Path, sqlite_url: str, point: str, seed: int
) -> None:
    """A9: SIGKILL at sign/send/receipt; restart; 0 lost, 0 duplicate."""
    deployed = _hubao(["deploy"], _env(anvil, tmp_path, sqlite_url))
    assert deployed.returncode == 0, deployed.stderr
    engine = make_engine(sqlite_url)
    count = 25 + seed * 7
    queue_evidence(session_factory(engine), count, seed=seed)
    crashed = _hubao(["anchor", "run", "--until-idle"], _env(anvil, tmp_path, sqlite_url, HUBAO_FAULT_INJECT=point))
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    resumed = _hubao(["anchor", "run", "--until-idle"], _env(anvil, tmp_path, sqlite_url))
    assert resumed.returncode == 0, resumed.stderr
    roots = _roots_on_chain(anvil, tmp_path)
    assert len({r for r, _ in roots}) == len(roots), "a batch was anchored twice"
    assert sum(n for _, n in roots) == count
    engine.dispose()


def test_two_relays_on_one_postgres_anchor_each_batch_once(anvil: AnvilNode, tmp_path: Path, postgres_url: str) -> None:
    """Two relay processes share one PostgreSQL database: one anchor per batch, no nonce errors."""
    deployed = _hubao(["deploy"], _env(anvil, tmp_path, postgres_url))
    assert deployed.returncode == 0, deployed.stderr
    engine = make_engine(postgres_url)
    queue_evidence(session_factory(engine), 120, seed=9)
    env = _env(anvil, tmp_path, postgres_url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "backend", "anchor", "run", "--until-idle"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "NONCE" not in err
    roots = _roots_on_chain(anvil, tmp_path)
    assert len({r for r, _ in roots}) == len(roots) == 12
    assert sum(n for _, n in roots) == 120
    engine.dispose()
