"""Two hosts, one deployment (issue 18 item 4): a filing burst across both, one host SIGKILLed.

Two ``hubao serve`` processes with their own data directories (as two machines have) on one
PostgreSQL database, one evidence store reached over the Kubo RPC API and one anvil, with the
shared secrets given as production gives them (``HUBAO_KEYS_DIR``, ``HUBAO_JWT_SECRET``); the
launching is ``benchmarks/cluster.py``'s, which the claims benchmark shares. Both hosts start at
once on the empty database: one migrates and deploys, the other uses that suite.

:data:`CLAIMANTS` members file at once, alternately with each host; once a quarter of the claims
are recorded, host B is SIGKILLed (its requests in flight are cut) and started again on the same
data directory. A client whose request is cut, or refused with 503 OVERLOADED by a host over its
in-flight limit (host A takes host B's share meanwhile), retries on the other host with the same
Idempotency-Key after the answer's Retry-After, as behind a load balancer. Afterwards:

* every filing answered 2xx is on chain exactly once (one ``ClaimFiled``, under review) and every
  claimant holds exactly one claim in the database (no retry filed twice);
* every evidence item is anchored exactly once (one outbox row in one confirmed batch, its leaf
  in exactly one anchored batch), the claims a host died holding included;
* neither host logged a nonce error;
* ``hubao audit`` passes every step.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.chain.ledger_types import ClaimState
from backend.db.models import AnchorBatch, AnchorItem, Claim, DeploymentRow, EvidenceItem
from backend.runtime import Runtime
from backend.services.claims import ledger
from benchmarks.cluster import Cluster, Filing, Host, enrol, file_claims_async, pdf_of, wait_settled
from tests.scratch_db import postgres_reachable

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("multihost")]

CLAIMANTS = 200  # the size; the scenario takes it as a parameter
FILE_BYTES = 8 * 1024
NONCE_WORDS = ("nonce too low", "nonce_too_low", "noncetoolow", "nonce gap", "nonce_gap", "nonce too high")


def _burst_with_a_kill(
    cluster: Cluster, tool: Runtime, tokens: list[str], victim: Host, kill_after: int
) -> list[Filing]:
    """Everyone files at once; once ``kill_after`` claims are recorded (about half of them the
    victim's, the rest of its requests still in flight), ``victim`` is SIGKILLed, then started
    again while the others still file."""
    killed = threading.Event()
    restarted = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            with tool.sessions() as session:
                recorded = session.scalar(select(func.count()).select_from(Claim)) or 0
            if recorded >= kill_after:
                victim.kill()
                killed.set()
                victim.launch().wait_ready()
                restarted.set()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    bodies = [pdf_of(FILE_BYTES, seed) for seed in range(len(tokens))]
    try:
        _, filings = asyncio.run(file_claims_async(cluster.hosts, tokens, bodies, retries=8))
    finally:
        done.set()
    assert killed.is_set(), "the burst ended before the kill"
    watcher.join(240)
    assert restarted.is_set(), f"host B did not come back:\n{victim.log_text()[-3000:]}"
    return filings


def run_scenario(tmp_path: Path, claimants: int, kill_after: int | None = None) -> None:
    kill_after = kill_after or max(1, claimants // 4)
    with Cluster(tmp_path) as cluster:
        cluster.start()  # both at once, on an empty database
        tool = cluster.runtime()
        try:
            with tool.sessions() as session:
                assert session.scalar(select(func.count()).select_from(DeploymentRow)) == 1
            for host in cluster.hosts:  # one suite: every host's copy is the database's record
                assert (host.data_dir / "deployment.json").read_text() == tool.deployment.to_json()
            tokens = enrol(tool, claimants)
            # The joins are anchored before the first claim: the plan's launch roster (as the demo's).
            assert not any(wait_settled(tool).values())
            filings = _burst_with_a_kill(cluster, tool, tokens, cluster.hosts[1], kill_after)

            acknowledged = [f for f in filings if f.acknowledged]
            assert len(acknowledged) == claimants, [f.attempts for f in filings if not f.acknowledged][:5]
            assert any(len(f.attempts) > 1 for f in filings), "no request was cut by the kill"
            # A host over its in-flight limit answers in the product's format (503 OVERLOADED with
            # Retry-After), never uvicorn's bare text 503 that looks like a crash.
            bare = [a for f in filings for a in f.attempts if a.endswith(": 503 Service Unavailable")]
            assert not bare, bare[:5]
            left = wait_settled(tool)
            assert not any(left.values()), f"the hosts did not settle: {left}"

            _check_claims_on_chain_once(tool, acknowledged, claimants)
            _check_evidence_anchored_once(tool)
        finally:
            tool.close()
        for host in cluster.hosts:
            lowered = host.log_text().lower()
            found = [word for word in NONCE_WORDS if word in lowered]
            assert not found, (
                f"{host.name} logged nonce errors ({found}):\n"
                + "\n".join(line for line in host.log_text().splitlines() if "nonce" in line.lower())[:3000]
            )
        _check_audit(cluster, tmp_path)


def _check_claims_on_chain_once(tool: Runtime, acknowledged: list[Filing], claimants: int) -> None:
    client = ledger(tool)
    claim_ids = [bytes.fromhex(f.answer["claimId"][2:]) for f in acknowledged if f.answer]
    assert len(set(claim_ids)) == len(claim_ids)
    filed = Counter(bytes(e.args["claimId"]) for e in client.filing_events(claim_ids) if e.name == "ClaimFiled")
    assert {cid: filed[cid] for cid in claim_ids} == dict.fromkeys(claim_ids, 1)
    for cid in claim_ids:
        assert client.state(cid) == ClaimState.UNDER_REVIEW
    with tool.sessions() as session:
        per_member = Counter(session.scalars(select(Claim.member_id)).all())
        statuses = Counter(session.scalars(select(Claim.status)).all())
    assert len(per_member) == claimants
    assert set(per_member.values()) == {1}, "a retried filing was recorded twice"
    assert statuses == {"UNDER_REVIEW": claimants}


def _check_evidence_anchored_once(tool: Runtime) -> None:
    with tool.sessions() as session:
        evidence = set(session.scalars(select(EvidenceItem.id)).all())
        rows = Counter(session.scalars(select(AnchorItem.ref_id)).all())
        batches = session.scalars(select(AnchorBatch)).all()
        leaves = list(session.scalars(select(AnchorItem.leaf_hash)).all())
    assert set(rows) == evidence
    assert set(rows.values()) == {1}
    assert {b.status for b in batches} == {"confirmed"}
    assert len(set(leaves)) == len(leaves)
    notary = tool.contracts["EvidenceNotary"]
    anchored = notary.events.BatchAnchored().get_logs(from_block=0)
    assert len(anchored) == len(batches), "a batch was anchored twice (or one is missing)"
    assert sorted(bytes(e["args"]["root"]) for e in anchored) == sorted(bytes(b.root) for b in batches)


def _check_audit(cluster: Cluster, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    auditor_dir = tmp_path / "auditor"  # no deployment.json of its own: the record comes from the database
    auditor_dir.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "backend", "audit", "--json"],
        env=cluster.cli_env(auditor_dir),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"hubao audit printed no report (exit {done.returncode}): {done.stderr[-4000:]}")
    failing = [(s["name"], s["status"], s["findings"][:5]) for s in report["steps"] if s["status"] != "passed"]
    assert not failing, failing
    assert done.returncode == 0, done.stderr[-4000:]


def test_two_hosts_one_killed_mid_burst_every_acknowledged_filing_on_chain_once(tmp_path: Path) -> None:
    reason = postgres_reachable()
    if reason is not None:
        pytest.skip(reason)
    run_scenario(tmp_path, CLAIMANTS)
