"""Published periods: the chain's records, the ledger files behind them, and a local index.

Service edge (reads the chain, the evidence store and the data directory). The chain is the
source of truth for *which* periods exist and what they say (``Apportionment`` storage and its
``PeriodPublished`` events); the evidence store holds every ledger file under the CID the chain
recorded; ``<data dir>/apportionment/`` keeps a local copy of each ledger and a small JSON index
(``periods.json``: transaction, block, the claims counted) so that member views do not refetch.

A local ledger file is used only when its header and trailer say what the chain's record says
(period inputs, totals, root — an O(1) check); otherwise it is fetched again by CID, and the
store verifies every block of it against that CID.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backend.apportionment.errors import ShareLedgerInvalid
from backend.apportionment.ledger import ShareLedgerReader
from backend.apportionment.period_record import record_inputs, record_totals
from backend.apportionment.service_errors import ApportionmentUnavailable, PeriodRecordMismatch
from backend.apportionment.share_tree import ShareTreeFile
from backend.chain.apportionment import ApportionmentClient, PeriodRecord, PublishedPeriodEvent
from backend.chain.transactions import register_errors
from backend.services.context import ServiceContext
from evidence_store.multiformats import CID

__all__ = [
    "CONTRACT_NAME",
    "INDEX_VERSION",
    "PublishedLedgers",
    "apportionment_client",
    "published_ledgers",
]

CONTRACT_NAME = "Apportionment"
INDEX_VERSION = 1
_SUBDIR = "apportionment"
_CHUNK = 1 << 20
_index_lock = threading.Lock()


def apportionment_client(ctx: ServiceContext) -> ApportionmentClient:
    """The client of the context's Apportionment deployment (``ApportionmentUnavailable`` if none)."""
    contract = ctx.contracts.get(CONTRACT_NAME)
    if contract is None:
        raise ApportionmentUnavailable("the Apportionment contract is not deployed in this context")
    register_errors([[dict(item) for item in contract.abi]])
    return ApportionmentClient(ctx.w3, contract)


def _matches(reader: ShareLedgerReader, record: PeriodRecord) -> bool:
    return (
        reader.inputs == record_inputs(record)
        and reader.totals == record_totals(record)
        and reader.share_root == record.ledger_root
        and reader.ascending
    )


class PublishedLedgers:
    """Ledger files and the local index under ``root`` (``<data dir>/apportionment``)."""

    def __init__(self, root: Path, store: Any) -> None:
        self.root = root
        self.store = store
        self.ledgers = root / "ledgers"
        self.index_path = root / "periods.json"
        self.ledgers.mkdir(parents=True, exist_ok=True)

    # --- the index ---------------------------------------------------------------------------

    def read_index(self) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": INDEX_VERSION, "periods": {}, "windDown": None}
        return doc

    def update_index(self, key: str, value: Any, *, period_id: int | None = None) -> None:
        """Set ``periods[period_id] = value`` (or the top-level ``key``), atomically (temp + rename)."""
        with _index_lock:
            doc = self.read_index()
            if period_id is not None:
                doc.setdefault("periods", {})[str(period_id)] = value
            else:
                doc[key] = value
            fd, tmp = tempfile.mkstemp(prefix=".periods.", suffix=".tmp", dir=self.root)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(doc, fh, indent=2, sort_keys=True)
                    fh.write("\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.index_path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def entry(self, period_id: int) -> dict[str, Any] | None:
        value = self.read_index().get("periods", {}).get(str(period_id))
        return value if isinstance(value, dict) else None

    # --- ledger files ------------------------------------------------------------------------

    def path_of(self, period_id: int) -> Path:
        return self.ledgers / f"{period_id}.hsl"

    def store_file(self, path: Path) -> bytes:
        """Add the file to the evidence store (pinned, CIDv1 raw leaves); its binary CID."""

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as fh:
                while block := fh.read(_CHUNK):
                    yield block

        cid = self.store.add(chunks(), cid_version=1, pin=True)
        raw: bytes = cid.to_bytes()
        return raw

    def sweep_temporaries(self, *, older_than: float = 3600.0) -> int:
        """Remove temp files (``.<name>.…``) a crashed publish left in the ledger directory.

        Only those not touched for ``older_than`` seconds, so a build in progress keeps its files.
        Returns how many were removed.
        """
        import time

        removed = 0
        cutoff = time.time() - older_than
        for path in self.ledgers.glob(".*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def tree_path_of(self, period_id: int) -> Path:
        return self.ledgers / f"{period_id}.tree"

    def tree_for(self, record: PeriodRecord, *, rebuild: bool = False) -> Path:
        """The period's share-tree node file (``share_tree``), built from its ledger when missing.

        A cached file is used when its root is the recorded ledger root (an O(1) read); otherwise
        (absent, another period's, damaged root) it is rebuilt from the ledger the chain names —
        one streamed pass, once per period and replica, not per receipt. ``rebuild=True`` rebuilds
        regardless (a proof from the cached file failed to verify: a damaged inner node).
        """
        path = self.tree_path_of(record.period_id)
        try:
            with ShareTreeFile(path) as tree:
                if not rebuild and tree.root == record.ledger_root and tree.leaf_count == record.member_count:
                    return path
        except (OSError, ShareLedgerInvalid):
            pass
        with ShareLedgerReader(self.ledger_for(record)) as reader:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.ledgers)
            os.close(fd)
            try:
                root = reader.write_tree_file(tmp)
                if root != record.ledger_root:
                    raise PeriodRecordMismatch(
                        "the share tree of the ledger does not have the recorded root", period_id=record.period_id
                    )
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return path

    def local_matches(self, record: PeriodRecord) -> bool:
        path = self.path_of(record.period_id)
        if not path.exists():
            return False
        try:
            with ShareLedgerReader(path) as reader:
                return _matches(reader, record)
        except Exception:
            return False

    def ledger_for(self, record: PeriodRecord) -> Path:
        """A local ledger file saying what ``record`` says: the cached one, or fetched by CID."""
        path = self.path_of(record.period_id)
        if self.local_matches(record):
            return path

        cid = CID.from_bytes(record.ledger_cid)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.ledgers)
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in self.store.cat(cid):
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            with ShareLedgerReader(tmp) as reader:
                if not _matches(reader, record):
                    raise PeriodRecordMismatch(
                        "the ledger file under the recorded CID does not state the recorded period",
                        period_id=record.period_id,
                    )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def published_ledgers(ctx: ServiceContext) -> PublishedLedgers:
    """The context's ledger files and index (``<data dir>/apportionment``)."""
    return PublishedLedgers(ctx.settings.resolved_data_dir / _SUBDIR, ctx.store)


def published_events(ctx: ServiceContext) -> list[PublishedPeriodEvent]:
    """Every published period, from the chain's ``PeriodPublished`` events (all replicas' work)."""
    client = apportionment_client(ctx)
    deployed = ctx.deployment.contracts.get(CONTRACT_NAME)
    return client.published_events(from_block=deployed.block if deployed is not None else 0)
