"""keccak256 backends: every installed backend computes Ethereum's keccak256."""

from __future__ import annotations

import pytest

from backend.proofs import keccak

# Public Keccak-256 vectors (Ethereum's keccak256, not SHA3-256).
KNOWN = {
    b"": "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    b"abc": "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
    b"hello world": "47173285a8d7341e5e972fc677286384f802f8ef42a5ec5f03bbfa254cb01fad",
}


def test_select_backend_prefers_safe_pysha3_when_installed() -> None:
    assert keccak.available_backends()[0] == keccak.KECCAK_BACKEND
    assert keccak.KECCAK_BACKEND == "safe-pysha3"


@pytest.mark.parametrize("backend", keccak.available_backends())
def test_keccak256_matches_known_vectors_for_each_backend(backend: str) -> None:
    fn = keccak.load_backend(backend)
    for data, digest in KNOWN.items():
        assert fn(data).hex() == digest


def test_keccak256_backends_agree_on_every_length_around_the_rate() -> None:
    fns = [keccak.load_backend(b) for b in keccak.available_backends()]
    assert len(fns) >= 2, "need two backends to cross-check"
    for n in range(0, 300):
        data = bytes((i * 7 + n) % 256 for i in range(n))
        digests = {fn(data) for fn in fns}
        assert len(digests) == 1, n


def test_keccak256_accepts_bytearray_and_memoryview() -> None:
    assert keccak.keccak256(bytearray(b"abc")).hex() == KNOWN[b"abc"]
    assert keccak.keccak256(memoryview(b"abc")).hex() == KNOWN[b"abc"]


def test_load_backend_rejects_unknown_name() -> None:
    with pytest.raises(KeyError):
        keccak.load_backend("md5")


def test_eth_hash_is_pointed_at_the_verified_fast_backend_and_computes_the_same() -> None:
    """web3, eth-account and eth-utils hash through eth-hash: after speed_up_eth_hash they use
    safe-pysha3 (when this module verified it), and every digest is unchanged."""
    import subprocess
    import sys

    code = (
        "from eth_utils.crypto import keccak\n"
        "from backend.proofs.keccak import KECCAK_BACKEND, speed_up_eth_hash\n"
        "samples = [b'', b'abc', bytes(range(256)) * 5]\n"
        "before = [keccak(s) for s in samples]\n"
        "applied = speed_up_eth_hash()\n"
        "assert applied == (KECCAK_BACKEND == 'safe-pysha3'), (applied, KECCAK_BACKEND)\n"
        "assert [keccak(s) for s in samples] == before\n"
        "import eth_hash.auto\n"
        "if applied:\n"
        "    assert eth_hash.auto.keccak.hasher.__self__.__class__.__name__ == 'PySha3Backend'\n"
        "    assert eth_hash.auto.keccak.new(b'ab').digest() == keccak(b'ab')\n"
        "assert speed_up_eth_hash() == applied\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
