"""One conformance suite for every evidence-store backend (RELIABILITY B3, B4, B5, B8)."""

from __future__ import annotations

import json
import os
import random

import pytest

from evidence_store import (
    CID,
    EvidenceStore,
    EvidenceStoreError,
    GcAborted,
    IntegrityError,
    NotFound,
    NotPinned,
    PinType,
    StaticKeyring,
    open_evidence,
    seal_evidence,
)
from evidence_store.multiformats import DAG_PB, RAW
from tests.evidence_store.conftest import Backend
from tests.evidence_store.support import VECTOR_DIR, vector_content

KUBO = json.loads((VECTOR_DIR / "cid-kubo-add.json").read_text())
V1 = json.loads((VECTOR_DIR / "cid-v1-raw-leaves.json").read_text())
SMALL = [row for row in KUBO["vectors"] if row["size"] <= 524288]
SMALL_V1 = [row for row in V1["vectors"] if row["size"] <= 524288]
BOUNDARY = 45613057  # 174 × 262144 + 1: first size that needs a second tree level


@pytest.mark.parametrize("row", SMALL, ids=lambda r: f"v0-{r['size']}")
def test_add_matches_kubo_cidv0(backend: Backend, row: dict[str, object]) -> None:
    size = row["size"]
    assert isinstance(size, int)
    assert str(backend.store.add(vector_content(size, piece=100_000))) == row["cid"]


@pytest.mark.parametrize("row", SMALL_V1, ids=lambda r: f"v1-{r['size']}")
def test_add_matches_pinned_cidv1(backend: Backend, row: dict[str, object]) -> None:
    size = row["size"]
    assert isinstance(size, int)
    assert str(backend.store.add(vector_content(size), cid_version=1)) == row["cid"]


def test_add_literals_match_public_cids(backend: Backend) -> None:
    for text, cid in KUBO["literals"].items():
        assert str(backend.store.add([text.encode()])) == cid
    for text, cid in V1["literals"].items():
        assert str(backend.store.add([text.encode()], cid_version=1)) == cid


def test_add_two_level_file_matches_kubo_and_cats_back(backend: Backend) -> None:
    expected = next(r["cid"] for r in KUBO["vectors"] if r["size"] == BOUNDARY)
    root = backend.store.add(vector_content(BOUNDARY))
    assert str(root) == expected
    produced = (chunk for chunk in backend.store.cat(root))
    reference = vector_content(BOUNDARY, piece=262144)
    total = 0
    buffer = b""
    for chunk in produced:
        buffer += chunk
        while len(buffer) >= 262144:
            assert buffer[:262144] == next(reference)
            buffer = buffer[262144:]
        total += len(chunk)
    assert buffer == b"".join(reference)
    assert total == BOUNDARY


def test_cat_returns_added_bytes(backend: Backend) -> None:
    data = random.Random(7).randbytes(700_001)
    for version in (0, 1):
        root = backend.store.add([data[:1000], data[1000:]], cid_version=version)
        assert b"".join(backend.store.cat(root)) == data


def test_cat_unknown_cid_raises_not_found(backend: Backend) -> None:
    missing = CID.for_block(b"never stored " + os.urandom(8), RAW)
    with pytest.raises(NotFound):
        backend.store.cat(missing)


def test_block_put_get_stat_round_trip(backend: Backend) -> None:
    data = b"a block " + os.urandom(16)
    cid = backend.store.block_put(data)
    assert cid == CID.for_block(data, RAW, 1)
    assert backend.store.block_get(cid) == data
    stat = backend.store.block_stat(cid)
    assert (stat.cid, stat.size) == (cid, len(data))


def test_block_put_dag_pb_v0_accepts_a_node_and_rejects_garbage(backend: Backend) -> None:
    root = backend.store.add([b"hello world\n"])
    node = backend.store.block_get(root)
    assert backend.store.block_put(node, codec=DAG_PB, cid_version=0) == root
    with pytest.raises(EvidenceStoreError):
        backend.store.block_put(b"\xff\xff not protobuf", codec=DAG_PB, cid_version=0)


def test_block_get_unknown_cid_raises_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound):
        backend.store.block_get(CID.for_block(os.urandom(32), RAW))


def test_pin_ls_shows_added_root_recursive_and_block_put_unpinned(backend: Backend) -> None:
    root = backend.store.add([os.urandom(300_000)])
    scratch = backend.store.block_put(os.urandom(64))
    pins = backend.store.pin_ls()
    assert pins[root] == PinType.RECURSIVE
    assert scratch not in pins
    assert root in backend.store.pin_ls(PinType.RECURSIVE)
    indirect = backend.store.pin_ls(PinType.INDIRECT)
    assert len([c for c in indirect if c.codec == DAG_PB]) >= 2  # the two leaves of a 2-chunk file


def test_pin_direct_then_rm(backend: Backend) -> None:
    cid = backend.store.block_put(os.urandom(40))
    backend.store.pin_add(cid, recursive=False)
    assert backend.store.pin_ls(PinType.DIRECT)[cid] == PinType.DIRECT
    backend.store.pin_rm(cid)
    assert cid not in backend.store.pin_ls()


def test_pin_rm_of_unpinned_raises_not_pinned(backend: Backend) -> None:
    cid = backend.store.block_put(os.urandom(40))
    with pytest.raises(NotPinned):
        backend.store.pin_rm(cid)


def test_gc_keeps_every_acknowledged_upload_and_removes_scratch(backend: Backend) -> None:
    rng = random.Random(4)
    acknowledged = [backend.store.add([rng.randbytes(rng.randrange(1, 4000))], cid_version=i % 2) for i in range(100)]
    scratch = [backend.store.block_put(rng.randbytes(50)) for _ in range(5)]
    removed = backend.store.gc()
    removed_hashes = {c.multihash for c in removed}
    assert all(s.multihash in removed_hashes for s in scratch)
    pins = backend.store.pin_ls(PinType.RECURSIVE)
    assert all(cid in pins for cid in acknowledged)
    assert all(b"".join(backend.store.cat(cid)) for cid in acknowledged)
    for cid in scratch:
        with pytest.raises(NotFound):
            backend.store.block_get(cid)


def test_gc_aborts_without_removing_when_pinned_dag_broken(backend: Backend) -> None:
    """Kubo t0087 analogue (B5): delete a leaf, corrupt the root, run GC."""
    block_path = backend.corrupt()
    data = random.Random(5).randbytes(3 * 262144)
    root = backend.store.add([data])
    other = backend.store.add([b"another file"])
    scratch = backend.store.block_put(b"unpinned scratch")
    leaves = [c for c in backend.store.pin_ls(PinType.INDIRECT) if c != root]
    block_path(leaves[0]).unlink()
    with pytest.raises(GcAborted, match=r"gc aborted, nothing removed"):
        backend.store.gc()
    assert backend.store.block_get(scratch) == b"unpinned scratch"
    assert backend.store.block_get(leaves[1])
    root_file = block_path(root)
    root_file.write_bytes(root_file.read_bytes()[:-1] + b"\x00")
    with pytest.raises(GcAborted):
        backend.store.gc()
    assert backend.store.block_get(scratch) == b"unpinned scratch"
    assert b"".join(backend.store.cat(other)) == b"another file"


def test_block_get_detects_every_bit_flip(backend: Backend) -> None:
    """B3: 1,000 seeded single-bit flips in a stored block; every read raises, no bytes returned."""
    block_path = backend.corrupt()
    seed = 20261129
    rng = random.Random(seed)
    cid = backend.store.block_put(rng.randbytes(4096))
    path = block_path(cid)
    original = path.read_bytes()
    detected = 0
    for _ in range(1000):
        position = rng.randrange(len(original) * 8)
        flipped = bytearray(original)
        flipped[position // 8] ^= 1 << (position % 8)
        path.write_bytes(bytes(flipped))
        returned = None
        with pytest.raises(IntegrityError, match="digest mismatch"):
            returned = backend.store.block_get(cid)
        assert returned is None
        detected += 1
    path.write_bytes(original)
    assert detected == 1000, f"seed {seed}"
    assert backend.store.block_get(cid) == original


def test_cat_stops_at_corrupt_leaf_before_its_bytes(backend: Backend) -> None:
    block_path = backend.corrupt()
    data = random.Random(6).randbytes(2 * 262144 + 10)
    root = backend.store.add([data], cid_version=1)
    leaves = [c for c in backend.store.pin_ls(PinType.INDIRECT) if c.codec == RAW]
    second = sorted(leaves, key=lambda c: str(c))[0]
    path = block_path(second)
    path.write_bytes(b"X" + path.read_bytes()[1:])
    received = bytearray()

    def read_all() -> None:
        for chunk in backend.store.cat(root):
            received.extend(chunk)

    with pytest.raises(IntegrityError, match="digest mismatch") as info:
        read_all()
    assert str(second) in str(info.value)
    assert data.startswith(bytes(received))
    assert len(received) < len(data)


def test_car_round_trip_restores_dag(backend: Backend) -> None:
    data = random.Random(8).randbytes(600_000)
    root = backend.store.add([data], cid_version=1)
    car = b"".join(backend.store.export_car(root))
    backend.store.pin_rm(root)
    backend.store.gc()
    with pytest.raises(NotFound):
        backend.store.block_get(root)
    assert backend.store.import_car([car[i : i + 1000] for i in range(0, len(car), 1000)]) == [root]
    assert backend.store.pin_ls(PinType.RECURSIVE)[root] == PinType.RECURSIVE
    assert b"".join(backend.store.cat(root)) == data


def test_import_car_rejects_corrupt_block_and_pins_nothing(backend: Backend) -> None:
    data = random.Random(9).randbytes(300_000)
    root = backend.store.add([data])
    car = bytearray(b"".join(backend.store.export_car(root)))
    backend.store.pin_rm(root)
    backend.store.gc()
    car[-5] ^= 0x01
    with pytest.raises(IntegrityError, match="digest mismatch"):
        backend.store.import_car([bytes(car)])
    assert root not in backend.store.pin_ls()


def test_seal_and_open_round_trip(backend: Backend) -> None:
    keyring = StaticKeyring({"kek-1": bytes(range(32))}, "kek-1")
    plaintext = random.Random(10).randbytes(300_000)
    sealed = seal_evidence(backend.store, keyring, [plaintext[:5], plaintext[5:]], context=b"claim-7")
    assert backend.store.pin_ls(PinType.RECURSIVE)[sealed.cid] == PinType.RECURSIVE
    assert plaintext not in b"".join(backend.store.cat(sealed.cid))
    assert b"".join(open_evidence(backend.store, keyring, sealed, context=b"claim-7")) == plaintext


def test_version_answers_and_store_implements_protocol(backend: Backend) -> None:
    assert isinstance(backend.store, EvidenceStore)
    assert backend.store.version()
