"""Short free texts encrypted at rest (objection reasons), like reports and signing keys: AES-256-GCM
under a fresh data key wrapped by the keyring's current KEK, bound to its row by associated data.

    sealed = b"HBTX" || 0x01 || len(kid) (u8) || kid || wrapped_dek (60) || nonce (12) || AES-256-GCM(dek, utf-8 text)

A row copied onto another claim or member does not open (the associated data names them); a KEK
rotation re-wraps the 60-byte data key only.
"""

from __future__ import annotations

import secrets
import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.errors import HubaoError
from evidence_store.crypto import Keyring, WrappedKey, new_data_key
from evidence_store.errors import EvidenceStoreError

_MAGIC: Final = b"HBTX\x01"
_WRAPPED_LEN: Final = 12 + 32 + 16


class SealedTextUnavailable(HubaoError):
    code = "SEALED_TEXT_UNAVAILABLE"


def seal_text(keyring: Keyring, text: str, aad: bytes) -> bytes:
    dek = new_data_key()
    wrapped = keyring.wrap(dek)
    kid = wrapped.kid.encode()
    nonce = secrets.token_bytes(12)
    return (
        _MAGIC
        + struct.pack(">B", len(kid))
        + kid
        + wrapped.blob
        + nonce
        + AESGCM(dek).encrypt(nonce, text.encode(), aad)
    )


def open_text(keyring: Keyring, sealed: bytes, aad: bytes) -> str:
    try:
        if not sealed.startswith(_MAGIC):
            raise ValueError("unknown format")
        offset = len(_MAGIC) + 1
        kid_len = sealed[len(_MAGIC)]
        kid = sealed[offset : offset + kid_len].decode()
        offset += kid_len
        dek = keyring.unwrap(WrappedKey(kid, sealed[offset : offset + _WRAPPED_LEN]))
        offset += _WRAPPED_LEN
        nonce, ciphertext = sealed[offset : offset + 12], sealed[offset + 12 :]
        return AESGCM(dek).decrypt(nonce, ciphertext, aad).decode()
    except (ValueError, IndexError, InvalidTag, UnicodeDecodeError, EvidenceStoreError) as exc:
        raise SealedTextUnavailable("a sealed text does not open (key missing or row altered)") from exc


def objection_aad(claim_pk: str, member_id: str) -> bytes:
    return b"hubao/objection/v1\x00" + claim_pk.encode() + b"\x00" + member_id.encode()
