"""Health of every backing component, reported without raising."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from backend import __version__
from backend.db.engine import current_revision
from backend.db.models import AnchorBatch, AnchorItem
from backend.services.context import ServiceContext


def _check(fn: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = fn()
        return {"ok": True, **result}
    except Exception as exc:  # health must report, not raise
        return {"ok": False, "error": exc.__class__.__name__}


def health_report(ctx: ServiceContext) -> dict[str, Any]:
    def chain() -> dict[str, Any]:
        return {"chainId": ctx.w3.eth.chain_id, "headBlock": ctx.w3.eth.block_number}

    def database() -> dict[str, Any]:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"backend": ctx.engine.dialect.name, "revision": current_revision(ctx.engine)}

    def evidence_store() -> dict[str, Any]:
        if ctx.store is None:
            raise RuntimeError("no evidence store configured")
        info = ctx.store.version()
        return {"backend": type(ctx.store).__name__, "version": info}

    def contracts() -> dict[str, Any]:
        return {
            name: {"address": c.address, "version": c.functions.version().call()} for name, c in ctx.contracts.items()
        }

    def anchoring() -> dict[str, Any]:
        with ctx.sessions() as session:
            backlog = (
                session.scalar(select(func.count()).select_from(AnchorItem).where(AnchorItem.batch_id.is_(None))) or 0
            )
            last = session.scalars(
                select(AnchorBatch).where(AnchorBatch.status == "confirmed").order_by(AnchorBatch.id.desc()).limit(1)
            ).first()
        return {
            "backlog": backlog,
            "lastBatch": None
            if last is None
            else {"batchId": last.onchain_id, "root": "0x" + last.root.hex(), "block": last.block_number},
        }

    parts = {
        "chain": _check(chain),
        "database": _check(database),
        "evidenceStore": _check(evidence_store),
        "contracts": _check(contracts),
        "anchoring": _check(anchoring),
    }
    status = "ok" if all(p["ok"] for p in parts.values()) else "degraded"
    return {"status": status, "version": __version__, **parts}
