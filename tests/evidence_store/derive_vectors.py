"""Derive the pinned vectors in tests/vectors/cid-*.json (run: python -m tests.evidence_store.derive_vectors).

Each value is computed twice — by the reference transcription of go-unixfs in ``support.py`` and
by ``evidence_store`` — and written only when both agree. The CIDv0 column is additionally
checked against Kubo's real outputs (/work/shared/vectors/kubo-add-cidv0.json). Re-running must
reproduce the files byte for byte; a changed value is a protocol change.
"""

from __future__ import annotations

import hashlib
import json

from evidence_store.car import car_stream
from evidence_store.crypto import content_commitment, encrypt_stream
from evidence_store.local import LocalBlockstore
from evidence_store.unixfs import FileDagBuilder, compute_cid, iter_dag
from tests.evidence_store.support import SHARED_KUBO_VECTORS, VECTOR_DIR, reference_cid, vector_content

CRYPTO_DEK = bytes(range(32))
CRYPTO_PREFIX = bytes.fromhex("0102030405060708")
CRYPTO_CONTEXT = b"hubao-vector-claim"


def _both(size: int, version: int) -> str:
    ours = str(compute_cid(vector_content(size), version))
    ref = reference_cid(vector_content(size), version)
    if ours != ref:
        raise SystemExit(f"disagreement at size {size} v{version}: {ours} vs {ref}")
    return ours


def derive_kubo_and_v1() -> None:
    shared = json.loads(SHARED_KUBO_VECTORS.read_text())
    kubo_rows = []
    v1_rows = []
    for row in shared["vectors"]:
        v0 = _both(row["size"], 0)
        if v0 != row["cid"]:
            raise SystemExit(f"size {row['size']}: {v0} differs from Kubo's {row['cid']}")
        kubo_rows.append({"size": row["size"], "cid": row["cid"]})
        v1_rows.append({"size": row["size"], "cid": _both(row["size"], 1)})
    for size in (174 * 262144 * 2 + 1,):  # right-most path of a depth-2 tree: depth-1 node with one leaf
        v1_rows.append({"size": size, "cid": _both(size, 1), "cid_v0": _both(size, 0)})
    hello = b"hello world\n"
    (VECTOR_DIR / "cid-kubo-add.json").write_text(
        json.dumps(
            {
                "what": "CIDs of Kubo's `ipfs add --only-hash -Q` (defaults: CIDv0, size-262144, balanced, 174 links)",
                "derivation": (
                    "Copied from /work/shared/vectors/kubo-add-cidv0.json (real Kubo 0.22 outputs) and DESIGN.md's "
                    "public vectors; re-derived by tests/evidence_store/derive_vectors.py with two independent "
                    "builders, which must agree with Kubo."
                ),
                "content": shared["content"],
                "vectors": kubo_rows,
                "literals": {
                    "": "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
                    "hello world\n": "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
                },
            },
            indent=2,
        )
        + "\n"
    )
    (VECTOR_DIR / "cid-v1-raw-leaves.json").write_text(
        json.dumps(
            {
                "what": "CIDs of `ipfs add --only-hash -Q --cid-version=1` (raw leaves, dag-pb CIDv1 parents, base32)",
                "derivation": (
                    "Computed by evidence_store.unixfs and by the recursive go-unixfs transcription in "
                    "tests/evidence_store/support.py, which agree; that transcription reproduces every Kubo "
                    "CIDv0 vector, and CIDv1 changes only the leaf encoding (raw block) and the CID prefix "
                    "(0x01, codec). The two literals are the widely published CIDv1 of 'hello world\\n' and of "
                    "the empty raw block (a one-chunk file is its raw leaf; an empty file is the empty raw "
                    "block). Content as in cid-kubo-add.json."
                ),
                "vectors": v1_rows,
                "literals": {
                    "": str(compute_cid([], 1)),
                    "hello world\n": str(compute_cid([hello], 1)),
                },
            },
            indent=2,
        )
        + "\n"
    )


def derive_car_and_crypto(tmp: str) -> None:
    from pathlib import Path

    store = LocalBlockstore(Path(tmp))
    rows = []
    for label, size, version in (("hello-v0", None, 0), ("hello-v1", None, 1), ("600000-v1", 600000, 1)):
        data = [b"hello world\n"] if size is None else list(vector_content(size))
        root = store.add(data, cid_version=version)
        car = b"".join(car_stream([root], iter_dag(store.block_get, root)))
        row = {"name": label, "root": str(root), "car_sha256": hashlib.sha256(car).hexdigest(), "car_size": len(car)}
        if len(car) < 512:
            row["car_hex"] = car.hex()
        rows.append(row)
    (VECTOR_DIR / "cid-car.json").write_text(
        json.dumps(
            {
                "what": "CAR v1 exports (`ipfs dag export` layout) of UnixFS DAGs",
                "derivation": (
                    "Written by evidence_store.car over the DAG of `add`; the header bytes are checked "
                    "independently with cbor2 (tag 42, 0x00-prefixed CID bytes) in test_car.py and the section "
                    "layout against the CAR v1 spec (varint(len(cid)+len(block)) || cid || block, depth-first "
                    "pre-order, duplicates once). 'hello' content is b'hello world\\n', else cid-kubo-add content."
                ),
                "vectors": rows,
            },
            indent=2,
        )
        + "\n"
    )
    crypto_rows = []
    for size in (0, 1, 65535, 65536, 65537, 200000):
        ciphertext = b"".join(
            encrypt_stream(CRYPTO_DEK, vector_content(size), context=CRYPTO_CONTEXT, nonce_prefix=CRYPTO_PREFIX)
        )
        builder = FileDagBuilder(1)
        builder.write(ciphertext)
        crypto_rows.append(
            {
                "size": size,
                "ciphertext_size": len(ciphertext),
                "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
                "ciphertext_cid_v1": str(builder.finish()),
            }
        )
    sha = hashlib.sha256(b"hello world\n").digest()
    salt = bytes([0x11]) * 32
    from eth_hash.auto import keccak

    independent = keccak(sha + salt)  # abi.encode(bytes32, bytes32) is the plain concatenation
    commitment = content_commitment(sha, salt)
    if commitment != independent:
        raise SystemExit("commitment disagreement")
    (VECTOR_DIR / "cid-evidence-crypto.json").write_text(
        json.dumps(
            {
                "what": "Evidence ciphertext format v1 (STREAM over AES-256-GCM, 64 KiB segments) and commitments",
                "derivation": (
                    "encrypt_stream with the fixed DEK 00..1f, nonce prefix 0102030405060708 and context "
                    "'hubao-vector-claim' over cid-kubo-add content; CIDv1 of the ciphertext with raw leaves. "
                    "Commitment = keccak256(sha256(plaintext) || salt), computed with eth_abi.encode and, "
                    "independently, as the keccak of the 64-byte concatenation."
                ),
                "dek": CRYPTO_DEK.hex(),
                "nonce_prefix": CRYPTO_PREFIX.hex(),
                "context": CRYPTO_CONTEXT.decode(),
                "ciphertexts": crypto_rows,
                "commitments": [
                    {
                        "plaintext": "hello world\n",
                        "plaintext_sha256": sha.hex(),
                        "salt": salt.hex(),
                        "commitment": commitment.hex(),
                    }
                ],
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    import tempfile

    derive_kubo_and_v1()
    with tempfile.TemporaryDirectory() as tmp:
        derive_car_and_crypto(tmp)
    print("vectors written to", VECTOR_DIR)
