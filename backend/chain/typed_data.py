"""Hubao typed-data documents signed by participants' own keys (device, wallet or CLI keystore).

Verification-critical (DESIGN.md "Exact formats" 6): the digest of a document is eth-account's
``encode_typed_data(full_message=doc)`` — the same bytes the browser's
``backend/web/static/js/device/typed_data.js`` and a wallet's ``eth_signTypedData_v4`` sign, pinned
against each other by ``tests/device/``. All functions are pure.

A *typed-data document* is the EIP-712 JSON ``{types, primaryType, domain, message}`` the server
hands out (it may omit ``types.EIP712Domain``: it is then inferred from the domain's keys, as
wallets do). A Hubao document has the domain ``{name: "Hubao", version: <contract major>, chainId,
verifyingContract}``; :func:`check_hubao_document` refuses any other, so a keystore used with
``hubao sign`` cannot be made to sign, say, a token permit.

* **KeyRegistration** (off chain; proof of possession when a participant registers a key)::

      KeyRegistration(string purpose,string account,address key,bytes32 challenge,uint256 expiresAt)

  ``challenge`` is a one-time random value from the server, ``expiresAt`` a unix time.

* **VoteSalt** (never sent anywhere: the juror's device signs it to *derive* the vote's salt)::

      VoteSalt(bytes32 claimId,uint32 round)

  ``salt = keccak256(signature)`` over the 65 bytes ``r ‖ s ‖ v``. RFC 6979 signatures are
  deterministic, so the device (keystore, wallet or CLI) re-derives the same salt at reveal time: a
  lost browser tab loses nothing, and nobody without the juror's key can compute it.
* **VoteCommit** (relayed: ``ClaimLedger.commitVoteBySig``)::

      VoteCommit(bytes32 claimId,uint32 round,bytes32 commitment)

  with ``commitment = keccak256(abi.encode(bytes32 claimId, uint32 round, address juror,
  bool approve, bytes32 salt))`` (:func:`backend.chain.eip712.vote_commitment`). The reveal
  ``revealVote(claimId, juror, approve, salt)`` needs no signature: only the juror can derive the salt.

* **Withdrawal**, **Appeal** (relayed: ``ClaimLedger.withdrawClaimBySig`` / ``appealBySig``; signed
  by the claim's own ``claimantKey``, the key the claimant's device made for this claim at filing)::

      Withdrawal(bytes32 claimId,uint256 deadline)
      Appeal(bytes32 claimId,uint256 deadline)

* **Objection** (relayed by the operator: ``ClaimLedger.objectBySig``; signed by a fresh key the
  objecting member's device makes for this objection)::

      Objection(bytes32 claimId,bytes32 objectorCommitment,uint256 deadline)

  ``deadline`` is a block timestamp after which the contract refuses the signature. Each is usable
  once (the claim leaves the state it needs), so they carry no nonce.

Signatures are 65 bytes ``r ‖ s ‖ v`` (v ∈ {27, 28}); :func:`recover_signer` refuses high-``s``
forms, which ClaimLedger's ``ECDSA.recover`` refuses too.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from eth_abi.exceptions import EncodingError
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_keys.constants import SECPK1_N
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from backend.chain.eip712 import salt_from_signature, vote_commitment
from backend.errors import InvalidInput

DOMAIN_NAME = "Hubao"
_DOMAIN_FIELDS = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
)
KEY_REGISTRATION_FIELDS: list[dict[str, str]] = [
    {"name": "purpose", "type": "string"},
    {"name": "account", "type": "string"},
    {"name": "key", "type": "address"},
    {"name": "challenge", "type": "bytes32"},
    {"name": "expiresAt", "type": "uint256"},
]
KEY_REGISTRATION_PURPOSE = "Register this key as my Hubao signing key"
VOTE_SALT_FIELDS: list[dict[str, str]] = [
    {"name": "claimId", "type": "bytes32"},
    {"name": "round", "type": "uint32"},
]
VOTE_COMMIT_FIELDS: list[dict[str, str]] = [
    {"name": "claimId", "type": "bytes32"},
    {"name": "round", "type": "uint32"},
    {"name": "commitment", "type": "bytes32"},
]
# Documents whose signature is a secret (it IS the vote's salt): never sent, never printed.
PRIVATE_PRIMARY_TYPES = frozenset({"VoteSalt"})


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, code="BAD_TYPED_DATA")


def domain_fields(domain: dict[str, Any]) -> list[dict[str, str]]:
    """The ``EIP712Domain`` fields a domain uses, in the canonical order."""
    return [{"name": n, "type": t} for n, t in _DOMAIN_FIELDS if n in domain]


def load_document(raw: Any) -> dict[str, Any]:
    """A typed-data document from parsed JSON: the document itself, or a draft wrapping it as ``typedData``.

    Returns a copy with ``types.EIP712Domain`` filled in; raises InvalidInput (BAD_TYPED_DATA).
    """
    if isinstance(raw, dict) and isinstance(raw.get("typedData"), dict):
        raw = raw["typedData"]
    if not isinstance(raw, dict) or not all(k in raw for k in ("types", "primaryType", "domain", "message")):
        raise _bad("a typed-data document has types, primaryType, domain and message")
    doc = copy.deepcopy(raw)
    if not isinstance(doc["types"], dict) or not isinstance(doc["domain"], dict):
        raise _bad("types and domain must be objects")
    if not isinstance(doc["primaryType"], str) or doc["primaryType"] not in doc["types"]:
        raise _bad("primaryType must name one of the types")
    doc["types"].setdefault("EIP712Domain", domain_fields(doc["domain"]))
    return doc


def check_hubao_document(
    doc: dict[str, Any],
    *,
    primary_type: str | None = None,
    chain_id: int | None = None,
    verifying_contract: str | None = None,
) -> dict[str, Any]:
    """Refuse a document that is not a Hubao message (or not of the expected kind, chain, contract)."""
    domain = doc["domain"]
    if domain.get("name") != DOMAIN_NAME:
        raise _bad("not a Hubao message (domain name)")
    version = domain.get("version")
    if not isinstance(version, str) or not version.isdigit():
        raise _bad("the domain has no contract version")
    if not isinstance(domain.get("chainId"), int) and not str(domain.get("chainId", "")).isdigit():
        raise _bad("the domain has no chain id")
    if not isinstance(domain.get("verifyingContract"), str) or not is_address(domain["verifyingContract"]):
        raise _bad("the domain has no verifying contract")
    if primary_type is not None and doc["primaryType"] != primary_type:
        raise _bad(f"expected a {primary_type}, got {doc['primaryType']}")
    if chain_id is not None and int(domain["chainId"]) != chain_id:
        raise _bad("the document is for another chain")
    if verifying_contract is not None and to_checksum_address(domain["verifyingContract"]) != to_checksum_address(
        verifying_contract
    ):
        raise _bad("the document is for another contract")
    return doc


def _signable(doc: dict[str, Any]) -> SignableMessage:
    try:
        return encode_typed_data(full_message=doc)
    except (ValueError, TypeError, KeyError, AttributeError, EncodingError) as exc:
        raise _bad(f"the typed data does not encode: {exc}") from exc


def digest(doc: dict[str, Any]) -> bytes:
    """keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message)): what gets signed."""
    signable = _signable(doc)
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign(doc: dict[str, Any], private_key: bytes) -> bytes:
    """The 65-byte ``r ‖ s ‖ v`` signature of ``doc`` by ``private_key`` (RFC 6979, low s)."""
    return bytes(Account.sign_message(_signable(doc), private_key).signature)


def recover_signer(doc: dict[str, Any], signature: bytes) -> str:
    """The checksummed address that signed ``doc``; InvalidInput (BAD_SIGNATURE) for a malformed or high-s one."""
    if len(signature) != 65:
        raise InvalidInput("a signature is 65 bytes r ‖ s ‖ v", code="BAD_SIGNATURE")
    if int.from_bytes(signature[32:64], "big") > SECPK1_N // 2:
        raise InvalidInput("high-s signatures are refused (the contract refuses them)", code="BAD_SIGNATURE")
    if signature[64] not in (27, 28):
        raise InvalidInput("v must be 27 or 28", code="BAD_SIGNATURE")
    try:
        return str(Account.recover_message(_signable(doc), signature=signature))
    except (ValueError, TypeError) as exc:
        raise InvalidInput("the signature does not recover to a key", code="BAD_SIGNATURE") from exc


def key_registration_document(
    domain: dict[str, Any], *, account: str, key: str, challenge: bytes, expires_at: int
) -> dict[str, Any]:
    """The KeyRegistration challenge a participant's device signs to prove it holds ``key``."""
    if len(challenge) != 32:
        raise _bad("a challenge is 32 bytes")
    message = {
        "purpose": KEY_REGISTRATION_PURPOSE,
        "account": account,
        "key": to_checksum_address(key),
        "challenge": "0x" + challenge.hex(),
        "expiresAt": str(expires_at),
    }
    return _document(domain, "KeyRegistration", KEY_REGISTRATION_FIELDS, message)


#: The member actions a member's own key signs (``consent_document``), field for field ClaimLedger's.
CONSENT_FIELDS: dict[str, list[dict[str, str]]] = {
    "Withdrawal": [{"name": "claimId", "type": "bytes32"}, {"name": "deadline", "type": "uint256"}],
    "Appeal": [{"name": "claimId", "type": "bytes32"}, {"name": "deadline", "type": "uint256"}],
    "Objection": [
        {"name": "claimId", "type": "bytes32"},
        {"name": "objectorCommitment", "type": "bytes32"},
        {"name": "deadline", "type": "uint256"},
    ],
}


def consent_document(
    domain: dict[str, Any],
    kind: str,
    *,
    claim_id: bytes,
    deadline: int,
    objector_commitment: bytes | None = None,
) -> dict[str, Any]:
    """The Withdrawal, Appeal or Objection document a member's own key signs (module docstring)."""
    if kind not in CONSENT_FIELDS:
        raise _bad(f"{kind} is not a member action")
    if isinstance(deadline, bool) or not isinstance(deadline, int) or not 0 <= deadline < 2**256:
        raise _bad("a deadline is a uint256")
    message: dict[str, Any] = {"claimId": _b32(claim_id, "claimId")}
    if kind == "Objection":
        if objector_commitment is None:
            raise _bad("an objection names the objector's commitment")
        message["objectorCommitment"] = _b32(objector_commitment, "objectorCommitment")
    message["deadline"] = str(deadline)
    return _document(domain, kind, CONSENT_FIELDS[kind], message)


def _b32(value: bytes, name: str) -> str:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise _bad(f"{name} is 32 bytes")
    return "0x" + bytes(value).hex()


def _round(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**32:
        raise _bad("a jury round is a uint32 above 0")
    return value


def vote_salt_document(domain: dict[str, Any], *, claim_id: bytes, round_: int) -> dict[str, Any]:
    """The VoteSalt document a juror's device signs to derive (never to send) the round's salt."""
    return _jury_vote_document(domain, claim_id, round_, None)


def vote_commit_document(domain: dict[str, Any], *, claim_id: bytes, round_: int, commitment: bytes) -> dict[str, Any]:
    """The VoteCommit document a juror signs; the operator relays it (``commitVoteBySig``)."""
    return _jury_vote_document(domain, claim_id, round_, commitment)


def _jury_vote_document(
    domain: dict[str, Any], claim_id: bytes, round_: int, commitment: bytes | None
) -> dict[str, Any]:
    """VoteSalt, or with a ``commitment`` VoteCommit: the same claim and round, one field more."""
    message: dict[str, Any] = {"claimId": _b32(claim_id, "claimId"), "round": _round(round_)}
    if commitment is None:
        return _document(domain, "VoteSalt", VOTE_SALT_FIELDS, message)
    message["commitment"] = _b32(commitment, "commitment")
    return _document(domain, "VoteCommit", VOTE_COMMIT_FIELDS, message)


def _document(
    domain: dict[str, Any], primary_type: str, fields: list[dict[str, str]], message: dict[str, Any]
) -> dict[str, Any]:
    """Every Hubao document's shape: ``eth_signTypedData_v4``'s, the domain's type spelled out."""
    return {
        "types": {"EIP712Domain": domain_fields(domain), primary_type: fields},
        "primaryType": primary_type,
        "domain": dict(domain),
        "message": message,
    }


def derive_vote_salt(doc: dict[str, Any], private_key: bytes) -> bytes:
    """Sign a VoteSalt document with ``private_key`` and hash the signature: the salt (kept local)."""
    check_hubao_document(doc, primary_type="VoteSalt")
    return salt_from_signature(sign(doc, private_key))


def vote_payloads(salt_document: Any, private_key: bytes, approve: bool) -> dict[str, Any]:
    """A juror's device side of a vote, from the server's (or a self-built) VoteSalt document:
    ``{"juror": address, "commit": {commitment, signature}, "reveal": {approve, salt}}``.

    ``commit`` is the body ``POST /jury/claims/{id}/commit`` relays (or ``commitVoteBySig``'s
    arguments); ``reveal`` is the body of ``POST /jury/claims/{id}/reveal`` — send it only in the
    reveal window: until then the salt is the vote's secret.
    """
    doc = check_hubao_document(load_document(salt_document), primary_type="VoteSalt")
    claim_id = bytes.fromhex(str(doc["message"]["claimId"])[2:])
    round_ = int(doc["message"]["round"])
    juror = str(Account.from_key(private_key).address)
    salt = derive_vote_salt(doc, private_key)
    commitment = vote_commitment(claim_id, round_, juror, approve, salt)
    commit_doc = vote_commit_document(doc["domain"], claim_id=claim_id, round_=round_, commitment=commitment)
    return {
        "juror": juror,
        "commit": {"commitment": "0x" + commitment.hex(), "signature": "0x" + sign(commit_doc, private_key).hex()},
        "reveal": {"approve": bool(approve), "salt": "0x" + salt.hex()},
    }


def summary(doc: dict[str, Any]) -> str:
    """One human line per field of what is being signed (for a terminal or a log)."""
    lines = [f"{doc['primaryType']} for {doc['domain'].get('name')} v{doc['domain'].get('version')}"]
    lines.append(f"  chain {doc['domain'].get('chainId')}, contract {doc['domain'].get('verifyingContract')}")
    for name, value in doc["message"].items():
        lines.append(f"  {name}: {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines)
