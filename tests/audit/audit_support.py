"""A real notarized history for the auditor's tests: anvil (with a state file), migrated SQLite,
the embedded evidence store, evidence accepted through the upload service, anchored by the worker."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from backend.audit import AuditReport, AuditSources, Checkpoint, run_audit
from backend.chain.anvil import AnvilNode
from backend.config import Settings
from backend.db.engine import make_engine, session_factory
from backend.runtime import Runtime, build_runtime
from backend.services.anchoring import MEMBERSHIP
from backend.services.evidence import accept_evidence
from tests.faults.rpc_proxy import RpcFaultProxy


@dataclass
class AuditedHistory:
    node: AnvilNode
    runtime: Runtime
    data_dir: Path
    evidence_ids: list[str]
    pending_ids: list[str]
    engines: list[Engine] = field(default_factory=list)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "hubao.db"

    @property
    def store(self) -> Any:
        return self.runtime.store

    def copy_db(self, target: Path) -> Path:
        """A private copy of the operator's SQLite database (one per mutation).

        Through SQLite's backup API: a plain file copy would miss what still sits in the WAL.
        """
        source = sqlite3.connect(self.db_path)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return target

    def audit(
        self,
        db_path: Path | None = None,
        *,
        rpc_url: str | None = None,
        database: bool = True,
        store: bool = True,
        checkpoint: Checkpoint | None = None,
        since_checkpoint: bool = False,
        **extra: Any,
    ) -> AuditReport:
        sessions = None
        engine = None
        if database:
            engine = make_engine(f"sqlite:///{db_path or self.db_path}")
            sessions = session_factory(engine)
        try:
            return run_audit(
                AuditSources(
                    rpc_url=rpc_url or self.node.url,
                    deployment=self.runtime.deployment,
                    sessions=sessions,
                    store=self.store if store else None,
                    checkpoint=checkpoint,
                    since_checkpoint=since_checkpoint,
                    **extra,
                )
            )
        finally:
            if engine is not None:
                engine.dispose()

    def deadlines(self) -> dict[str, Any]:
        """The deadlines the backend's settings configure, as ``hubao audit`` and ``GET /audit`` pass them."""
        settings = self.runtime.settings
        return {
            "evidence_anchoring_seconds": settings.evidence_anchoring_deadline,
            "review_opening_seconds": settings.review_opening_deadline,
        }

    def add_evidence(self, count: int, seed: int) -> list[str]:
        return upload(self.runtime, count, seed)

    def anchor(self) -> None:
        self.runtime.anchoring_worker(holder="audit-tests").run_until_idle(max_cycles=200)
        self.runtime.anchoring_worker(holder="audit-tests", outbox=MEMBERSHIP).run_until_idle(max_cycles=200)

    def close(self) -> None:
        self.runtime.close()
        self.node.stop()


def settings_for(node: AnvilNode, data_dir: Path, batch: int) -> Settings:
    return Settings(
        rpc_url=node.url,
        data_dir=data_dir,
        confirmations=0,
        batch_max_wait=0,
        batch_max_size=batch,
        anchoring=False,
        log_level="WARNING",
    )


def upload(runtime: Runtime, count: int, seed: int) -> list[str]:
    """``count`` PDF uploads through the evidence service (encrypted, stored, queued) — seeded."""
    rng = random.Random(seed)
    ids = []
    for _ in range(count):
        body = b"%PDF-1.4\n" + rng.randbytes(rng.randrange(64, 3000))
        accepted = accept_evidence(
            runtime.sessions,
            runtime.store,
            runtime.keyring,
            claim_ref=rng.randbytes(32),
            chunks=[body],
            media_type="application/pdf",
            max_bytes=1 << 20,
        )
        ids.append(accepted.evidence_id)
    return ids


def build_history(
    root: Path, *, items: int = 60, batch: int = 10, pending: int = 2, seed: int = 0, node: AnvilNode | None = None
) -> AuditedHistory:
    """Anchor ``items`` evidence uploads in batches of ``batch``; leave ``pending`` more unanchored."""
    node = node or AnvilNode(state_path=root / "chain" / "state.json", log_path=root / "anvil.log").start()
    data_dir = root / "data"
    runtime = build_runtime(settings_for(node, data_dir, batch))
    history = AuditedHistory(node, runtime, data_dir, [], [])
    history.evidence_ids = history.add_evidence(items, seed)
    history.anchor()
    history.pending_ids = history.add_evidence(pending, seed + 1)
    return history


class RefusingProxy(RpcFaultProxy):
    """A node that answers every ``eth_call`` to one contract with a JSON-RPC error (its views are
    unreadable) and everything else faithfully."""

    def __init__(self, upstream: str, contract: str) -> None:
        super().__init__(upstream)
        self.contract = contract.lower()
        self.refused = 0

    def forward(self, body: bytes) -> bytes:
        request = json.loads(body)
        answer = json.loads(super().forward(body))
        if isinstance(request, list):
            by_id = {r.get("id"): r for r in request}
            answer = [self._refuse(by_id.get(a.get("id"), {}), a) for a in answer]
        else:
            answer = self._refuse(request, answer)
        return json.dumps(answer).encode()

    def _refuse(self, request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        params = request.get("params") or [{}]
        if request.get("method") == "eth_call" and str(params[0].get("to", "")).lower() == self.contract:
            self.refused += 1
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": -32000, "message": "view refused"}}
        return answer
