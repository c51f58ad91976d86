"""F1, F3, F5 and the evidence store: tamper with one thing, the auditor names it.

One anchored history per module (real anvil, SQLite, embedded store, upload service, worker);
every mutation runs on a private copy of the SQLite file.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backend.audit import AuditReport, StepStatus
from backend.audit.database import MIRRORED_COLUMNS
from evidence_store.multiformats import CID
from tests.audit.audit_support import AuditedHistory, build_history

pytestmark = pytest.mark.xdist_group("audit-mutations")

SEED = 20240607


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedHistory]:
    built = build_history(tmp_path_factory.mktemp("audit-mutations"), items=60, batch=10, pending=2, seed=SEED)
    yield built
    built.close()


def _flip(value: bytes, rng: random.Random, start: int = 0) -> bytes:
    data = bytearray(value)
    i = rng.randrange(start, len(data))
    data[i] ^= 1 << rng.randrange(8)
    return bytes(data)


@dataclass
class Mutation:
    """One seeded single-field change and the (table, row, field) the auditor must name."""

    name: str
    table: str
    column: str
    apply: Callable[[sqlite3.Connection], None]
    expect: list[tuple[str, str, str]]  # any one of these (table, row, field) names the change


def _rows(con: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]]:
    return list(con.execute(sql))


def make_mutations(db: Path, seed: int) -> list[Mutation]:
    """≥ 100 seeded single-field mutations over every mirrored column (and row deletions/swaps)."""
    rng = random.Random(seed)
    con = sqlite3.connect(db)
    batches = _rows(
        con, "SELECT id, root, prev_root, tx_hash, block_hash, onchain_id FROM anchor_batches ORDER BY onchain_id"
    )
    items = _rows(
        con, "SELECT id, batch_id, ref_id, leaf_hash, proof, leaf_index FROM anchor_items WHERE batch_id IS NOT NULL"
    )
    pending = _rows(con, "SELECT id, ref_id, leaf_hash FROM anchor_items WHERE batch_id IS NULL")
    evidence = {
        r[0]: r for r in _rows(con, "SELECT id, claim_ref, commitment, salt, plaintext_sha256, cid FROM evidence_items")
    }
    con.close()
    out: list[Mutation] = []

    def run(*statements: tuple[str, tuple[Any, ...]]) -> Callable[[sqlite3.Connection], None]:
        def apply(con: sqlite3.Connection) -> None:
            for sql, params in statements:
                con.execute(sql, params)

        return apply

    def set_sql(table: str, column: str, pk: Any, value: Any) -> Callable[[sqlite3.Connection], None]:
        return run((f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, pk)))

    def batch_field(column: str, value_of: Callable[[tuple[Any, ...]], Any]) -> None:
        b = rng.choice(batches)
        out.append(
            Mutation(
                f"anchor_batches.{column} id={b[0]}",
                "anchor_batches",
                column,
                set_sql("anchor_batches", column, b[0], value_of(b)),
                [("anchor_batches", f"id={b[0]}", column)],
            )
        )

    for _ in range(4):
        batch_field("root", lambda b: _flip(bytes(b[1]), rng))
        batch_field("prev_root", lambda b: _flip(bytes(b[2]), rng))
        batch_field("tx_hash", lambda b: _flip(bytes(b[3]), rng))
        batch_field("block_hash", lambda b: _flip(bytes(b[4]), rng))
        batch_field("status", lambda _b: rng.choice(["sent", "built", "orphaned"]))
    for delta in (1, -1, 1, -1):
        b = rng.choice(batches)
        for column in ("leaf_count", "onchain_id", "block_number"):
            out.append(
                Mutation(
                    f"anchor_batches.{column}{delta:+d} id={b[0]}",
                    "anchor_batches",
                    column,
                    run((f"UPDATE anchor_batches SET {column} = {column} + ? WHERE id = ?", (delta, b[0]))),
                    [("anchor_batches", f"id={b[0]}", column)],
                )
            )
    for b in rng.sample(batches, 3):  # deleted batch row
        out.append(
            Mutation(
                f"delete anchor_batches id={b[0]}",
                "anchor_batches",
                "row",
                run(("DELETE FROM anchor_batches WHERE id = ?", (b[0],))),
                [("anchor_batches", f"id={b[0]}", "row"), ("anchor_batches", f"onchain_id={b[5]}", "row")],
            )
        )
    for _ in range(2):  # reordered rows: two batches swap their on-chain ids
        a, b = rng.sample(batches, 2)
        out.append(
            Mutation(
                f"swap anchor_batches.onchain_id id={a[0]}<->{b[0]}",
                "anchor_batches",
                "onchain_id",
                run(
                    ("UPDATE anchor_batches SET onchain_id = ? WHERE id = ?", (b[5], a[0])),
                    ("UPDATE anchor_batches SET onchain_id = ? WHERE id = ?", (a[5], b[0])),
                ),
                [("anchor_batches", f"id={a[0]}", "onchain_id")],
            )
        )

    def item_field(column: str, value_of: Callable[[tuple[Any, ...]], Any], times: int) -> None:
        for it in rng.sample(items, times):
            out.append(
                Mutation(
                    f"anchor_items.{column} id={it[0]}",
                    "anchor_items",
                    column,
                    set_sql("anchor_items", column, it[0], value_of(it)),
                    [("anchor_items", f"id={it[0]}", column)],
                )
            )

    item_field("leaf_hash", lambda it: _flip(bytes(it[3]), rng), 6)  # F5
    item_field("proof", lambda it: _flip(bytes(it[4]), rng), 5)
    item_field("proof", lambda it: bytes(it[4])[:-32], 2)
    item_field("kind", lambda _it: "evidencx", 3)
    item_field("ref_id", lambda _it: "f" * 32, 3)
    item_field("leaf_index", lambda it: int(it[5]) + rng.choice([1, -1]) if int(it[5]) else 1, 6)
    batch_ids = sorted({int(it[1]) for it in items})
    item_field("batch_id", lambda it: rng.choice([b for b in batch_ids if b != it[1]]), 5)
    for it in rng.sample(items, 2):  # items of two batches swap batches
        other = rng.choice([o for o in items if o[1] != it[1]])
        out.append(
            Mutation(
                f"swap anchor_items.batch_id id={it[0]}<->{other[0]}",
                "anchor_items",
                "batch_id",
                run(
                    ("UPDATE anchor_items SET batch_id = ? WHERE id = ?", (other[1], it[0])),
                    ("UPDATE anchor_items SET batch_id = ? WHERE id = ?", (it[1], other[0])),
                ),
                [("anchor_items", f"id={it[0]}", "batch_id")],
            )
        )
    for it in rng.sample(items, 2):  # deleted outbox row: its evidence row is left unanchored
        out.append(
            Mutation(
                f"delete anchor_items id={it[0]}",
                "anchor_items",
                "row",
                run(("DELETE FROM anchor_items WHERE id = ?", (it[0],))),
                [("evidence_items", f"id={it[2]}", "id")],
            )
        )
    for it in pending:  # a queued (not yet anchored) item's hash: the Yeti check before anchoring
        out.append(
            Mutation(
                f"pending anchor_items.leaf_hash id={it[0]}",
                "anchor_items",
                "leaf_hash",
                set_sql("anchor_items", "leaf_hash", it[0], _flip(bytes(it[2]), rng)),
                [("anchor_items", f"id={it[0]}", "leaf_hash")],
            )
        )

    anchored_refs = [str(it[2]) for it in items]

    def evidence_field(column: str, index: int, times: int, start: int = 0) -> None:
        for ref in rng.sample(anchored_refs, times):
            row = evidence[ref]
            out.append(
                Mutation(
                    f"evidence_items.{column} id={ref}",
                    "evidence_items",
                    column,
                    set_sql("evidence_items", column, ref, _flip(bytes(row[index]), rng, start)),
                    [("evidence_items", f"id={ref}", column)],
                )
            )

    evidence_field("claim_ref", 1, 6)
    evidence_field("commitment", 2, 6)
    evidence_field("salt", 3, 6)  # altered salt
    evidence_field("plaintext_sha256", 4, 5)
    evidence_field("cid", 5, 6, start=4)  # inside the multihash digest
    for column, index in (("cid", 5), ("claim_ref", 1), ("cid", 5)):  # swapped between two rows
        ref_a, ref_b = rng.sample(anchored_refs, 2)
        out.append(
            Mutation(
                f"swap evidence_items.{column} id={ref_a}<->{ref_b}",
                "evidence_items",
                column,
                run(
                    (f"UPDATE evidence_items SET {column} = ? WHERE id = ?", (evidence[ref_b][index], ref_a)),
                    (f"UPDATE evidence_items SET {column} = ? WHERE id = ?", (evidence[ref_a][index], ref_b)),
                ),
                [("evidence_items", f"id={ref_a}", column)],
            )
        )
    for ref in rng.sample(anchored_refs, 2):  # deleted evidence row
        referencing = next(it for it in items if it[2] == ref)
        out.append(
            Mutation(
                f"delete evidence_items id={ref}",
                "evidence_items",
                "row",
                run(("DELETE FROM evidence_items WHERE id = ?", (ref,))),
                [("anchor_items", f"id={referencing[0]}", "ref_id")],
            )
        )
    return out


def _named(report: AuditReport, table: str, row: str, field: str) -> bool:
    return any(
        f.fields.get("table") == table and f.fields.get("row") == row and field in (f.fields.get("fields") or [])
        for f in report.findings
    )


def test_audit_untouched_history_raises_no_alarm(history: AuditedHistory) -> None:
    report = history.audit()
    assert report.ok, report.to_json_text()
    assert report.findings == []
    statuses = {s.step: s.status for s in report.steps}
    assert statuses == {
        1: StepStatus.PASSED,
        2: StepStatus.PASSED,
        3: StepStatus.PASSED,
        4: StepStatus.PASSED,
        5: StepStatus.PASSED,
        6: StepStatus.PASSED,
        7: StepStatus.PASSED,
    }
    assert report.complete
    assert report.step(5).checked == {"batches": 6, "fetched": 62, "items": 62, "pending": 2}
    assert report.step(2).checked["events"] == 6
    assert report.to_json_text() == history.audit().to_json_text()


def test_audit_names_every_seeded_single_field_mutation(history: AuditedHistory, tmp_path: Path) -> None:
    """F1: 100 % of ≥ 100 seeded mutations detected, each naming table, row and field."""
    mutations = make_mutations(history.db_path, SEED)
    assert len(mutations) >= 100
    covered = {(m.table, m.column) for m in mutations}
    for table, columns in MIRRORED_COLUMNS.items():
        for column in columns:
            assert (table, column) in covered, f"no mutation of {table}.{column}"
    missed: list[str] = []
    for index, mutation in enumerate(mutations):
        db = history.copy_db(tmp_path / f"m{index}.db")
        con = sqlite3.connect(db)
        with con:
            mutation.apply(con)
        con.close()
        report = history.audit(db)
        if report.ok or not any(_named(report, *expected) for expected in mutation.expect):
            named = [(f.fields.get("table"), f.fields.get("row"), f.fields.get("fields")) for f in report.findings]
            missed.append(f"{mutation.name}: ok={report.ok} findings={named}")
        db.unlink()
    assert missed == [], f"seed {SEED}: {len(missed)}/{len(mutations)} not named:\n" + "\n".join(missed)


def test_audit_names_stored_leaf_hash_bit_flip_with_intact_entry(history: AuditedHistory, tmp_path: Path) -> None:
    """F5 (Yeti): the anchored entry is intact, only its stored leaf hash flipped — named, nothing else."""
    db = history.copy_db(tmp_path / "yeti.db")
    con = sqlite3.connect(db)
    item_id, leaf = con.execute(
        "SELECT id, leaf_hash FROM anchor_items WHERE batch_id IS NOT NULL ORDER BY id LIMIT 1 OFFSET 17"
    ).fetchone()
    with con:
        con.execute("UPDATE anchor_items SET leaf_hash = ? WHERE id = ?", (_flip(leaf, random.Random(5)), item_id))
    con.close()
    report = history.audit(db)
    assert not report.ok
    assert [(f.code, f.fields["table"], f.fields["row"], f.fields["fields"]) for f in report.findings] == [
        ("AUDIT_DB_MISMATCH", "anchor_items", f"id={item_id}", ["leaf_hash"])
    ]
    assert report.step(2).status is StepStatus.PASSED
    assert report.step(5).status is StepStatus.PASSED  # the evidence itself is proven from its fields


def _db_link(report: AuditReport) -> list[tuple[int, str]]:
    return [(f.fields["batch"], f.message) for f in report.step(2).findings if f.reason == "db_link"]


def _mutated(history: AuditedHistory, tmp_path: Path, name: str, *sql: tuple[str, tuple[object, ...]]) -> AuditReport:
    db = history.copy_db(tmp_path / f"{name}.db")
    con = sqlite3.connect(db)
    with con:
        for statement, params in sql:
            con.execute(statement, params)
    con.close()
    return history.audit(db)


def test_audit_names_first_broken_link_when_batch_removed(history: AuditedHistory, tmp_path: Path) -> None:
    report = _mutated(history, tmp_path, "removed", ("DELETE FROM anchor_batches WHERE onchain_id = ?", (3,)))
    links = _db_link(report)
    assert len(links) == 1
    assert links[0][0] == 3
    assert "first broken link at batch 3" in links[0][1]
    assert "(removed)" in links[0][1]


def test_audit_names_first_broken_link_when_batches_reordered(history: AuditedHistory, tmp_path: Path) -> None:
    report = _mutated(
        history,
        tmp_path,
        "reordered",
        ("UPDATE anchor_batches SET onchain_id = -1 WHERE onchain_id = 5", ()),
        ("UPDATE anchor_batches SET onchain_id = 5 WHERE onchain_id = 2", ()),
        ("UPDATE anchor_batches SET onchain_id = 2 WHERE onchain_id = -1", ()),
    )
    ((batch, message),) = _db_link(report)
    assert batch == 2
    assert "it is the chain's batch 5 (reordered)" in message


def test_audit_names_first_broken_link_when_batch_inserted(history: AuditedHistory, tmp_path: Path) -> None:
    con = sqlite3.connect(history.db_path)
    (root3,) = con.execute("SELECT root FROM anchor_batches WHERE onchain_id = 3").fetchone()
    con.close()
    fake = bytes(random.Random(9).randbytes(32))
    report = _mutated(
        history,
        tmp_path,
        "inserted",
        ("UPDATE anchor_batches SET onchain_id = onchain_id + 1 WHERE onchain_id >= 4", ()),
        (
            "INSERT INTO anchor_batches (root, prev_root, leaf_count, status, onchain_id, block_number, created_at) "
            "VALUES (?, ?, 10, 'confirmed', 4, 5, '2024-01-01 00:00:00')",
            (fake, root3),
        ),
    )
    ((batch, message),) = _db_link(report)
    assert batch == 4
    assert "not on chain (inserted or altered)" in message


def test_audit_names_first_broken_link_when_batch_appended(history: AuditedHistory, tmp_path: Path) -> None:
    con = sqlite3.connect(history.db_path)
    (root6,) = con.execute("SELECT root FROM anchor_batches WHERE onchain_id = 6").fetchone()
    con.close()
    report = _mutated(
        history,
        tmp_path,
        "appended",
        (
            "INSERT INTO anchor_batches (root, prev_root, leaf_count, status, onchain_id, block_number, created_at) "
            "VALUES (?, ?, 3, 'confirmed', 7, 99, '2024-01-01 00:00:00')",
            (random.Random(10).randbytes(32), root6),
        ),
    )
    ((batch, message),) = _db_link(report)
    assert batch == 7
    assert "the chain has 6 batches (inserted)" in message


def _evidence_block(history: AuditedHistory, evidence_id: str) -> Path:
    con = sqlite3.connect(history.db_path)
    (cid,) = con.execute("SELECT cid FROM evidence_items WHERE id = ?", (evidence_id,)).fetchone()
    con.close()
    path: Path = history.store.block_path(CID.parse(bytes(cid)))
    return path


def test_audit_names_item_whose_evidence_block_has_a_flipped_byte(history: AuditedHistory) -> None:
    target = history.evidence_ids[23]
    path = _evidence_block(history, target)
    original = path.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x40
    path.write_bytes(bytes(damaged))
    try:
        report = history.audit()
    finally:
        path.write_bytes(original)
    assert not report.ok
    assert [(f.step, f.reason, f.fields["row"]) for f in report.findings] == [(5, "corrupt", f"id={target}")]
    assert "does not re-hash to its CID" in report.findings[0].message


def test_audit_names_item_whose_evidence_block_was_deleted(history: AuditedHistory) -> None:
    target = history.evidence_ids[41]
    path = _evidence_block(history, target)
    moved = path.with_name(path.name + ".away")
    path.rename(moved)
    try:
        report = history.audit()
    finally:
        moved.rename(path)
    assert not report.ok
    assert [(f.step, f.reason, f.fields["row"]) for f in report.findings] == [(5, "not_found", f"id={target}")]
    assert history.audit().ok  # restored: no alarm again


_IN_FLIGHT = (
    "UPDATE anchor_batches SET status = 'sent', onchain_id = NULL, block_number = NULL, block_hash = NULL, "
    "confirmed_at = NULL WHERE onchain_id = ?"
)


def _last_batch(history: AuditedHistory) -> int:
    con = sqlite3.connect(history.db_path)
    try:
        (last,) = con.execute("SELECT MAX(onchain_id) FROM anchor_batches").fetchone()
    finally:
        con.close()
    return int(last)


def test_audit_takes_the_newest_batch_in_flight_for_awaiting_its_depth(history: AuditedHistory, tmp_path: Path) -> None:
    """Found by `make run`: an audit while the worker waits for the newest anchor's confirmation depth
    (its row still ``sent``) called that batch removed. At the chain's tail, with the chain's root and
    the right link, it is in flight; anywhere else, or with another root, it is still a broken link."""
    last = _last_batch(history)
    report = _mutated(history, tmp_path, "in-flight", (_IN_FLIGHT, (last,)))
    assert _db_link(report) == []
    assert report.step(2).status is StepStatus.PASSED
    assert f"batches {last}..{last} mined, awaiting their confirmation depth" in report.step(2).detail

    middle = _mutated(history, tmp_path, "sent-in-the-middle", (_IN_FLIGHT, (3,)))
    ((batch, message),) = _db_link(middle)
    assert batch == 3
    assert "(removed)" in message

    altered = _mutated(
        history,
        tmp_path,
        "in-flight-altered",
        (_IN_FLIGHT, (last,)),
        ("UPDATE anchor_batches SET root = ? WHERE status = 'sent'", (b"\x07" * 32,)),
    )
    ((batch, message),) = _db_link(altered)
    assert batch == last
    assert "(removed)" in message
