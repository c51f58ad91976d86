"""Step 6's check against the anchored membership log, streamed in bounded memory (issue 18 item 5).

* the streamed check (``read_membership_log`` + ``period_findings``: one batch read at a time, the
  log sorted on disk, merged with the ledger file) gives exactly the findings of a simple in-memory
  reference (sets, the replay rule written out) on seeded random logs: joins, exits, rejoins,
  same-second join and exit, late and unanchored changes, tampered and missing batch leaves, a
  broken hash chain, members left out of and added to the ledger, ledgers out of order — with
  tiny sort budgets (partitions split again, a member's changes across chunks) and default ones;
* ``ExternalSort`` sorts (and de-duplicates) any records, whatever the skew;
* memory does not grow with the members: the check over a 1 M-member log and ledger stays under a
  fixed tracemalloc peak, far below what the members themselves take, and no sorted partition is
  larger than its budget.

The chain side (``anchored_batches``: ``MembershipLog.batch(n)`` at the head) is the integration
tests' (``test_audit_membership_log``); here the batches anchored are computed from the leaves.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from backend.apportionment.ledger import ShareLedgerReader
from backend.apportionment.ledger_format import FILE_VERSION, FLAG_ASCENDING, HEADER, MAGIC, TRAILER, TRAILER_MAGIC
from backend.audit.external_sort import ExternalSort
from backend.audit.membership_log import (
    MAX_NAMED,
    AnchoredBatch,
    AnchoredLog,
    period_findings,
    read_membership_log,
)
from backend.chain.apportionment import PeriodRecord
from backend.db.engine import migrate, session_factory
from backend.proofs.membership_log import EXIT, JOIN, MembershipChange, batch_tree, members_at, members_at_packed

ZERO32 = bytes(32)
BASE = 1_900_000_000  # Unix seconds around which the synthetic history happens
DEADLINE = 3_600
LAUNCH_BLOCK = 100


# -- a synthetic log: database rows and the batches the chain would hold ----------------------------


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("membership-streamed") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@dataclass
class Leaf:
    change: MembershipChange
    member_id: str


@dataclass
class Batch:
    leaves: list[Leaf]
    block_number: int
    timestamp: int


def _fresh_db(template: Path, directory: Path) -> Path:
    path = directory / "hubao.db"
    shutil.copyfile(template, path)
    return path


def _store_log(path: Path, batches: Sequence[Batch], pending: Sequence[Leaf]) -> list[AnchoredBatch]:
    """Write the batches and the not-yet-anchored rows as the anchoring relay does; the anchored
    headers the chain would hold for them. Raw sqlite3: no ``members`` rows are needed to audit."""
    anchored: list[AnchoredBatch] = []
    previous = ZERO32
    conn = sqlite3.connect(path)  # foreign keys off: the log rows name members that are not stored
    try:
        for n, batch in enumerate(batches, start=1):
            tree = batch_tree([leaf.change.leaf_hash() for leaf in batch.leaves])
            conn.execute(
                "INSERT INTO membership_batches (id, root, prev_root, leaf_count, status, created_at) "
                "VALUES (?, ?, ?, ?, 'confirmed', '2030-01-01 00:00:00')",
                (n, tree.root, previous, tree.leaf_count),
            )
            conn.executemany(
                "INSERT INTO membership_log (change, commitment, effective_at, member_id, leaf_hash, enqueued_at, "
                "batch_id, leaf_index) VALUES (?, ?, ?, ?, ?, '2030-01-01 00:00:00', ?, ?)",
                [
                    (
                        leaf.change.change,
                        leaf.change.member_commitment,
                        leaf.change.effective_at,
                        leaf.member_id,
                        ZERO32,
                        n,
                        i,
                    )
                    for i, leaf in enumerate(batch.leaves)
                ],
            )
            anchored.append(AnchoredBatch(n, tree.root, previous, tree.leaf_count, batch.block_number, batch.timestamp))
            previous = tree.root
        conn.executemany(
            "INSERT INTO membership_log (change, commitment, effective_at, member_id, leaf_hash, enqueued_at) "
            "VALUES (?, ?, ?, ?, ?, '2030-01-01 00:00:00')",
            [
                (p.change.change, p.change.member_commitment, p.change.effective_at, p.member_id, ZERO32)
                for p in pending
            ],
        )
        conn.commit()
    finally:
        conn.close()
    return anchored


def _sessions(path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def _write_ledger(path: Path, commitments: Sequence[bytes] | bytes, *, ascending: bool, period_id: int = 1) -> None:
    """A structurally valid ledger file (the membership checks read its commitments only)."""
    packed = commitments if isinstance(commitments, bytes) else b"".join(commitments)
    n = len(packed) // 32
    rows = np.zeros((n, 56), dtype=np.uint8)
    rows[:, :32] = np.frombuffer(packed, dtype=np.uint8).reshape(n, 32)
    flags = FLAG_ASCENDING if ascending else 0
    with open(path, "wb") as fh:
        fh.write(HEADER.pack(MAGIC, FILE_VERSION, flags, period_id, ZERO32, 0, 0, 800, 0, n, 10, 18_800))
        fh.write(rows.tobytes())
        fh.write(TRAILER.pack(TRAILER_MAGIC, n, 0, 0, 0, 0, 0, 0, ZERO32))


def _record(period_id: int) -> PeriodRecord:
    return PeriodRecord(period_id, 0, 0, 0, 0, 0, 10, 18_800, 800, False, ZERO32, ZERO32, 0, 0, 0, 0, ZERO32, b"")


# -- the reference: the check as it was written in memory, sets and all ------------------------------


def _reference(
    anchored: Sequence[AnchoredBatch],
    sessions: sessionmaker[Session],
    periods: Sequence[tuple[int, int, list[bytes]]],
    *,
    deadline: int | None,
    head_time: int,
) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from backend.audit.errors import ApportionmentInvalid
    from backend.db.models import MembershipBatch, MembershipLogEntry

    with sessions() as session:
        rows = session.execute(
            select(
                MembershipBatch.root,
                MembershipLogEntry.change,
                MembershipLogEntry.commitment,
                MembershipLogEntry.effective_at,
            )
            .join(MembershipBatch, MembershipBatch.id == MembershipLogEntry.batch_id)
            .order_by(MembershipLogEntry.batch_id, MembershipLogEntry.leaf_index)
        ).all()
        pending_rows = session.execute(
            select(
                MembershipLogEntry.commitment,
                MembershipLogEntry.member_id,
                MembershipLogEntry.effective_at,
                MembershipLogEntry.change,
            ).order_by(MembershipLogEntry.commitment, MembershipLogEntry.id)
        ).all()
    leaves: dict[bytes, list[MembershipChange]] = defaultdict(list)
    for root, change, commitment, effective_at in rows:
        leaves[bytes(root)].append(MembershipChange(int(change), bytes(commitment), int(effective_at)))
    broken: list[ApportionmentInvalid] = []
    late: list[ApportionmentInvalid] = []
    changes: list[MembershipChange] = []
    previous = ZERO32
    for b in anchored:
        if b.prev_root != previous:
            broken.append(_finding(b.number, "prevRoot is not the previous batch's root"))
        previous = b.root
        got = leaves.get(b.root)
        if not got:
            broken.append(_finding(b.number, "the database holds no leaves for this anchored root"))
            continue
        tree = batch_tree([c.leaf_hash() for c in got])
        if tree.root != b.root or tree.leaf_count != b.leaf_count:
            broken.append(
                _finding(
                    b.number,
                    f"the database's {len(got)} leaves do not rebuild the anchored root of {b.leaf_count} leaves",
                )
            )
            continue
        changes.extend(got)
        if deadline is not None and b.block_number >= LAUNCH_BLOCK:
            late.extend(
                ApportionmentInvalid(
                    f"membership log batch {b.number}: the {'join' if c.is_join else 'exit'} of member "
                    f"0x{c.member_commitment.hex()} effective at {c.effective_at} was anchored at "
                    f"{b.timestamp}, later than the anchoring deadline of {deadline} s",
                    reason="membership_log_late",
                    batch=b.number,
                    block=b.block_number,
                    member="0x" + c.member_commitment.hex(),
                )
                for c in got
                if b.timestamp - c.effective_at > deadline
            )
    found = [f.to_json() for f in broken + late]
    anchored_joins = {c.member_commitment for c in changes if c.change == JOIN}
    for pid, instant, ledger in periods:
        where = f"period {pid} (block {pid + 1000})"
        if deadline is not None:
            for commitment, member_id, effective_at, change in pending_rows:
                if change != JOIN or effective_at > instant:
                    continue
                key = bytes(commitment)
                if key not in anchored_joins and head_time - int(effective_at) > deadline:
                    found.append(
                        ApportionmentInvalid(
                            f"{where}: membership_log_unanchored: the join of member 0x{key.hex()} "
                            f"(members row id={member_id}) effective at {int(effective_at)}, before the snapshot, is "
                            f"not in the anchored membership log {head_time - int(effective_at)} s later (deadline "
                            f"{deadline} s)",
                            reason="membership_log_unanchored",
                            period=pid,
                            block=pid + 1000,
                            member="0x" + key.hex(),
                            row=f"id={member_id}",
                        ).to_json()
                    )
        if broken:
            continue
        latest: dict[bytes, tuple[int, int]] = {}  # the replay rule, written out
        for c in changes:
            if c.effective_at <= instant:
                latest[c.member_commitment] = max(latest.get(c.member_commitment, (-1, 0)), (c.effective_at, c.change))
        counted = {m for m, (_, change) in latest.items() if change == JOIN}
        left_out, added = sorted(counted - set(ledger)), sorted(set(ledger) - counted)
        for m in left_out[:MAX_NAMED]:
            found.append({"member": "0x" + m.hex(), "side": "left_out", "period": pid, "row": "id=None"})
        for m in added[:MAX_NAMED]:
            found.append({"member": "0x" + m.hex(), "side": "added", "period": pid})
        unnamed = len(left_out) + len(added) - min(len(left_out), MAX_NAMED) - min(len(added), MAX_NAMED)
        if unnamed > 0:
            found.append({"more": unnamed, "period": pid})
    return found


def _finding(batch: int, message: str) -> Any:
    from backend.audit.errors import ApportionmentInvalid

    return ApportionmentInvalid(f"membership log batch {batch}: {message}", reason="membership_log_batch", batch=batch)


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A streamed ``membership_log`` finding in the reference's short form (others as they are)."""
    if doc["reason"] != "membership_log":
        return doc
    if "member" not in doc:
        more = int(doc["message"].split(": membership_log: ")[1].split(" more")[0])
        return {"more": more, "period": doc["period"]}
    short = {"member": doc["member"], "side": doc["side"], "period": doc["period"]}
    return short | ({"row": doc["row"]} if "row" in doc else {})


def _streamed(
    anchored: Sequence[AnchoredBatch],
    sessions: sessionmaker[Session],
    periods: Sequence[tuple[int, int, Path]],
    scratch: Path,
    *,
    deadline: int | None,
    head_time: int,
    **budgets: int,
) -> list[dict[str, Any]]:
    with read_membership_log(
        iter(anchored), sessions, scratch_dir=scratch, deadline=deadline, launch_block=LAUNCH_BLOCK, **budgets
    ) as log:
        found = [f.to_json() for f in log.broken + log.late]
        for pid, instant, path in periods:
            with ShareLedgerReader(path) as reader:
                findings = period_findings(
                    log,
                    sessions,
                    _record(pid),
                    reader,
                    snapshot_at=datetime.fromtimestamp(instant, UTC),
                    block=pid + 1000,
                    deadline=deadline,
                    head_time=head_time,
                    scratch_dir=scratch,
                )
            found += [_comparable(f.to_json()) for f in findings]
    return found


# -- random histories -------------------------------------------------------------------------------


def _random_history(rng: random.Random) -> tuple[list[Batch], list[Leaf], list[bytes]]:
    """Members joining, leaving and rejoining (a new member row under the same commitment), some
    changes in the same second, some anchored late; a few joins never anchored."""
    members = [bytes([rng.choice((0, 0, 1, 0x80, 0xFF))]) + rng.randbytes(31) for _ in range(rng.randint(1, 120))]
    if rng.random() < 0.3:  # commitments sharing long prefixes: partitions split deep
        members += [members[0][:30] + rng.randbytes(2) for _ in range(rng.randint(1, 40))]
    changes: list[Leaf] = []
    row = 0
    for m in members:
        t = BASE + rng.randint(-5_000, 5_000)
        for _ in range(rng.choice((1, 1, 2, 3, 4, 5))):  # join, exit, rejoin, exit again, ...
            row += 1
            kind = (
                JOIN
                if not changes or changes[-1].change.member_commitment != m or changes[-1].change.change == EXIT
                else EXIT
            )
            changes.append(Leaf(MembershipChange(kind, m, t), f"row{row}"))
            t += rng.choice((0, 0, 1, 60, 3_000, 9_000))  # 0: the next change in the same second
    rng.shuffle(changes)
    pending = [changes.pop() for _ in range(min(len(changes) - 1, rng.randint(0, 6)))]
    pending = [p for p in pending if p.change.change == JOIN] + [
        Leaf(MembershipChange(JOIN, rng.randbytes(32), BASE - rng.randint(0, 20_000)), f"pending{i}")
        for i in range(rng.randint(0, 3))
    ]
    batches: list[Batch] = []
    block, stamp = 90, BASE - 3_000
    while changes:
        size = rng.randint(1, 40)
        block += rng.randint(1, 10)
        stamp += rng.randint(0, 4_000)
        batches.append(Batch(changes[:size], block, stamp))
        changes = changes[size:]
    return batches, pending, members


def _ledger_for(rng: random.Random, counted: list[bytes], members: list[bytes]) -> list[bytes]:
    ledger = [m for m in counted if rng.random() > 0.1]  # some left out
    ledger += [m for m in members if m not in counted and rng.random() < 0.1]  # some charged but not counted
    ledger += [rng.randbytes(32) for _ in range(rng.choice((0, 0, 1, 30)))]  # unknown ones (more than named)
    return sorted(set(ledger))


@pytest.mark.parametrize("seed", range(24))
def test_streamed_check_gives_the_reference_findings_on_random_logs(
    seed: int, template_db: Path, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    batches, pending, members = _random_history(rng)
    db = _fresh_db(template_db, tmp_path)
    anchored = _store_log(db, batches, pending)
    tamper = rng.choice(("none", "none", "none", "leaf", "missing", "chain"))
    if tamper == "leaf":  # a leaf altered in the database: its batch no longer rebuilds
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE membership_log SET effective_at = effective_at + 1 WHERE batch_id = 1 AND leaf_index = 0"
            )
    elif tamper == "missing":  # a batch's leaves withheld
        with sqlite3.connect(db) as conn:
            conn.execute(f"DELETE FROM membership_log WHERE batch_id = {len(anchored)}")
    elif tamper == "chain":  # a batch whose prevRoot is not the root before it
        b = anchored[-1]
        anchored[-1] = AnchoredBatch(b.number, b.root, bytes([7]) * 32, b.leaf_count, b.block_number, b.timestamp)
    anchored_changes = [leaf.change for batch in batches for leaf in batch.leaves]
    periods_ref: list[tuple[int, int, list[bytes]]] = []
    periods_file: list[tuple[int, int, Path]] = []
    for pid, instant in enumerate(sorted(BASE + rng.randint(-6_000, 30_000) for _ in range(3)), start=1):
        ordered = sorted(anchored_changes, key=lambda c: c.member_commitment)
        counted = list(members_at(ordered, instant))
        ledger = _ledger_for(rng, counted, members)
        path = tmp_path / f"{pid}.hsl"
        if rng.random() < 0.3:  # not as published: out of order, a member twice
            shuffled = ledger + ledger[:2]
            rng.shuffle(shuffled)
            _write_ledger(path, shuffled, ascending=rng.random() < 0.5, period_id=pid)
        else:
            _write_ledger(path, ledger, ascending=True, period_id=pid)
        periods_ref.append((pid, instant, ledger))
        periods_file.append((pid, instant, path))
    deadline = rng.choice((None, DEADLINE))
    head_time = BASE + 40_000
    scratch = tmp_path / "scratch"
    for sessions in _sessions(db):
        want = _reference(anchored, sessions, periods_ref, deadline=deadline, head_time=head_time)
        tiny = _streamed(
            anchored,
            sessions,
            periods_file,
            scratch,
            deadline=deadline,
            head_time=head_time,
            buffer_bytes=41 * 64,
            sort_bytes=41 * 24,
        )
        default = _streamed(anchored, sessions, periods_file, scratch, deadline=deadline, head_time=head_time)
    assert tiny == want
    assert default == want
    assert list(scratch.iterdir()) == []  # the scratch directories are removed


def test_members_at_packed_replays_across_chunk_boundaries() -> None:
    """One member's changes spread over several chunks (a partition split past the commitment)."""
    rng = random.Random(5)
    for _ in range(200):
        commitments = [bytes([rng.randrange(3)]) * 32 for _ in range(rng.randint(1, 4))]
        changes = [
            MembershipChange(rng.choice((JOIN, EXIT)), rng.choice(commitments), rng.randint(0, 20)) for _ in range(30)
        ]
        packed = sorted(c.member_commitment + c.effective_at.to_bytes(8, "big") + bytes([c.change]) for c in changes)
        cuts = sorted(rng.sample(range(len(packed) + 1), rng.randint(0, 5)))
        chunks = [b"".join(packed[a:b]) for a, b in zip([0, *cuts], [*cuts, len(packed)], strict=True)]
        for at in (-1, 0, 5, 10, 20, 2**64):
            got = b"".join(members_at_packed(chunks, at))
            latest: dict[bytes, tuple[int, int]] = {}
            for c in changes:
                if c.effective_at <= at:
                    latest[c.member_commitment] = max(
                        latest.get(c.member_commitment, (-1, 0)), (c.effective_at, c.change)
                    )
            assert got == b"".join(sorted(m for m, (_, k) in latest.items() if k == JOIN))
    with pytest.raises(ValueError, match="not in ascending order"):
        list(members_at_packed([packed[-1], packed[0]] if len(set(packed)) > 1 else [b"\x01" * 41, b"\x00" * 41], 5))


@pytest.mark.parametrize("width", [1, 3, 32, 41])
def test_external_sort_orders_any_records_in_bounded_partitions(width: int, tmp_path: Path) -> None:
    rng = random.Random(width)
    records = [rng.randbytes(width) for _ in range(3_000)]
    records += [bytes(width)] * 500 + [b"\xff" * width] * 500  # skew: a record repeated past the budget
    records += [bytes([1]) * (width - 1) + bytes([i % 3]) for i in range(700)]  # a long shared prefix
    for unique in (False, True):
        with ExternalSort(width, tmp_path, buffer_bytes=width * 50, sort_bytes=width * 64, unique=unique) as ordered:
            for i in range(0, len(records), 97):
                ordered.add(b"".join(records[i : i + 97]))
            ordered.finish()
            got = b"".join(ordered.chunks())
            assert ordered.largest_partition_bytes <= width * 64
            assert max(len(c) for c in ordered.chunks()) <= width * 64
        assert got == b"".join(sorted(set(records)) if unique else sorted(records))
    assert list(tmp_path.iterdir()) == []


# -- bounded memory ---------------------------------------------------------------------------------

MEMBERS = 1_000_000
BATCH = 10_000  # leaves per anchored batch (the relay's batches are smaller)
PEAK_LIMIT = 16 << 20  # bytes traced at the peak; the members alone take 32 MB packed, ~110 MB as a set


def _synthetic_log(db: Path, n: int) -> tuple[list[AnchoredBatch], bytes]:
    """``n`` members joined (1 % of them left again) in batches of ``BATCH``; the ledger's commitments."""
    rng = np.random.default_rng(18)
    commitments = rng.integers(0, 256, size=(n, 32), dtype=np.uint8).tobytes()
    batches: list[Batch] = []
    leaves: list[Leaf] = []
    for i in range(n):
        c = commitments[32 * i : 32 * i + 32]
        leaves.append(Leaf(MembershipChange(JOIN, c, BASE - 3_300), f"m{i}"))  # anchored on time
        if i % 100 == 0:
            leaves.append(Leaf(MembershipChange(EXIT, c, BASE - 3_100), f"m{i}"))
        if len(leaves) >= BATCH:
            batches.append(Batch(leaves, LAUNCH_BLOCK + len(batches), BASE - 3_000))
            leaves = []
    if leaves:
        batches.append(Batch(leaves, LAUNCH_BLOCK + len(batches), BASE - 3_000))
    anchored = _store_log(db, batches, [])
    keys = np.frombuffer(commitments, dtype="S32")
    kept = np.sort(keys[np.arange(n) % 100 != 0])
    return anchored, kept.tobytes()


def _peak_of_check(
    anchored: list[AnchoredBatch], sessions: sessionmaker[Session], ledger: Path, scratch: Path
) -> tuple[int, list[dict[str, Any]], AnchoredLog]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with (
            read_membership_log(
                iter(anchored),
                sessions,
                scratch_dir=scratch,
                deadline=DEADLINE,
                launch_block=LAUNCH_BLOCK,
                buffer_bytes=4 << 20,
                sort_bytes=4 << 20,
            ) as log,
            ShareLedgerReader(ledger) as reader,
        ):
            findings = period_findings(
                log,
                sessions,
                _record(1),
                reader,
                snapshot_at=datetime.fromtimestamp(BASE, UTC),
                block=1001,
                deadline=DEADLINE,
                head_time=BASE + 60,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, [f.to_json() for f in findings], log


def test_membership_log_check_memory_does_not_grow_with_a_million_members(template_db: Path, tmp_path: Path) -> None:
    db = _fresh_db(template_db, tmp_path)
    anchored, members = _synthetic_log(db, MEMBERS)
    ledger = tmp_path / "ledger.hsl"
    _write_ledger(ledger, members[32:], ascending=True)  # the first member left out: named, within the bound
    scratch = tmp_path / "scratch"
    for sessions in _sessions(db):
        peak, findings, log = _peak_of_check(anchored, sessions, ledger, scratch)
    assert [(f["side"], f["member"]) for f in findings] == [("left_out", "0x" + members[:32].hex())]
    assert log.change_count == MEMBERS + MEMBERS // 100
    assert log.batches == len(anchored)
    assert log.changes.largest_partition_bytes <= 4 << 20
    assert peak < PEAK_LIMIT, f"peak traced memory {peak / 2**20:.1f} MiB"
    assert os.listdir(scratch) == []
