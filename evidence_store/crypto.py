"""Evidence encryption: streamed AES-256-GCM (STREAM construction), envelope keys, commitments.

VERIFICATION-CRITICAL (commitments; the ciphertext format is what the stored CIDs name). Pinned by
tests/vectors/cid-evidence-crypto.json.

Ciphertext format (version 1)::

    header  = b"HBEV" || 0x01 || segment_size (u32 BE) || nonce_prefix (8 random bytes)   # 17 bytes
    segment = AES-256-GCM(dek, nonce = nonce_prefix || i (u32 BE),
                          aad = header || i (u64 BE) || final (0x00 | 0x01) || context)
    file    = header || segment_0 || ... || segment_n        (segment_n has final = 1)

Every segment holds ``segment_size`` plaintext bytes except the final one (which may be shorter or
empty); a segment is 16 bytes (the tag) longer than its plaintext. Binding the index and the
final flag in the associated data makes truncation, reordering, duplication and splicing fail
authentication (Hoang, Reyhanitabar, Rogaway, Vizár: "Online AE and its nonce-reuse misuse",
STREAM). ``context`` (e.g. a claim reference) is bound too, so a ciphertext moved to another claim
does not open. Each file has its own random 256-bit data key (DEK); nonces never repeat under a
DEK (a counter), and the random prefix guards even a reused DEK.

A DEK is wrapped by a key-encryption key (KEK) named by a ``kid``: AES-256-GCM with a random
96-bit nonce, ``aad = b"hubao/dek-wrap/v1" || 0x00 || kid``. Random nonces allow at most 2^32
invocations per key (NIST SP 800-38D 8.3); a :class:`WrapCounter` refuses more than 2^31 wraps
per KEK to keep a margin (RELIABILITY E4). Rotation re-wraps DEKs and never touches ciphertext,
so CIDs stay the same. Deleting a DEK's wrapping (crypto-shredding) leaves the ciphertext
unreadable while the commitment ``keccak256(abi.encode(sha256(plaintext), salt))`` stays checkable.

No environment variable is read here: keys come from a directory or from the caller.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from evidence_store.errors import DecryptionError, InvalidData, UnknownKeyId, WrapLimitExceeded

MAGIC: Final = b"HBEV"
FORMAT_VERSION: Final = 1
SEGMENT_SIZE: Final = 65_536
TAG_SIZE: Final = 16
HEADER_SIZE: Final = 17
KEY_SIZE: Final = 32
MAX_WRAPS_PER_KEK: Final = 2**31
WRAP_AAD: Final = b"hubao/dek-wrap/v1\x00"
_MAX_SEGMENTS: Final = 2**32
_KID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _header(segment_size: int, prefix: bytes) -> bytes:
    return MAGIC + bytes((FORMAT_VERSION,)) + struct.pack(">I", segment_size) + prefix


def _aad(header: bytes, index: int, final: bool, context: bytes) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0) + context


def _nonce(prefix: bytes, index: int) -> bytes:
    if index >= _MAX_SEGMENTS:
        raise InvalidData("evidence too large for one data key (2^32 segments)")
    return prefix + struct.pack(">I", index)


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes")


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    """Re-cut ``chunks`` into pieces of exactly ``size`` bytes (the last may be shorter or empty),
    each with a flag telling whether it is the last one. One piece of look-ahead."""
    buffer = bytearray()
    pending: bytes | None = None
    for chunk in chunks:
        buffer += chunk
        while len(buffer) > size:  # strictly more: a full piece is final only if nothing follows
            if pending is not None:
                yield pending, False
            pending = bytes(buffer[:size])
            del buffer[:size]
    if pending is not None:
        if buffer:
            yield pending, False
        else:
            yield pending, True
            return
    yield bytes(buffer), True


def encrypt_stream(
    dek: bytes,
    plaintext: Iterable[bytes],
    *,
    context: bytes = b"",
    segment_size: int = SEGMENT_SIZE,
    nonce_prefix: bytes | None = None,
) -> Iterator[bytes]:
    """Encrypt ``plaintext`` chunk by chunk; yields the header, then one item per segment.

    ``nonce_prefix`` is random unless given (only golden-vector tests pass it).
    """
    _check_key(dek, "data key")
    prefix = nonce_prefix if nonce_prefix is not None else secrets.token_bytes(8)
    if len(prefix) != 8:
        raise ValueError("nonce prefix must be 8 bytes")
    header = _header(segment_size, prefix)
    aead = AESGCM(dek)
    yield header
    for index, (piece, final) in enumerate(_rechunk(plaintext, segment_size)):
        yield aead.encrypt(_nonce(prefix, index), piece, _aad(header, index, final, context))


def decrypt_stream(dek: bytes, ciphertext: Iterable[bytes], *, context: bytes = b"") -> Iterator[bytes]:
    """Decrypt and authenticate segment by segment; yields only authenticated plaintext.

    Raises :class:`DecryptionError` on a wrong key, a modified, reordered, truncated or extended
    ciphertext, or a different ``context``.
    """
    _check_key(dek, "data key")
    aead = AESGCM(dek)
    source = iter(ciphertext)
    buffer = bytearray()
    for chunk in source:
        buffer += chunk
        if len(buffer) >= HEADER_SIZE:
            break
    if len(buffer) < HEADER_SIZE or bytes(buffer[:4]) != MAGIC or buffer[4] != FORMAT_VERSION:
        raise DecryptionError("not a Hubao evidence ciphertext (bad header)")
    header = bytes(buffer[:HEADER_SIZE])
    (segment_size,) = struct.unpack(">I", header[5:9])
    if not 1024 <= segment_size <= 16 * 1024 * 1024:
        raise DecryptionError("not a Hubao evidence ciphertext (bad segment size)")
    prefix = header[9:17]
    del buffer[:HEADER_SIZE]
    sealed_size = segment_size + TAG_SIZE
    index = 0
    exhausted = False
    while True:
        while not exhausted and len(buffer) <= sealed_size:
            nxt = next(source, None)
            if nxt is None:
                exhausted = True
            else:
                buffer += nxt
        # A segment is final exactly when nothing follows it.
        final = exhausted and len(buffer) <= sealed_size
        take = len(buffer) if final else sealed_size
        if take < TAG_SIZE:
            raise DecryptionError("evidence ciphertext truncated")
        segment = bytes(buffer[:take])
        del buffer[:take]
        try:
            plain = aead.decrypt(_nonce(prefix, index), segment, _aad(header, index, final, context))
        except InvalidTag as exc:
            raise DecryptionError(
                "evidence ciphertext failed authentication (wrong key, or modified, truncated or reordered)"
            ) from exc
        yield plain
        if final:
            return
        index += 1


# --- data keys and key-encryption keys ------------------------------------------------------


def new_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return secrets.token_bytes(KEY_SIZE)


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A DEK wrapped under the KEK ``kid``: ``nonce (12) || ciphertext (32) || tag (16)``."""

    kid: str
    blob: bytes


class WrapCounter(Protocol):
    """Counts wraps per KEK; ``reserve`` must persist the increment before returning it."""

    def reserve(self, kid: str) -> int:
        """Count one more wrap under ``kid``; raise :class:`WrapLimitExceeded` beyond 2^31."""
        ...


class MemoryWrapCounter:
    """Process-local wrap counter (tests, ephemeral keyrings)."""

    def __init__(self, start: Mapping[str, int] | None = None) -> None:
        self._counts: dict[str, int] = dict(start or {})
        self._lock = threading.Lock()

    def reserve(self, kid: str) -> int:
        with self._lock:
            count = self._counts.get(kid, 0) + 1
            if count > MAX_WRAPS_PER_KEK:
                raise WrapLimitExceeded(f"KEK {kid!r} reached {MAX_WRAPS_PER_KEK} wraps: rotate it", kid=kid)
            self._counts[kid] = count
            return count


class FileWrapCounter:
    """Wrap counters persisted as ``<kid>.wraps`` files in a directory (flock + atomic replace).

    With ``block`` = 1 (the default) the file holds the exact count, written durably on every wrap.
    With a larger ``block`` it holds a high-water mark: a process takes ``block`` counts at a time
    under the lock — one durable write per block instead of one per wrap, and no lock queue when
    many uploads seal at once — and hands them out from memory. Counts a process had not used when
    it stopped are never used, so the file over-counts by less than ``block`` per process: the
    safe side of the 2^31 limit.
    """

    def __init__(self, directory: Path, block: int = 1) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self._dir = directory
        self._block = block
        self._lock = threading.Lock()
        self._ranges: dict[str, tuple[int, int]] = {}  # kid → (next count, last reserved count)

    def reserve(self, kid: str) -> int:
        _check_kid(kid)
        with self._lock:
            count, last = self._ranges.get(kid, (1, 0))
            if count > last:
                count, last = self._take(kid)
            self._ranges[kid] = (count + 1, last)
            return count

    def _take(self, kid: str) -> tuple[int, int]:
        path = self._dir / f"{kid}.wraps"
        with open(self._dir / ".wraps.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = int(path.read_text()) if path.exists() else 0
            if used + 1 > MAX_WRAPS_PER_KEK:
                raise WrapLimitExceeded(f"KEK {kid!r} reached {MAX_WRAPS_PER_KEK} wraps: rotate it", kid=kid)
            last = min(used + self._block, MAX_WRAPS_PER_KEK)
            _atomic_write(path, str(last).encode())
            return used + 1, last


class Keyring(Protocol):
    """Wraps data keys under the current KEK and unwraps under any known KEK."""

    @property
    def current_kid(self) -> str: ...

    def wrap(self, dek: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey) -> bytes: ...


def _check_kid(kid: str) -> None:
    if not _KID_RE.match(kid):
        raise ValueError(f"invalid kid {kid!r}: use 1-64 characters of A-Z a-z 0-9 _ . -")


def wrap_dek(kek: bytes, kid: str, dek: bytes) -> WrappedKey:
    """Wrap ``dek`` under ``kek`` (no counting: keyrings count before calling this)."""
    _check_key(kek, "KEK")
    _check_key(dek, "data key")
    nonce = secrets.token_bytes(12)
    return WrappedKey(kid, nonce + AESGCM(kek).encrypt(nonce, dek, WRAP_AAD + kid.encode()))


def unwrap_dek(kek: bytes, wrapped: WrappedKey) -> bytes:
    _check_key(kek, "KEK")
    blob = wrapped.blob
    if len(blob) != 12 + KEY_SIZE + TAG_SIZE:
        raise DecryptionError("wrapped data key has the wrong length", kid=wrapped.kid)
    try:
        return AESGCM(kek).decrypt(blob[:12], blob[12:], WRAP_AAD + wrapped.kid.encode())
    except InvalidTag as exc:
        raise DecryptionError("data key does not unwrap under this KEK", kid=wrapped.kid) from exc


class _KekKeyring:
    def __init__(self, counter: WrapCounter) -> None:
        self._counter = counter

    @property
    def current_kid(self) -> str:
        raise NotImplementedError

    def _kek(self, kid: str) -> bytes:
        raise NotImplementedError

    def wrap(self, dek: bytes) -> WrappedKey:
        """Wrap under the current KEK, counting the wrap first (refused beyond 2^31)."""
        kid = self.current_kid
        kek = self._kek(kid)
        self._counter.reserve(kid)
        return wrap_dek(kek, kid, dek)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        return unwrap_dek(self._kek(wrapped.kid), wrapped)

    def kek_fingerprint(self, kid: str) -> bytes:
        """A one-way fingerprint of KEK ``kid`` (SHA-256 under a domain tag): two hosts compare
        their KEKs through it without either revealing the key."""
        return hashlib.sha256(b"hubao/kek-fingerprint/v1\x00" + kid.encode() + b"\x00" + self._kek(kid)).digest()


class StaticKeyring(_KekKeyring):
    """KEKs passed in by the caller (e.g. from a KMS or a secret manager)."""

    def __init__(self, keks: Mapping[str, bytes], current_kid: str, counter: WrapCounter | None = None) -> None:
        super().__init__(counter or MemoryWrapCounter())
        for kid, kek in keks.items():
            _check_kid(kid)
            _check_key(kek, "KEK")
        if current_kid not in keks:
            raise UnknownKeyId(current_kid)
        self._keks = dict(keks)
        self._current = current_kid

    @property
    def current_kid(self) -> str:
        return self._current

    def _kek(self, kid: str) -> bytes:
        try:
            return self._keks[kid]
        except KeyError:
            raise UnknownKeyId(kid) from None


class DirectoryKeyring(_KekKeyring):
    """KEKs as files ``<kid>.kek`` (32 raw bytes, mode 0600) in a directory; ``CURRENT`` names the
    KEK new wraps use; wrap counters in ``<kid>.wraps`` unless a counter is passed (e.g. the DB)."""

    def __init__(self, directory: Path, counter: WrapCounter | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        super().__init__(counter or FileWrapCounter(directory))
        self._dir = directory

    @property
    def current_kid(self) -> str:
        path = self._dir / "CURRENT"
        if not path.exists():
            raise UnknownKeyId("<none: create a KEK first>")
        return path.read_text().strip()

    def kids(self) -> list[str]:
        return sorted(p.name[: -len(".kek")] for p in self._dir.glob("*.kek"))

    def _kek(self, kid: str) -> bytes:
        _check_kid(kid)
        try:
            kek = (self._dir / f"{kid}.kek").read_bytes()
        except FileNotFoundError:
            raise UnknownKeyId(kid) from None
        _check_key(kek, "KEK")
        return kek

    def create_kek(self, kid: str | None = None) -> str:
        """Generate a new KEK, make it current, return its kid."""
        kid = kid or f"kek-{secrets.token_hex(6)}"
        _check_kid(kid)
        path = self._dir / f"{kid}.kek"
        if path.exists():
            raise ValueError(f"KEK {kid!r} already exists")
        _atomic_write(path, secrets.token_bytes(KEY_SIZE), mode=0o600)
        _atomic_write(self._dir / "CURRENT", kid.encode())
        return kid

    def destroy_kek(self, kid: str) -> None:
        """Overwrite and delete a KEK (after every DEK under it was re-wrapped)."""
        _check_kid(kid)
        if kid == self.current_kid:
            raise ValueError("refusing to destroy the current KEK: rotate first")
        path = self._dir / f"{kid}.kek"
        with contextlib.suppress(FileNotFoundError), open(path, "r+b") as fh:
            fh.write(b"\0" * KEY_SIZE)
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink(missing_ok=True)


def rewrap(keyring: Keyring, wrapped: WrappedKey) -> WrappedKey:
    """Re-wrap a DEK under the keyring's current KEK; the ciphertext (and its CID) is untouched."""
    return keyring.wrap(keyring.unwrap(wrapped))


# --- commitments -------------------------------------------------------------------------------


def content_commitment(plaintext_sha256: bytes, salt: bytes) -> bytes:
    """``keccak256(abi.encode(bytes32 sha256(plaintext), bytes32 salt))`` (DESIGN.md, Evidence)."""
    from eth_abi.abi import encode
    from eth_hash.auto import keccak

    if len(plaintext_sha256) != 32 or len(salt) != 32:
        raise ValueError("sha256 and salt must be 32 bytes each")
    return bytes(keccak(encode(["bytes32", "bytes32"], [plaintext_sha256, salt])))


def verify_commitment(commitment: bytes, plaintext_sha256: bytes, salt: bytes) -> bool:
    return hmac.compare_digest(content_commitment(plaintext_sha256, salt), commitment)


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


__all__ = [
    "FORMAT_VERSION",
    "MAX_WRAPS_PER_KEK",
    "SEGMENT_SIZE",
    "DirectoryKeyring",
    "FileWrapCounter",
    "Keyring",
    "MemoryWrapCounter",
    "StaticKeyring",
    "WrapCounter",
    "WrappedKey",
    "content_commitment",
    "decrypt_stream",
    "encrypt_stream",
    "new_data_key",
    "rewrap",
    "unwrap_dek",
    "verify_commitment",
    "wrap_dek",
]
