"""Membership-log anchoring (issue 15 item 4): joins/s and gas per join, next to evidence anchoring.

On **one** automining anvil, in **one** run:

* **membership** — a fresh migrated SQLite database with ``joins`` members (accounts, ``members``
  rows and their ``membership_log`` join rows, bulk-inserted as ``membership.join`` writes them),
  then ``AnchoringWorker(outbox=MEMBERSHIP, confirmations=0, max_batch=B, max_wait=0)
  .run_until_idle()`` against a ``MembershipLog`` deployment (the EvidenceNotary artifact) until
  every join has its proof. ``joins_per_s`` is joins over that wall time (queued → anchored →
  proofs stored); ``gas_per_join`` is the anchor transactions' gas over the joins.
* **evidence** — the same count of evidence items through the same relay (``outbox=EVIDENCE``,
  ``bench_notary.run_hubao``) on the same node: the baseline the membership figures sit next to
  (same code path, different leaf and Yeti-check query).

``python -m benchmarks membership_log`` runs 1,000,000 joins at B = 1,000 (the issue's figure; long);
``--quick`` runs 2,000 at B = 500 (a smoke run, not a measurement).
"""

from __future__ import annotations

import secrets
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import func, insert, select

from backend.chain.anvil import AnvilNode
from backend.chain.client import contract_at
from backend.chain.compiler import load_artifact
from backend.chain.deploy import SUITE, SuiteRoles, deploy_suite
from backend.chain.notary import NotaryClient
from backend.db.engine import make_engine, migrate, session_factory
from backend.db.models import Account, Member, MembershipBatch, MembershipLogEntry
from backend.proofs.membership_log import JOIN, membership_leaf_hash
from backend.proofs.merkle import verify_proof
from backend.services.anchoring import MEMBERSHIP, AnchoringWorker, unpack_proof
from backend.services.chain_outbox import ChainOutbox
from benchmarks.bench_notary import _deploy_notary, run_hubao, synthetic_evidence

CHUNK = 20_000  # rows per bulk insert


def queue_joins(sessions: Any, count: int) -> None:
    """``count`` members and their join rows, as ``membership.join`` writes them (bulk)."""
    joined = datetime(2026, 1, 1, tzinfo=UTC)
    at = int(joined.timestamp())
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        accounts = [secrets.token_hex(16) for _ in range(n)]
        members = [secrets.token_hex(16) for _ in range(n)]
        commitments = [secrets.token_bytes(32) for _ in range(n)]
        with sessions.begin() as session:
            session.execute(
                insert(Account),
                [
                    {"id": a, "username": f"m{start + i}", "password_hash": "x", "role": "member"}
                    for i, a in enumerate(accounts)
                ],
            )
            session.execute(
                insert(Member),
                [
                    {
                        "id": m,
                        "account_id": a,
                        "commitment": c,
                        "salt": b"\0" * 32,
                        "birth_date": date(1990, 1, 1),
                        "credit_score": 700,
                        "joined_at": joined,
                        "waiting_ends_at": joined,
                        "status": "active",
                        "rule_set_hash": b"\x11" * 32,
                    }
                    for m, a, c in zip(members, accounts, commitments, strict=True)
                ],
            )
            session.execute(
                insert(MembershipLogEntry),
                [
                    {
                        "change": JOIN,
                        "commitment": c,
                        "effective_at": at,
                        "member_id": m,
                        "leaf_hash": membership_leaf_hash(JOIN, c, at),
                    }
                    for m, c in zip(members, commitments, strict=True)
                ],
            )


def run_membership(node: AnvilNode, workdir: Path, joins: int, batch: int) -> dict[str, Any]:
    chain = _deploy_notary(node)  # a notary key and w3 on this node
    spec = tuple(s for s in SUITE if s.name == "MembershipLog")
    record = deploy_suite(
        chain.w3, chain.operator, SuiteRoles.with_dev_admin(chain.operator.address, chain.notary_sender.address), spec
    )
    log_contract = NotaryClient(
        chain.w3, contract_at(chain.w3, record.address("MembershipLog"), load_artifact("EvidenceNotary"))
    )
    url = f"sqlite:///{workdir / 'membership.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    outbox = ChainOutbox(sessions, chain.w3)  # sent as a server sends (bench_notary.run_hubao too)
    try:
        t_queue = time.perf_counter()
        queue_joins(sessions, joins)
        queue_seconds = time.perf_counter() - t_queue
        worker = AnchoringWorker(
            sessions,
            chain.w3,
            log_contract,
            outbox.sender(chain.notary_sender.signer),
            confirmations=0,
            max_batch=batch,
            max_wait=0,
            outbox=MEMBERSHIP,
        )
        t0 = time.perf_counter()
        report = worker.run_until_idle(max_cycles=4 * (-(-joins // batch)) + 10)
        seconds = time.perf_counter() - t0
        with sessions() as session:
            batches = list(session.scalars(select(MembershipBatch).order_by(MembershipBatch.id)))
            missing = session.scalar(
                select(func.count()).select_from(MembershipLogEntry).where(MembershipLogEntry.proof.is_(None))
            )
            sample = list(session.scalars(select(MembershipLogEntry).order_by(func.random()).limit(20)))
    finally:
        outbox.close()
        engine.dispose()
    if report.rejected_items or missing or any(b.status != "confirmed" for b in batches):
        raise RuntimeError("not every join was anchored with a proof")
    by_id = {b.id: b for b in batches}
    for item in sample:
        b = by_id[item.batch_id]  # type: ignore[index]
        proof = unpack_proof(item.proof)
        onchain_ok = b.onchain_id is not None and log_contract.verify(b.onchain_id, item.leaf_hash, proof)
        if not verify_proof(b.root, item.leaf_hash, proof) or not onchain_ok:
            raise RuntimeError("a stored join proof does not verify")
    gas = sum(int(chain.w3.eth.get_transaction_receipt(HexBytes(b.tx_hash or b""))["gasUsed"]) for b in batches)
    return {
        "joins": joins,
        "batch_size": batch,
        "batches": len(batches),
        "seconds": round(seconds, 3),
        "joins_per_s": round(joins / seconds, 1),
        "gas_per_join": round(gas / joins, 2),
        "gas_per_batch": round(gas / len(batches)),
        "queue_seconds": round(queue_seconds, 3),
    }


def run(quick: bool = False) -> dict[str, Any]:
    joins, batch = (2_000, 500) if quick else (1_000_000, 1_000)
    with tempfile.TemporaryDirectory(prefix="hubao-bench-membership-") as tmp:
        workdir = Path(tmp)
        node = AnvilNode(log_path=workdir / "anvil.log").start()
        try:
            membership = run_membership(node, workdir, joins, batch)
            evidence = run_hubao(_deploy_notary(node), workdir, batch, synthetic_evidence(joins, seed=7), samples=20)
        finally:
            node.kill()
    return {
        "membership": membership,
        "evidence": evidence,
        "joins_per_s_over_evidence_items_per_s": round(membership["joins_per_s"] / evidence["items_per_s"], 3),
        "gas_per_join_over_gas_per_evidence_item": round(membership["gas_per_join"] / evidence["gas_per_item"], 3),
    }
