"""A period's apportionment from PostgreSQL in bounded memory, next to the hashing bound (issue 18 item 5).

Per size (``sizes``; default 1 M members, ``--quick`` 20 k, large sizes by ``--sizes``):

* **setup** (not timed): a database of its own (``hubao_bench_apportion_<pid>``, dropped after),
  migrated to head; ``members`` filled server-side (``INSERT … SELECT generate_series``: commitment
  ``sha256(int8send(i))``, so heap order is not commitment order; 1 % of the members ended before
  the snapshot), its indexes built after the load as a bulk load does (the foreign key to
  ``accounts`` dropped: the apportionment never reads accounts); ``VACUUM ANALYZE``. Then a
  previous ledger of the same year (all but every 50th member, ``yearToDate = (position × 7,919)
  mod 19,000``, about 4 % of them at the annual cap) so that the year-to-date merge join runs.
* **build** — a fresh child process runs the publisher's path (``publish.build_period_ledger``
  after ``chain_inputs.snapshot_sharing_members``): the sharing members streamed from PostgreSQL in
  commitment order (binary server-side cursor) into the packed snapshot, merge-joined with the
  previous ledger, every share / subsidy / year-to-date, the ledger file written, the share tree's
  node file built bottom up on disk and the membership-snapshot root, in bounded memory. Figures:
  wall and CPU seconds of the child, the PostgreSQL backend's CPU for the query (from
  ``/proc/<backend pid>/stat``, listed apart), the child's peak RSS (``VmHWM``, and the parent's
  ``RUSAGE_CHILDREN`` ``ru_maxrss``), and ``receipt_ms``: one member's row + proof read from the
  files (ledger binary search, tree binary search, one read per level), each proof checked.
* **bound** — a second child: the same keccak calls over the same bytes with no database, no
  file and no sort inside the clock: per member the 128-byte share-leaf encoding of its ledger
  row hashed twice and its commitment hashed twice (the membership leaf), then N − 1 inner nodes
  per tree, each over 64 bytes (the share tree's own sorted pairs, read from its node file; the
  membership tree's count of nodes over the same pairs). Inputs are prepared per chunk outside
  the clock; only the hashing loops are timed (``process_time``), with the product's keccak
  function (``load_backend(KECCAK_BACKEND)``) driven by ``map`` into a ``deque(maxlen=0)``, the
  cheapest loop Python has (the builder itself maps keccak over its columns).

* **audit_log** (setup not timed: the members' joins, and the exits of those who left, written to
  ``membership_log`` in batches of ``LOG_BATCH`` leaves server-side, each batch's root computed and
  listed as the chain would anchor it) — a third child runs ``hubao audit`` step 6's check against
  the anchored membership log on the period the build just made: every batch read from PostgreSQL
  one at a time and rebuilt against its root, the verified changes sorted on disk, the members
  replayed at the snapshot and merged with the ledger file, the unanchored-join query streamed
  (``backend.audit.membership_log``). Figures: wall and CPU seconds, peak RSS, the PostgreSQL
  backend's CPU apart; ``audit_log_cpu_vs_build`` = its CPU / the build's CPU in the same run.

``ratio_vs_bound`` = build CPU / bound CPU (target ≤ 1.3); ``peak_rss_mb`` target ≤ 1,024 at every
size (the audit_log child's too); ``extrapolated_100m`` scales the largest size's per-member CPU and
wall time to 100 M members and lists the disk the files take (memory does not scale: it is the largest peak seen).

``python -m benchmarks apportionment`` (1 M), ``python -m benchmarks apportionment --sizes
10000000,30000000`` (``make bench-apportionment-large``), ``python -m benchmarks.bench_apportionment
--sizes 1000000`` alone. ``HUBAO_BENCH_POSTGRES_URL`` names the server (default
``postgresql://postgres@127.0.0.1:5432/test``, used only to create and drop the bench's database).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.scratch_db import create_database, database_url, drop_database

REPO = Path(__file__).resolve().parents[1]
SIZES = (1_000_000,)
QUICK_SIZES = (20_000,)
TARGET_RATIO = 1.3
TARGET_RSS_MB = 1024
ADMIN_URL = os.environ.get("HUBAO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
AT = datetime(2031, 3, 6, 16, tzinfo=UTC)  # 2031-03-07 00:00 in Asia/Shanghai: a notice instant
PERIOD_ID = 20310307
PAYOUTS = [30_000_000] * 100
LOG_BATCH = 10_000  # membership-log leaves per anchored batch in the audit_log setup


def _db_url(name: str, driver: str = "postgresql") -> str:
    return database_url(name, ADMIN_URL, driver)


_LOAD = """
ALTER TABLE members DROP CONSTRAINT members_account_id_fkey;
ALTER TABLE members DROP CONSTRAINT members_pkey CASCADE;
ALTER TABLE members DROP CONSTRAINT members_account_id_key;
ALTER TABLE members DROP CONSTRAINT members_commitment_key;
DROP INDEX ix_members_status;
INSERT INTO members (id, account_id, commitment, salt, birth_date, credit_score, joined_at, waiting_ends_at,
                     status, ended_at, rule_set_hash)
SELECT lpad(to_hex(i), 32, '0'), lpad(to_hex(i), 32, '0'), sha256(int8send(i)), sha256(int8send(-i)),
       date '1972-01-01' + (i % 7000)::int, 700,
       timestamptz '2030-01-01 00:00+00' + make_interval(secs => i % 86400),
       timestamptz '2030-04-01 00:00+00',
       CASE WHEN i % 100 = 0 THEN 'ended' ELSE 'active' END,
       CASE WHEN i % 100 = 0 THEN timestamptz '2031-01-01 00:00+00' END,
       '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
FROM generate_series(1, %(n)s) AS i;
ALTER TABLE members ADD CONSTRAINT members_pkey PRIMARY KEY (id);
ALTER TABLE members ADD CONSTRAINT members_account_id_key UNIQUE (account_id);
ALTER TABLE members ADD CONSTRAINT members_commitment_key UNIQUE (commitment);
CREATE INDEX ix_members_status ON members (status);
"""


def _setup(name: str, n: int, work: Path) -> dict[str, Any]:
    """Create, migrate and fill the bench database; write the previous ledger. Not timed."""
    import psycopg

    from backend.db.engine import migrate

    t0 = time.perf_counter()
    create_database(name, ADMIN_URL)
    migrate(_db_url(name, "postgresql+psycopg"))
    with psycopg.connect(_db_url(name)) as conn:
        for statement in _LOAD.replace("%(n)s", str(int(n))).split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.commit()
    with psycopg.connect(_db_url(name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE members")
    previous_rows = _previous_ledger(name, work / "previous.hsl")
    return {"setup_seconds": round(time.perf_counter() - t0, 1), "previous_ledger_rows": previous_rows}


def _previous_ledger(name: str, path: Path) -> int:
    """A structurally valid previous ledger of the year (the merge join reads rows only)."""
    import psycopg

    from backend.apportionment.arithmetic import PeriodInputs
    from backend.apportionment.ledger_format import ROW_AMOUNTS, TRAILER, TRAILER_MAGIC, header_bytes

    tmp = path.with_suffix(".rows")
    rows = 0
    pack = ROW_AMOUNTS.pack
    with (
        psycopg.connect(_db_url(name)) as conn,
        open(tmp, "wb", buffering=1 << 20) as out,
        conn.cursor(name="previous", binary=True) as cur,
    ):
        cur.execute("SELECT commitment FROM members ORDER BY commitment")
        position = 0
        while page := cur.fetchmany(65_536):
            chunk = []
            for (commitment,) in page:
                if position % 50:
                    ytd = (position * 7_919) % 19_000
                    chunk.append(commitment + pack(min(ytd, 10), 0, ytd))
                    rows += 1
                position += 1
            out.write(b"".join(chunk))
    inputs = PeriodInputs.from_payouts([1], period_id=PERIOD_ID - 7, member_count=rows, rule_set_hash=bytes(32))
    with open(path, "wb") as out:
        out.write(header_bytes(inputs, True))
        with open(tmp, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        out.write(TRAILER.pack(TRAILER_MAGIC, rows, 0, 0, 0, 0, 0, 0, bytes(32)))  # totals: not read
    tmp.unlink()
    return rows


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process in seconds (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _build(name: str, work: Path) -> dict[str, Any]:
    """Child process: the publisher's path from the database to the ledger + node file + roots."""
    from sqlalchemy import text

    from backend.apportionment.arithmetic import PeriodInputs
    from backend.apportionment.chain_inputs import snapshot_sharing_members
    from backend.apportionment.publish import build_period_ledger
    from backend.db.engine import make_engine, session_factory

    engine = make_engine(_db_url(name, "postgresql+psycopg"))
    sessions = session_factory(engine)
    rss_before = _vm_hwm_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    with sessions() as session:
        backend_pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        pg0 = _proc_cpu(backend_pid)
        members = work / "members.snapshot"
        count = snapshot_sharing_members(session, AT, members)
        pg_cpu = _proc_cpu(backend_pid) - pg0
    t_db, c_db = time.perf_counter() - t0, time.process_time() - c0
    inputs = PeriodInputs.from_payouts(PAYOUTS, period_id=PERIOD_ID, member_count=count, rule_set_hash=bytes(32))
    ledger, tree, result = build_period_ledger(work, inputs, members, work / "previous.hsl")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = _vm_hwm_mb()
    engine.dispose()
    members.unlink()
    ledger = ledger.rename(work / "ledger.hsl")
    assert tree is not None
    assert result.membership is not None
    tree = tree.rename(work / "ledger.tree")
    return {
        "sharing_members": count,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "process_user_seconds": round(usage.ru_utime, 2),  # the whole child, imports included
        "process_system_seconds": round(usage.ru_stime, 2),
        "db_read_seconds": round(t_db, 2),
        "db_read_cpu_seconds": round(c_db, 2),
        "postgres_backend_cpu_seconds": round(pg_cpu, 2),
        "peak_rss_mb": round(peak, 1),
        "rss_after_imports_mb": round(rss_before, 1),
        "ledger_file_mb": round(ledger.stat().st_size / 2**20, 1),
        "tree_file_mb": round(tree.stat().st_size / 2**20, 1),
        "share_root": "0x" + result.share_root.hex(),
        "membership_root": "0x" + result.membership.root.hex(),
        "base_fen": result.totals.base_fen,
        "share_total_fen": result.totals.share_total_fen,
        "subsidy_total_fen": result.totals.subsidy_total_fen,
        "receipt_ms": _receipt_ms(ledger, tree, result.share_root),
    }


def _receipt_ms(ledger: Path, tree_path: Path, root: bytes, samples: int = 200) -> float:
    """Mean milliseconds to find a member's row and its proof from the files (each proof checked)."""
    from backend.apportionment.ledger import ShareLedgerReader, share_leaf_hash
    from backend.apportionment.share_tree import ShareTreeFile
    from backend.proofs.merkle import process_proof

    with ShareLedgerReader(ledger) as reader, ShareTreeFile(tree_path) as tree:
        n = reader.row_count
        picks = [reader.row(i).member_commitment for i in range(0, n, max(1, n // samples))][:samples]
        t0 = time.perf_counter()
        for commitment in picks:
            found = reader.find(commitment)
            assert found is not None
            leaf = share_leaf_hash(found[1])
            index = tree.find_leaf(leaf)
            assert index is not None
            assert process_proof(leaf, tree.proof(index)) == root
        return round(1e3 * (time.perf_counter() - t0) / len(picks), 3)


def _bound(work: Path) -> dict[str, Any]:
    """Child process: the same keccak calls over the same bytes; only the hashing loops timed."""
    from backend.apportionment.ledger import ShareLedgerReader
    from backend.proofs.keccak import KECCAK_BACKEND, load_backend

    k = load_backend(KECCAK_BACKEND)
    sink: deque[bytes] = deque(maxlen=0)
    consume: Callable[[Iterable[bytes]], None] = sink.extend  # the tightest loop Python has: nothing kept
    cpu = 0.0
    leaves = 0
    with ShareLedgerReader(work / "ledger.hsl") as reader:
        rows = reader.rows()
        while True:
            chunk = [row for _, row in zip(range(65_536), rows, strict=False)]
            if not chunk:
                break
            encodings = [
                c + s.to_bytes(32, "big") + b.to_bytes(32, "big") + y.to_bytes(32, "big") for c, s, b, y in chunk
            ]
            commitments = [row[0] for row in chunk]
            c0 = time.process_time()
            consume(map(k, map(k, encodings)))
            consume(map(k, map(k, commitments)))
            cpu += time.process_time() - c0
            leaves += len(chunk)
    nodes = 0
    with open(work / "ledger.tree", "rb") as fh:
        fh.seek(32)  # header; the node array follows, pairs (2i + 1, 2i + 2) are children of i
        fh.read(32)  # the root has no sibling
        while block := fh.read(64 * 65_536):
            pairs = [block[i : i + 64] for i in range(0, len(block) - 63, 64)]
            pairs = [p if p[:32] <= p[32:] else p[32:] + p[:32] for p in pairs]
            c0 = time.process_time()
            consume(map(k, pairs))  # the share tree's inner nodes
            consume(map(k, pairs))  # as many for the membership tree
            cpu += time.process_time() - c0
            nodes += len(pairs)
    return {"cpu_seconds": round(cpu, 2), "leaf_hashes": 4 * leaves, "node_hashes": 2 * nodes, "keccak": KECCAK_BACKEND}


_LOG = """
CREATE TEMP TABLE changes AS
SELECT row_number() OVER (ORDER BY effective_at, change, member_id) - 1 AS position, *
FROM (SELECT 1 AS change, commitment, extract(epoch FROM joined_at)::bigint AS effective_at, id AS member_id
      FROM members
      UNION ALL
      SELECT 2, commitment, extract(epoch FROM ended_at)::bigint, id FROM members WHERE ended_at IS NOT NULL) c;
INSERT INTO membership_batches (id, root, prev_root, leaf_count, status, created_at)
SELECT b, sha256(int8send(-b)), '\\x'::bytea, 0, 'confirmed', now()
FROM generate_series(1, (SELECT (count(*) + %(b)s - 1) / %(b)s FROM changes)) AS b;
INSERT INTO membership_log (change, commitment, effective_at, member_id, leaf_hash, enqueued_at, batch_id, leaf_index)
SELECT change, commitment, effective_at, member_id, '\\x'::bytea, now(), position / %(b)s + 1, position %% %(b)s
FROM changes;
CREATE INDEX ix_bench_log_batch ON membership_log (batch_id, leaf_index);
"""


def _log_setup(name: str, work: Path) -> dict[str, Any]:
    """The members' joins and exits as an anchored membership log: rows server-side, then each
    batch's root computed (as the relay would) and written to the batch row and to
    ``anchored.json`` (what ``MembershipLog.batch(n)`` would return). Not timed."""
    import psycopg

    from backend.proofs.membership_log import MembershipChange, batch_tree

    t0 = time.perf_counter()
    with psycopg.connect(_db_url(name)) as conn:
        for statement in _LOG.replace("%(b)s", str(LOG_BATCH)).replace("%%", "%").split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.commit()
    anchored = []
    previous = bytes(32)
    with psycopg.connect(_db_url(name)) as conn:
        batches = [int(b) for (b,) in conn.execute("SELECT id FROM membership_batches ORDER BY id")]
        for n in batches:
            rows = conn.execute(
                "SELECT change, commitment, effective_at FROM membership_log WHERE batch_id = %s ORDER BY leaf_index",
                (n,),
            ).fetchall()
            tree = batch_tree([MembershipChange(int(c), bytes(m), int(e)).leaf_hash() for c, m, e in rows])
            conn.execute(
                "UPDATE membership_batches SET root = %s, prev_root = %s, leaf_count = %s WHERE id = %s",
                (tree.root, previous, tree.leaf_count, n),
            )
            anchored.append([n, tree.root.hex(), previous.hex(), tree.leaf_count, 1_000 + n, int(AT.timestamp())])
            previous = tree.root
        conn.commit()
    with psycopg.connect(_db_url(name), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE membership_log")
        conn.execute("VACUUM ANALYZE membership_batches")
    (work / "anchored.json").write_text(json.dumps(anchored), encoding="utf-8")
    return {"log_setup_seconds": round(time.perf_counter() - t0, 1), "log_batches": len(anchored)}


def _audit_log(name: str, work: Path) -> dict[str, Any]:
    """Child process: step 6's membership-log check of the built period (streamed, bounded)."""
    from sqlalchemy import text

    from backend.apportionment.ledger import ShareLedgerReader
    from backend.audit.membership_log import AnchoredBatch, period_findings, read_membership_log
    from backend.chain.apportionment import PeriodRecord
    from backend.db.engine import make_engine, session_factory

    anchored = [
        AnchoredBatch(n, bytes.fromhex(root), bytes.fromhex(prev), count, block, stamp)
        for n, root, prev, count, block, stamp in json.loads((work / "anchored.json").read_text(encoding="utf-8"))
    ]
    record = PeriodRecord(PERIOD_ID, 0, 0, 0, 0, 0, 0, 0, 0, False, *(bytes(32),) * 2, 0, 0, 0, 0, bytes(32), b"")
    engine = make_engine(_db_url(name, "postgresql+psycopg"))
    sessions = session_factory(engine)
    with sessions() as session:  # the pool keeps this connection: the check's queries run on it
        backend_pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
    rss_before = _vm_hwm_mb()
    pg0 = _proc_cpu(backend_pid)
    t0, c0 = time.perf_counter(), time.process_time()
    scratch = work / "scratch"
    with read_membership_log(iter(anchored), sessions, scratch_dir=scratch) as log:
        t_read, c_read = time.perf_counter() - t0, time.process_time() - c0
        with ShareLedgerReader(work / "ledger.hsl") as reader:
            findings = period_findings(
                log, sessions, record, reader, snapshot_at=AT, block=1, deadline=3_600, head_time=int(AT.timestamp())
            )
        changes, sorted_max = log.change_count, log.changes.largest_partition_bytes
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    pg_cpu = _proc_cpu(backend_pid) - pg0
    engine.dispose()
    if findings or log.broken:
        raise RuntimeError(f"the honest log gave findings: {[f.to_json() for f in (log.broken + findings)[:3]]}")
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "read_and_sort_seconds": round(t_read, 2),
        "read_and_sort_cpu_seconds": round(c_read, 2),
        "postgres_backend_cpu_seconds": round(pg_cpu, 2),
        "peak_rss_mb": round(_vm_hwm_mb(), 1),
        "rss_after_imports_mb": round(rss_before, 1),
        "changes": changes,
        "largest_sorted_partition_mb": round(sorted_max / 2**20, 1),
        "scratch_left": sorted(p.name for p in scratch.iterdir()),
    }


def _child(mode: str, name: str, work: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_apportionment", "--child", mode, "--db", name, "--work", str(work)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    result["children_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    return result


def _one_size(n: int) -> dict[str, Any]:
    name = f"hubao_bench_apportion_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="hubao-bench-apportion-"))
    try:
        setup = _setup(name, n, work)
        build = _child("build", name, work)
        bound = _child("bound", name, work)
        log_setup = _log_setup(name, work)
        audit_log = _child("audit_log", name, work)
    finally:
        drop_database(name, ADMIN_URL)
        shutil.rmtree(work, ignore_errors=True)
    members = build["sharing_members"]
    return {
        "members_in_table": n,
        **{k: v for k, v in build.items() if k != "children_maxrss_mb"},
        "bound_cpu_seconds": bound["cpu_seconds"],
        "bound_leaf_hashes": bound["leaf_hashes"],
        "bound_node_hashes": bound["node_hashes"],
        "ratio_vs_bound": round(build["cpu_seconds"] / bound["cpu_seconds"], 3),
        "ratio_with_postgres_backend_vs_bound": round(
            (build["cpu_seconds"] + build["postgres_backend_cpu_seconds"]) / bound["cpu_seconds"], 3
        ),
        "cpu_us_per_member": round(1e6 * build["cpu_seconds"] / members, 2),
        "bound_us_per_member": round(1e6 * bound["cpu_seconds"] / members, 2),
        "build_children_maxrss_mb": build["children_maxrss_mb"],
        "keccak_backend": bound["keccak"],
        "audit_log": {k: v for k, v in audit_log.items() if k != "children_maxrss_mb"},
        "audit_log_cpu_vs_build": round(audit_log["cpu_seconds"] / build["cpu_seconds"], 3),
        "audit_log_rss_vs_build": round(audit_log["peak_rss_mb"] / build["peak_rss_mb"], 3),
        **setup,
        **log_setup,
    }


def run(quick: bool = False, sizes: Sequence[int] | None = None) -> dict[str, Any]:
    """Figures per size (default 1 M; ``quick`` 20 k), each next to its same-run hashing bound."""
    chosen = tuple(sizes) if sizes else (QUICK_SIZES if quick else SIZES)
    per_size = {str(n): _one_size(n) for n in chosen}
    largest = per_size[str(max(chosen))]
    scale = 100_000_000 / largest["sharing_members"]
    return {
        "command": "python -m benchmarks apportionment"
        + (" --quick" if quick and not sizes else "")
        + (f" --sizes {','.join(str(n) for n in chosen)}" if sizes else ""),
        "target_ratio_vs_bound": TARGET_RATIO,
        "target_peak_rss_mb": TARGET_RSS_MB,
        "max_ratio_vs_bound": max(v["ratio_vs_bound"] for v in per_size.values()),
        "max_peak_rss_mb": max(v["peak_rss_mb"] for v in per_size.values()),
        "max_audit_log_peak_rss_mb": max(v["audit_log"]["peak_rss_mb"] for v in per_size.values()),
        "ratio_met": all(v["ratio_vs_bound"] <= TARGET_RATIO for v in per_size.values()),
        "rss_met": all(
            max(v["peak_rss_mb"], v["audit_log"]["peak_rss_mb"]) <= TARGET_RSS_MB for v in per_size.values()
        ),
        "sizes": per_size,
        "extrapolated_100m": {
            "from_size": largest["members_in_table"],
            "cpu_seconds": round(largest["cpu_seconds"] * scale),
            "wall_seconds": round(largest["seconds"] * scale),
            "bound_cpu_seconds": round(largest["bound_cpu_seconds"] * scale),
            "postgres_backend_cpu_seconds": round(largest["postgres_backend_cpu_seconds"] * scale),
            "audit_log_cpu_seconds": round(largest["audit_log"]["cpu_seconds"] * scale),
            "audit_log_scratch_gb": round(41 * largest["audit_log"]["changes"] * scale / 2**30, 1),
            "peak_rss_mb": max(v["peak_rss_mb"] for v in per_size.values()),
            "ledger_file_gb": round(largest["ledger_file_mb"] * scale / 1024, 1),
            "tree_file_gb": round(largest["tree_file_mb"] * scale / 1024, 1),
            "scratch_gb_during_build": round((32 + 64) * 1e8 / 2**30, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20 k members: a smoke run")
    parser.add_argument("--sizes", help="comma-separated member counts, e.g. 10000000,30000000")
    parser.add_argument("--child", choices=("build", "bound", "audit_log"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        work = Path(args.work)
        children = {"build": lambda: _build(args.db, work), "bound": lambda: _bound(work)}
        children["audit_log"] = lambda: _audit_log(args.db, work)
        print(json.dumps(children[args.child]()))
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    print(json.dumps(run(quick=args.quick, sizes=sizes), indent=2))


if __name__ == "__main__":
    main()
