"""The chain outbox against the in-process sender it replaced (issue 18 item 1).

On **one** automining anvil, in **one** run, ``count`` transfers with one key (gas given, so no
estimation), sent by ``threads`` threads each waiting for its receipt (``transact``):

* **baseline_direct** — the in-process :class:`~backend.chain.transactions.TransactionSender`
  (thread lock, pending count, sign, broadcast): what a single process did before the outbox;
* **outbox_leader_host** — :class:`~backend.services.chain_outbox.OutboxSender` on the host that
  holds the key's lease: row inserted, handed to the dispatcher in memory and the dispatcher woken,
  signed row committed under the fencing token, broadcast, the signed transaction handed back
  directly; the mined outcome is written into the row by the sender's next round, off the caller's
  path;
* **outbox_other_host** — the same sends from a second host (its own engine and connection) while
  the first one leads: rows reach the leader through its poll of the outbox (``poll`` = 50 ms),
  the caller reads its row back.

The same three again with one caller (``count / 4`` transfers): the latency a lone request sees.
Per database (SQLite file; PostgreSQL when reachable at ``HUBAO_TEST_POSTGRES_URL`` or the default
test server). Figures: transactions/s, median ms per ``transact``, and each outbox figure's ratio to
the baseline of the same run.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from web3.types import TxParams, Wei

from backend.chain.anvil import AnvilNode
from backend.chain.client import account, connect
from backend.chain.transactions import Sender, TransactionSender
from backend.config import ANVIL_DEV_KEYS
from backend.db.engine import make_engine, migrate, session_factory
from backend.services.chain_outbox import ChainOutbox
from tests.scratch_db import postgres_reachable, scratch_database

TRANSFER: TxParams = {"to": "0x000000000000000000000000000000000000dEaD", "value": Wei(1), "gas": 21000}


def _drive(sender: Sender, count: int, threads: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            try:
                sender.transact(TRANSFER)
            except Exception as exc:
                errors.append(exc)
            latencies.append(time.perf_counter() - t0)

    per = count // threads
    pool = [threading.Thread(target=work, args=(per,)) for _ in range(threads)]
    t0 = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} sends failed, e.g. {errors[0]!r}")
    return {
        "transactions": per * threads,
        "seconds": round(seconds, 3),
        "tx_per_s": round(per * threads / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
    }


def run_database(node: AnvilNode, url: str, key: str, count: int, threads: int) -> dict[str, Any]:
    migrate(url)
    engines = [make_engine(url), make_engine(url)]
    leader = ChainOutbox(session_factory(engines[0]), connect(node.url), holder="bench-leader")
    follower = ChainOutbox(session_factory(engines[1]), connect(node.url), holder="bench-follower")
    signer = account(key)
    try:
        direct = TransactionSender(connect(node.url), signer)
        baseline = _drive(direct, count, threads)
        leading = leader.sender(signer)
        leading.transact(TRANSFER)  # the leader takes the lease before the follower starts
        local = _drive(leading, count, threads)
        other = _drive(follower.sender(signer), count, threads)
        baseline_again = _drive(direct, count, threads)
        # One caller at a time: the latency a lone request sees (the follower's rows wait for the
        # leader's poll).
        sequential = {
            "baseline_direct": _drive(direct, count // 4, 1),
            "outbox_leader_host": _drive(leading, count // 4, 1),
            "outbox_other_host": _drive(follower.sender(signer), count // 4, 1),
        }
    finally:
        leader.close()
        follower.close()
        for engine in engines:
            engine.dispose()
    base = (baseline["tx_per_s"] + baseline_again["tx_per_s"]) / 2
    return {
        "baseline_direct": baseline,
        "baseline_direct_again": baseline_again,
        "outbox_leader_host": local,
        "outbox_other_host": other,
        "leader_host_over_baseline": round(local["tx_per_s"] / base, 3),
        "other_host_over_baseline": round(other["tx_per_s"] / base, 3),
        "one_caller": sequential,
    }


def run(quick: bool = False) -> dict[str, Any]:
    count, threads = (40, 4) if quick else (400, 8)
    figures: dict[str, Any] = {"transfers": count, "threads": threads}
    with tempfile.TemporaryDirectory(prefix="hubao-bench-outbox-") as tmp:
        workdir = Path(tmp)
        node = AnvilNode(log_path=workdir / "anvil.log").start()
        try:
            figures["sqlite"] = run_database(
                node, f"sqlite:///{workdir / 'outbox.db'}", ANVIL_DEV_KEYS[5], count, threads
            )
            if postgres_reachable() is not None:
                figures["postgresql"] = "skipped: no PostgreSQL server"
            else:
                with scratch_database("hubao_bench_outbox") as pg:
                    figures["postgresql"] = run_database(node, pg, ANVIL_DEV_KEYS[6], count, threads)
        finally:
            node.kill()
    return figures
