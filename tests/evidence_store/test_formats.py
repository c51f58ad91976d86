"""Multiformats, dag-pb, UnixFS layout and CAR: golden vectors and property tests (B8)."""

from __future__ import annotations

import json
import tracemalloc

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_store import CID, IntegrityError, InvalidCid, InvalidData, compute_cid
from evidence_store.car import CarReader, car_stream, decode_header, encode_header
from evidence_store.dagpb import PBLink, PBNode, UnixFSData, decode_pbnode, decode_unixfs, encode_pbnode, encode_unixfs
from evidence_store.multiformats import (
    DAG_PB,
    RAW,
    b32decode,
    b32encode,
    b58decode,
    b58encode,
    decode_varint,
    encode_varint,
)
from evidence_store.unixfs import FileDagBuilder
from tests.evidence_store.support import SHARED_KUBO_VECTORS, VECTOR_DIR, reference_cid, vector_content

KUBO = json.loads((VECTOR_DIR / "cid-kubo-add.json").read_text())
V1 = json.loads((VECTOR_DIR / "cid-v1-raw-leaves.json").read_text())
CAR = json.loads((VECTOR_DIR / "cid-car.json").read_text())


# --- golden CIDs ---------------------------------------------------------------------------------


def test_pinned_kubo_vectors_equal_shared_kubo_outputs() -> None:
    shared = json.loads(SHARED_KUBO_VECTORS.read_text())
    assert KUBO["vectors"] == shared["vectors"]


@pytest.mark.parametrize("row", KUBO["vectors"], ids=lambda r: str(r["size"]))
def test_compute_cid_matches_kubo_cidv0(row: dict[str, object]) -> None:
    size = row["size"]
    assert isinstance(size, int)
    assert str(compute_cid(vector_content(size))) == row["cid"]


@pytest.mark.parametrize("row", V1["vectors"], ids=lambda r: str(r["size"]))
def test_compute_cid_matches_pinned_cidv1(row: dict[str, object]) -> None:
    size = row["size"]
    assert isinstance(size, int)
    assert str(compute_cid(vector_content(size), 1)) == row["cid"]
    if "cid_v0" in row:
        assert str(compute_cid(vector_content(size), 0)) == row["cid_v0"]


def test_compute_cid_matches_literals() -> None:
    assert str(compute_cid([])) == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    assert str(compute_cid([b"hello world\n"])) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    for text, cid in V1["literals"].items():
        assert str(compute_cid([text.encode()], 1)) == cid
    assert str(compute_cid([], 1)) == str(CID.for_block(b"", RAW, 1))


def test_compute_cid_ignores_how_the_stream_is_cut() -> None:
    data = b"".join(vector_content(600_000))
    expected = compute_cid([data])
    assert compute_cid(data[i : i + 7777] for i in range(0, len(data), 7777)) == expected
    assert compute_cid([data[:262144], data[262144:]]) == expected


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 400), chunk=st.integers(1, 9), links=st.integers(2, 5), version=st.sampled_from([0, 1]))
def test_builder_layout_equals_go_unixfs_transcription(size: int, chunk: int, links: int, version: int) -> None:
    """Small chunks and fan-out give deep trees: the level-by-level builder must equal fillNodeRec."""
    data = bytes(i % 251 for i in range(size))
    builder = FileDagBuilder(version, chunk_size=chunk, max_links=links)
    for i in range(0, size, 13):
        builder.write(data[i : i + 13])
    assert str(builder.finish()) == reference_cid(iter([data]), version, chunk, links)


def test_compute_cid_memory_stays_constant_on_45mb_stream() -> None:
    tracemalloc.start()
    try:
        compute_cid(vector_content(45_613_057, piece=1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"


# --- multiformats --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"), [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (16384, "808001")]
)
def test_varint_matches_spec_examples(value: int, encoded: str) -> None:
    assert encode_varint(value).hex() == encoded
    assert decode_varint(bytes.fromhex(encoded)) == (value, len(encoded) // 2)


def test_varint_rejects_truncated_and_non_minimal() -> None:
    with pytest.raises(ValueError, match="truncated"):
        decode_varint(b"\x80")
    with pytest.raises(ValueError, match="non-minimal"):
        decode_varint(b"\x81\x00")


@given(st.binary(max_size=80))
def test_base58_and_base32_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data
    assert b32decode(b32encode(data)) == data


@given(st.binary(max_size=300), st.sampled_from([(0, DAG_PB), (1, DAG_PB), (1, RAW)]))
def test_cid_round_trips_text_and_binary(data: bytes, kind: tuple[int, int]) -> None:
    version, codec = kind
    cid = CID.for_block(data, codec, version)
    assert CID.parse(str(cid)) == cid
    assert CID.from_bytes(cid.to_bytes()) == cid
    assert CID.parse("z" + b58encode(cid.to_v1().to_bytes())) == cid.to_v1()
    assert CID.parse(str(cid).upper() if version == 1 else str(cid)) == cid


def test_cid_v0_and_v1_share_the_multihash() -> None:
    v0 = CID.parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    assert str(v0.to_v1()) == "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"
    assert v0.to_v1().multihash == v0.multihash


@pytest.mark.parametrize("text", ["", "Qm123", "bafy!!", "xyz", "f01551220"])
def test_cid_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidCid):
        CID.parse(text)


# --- dag-pb ----------------------------------------------------------------------------------------


def test_pbnode_serialises_links_before_data() -> None:
    child = CID.for_block(b"x", RAW)
    encoded = encode_pbnode(PBNode((PBLink(child, "", 1),), b"\x08\x02"))
    assert encoded[0] == 0x12  # field 2 (Links) first
    assert encoded.endswith(b"\x0a\x02\x08\x02")  # field 1 (Data) last
    assert decode_pbnode(encoded) == PBNode((PBLink(child, "", 1),), b"\x08\x02")


def test_pbnode_decoder_refuses_data_before_links() -> None:
    child = CID.for_block(b"x", RAW)
    links = encode_pbnode(PBNode((PBLink(child, "", 1),)))
    with pytest.raises(InvalidData):
        decode_pbnode(b"\x0a\x00" + links)


def test_hello_world_leaf_bytes_match_kubo() -> None:
    root = compute_cid([b"hello world\n"])
    block = bytes.fromhex("0a120802120c68656c6c6f20776f726c640a180c")
    assert CID.for_block(block, DAG_PB, 0) == root
    assert decode_unixfs(decode_pbnode(block).data or b"") == UnixFSData(2, b"hello world\n", 12)


def test_unixfs_blocksizes_are_unpacked_and_decode_either_way() -> None:
    encoded = encode_unixfs(UnixFSData(2, None, 300, (100, 200)))
    assert encoded == bytes.fromhex("0802") + b"\x18\xac\x02" + b"\x20\x64" + b"\x20\xc8\x01"
    packed = bytes.fromhex("0802") + b"\x18\xac\x02" + b"\x22\x03\x64\xc8\x01"
    assert decode_unixfs(packed).blocksizes == (100, 200)


# --- CAR -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", [r for r in CAR["vectors"] if "car_hex" in r], ids=lambda r: r["name"])
def test_car_bytes_match_pinned_vector(row: dict[str, str]) -> None:
    root = CID.parse(row["root"])
    block = b"".join(FileDagBlocks.of([b"hello world\n"], root.version))
    car = b"".join(car_stream([root], [(root, block)]))
    assert car.hex() == row["car_hex"]


class FileDagBlocks:
    @staticmethod
    def of(chunks: list[bytes], version: int) -> list[bytes]:
        blocks: list[bytes] = []
        builder = FileDagBuilder(version, sink=lambda _cid, block: blocks.append(block))
        for chunk in chunks:
            builder.write(chunk)
        builder.finish()
        return blocks


def test_car_header_is_standard_dag_cbor() -> None:
    root = CID.parse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")
    header = cbor2.loads(encode_header([root]))
    assert header["version"] == 1
    (tagged,) = header["roots"]
    assert tagged.tag == 42
    assert tagged.value == b"\x00" + root.to_bytes()
    assert list(header) == ["roots", "version"]
    assert decode_header(cbor2.dumps({"roots": [cbor2.CBORTag(42, b"\x00" + root.to_bytes())], "version": 1})) == [root]


def test_car_header_refuses_other_versions() -> None:
    with pytest.raises(InvalidData, match="version"):
        decode_header(cbor2.dumps({"roots": [], "version": 2}))


def test_car_reader_streams_and_verifies_blocks() -> None:
    root = CID.parse(CAR["vectors"][0]["root"])
    car = bytes.fromhex(CAR["vectors"][0]["car_hex"])
    reader = CarReader.open(car[i : i + 3] for i in range(0, len(car), 3))
    assert reader.roots == [root]
    assert [cid for cid, _ in reader.blocks()] == [root]
    bad = bytearray(car)
    bad[-1] ^= 1
    with pytest.raises(IntegrityError, match="digest mismatch"):
        list(CarReader.open([bytes(bad)]).blocks())
    with pytest.raises(InvalidData, match="truncated"):
        list(CarReader.open([car[:-3]]).blocks())
