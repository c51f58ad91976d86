"""Audit checkpoints: where a passing audit stopped, signed by auditors, chained to the last one.

Verification-critical: the signed bytes are pinned by ``tests/vectors/audit_checkpoint.json``.

A checkpoint (``version`` 1) says: on chain ``chainId``, the EvidenceNotary at ``contract`` had
``batchCount`` batches with head root ``headRoot`` at block ``blockNumber`` (hash ``blockHash``),
and an audit of everything up to there passed. ``previous`` is the digest of the checkpoint it
extends (``null`` for the first). The next (incremental) audit reads only later blocks and first
checks that the chain still extends this one: ``batch(batchCount).root == headRoot``.

File form (JSON)::

    {"checkpoint": {...the body...}, "signatures": [{"publicKey": "0x…32", "signature": "0x…64"}, …]}

A bare body (no envelope) is accepted as an unsigned checkpoint. Signatures are Ed25519 over
``SIGNING_DOMAIN ‖ canonical(body)`` where ``canonical`` is JSON with sorted keys, no spaces,
ASCII only. A second auditor *cosigns* by appending a signature over the same bytes; nothing in
the body changes. The digest that ``previous`` refers to is ``sha256(canonical(body))``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from backend.audit.errors import CheckpointError
from backend.proofs.hexstr import from_hex, is_canonical_hex, to_hex

__all__ = [
    "CHECKPOINT_VERSION",
    "SIGNING_DOMAIN",
    "Checkpoint",
    "CheckpointSignature",
    "SignedCheckpoint",
    "extension_problems",
    "generate_key",
    "load_private_key",
    "public_key_hex",
]

CHECKPOINT_VERSION = 1
SIGNING_DOMAIN = b"hubao-audit-checkpoint-v1\n"
_BODY_KEYS = ("version", "chainId", "contract", "blockNumber", "blockHash", "batchCount", "headRoot", "previous")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    chain_id: int
    contract: str
    block_number: int
    block_hash: bytes
    batch_count: int
    head_root: bytes
    previous: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "chainId": self.chain_id,
            "contract": self.contract.lower(),
            "blockNumber": self.block_number,
            "blockHash": to_hex(self.block_hash),
            "batchCount": self.batch_count,
            "headRoot": to_hex(self.head_root),
            "previous": None if self.previous is None else to_hex(self.previous),
        }

    def canonical(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def digest(self) -> bytes:
        """``sha256(canonical(body))``: what the next checkpoint's ``previous`` holds."""
        return hashlib.sha256(self.canonical()).digest()

    def signing_bytes(self) -> bytes:
        return SIGNING_DOMAIN + self.canonical()

    def following(self, nxt: Checkpoint) -> Checkpoint:
        """``nxt`` chained onto this checkpoint (``previous`` = this one's digest)."""
        return replace(nxt, previous=self.digest())

    @classmethod
    def from_json(cls, doc: Any) -> Checkpoint:
        if not isinstance(doc, dict) or sorted(doc) != sorted(_BODY_KEYS):
            raise CheckpointError(f"a checkpoint has exactly the keys {sorted(_BODY_KEYS)}", reason="schema")
        if doc["version"] != CHECKPOINT_VERSION:
            raise CheckpointError(f"unsupported checkpoint version {doc['version']!r}", reason="schema")
        for key in ("chainId", "blockNumber", "batchCount"):
            if not isinstance(doc[key], int) or isinstance(doc[key], bool) or doc[key] < 0:
                raise CheckpointError(f"checkpoint {key} must be a non-negative integer", reason="schema")
        for key in ("blockHash", "headRoot"):
            if not is_canonical_hex(doc[key], 32):
                raise CheckpointError(f"checkpoint {key} must be 32 bytes of lower-case 0x hex", reason="schema")
        if doc["previous"] is not None and not is_canonical_hex(doc["previous"], 32):
            raise CheckpointError("checkpoint previous must be null or 32 bytes of 0x hex", reason="schema")
        if not is_canonical_hex(doc["contract"], 20):
            raise CheckpointError("checkpoint contract must be a lower-case 0x address", reason="schema")
        return cls(
            chain_id=doc["chainId"],
            contract=doc["contract"],
            block_number=doc["blockNumber"],
            block_hash=from_hex(doc["blockHash"]),
            batch_count=doc["batchCount"],
            head_root=from_hex(doc["headRoot"]),
            previous=None if doc["previous"] is None else from_hex(doc["previous"]),
        )


@dataclass(frozen=True, slots=True)
class CheckpointSignature:
    public_key: bytes
    signature: bytes

    def to_json(self) -> dict[str, str]:
        return {"publicKey": to_hex(self.public_key), "signature": to_hex(self.signature)}


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint and the auditors' signatures over it (possibly none)."""

    checkpoint: Checkpoint
    signatures: tuple[CheckpointSignature, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint.to_json(), "signatures": [s.to_json() for s in self.signatures]}

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"

    def write(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json_text(), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def parse(cls, text: str | bytes) -> SignedCheckpoint:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint is not JSON: {exc}", reason="schema") from exc
        if isinstance(doc, dict) and "checkpoint" in doc:
            if sorted(doc) != ["checkpoint", "signatures"] or not isinstance(doc["signatures"], list):
                raise CheckpointError("a signed checkpoint has exactly 'checkpoint' and 'signatures'", reason="schema")
            sigs = []
            for entry in doc["signatures"]:
                if (
                    not isinstance(entry, dict)
                    or sorted(entry) != ["publicKey", "signature"]
                    or not is_canonical_hex(entry["publicKey"], 32)
                    or not is_canonical_hex(entry["signature"], 64)
                ):
                    raise CheckpointError("each signature is {publicKey: 0x…32, signature: 0x…64}", reason="schema")
                sigs.append(CheckpointSignature(from_hex(entry["publicKey"]), from_hex(entry["signature"])))
            return cls(Checkpoint.from_json(doc["checkpoint"]), tuple(sigs))
        return cls(Checkpoint.from_json(doc))

    @classmethod
    def read(cls, path: Path) -> SignedCheckpoint:
        try:
            return cls.parse(path.read_bytes())
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoint {path.name}: {exc.strerror}", reason="unreadable") from exc

    def sign(self, key: Ed25519PrivateKey) -> SignedCheckpoint:
        """This checkpoint with one more signature (the first, or a cosignature)."""
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if any(s.public_key == public for s in self.signatures):
            raise CheckpointError("this key has already signed the checkpoint", reason="duplicate_signer")
        signature = CheckpointSignature(public, key.sign(self.checkpoint.signing_bytes()))
        return replace(self, signatures=(*self.signatures, signature))

    def verify_signatures(self, *, trusted: Iterable[bytes] = (), minimum: int = 1) -> list[bytes]:
        """Check every signature; return the signers. Raises ``CheckpointError`` naming the problem.

        With ``trusted`` given, only signatures by those keys count towards ``minimum`` (and a
        signature by an unknown key is still checked, so a forged one is never silently ignored).
        """
        message = self.checkpoint.signing_bytes()
        signers: list[bytes] = []
        for index, sig in enumerate(self.signatures):
            try:
                Ed25519PublicKey.from_public_bytes(sig.public_key).verify(sig.signature, message)
            except (InvalidSignature, ValueError) as exc:
                raise CheckpointError(
                    f"signature {index + 1} (key {to_hex(sig.public_key)[:18]}…) does not verify",
                    reason="bad_signature",
                    signature=index + 1,
                ) from exc
            signers.append(sig.public_key)
        trusted_set = set(trusted)
        counted = [s for s in signers if not trusted_set or s in trusted_set]
        if len(counted) < minimum:
            raise CheckpointError(
                f"checkpoint has {len(counted)} valid signature(s) from trusted keys, {minimum} required",
                reason="too_few_signatures",
            )
        return signers


def extension_problems(old: Checkpoint, new: Checkpoint) -> list[str]:
    """Why ``new`` cannot extend ``old`` from their contents alone (empty = it can).

    The chain half of the check — ``batch(old.batchCount).root == old.headRoot`` on the chain
    that produced ``new`` — is step 2 of the audit (``reason="checkpoint"``).
    """
    problems: list[str] = []
    if (new.chain_id, new.contract.lower()) != (old.chain_id, old.contract.lower()):
        problems.append("the checkpoints are for different chains or contracts")
    if new.batch_count < old.batch_count:
        problems.append(f"batchCount went back from {old.batch_count} to {new.batch_count}")
    if new.block_number < old.block_number:
        problems.append(f"blockNumber went back from {old.block_number} to {new.block_number}")
    if new.batch_count == old.batch_count and new.head_root != old.head_root:
        problems.append(f"same batchCount {old.batch_count} but a different headRoot")
    if new.previous is not None and new.previous != old.digest() and new != old:
        problems.append("its 'previous' is not the digest of the older checkpoint")
    return problems


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"cannot load an Ed25519 private key from {path.name}", reason="bad_key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path.name} is not an Ed25519 private key", reason="bad_key")
    return key


def public_key_hex(key: Ed25519PrivateKey) -> str:
    return to_hex(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
