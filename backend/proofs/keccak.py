"""Keccak-256 (the Ethereum hash, *not* NIST SHA3-256) with the fastest backend installed.

Verification-critical: every Merkle node, leaf hash and commitment goes through ``keccak256``.

Backends, in order of preference (measured by ``benchmarks/bench_merkle.py``; a Merkle tree of
10 M leaves costs about 30 M calls, so the per-call overhead decides):

1. ``safe-pysha3`` (module ``sha3``): a hashlib-style C type, about 1.4 M calls/s here;
2. ``pycryptodome`` (``Crypto.Hash.keccak``, the backend eth-hash uses): about 0.3 M calls/s;
3. ``eth_hash.auto``: whatever eth-hash finds.

Each candidate is checked against the empty-input vector before use, because an unrelated
package also installs a module named ``sha3``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["KECCAK_BACKEND", "keccak256", "speed_up_eth_hash"]

# keccak256(b"") — the well-known Ethereum constant.
_EMPTY_DIGEST = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


def _pysha3() -> Callable[[bytes], bytes]:
    import sha3  # safe-pysha3

    ctor = sha3.keccak_256

    def digest(data: bytes) -> bytes:
        return ctor(data).digest()  # type: ignore[no-any-return]

    return digest


def _pycryptodome() -> Callable[[bytes], bytes]:
    from Crypto.Hash import keccak

    def digest(data: bytes) -> bytes:
        return keccak.new(data=data, digest_bits=256).digest()

    return digest


def _eth_hash() -> Callable[[bytes], bytes]:
    from eth_hash.auto import keccak

    def digest(data: bytes) -> bytes:
        return keccak(data)

    return digest


_CANDIDATES: dict[str, Callable[[], Callable[[bytes], bytes]]] = {
    "safe-pysha3": _pysha3,
    "pycryptodome": _pycryptodome,
    "eth-hash": _eth_hash,
}


def load_backend(name: str) -> Callable[[bytes], bytes]:
    """Return the keccak256 function of backend ``name`` after checking it on a known vector.

    Raises ``ImportError`` when the backend is not installed or computes something else.
    """
    fn = _CANDIDATES[name]()
    if fn(b"") != _EMPTY_DIGEST:
        raise ImportError(f"{name} does not compute keccak256")
    return fn


def available_backends() -> list[str]:
    """Names of the backends that are installed and correct, fastest first."""
    names = []
    for name in _CANDIDATES:
        try:
            load_backend(name)
        except ImportError:
            continue
        names.append(name)
    return names


def _select() -> tuple[str, Callable[[bytes], bytes]]:
    for name in _CANDIDATES:
        try:
            return name, load_backend(name)
        except ImportError:
            continue
    raise ImportError("no keccak256 backend: install safe-pysha3 or pycryptodome")


KECCAK_BACKEND, _keccak = _select()

if KECCAK_BACKEND == "safe-pysha3":
    # The hot path of every Merkle tree: one Python frame per call instead of three, and no
    # bytes() copy (the C type takes any buffer). The backend passed load_backend's vector check.
    import sha3 as _sha3

    _keccak_256 = _sha3.keccak_256

    def keccak256(data: bytes | bytearray | memoryview) -> bytes:
        """Keccak-256 digest (32 bytes) of ``data``."""
        return _keccak_256(data).digest()  # type: ignore[no-any-return]

else:

    def keccak256(data: bytes | bytearray | memoryview) -> bytes:
        """Keccak-256 digest (32 bytes) of ``data``."""
        return _keccak(bytes(data))


def speed_up_eth_hash() -> bool:
    """Point eth-hash's automatic backend — the keccak of web3, eth-account and eth-utils: ABI
    selectors, checksum addresses, EIP-712 digests, transaction hashes — at safe-pysha3 when this
    module verified it (eth-hash itself prefers pycryptodome, ~7× slower per call: ~10 µs against
    ~1.4 µs, which every filing pays a few dozen times). Idempotent; returns whether it applied.
    Called by the composition root (``backend.runtime``), never on import."""
    if KECCAK_BACKEND != "safe-pysha3":
        return False
    from eth_hash.auto import keccak as auto
    from eth_hash.backends.pysha3 import backend

    if backend.keccak256(b"") != _EMPTY_DIGEST:  # the same vector check as load_backend's
        return False
    # setattr, as eth-hash itself swaps these after its first call (mypy types them as the methods).
    setattr(auto, "hasher", backend.keccak256)  # noqa: B010
    setattr(auto, "preimage", backend.preimage)  # noqa: B010
    return True
