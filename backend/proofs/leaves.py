"""Typed leaf encodings and the StandardMerkleTree leaf hash.

Verification-critical (DESIGN.md "Exact formats" 2–3), pinned by ``tests/vectors/merkle_standard.json``.

A leaf is a tuple of values with Solidity ABI types (the tree's *leaf encoding*). Its hash is
OpenZeppelin's standard leaf hash, the double hash that ``MerkleProof.sol`` users write as::

    leaf = keccak256(bytes.concat(keccak256(abi.encode(values...))))

Leaf kinds (their types are also listed in ``contracts/README.md``):

* **Evidence leaf** — ``(bytes32 claimRef, bytes32 contentCommitment, bytes cid)``:
  ``claimRef`` identifies the claim without personal data (``commitments.claim_ref``),
  ``contentCommitment`` is ``keccak256(abi.encode(sha256(plaintext), salt))``
  (``commitments.content_commitment``), ``cid`` is the *binary* CID of the stored **ciphertext**.
  ``abi.encode`` of it is ``claimRef ‖ contentCommitment ‖ uint256(0x60) ‖ uint256(len(cid)) ‖
  cid ‖ zero padding to a multiple of 32`` — ``encode_evidence_leaf`` writes exactly that
  (tests compare it with eth_abi).
* Membership and share-ledger leaves use the generic encoder (``abi_encode``) with their own types.

The generic encoder is eth_abi's ``encode`` behind a strict type check: ``bytesN`` values must be
exactly N bytes (eth_abi would silently pad a shorter value), integers must not be ``bool``,
``bool`` must be ``bool``. ``fixed``/``ufixed`` are refused.

JSON form of values (dumps, receipts, the JS oracle): bytes-like types as lower-case ``0x`` hex,
integers as decimal strings (safe for JavaScript), ``bool`` as JSON booleans, ``address`` and
``string`` as strings, arrays and tuples as lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from backend.proofs.errors import LeafEncodingError
from backend.proofs.hexstr import from_hex, to_hex
from backend.proofs.keccak import keccak256

if TYPE_CHECKING:
    from eth_abi.grammar import ABIType

# eth_abi is imported where the generic encoder runs, not here: with eth-utils and pydantic under it
# it costs about 0.2 s, and evidence leaves, receipts and ``hubao receipt verify`` never need it.

__all__ = [
    "EVIDENCE_LEAF_TYPES",
    "EvidenceLeaf",
    "JsonValue",
    "abi_encode",
    "encode_evidence_leaf",
    "evidence_leaf_hash",
    "evidence_values_hash",
    "standard_leaf_hash",
    "standard_leaf_hash_of_encoding",
    "values_from_json",
    "values_to_json",
]

JsonValue = str | int | bool | list["JsonValue"]

EVIDENCE_LEAF_TYPES: tuple[str, str, str] = ("bytes32", "bytes32", "bytes")

_EVIDENCE_CID_OFFSET = (3 * 32).to_bytes(32, "big")


@lru_cache(maxsize=256)
def _abi_type(type_str: str) -> ABIType:
    from eth_abi.exceptions import ParseError as _EthAbiParseError
    from eth_abi.grammar import parse as _parse_abi_type

    try:
        parsed = _parse_abi_type(type_str)
    except _EthAbiParseError as exc:
        raise LeafEncodingError(f"not an ABI type: {type_str!r}", abi_type=type_str) from exc
    parsed.validate()
    return cast("ABIType", parsed)


def _type_str(t: ABIType) -> str:
    return cast(str, t.to_type_str())  # type: ignore[no-untyped-call]


def _check_types(types: Sequence[str]) -> list[ABIType]:
    if isinstance(types, str) or not types:
        raise LeafEncodingError("leaf types must be a non-empty list of ABI type strings")
    from eth_abi.exceptions import ParseError as _EthAbiParseError

    try:
        return [_abi_type(t) for t in types]
    except (TypeError, ValueError, _EthAbiParseError) as exc:
        raise LeafEncodingError(f"invalid leaf types {list(types)!r}: {exc}") from exc


def _check_value(t: ABIType, value: Any, path: str) -> None:
    from eth_abi.grammar import BasicType, TupleType

    if t.is_array:
        if not isinstance(value, list | tuple):
            raise LeafEncodingError(f"{path}: expected a list for {_type_str(t)}", path=path)
        dims = t.arrlist[-1] if t.arrlist else ()
        if dims and len(value) != dims[0]:
            raise LeafEncodingError(f"{path}: expected {dims[0]} items, got {len(value)}", path=path)
        for i, item in enumerate(value):
            _check_value(t.item_type, item, f"{path}[{i}]")
        return
    if isinstance(t, TupleType):
        if not isinstance(value, list | tuple) or len(value) != len(t.components):
            raise LeafEncodingError(f"{path}: expected a tuple of {len(t.components)}", path=path)
        for i, (ct, item) in enumerate(zip(t.components, value, strict=True)):
            _check_value(ct, item, f"{path}.{i}")
        return
    assert isinstance(t, BasicType)
    base, sub = t.base, t.sub
    if base == "bytes":
        if not isinstance(value, bytes | bytearray):
            raise LeafEncodingError(f"{path}: expected bytes for {_type_str(t)}", path=path)
        if sub is not None and len(value) != sub:
            raise LeafEncodingError(f"{path}: expected exactly {sub} bytes, got {len(value)}", path=path)
    elif base in ("uint", "int"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise LeafEncodingError(f"{path}: expected an int for {_type_str(t)}", path=path)
    elif base == "bool":
        if not isinstance(value, bool):
            raise LeafEncodingError(f"{path}: expected a bool", path=path)
    elif base in ("address", "string"):
        if not isinstance(value, str):
            raise LeafEncodingError(f"{path}: expected a str for {base}", path=path)
    else:
        raise LeafEncodingError(f"{path}: ABI type {_type_str(t)} is not supported in leaves", path=path)


def abi_encode(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """``abi.encode(values...)`` for the given ABI ``types``, with the strict checks above.

    Raises ``LeafEncodingError`` when a value does not fit its type.
    """
    parsed = _check_types(types)
    if not isinstance(values, list | tuple) or len(values) != len(parsed):
        raise LeafEncodingError(f"expected {len(parsed)} values for types {list(types)!r}")
    for i, (t, v) in enumerate(zip(parsed, values, strict=True)):
        _check_value(t, v, f"[{i}]")
    from eth_abi.abi import encode as _eth_abi_encode
    from eth_abi.exceptions import EncodingError as _EthAbiEncodingError

    try:
        return _eth_abi_encode(list(types), list(values))
    except (_EthAbiEncodingError, TypeError, ValueError) as exc:
        raise LeafEncodingError(f"values do not fit types {list(types)!r}: {exc}") from exc


def standard_leaf_hash_of_encoding(encoded: bytes) -> bytes:
    """``keccak256(keccak256(encoded))`` — the leaf hash of an already ABI-encoded tuple."""
    return keccak256(keccak256(encoded))


def standard_leaf_hash(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """OpenZeppelin's standard leaf hash ``keccak256(keccak256(abi.encode(values)))``."""
    return standard_leaf_hash_of_encoding(abi_encode(types, values))


# --- JSON form -------------------------------------------------------------------------------


def _value_to_json(t: ABIType, value: Any) -> JsonValue:
    from eth_abi.grammar import BasicType, TupleType

    if t.is_array:
        return [_value_to_json(t.item_type, v) for v in value]
    if isinstance(t, TupleType):
        return [_value_to_json(ct, v) for ct, v in zip(t.components, value, strict=True)]
    assert isinstance(t, BasicType)
    if t.base == "bytes":
        return to_hex(value)
    if t.base in ("uint", "int"):
        return str(value)
    if t.base == "bool":
        return bool(value)
    return str(value)


def _value_from_json(t: ABIType, value: Any, path: str) -> Any:
    from eth_abi.grammar import BasicType, TupleType

    if t.is_array or isinstance(t, TupleType):
        if not isinstance(value, list):
            raise LeafEncodingError(f"{path}: expected a JSON list", path=path)
        if t.is_array:
            return [_value_from_json(t.item_type, v, f"{path}[{i}]") for i, v in enumerate(value)]
        assert isinstance(t, TupleType)
        if len(value) != len(t.components):
            raise LeafEncodingError(f"{path}: expected {len(t.components)} items", path=path)
        return tuple(
            _value_from_json(ct, v, f"{path}.{i}") for i, (ct, v) in enumerate(zip(t.components, value, strict=True))
        )
    assert isinstance(t, BasicType)
    if t.base == "bytes":
        try:
            return from_hex(value, length=t.sub)
        except ValueError as exc:
            raise LeafEncodingError(f"{path}: {exc}", path=path) from exc
    if t.base in ("uint", "int"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value, 16) if value.startswith(("0x", "-0x")) else int(value, 10)
            except ValueError as exc:
                raise LeafEncodingError(f"{path}: not an integer: {value!r}", path=path) from exc
        raise LeafEncodingError(f"{path}: expected an integer", path=path)
    if t.base == "bool":
        if not isinstance(value, bool):
            raise LeafEncodingError(f"{path}: expected a JSON boolean", path=path)
        return value
    if not isinstance(value, str):
        raise LeafEncodingError(f"{path}: expected a string", path=path)
    return value


def values_to_json(types: Sequence[str], values: Sequence[Any]) -> list[JsonValue]:
    """The JSON form of one leaf's values (see module docstring)."""
    parsed = _check_types(types)
    return [_value_to_json(t, v) for t, v in zip(parsed, values, strict=True)]


def values_from_json(types: Sequence[str], values: Any) -> tuple[Any, ...]:
    """Parse one leaf's values from their JSON form; ``LeafEncodingError`` when they do not fit."""
    parsed = _check_types(types)
    if not isinstance(values, list) or len(values) != len(parsed):
        raise LeafEncodingError(f"expected a JSON list of {len(parsed)} values")
    return tuple(_value_from_json(t, v, f"[{i}]") for i, (t, v) in enumerate(zip(parsed, values, strict=True)))


# --- evidence leaves -------------------------------------------------------------------------


def encode_evidence_leaf(claim_ref: bytes, content_commitment: bytes, cid: bytes) -> bytes:
    """``abi.encode(bytes32 claimRef, bytes32 contentCommitment, bytes cid)``, written directly.

    Three to four times faster than eth_abi (the hot path when a batch of evidence is built).
    """
    if len(claim_ref) != 32 or len(content_commitment) != 32:
        raise LeafEncodingError("claimRef and contentCommitment must be 32 bytes")
    if not isinstance(cid, bytes | bytearray) or not cid:
        raise LeafEncodingError("cid must be non-empty bytes (a binary CID)")
    n = len(cid)
    return b"".join(
        (
            claim_ref,
            content_commitment,
            _EVIDENCE_CID_OFFSET,
            n.to_bytes(32, "big"),
            cid,
            b"\x00" * (-n % 32),
        )
    )


def evidence_values_hash(values: Sequence[Any]) -> bytes:
    """Standard leaf hash of ``values`` under ``EVIDENCE_LEAF_TYPES``.

    Same result and same refusals as ``standard_leaf_hash(EVIDENCE_LEAF_TYPES, values)`` (an
    empty ``cid`` is allowed here, as in the generic encoder), with the direct encoding when the
    values are plain bytes.
    """
    if len(values) == 3:
        a, b, c = values
        if type(a) is bytes and type(b) is bytes and type(c) is bytes and len(a) == 32 and len(b) == 32:
            n = len(c)
            encoded = b"".join((a, b, _EVIDENCE_CID_OFFSET, n.to_bytes(32, "big"), c, b"\x00" * (-n % 32)))
            return keccak256(keccak256(encoded))
    return standard_leaf_hash(EVIDENCE_LEAF_TYPES, values)


def evidence_leaf_hash(claim_ref: bytes, content_commitment: bytes, cid: bytes) -> bytes:
    """Standard leaf hash of an evidence leaf."""
    return keccak256(keccak256(encode_evidence_leaf(claim_ref, content_commitment, cid)))


@dataclass(frozen=True, slots=True)
class EvidenceLeaf:
    """One notarized evidence item: ``(bytes32 claimRef, bytes32 contentCommitment, bytes cid)``."""

    claim_ref: bytes
    content_commitment: bytes
    cid: bytes

    def __post_init__(self) -> None:
        for name in ("claim_ref", "content_commitment", "cid"):
            if not isinstance(getattr(self, name), bytes):
                raise LeafEncodingError(f"{name} must be bytes", field=name)
        encode_evidence_leaf(self.claim_ref, self.content_commitment, self.cid)

    def values(self) -> tuple[bytes, bytes, bytes]:
        """The leaf's values in ``EVIDENCE_LEAF_TYPES`` order (for ``StandardMerkleTree.of``)."""
        return (self.claim_ref, self.content_commitment, self.cid)

    def encode(self) -> bytes:
        return encode_evidence_leaf(self.claim_ref, self.content_commitment, self.cid)

    def leaf_hash(self) -> bytes:
        return evidence_leaf_hash(self.claim_ref, self.content_commitment, self.cid)

    def to_json(self) -> dict[str, str]:
        """``{"claimRef", "contentCommitment", "cid"}`` as lower-case ``0x`` hex."""
        return {
            "claimRef": to_hex(self.claim_ref),
            "contentCommitment": to_hex(self.content_commitment),
            "cid": to_hex(self.cid),
        }
