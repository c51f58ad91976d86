"""Streamed AEAD, envelope keys, rotation, shredding, commitments (RELIABILITY E2, E3, E4)."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence_store import (
    DecryptionError,
    DirectoryKeyring,
    EvidenceShredded,
    IntegrityError,
    LocalBlockstore,
    StaticKeyring,
    UnknownKeyId,
    WrapLimitExceeded,
    open_evidence,
    rewrap_sealed,
    seal_evidence,
    shred,
    verify_sealed_commitment,
)
from evidence_store.crypto import (
    HEADER_SIZE,
    MAX_WRAPS_PER_KEK,
    SEGMENT_SIZE,
    TAG_SIZE,
    FileWrapCounter,
    MemoryWrapCounter,
    content_commitment,
    decrypt_stream,
    encrypt_stream,
    new_data_key,
    wrap_dek,
)
from evidence_store.unixfs import compute_cid
from tests.evidence_store.support import VECTOR_DIR, vector_content

VECTORS = json.loads((VECTOR_DIR / "cid-evidence-crypto.json").read_text())
DEK = bytes.fromhex(VECTORS["dek"])
PREFIX = bytes.fromhex(VECTORS["nonce_prefix"])
CONTEXT = VECTORS["context"].encode()


def _segments(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    header, body = ciphertext[:HEADER_SIZE], ciphertext[HEADER_SIZE:]
    size = SEGMENT_SIZE + TAG_SIZE
    return header, [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("row", VECTORS["ciphertexts"], ids=lambda r: str(r["size"]))
def test_ciphertext_format_matches_pinned_vector(row: dict[str, object]) -> None:
    size = row["size"]
    assert isinstance(size, int)
    ciphertext = b"".join(encrypt_stream(DEK, vector_content(size, piece=1000), context=CONTEXT, nonce_prefix=PREFIX))
    assert len(ciphertext) == row["ciphertext_size"]
    assert hashlib.sha256(ciphertext).hexdigest() == row["ciphertext_sha256"]
    assert str(compute_cid([ciphertext], 1)) == row["ciphertext_cid_v1"]
    assert b"".join(decrypt_stream(DEK, [ciphertext], context=CONTEXT)) == b"".join(vector_content(size))


def test_commitment_matches_pinned_vector() -> None:
    (row,) = VECTORS["commitments"]
    sha = hashlib.sha256(row["plaintext"].encode()).digest()
    assert sha.hex() == row["plaintext_sha256"]
    assert content_commitment(sha, bytes.fromhex(row["salt"])).hex() == row["commitment"]


@pytest.mark.parametrize("size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE])
def test_decrypt_round_trips_any_chunking(size: int) -> None:
    data = random.Random(size).randbytes(size)
    dek = new_data_key()
    ciphertext = b"".join(encrypt_stream(dek, (data[i : i + 5000] for i in range(0, size, 5000))))
    pieces = [ciphertext[i : i + 999] for i in range(0, len(ciphertext), 999)]
    assert b"".join(decrypt_stream(dek, pieces)) == data


def test_truncation_at_segment_boundary_is_detected() -> None:
    data = os.urandom(3 * SEGMENT_SIZE + 10)
    ciphertext = b"".join(encrypt_stream(DEK, [data]))
    header, segments = _segments(ciphertext)
    for keep in range(len(segments)):
        with pytest.raises(DecryptionError, match=r"authentication|truncated"):
            list(decrypt_stream(DEK, [header + b"".join(segments[:keep])]))


def test_reordered_duplicated_and_spliced_segments_are_detected() -> None:
    data = os.urandom(3 * SEGMENT_SIZE + 10)
    header, segs = _segments(b"".join(encrypt_stream(DEK, [data])))
    other_header, other = _segments(b"".join(encrypt_stream(DEK, [os.urandom(len(data))])))
    for forged in (
        [segs[1], segs[0], segs[2], segs[3]],
        [segs[0], segs[0], segs[2], segs[3]],
        [segs[0], other[1], segs[2], segs[3]],
        [*segs, segs[3]],
    ):
        with pytest.raises(DecryptionError):
            list(decrypt_stream(DEK, [header, *forged]))
    with pytest.raises(DecryptionError):
        list(decrypt_stream(DEK, [other_header, *segs]))


def test_any_flipped_bit_or_tag_fails_authentication() -> None:
    """E4: swaps and flips -> InvalidTag, 100 % (seeded positions)."""
    rng = random.Random(44)
    ciphertext = b"".join(encrypt_stream(DEK, [os.urandom(70_000)]))
    for _ in range(200):
        position = rng.randrange(HEADER_SIZE * 8, len(ciphertext) * 8)
        flipped = bytearray(ciphertext)
        flipped[position // 8] ^= 1 << (position % 8)
        with pytest.raises(DecryptionError):
            list(decrypt_stream(DEK, [bytes(flipped)]))


def test_ciphertext_swapped_between_claims_does_not_open() -> None:
    store_dek_a, store_dek_b = new_data_key(), new_data_key()
    a = b"".join(encrypt_stream(store_dek_a, [b"claim A evidence"], context=b"claim-A"))
    b = b"".join(encrypt_stream(store_dek_b, [b"claim B evidence"], context=b"claim-B"))
    with pytest.raises(DecryptionError):
        list(decrypt_stream(store_dek_a, [b], context=b"claim-A"))
    same_key = b"".join(encrypt_stream(store_dek_a, [b"claim B evidence"], context=b"claim-B"))
    with pytest.raises(DecryptionError):
        list(decrypt_stream(store_dek_a, [same_key], context=b"claim-A"))
    assert b"".join(decrypt_stream(store_dek_a, [a], context=b"claim-A")) == b"claim A evidence"


def test_wrong_key_fails() -> None:
    ciphertext = b"".join(encrypt_stream(DEK, [b"x"]))
    with pytest.raises(DecryptionError):
        list(decrypt_stream(new_data_key(), [ciphertext]))


def test_no_nonce_repeats_across_many_wraps_and_segments() -> None:
    """E4 (scaled): 20,000 wraps under one KEK and 2,000 files' segment nonces are all distinct."""
    kek = new_data_key()
    nonces = {wrap_dek(kek, "k", DEK).blob[:12] for _ in range(20_000)}
    assert len(nonces) == 20_000
    segment_nonces = set()
    for _ in range(2000):
        header = next(encrypt_stream(DEK, [b""]))
        segment_nonces.add(header[9:17] + (0).to_bytes(4, "big"))
    assert len(segment_nonces) == 2000


def test_wrap_counter_refuses_beyond_two_to_the_31(tmp_path: Path) -> None:
    counter = MemoryWrapCounter({"kek-1": MAX_WRAPS_PER_KEK - 1})
    keyring = StaticKeyring({"kek-1": new_data_key()}, "kek-1", counter)
    keyring.wrap(DEK)
    with pytest.raises(WrapLimitExceeded, match="rotate"):
        keyring.wrap(DEK)
    (tmp_path / "kek-2.wraps").write_text(str(MAX_WRAPS_PER_KEK))
    with pytest.raises(WrapLimitExceeded):
        FileWrapCounter(tmp_path).reserve("kek-2")


def test_seal_refused_by_wrap_limit_stores_nothing(tmp_path: Path) -> None:
    store = LocalBlockstore(tmp_path / "blocks")
    keyring = StaticKeyring({"k": new_data_key()}, "k", MemoryWrapCounter({"k": MAX_WRAPS_PER_KEK}))
    with pytest.raises(WrapLimitExceeded):
        seal_evidence(store, keyring, [b"evidence"])
    assert store.pin_ls() == {}


def test_directory_keyring_counts_wraps_persistently(tmp_path: Path) -> None:
    keyring = DirectoryKeyring(tmp_path / "keys")
    kid = keyring.create_kek("kek-a")
    for _ in range(3):
        keyring.wrap(DEK)
    assert (tmp_path / "keys" / f"{kid}.wraps").read_text() == "3"
    assert DirectoryKeyring(tmp_path / "keys").current_kid == "kek-a"
    with pytest.raises(ValueError, match="invalid kid"):
        keyring.create_kek("../escape")


def test_file_wrap_counter_in_blocks_never_reuses_a_count_and_over_counts_safely(tmp_path: Path) -> None:
    """Two processes' counters (two objects, one directory) reserving in blocks of 4: every count
    handed out is distinct, the file never holds less than what was used, and a fresh counter
    (a restart) goes on above every count handed out before."""
    first, second = FileWrapCounter(tmp_path, block=4), FileWrapCounter(tmp_path, block=4)
    counts = [first.reserve("k"), second.reserve("k"), first.reserve("k"), second.reserve("k")]
    counts += [first.reserve("k") for _ in range(4)]
    assert counts == [1, 5, 2, 6, 3, 4, 9, 10]
    assert len(set(counts)) == len(counts)
    assert int((tmp_path / "k.wraps").read_text()) == 12 >= max(counts)
    assert FileWrapCounter(tmp_path, block=4).reserve("k") == 13
    (tmp_path / "near.wraps").write_text(str(MAX_WRAPS_PER_KEK - 1))
    near = FileWrapCounter(tmp_path, block=4)
    assert near.reserve("near") == MAX_WRAPS_PER_KEK  # the block is cut at the limit
    with pytest.raises(WrapLimitExceeded):
        near.reserve("near")


def test_shredded_evidence_is_unreadable_and_commitment_still_verifies(tmp_path: Path) -> None:
    """E2: delete the DEK -> EvidenceShredded; CID and commitment unchanged and checkable."""
    store = LocalBlockstore(tmp_path / "blocks")
    keyring = StaticKeyring({"k": new_data_key()}, "k")
    plaintext = b"discharge summary " * 1000
    sealed = seal_evidence(store, keyring, [plaintext])
    gone = shred(sealed)
    assert gone.cid == sealed.cid
    assert gone.commitment == sealed.commitment
    with pytest.raises(EvidenceShredded, match="shredded"):
        open_evidence(store, keyring, gone)
    assert verify_sealed_commitment(gone)
    assert content_commitment(hashlib.sha256(plaintext).digest(), gone.salt) == gone.commitment
    assert gone.wrapped_dek is None
    assert "salt" not in repr(gone)
    assert "plaintext_sha256" not in repr(gone)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(1, 200))
def test_kek_rotation_rewraps_every_dek_without_touching_ciphertext(tmp_path: Path, count: int) -> None:
    """E3: rotate, re-wrap all, destroy the old KEK: 100 % decrypt, CIDs unchanged, old kid unknown."""
    root = tmp_path / os.urandom(4).hex()
    store = LocalBlockstore(root / "blocks")
    keyring = DirectoryKeyring(root / "keys")
    old = keyring.create_kek("kek-old")
    rng = random.Random(count)
    items = [(p := rng.randbytes(rng.randrange(0, 300)), seal_evidence(store, keyring, [p])) for _ in range(count)]
    blocks_before = {p.name: p.read_bytes() for p in (root / "blocks" / "blocks").rglob("*") if p.is_file()}
    keyring.create_kek("kek-new")
    rotated = [(p, rewrap_sealed(keyring, s)) for p, s in items]
    keyring.destroy_kek(old)
    blocks_after = {p.name: p.read_bytes() for p in (root / "blocks" / "blocks").rglob("*") if p.is_file()}
    assert blocks_after == blocks_before
    for (plaintext, sealed), (_, new) in zip(items, rotated, strict=True):
        assert new.cid == sealed.cid
        assert new.kid == "kek-new"
        assert b"".join(open_evidence(store, keyring, new)) == plaintext
    with pytest.raises(UnknownKeyId):
        open_evidence(store, keyring, items[0][1])


def test_tampered_record_fails_plaintext_digest_check(tmp_path: Path) -> None:
    from dataclasses import replace

    store = LocalBlockstore(tmp_path / "blocks")
    keyring = StaticKeyring({"k": new_data_key()}, "k")
    sealed = seal_evidence(store, keyring, [b"evidence bytes"])
    lying = replace(sealed, plaintext_sha256=hashlib.sha256(b"other").digest())
    with pytest.raises(IntegrityError, match="digest mismatch"):
        list(open_evidence(store, keyring, lying))


def test_open_with_wrong_context_fails(tmp_path: Path) -> None:
    store = LocalBlockstore(tmp_path / "blocks")
    keyring = StaticKeyring({"k": new_data_key()}, "k")
    sealed = seal_evidence(store, keyring, [b"evidence bytes"], context=b"claim-1")
    with pytest.raises(DecryptionError):
        list(open_evidence(store, keyring, sealed, context=b"claim-2"))
