"""Verdicts signed on the reviewer's own device: the server drafts, the device signs, the server relays.

For a reviewer whose key is their own (``participant_keys``: only the address is stored here)::

    1. draft_verdict(verdict, reasonCode, report): the report is sealed in the evidence store, its
       salted hash computed, the reviewer's on-chain nonce and a deadline read; the server returns
       the exact EIP-712 typed-data document (domain from the deployed ClaimLedger) and keeps the
       draft's private details (report location, salt) in a ``verdict_drafted`` timeline row.
    2. the device signs that document (browser keystore, wallet, or ``hubao sign typed-data``);
    3. submit_signed_verdict(message, signature): the message must be a draft the server made for
       this reviewer, claim and address; the signature must recover to the reviewer's registered
       address — else 403 ``SIGNATURE_NOT_REGISTERED_KEY``; then it is stored as ``verdict_signed``
       and relayed exactly as a server-signed verdict (``review_verdicts.relay_verdict``).

The server never signs here: it holds no key for such a reviewer. Reviewers who still have a
server-held key use ``review_verdicts.submit_verdict`` until they register their own
(``DEVICE_KEY_REQUIRED`` / ``SERVER_KEY_STILL_IN_USE`` say which path an account must take).

    InvalidInput (422)   INVALID_VERDICT, INVALID_REASON_CODE, REPORT_REQUIRED, BAD_VERDICT_MESSAGE, BAD_SIGNATURE
    Forbidden (403)      SIGNATURE_NOT_REGISTERED_KEY
    Conflict (409)       SERVER_KEY_STILL_IN_USE, NO_SIGNING_KEY, VERDICT_ALREADY_SIGNED, INVALID_STATE,
                         DRAFT_NOT_FOUND (no draft of the server's matches the signed message)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import select

from backend.chain import typed_data
from backend.chain.eip712 import Verdict, VerdictKind, verdict_typed_data
from backend.db.models import Account, ClaimEvent
from backend.errors import Conflict, Forbidden, InvalidInput
from backend.proofs.commitments import new_salt, report_hash
from backend.services.auth import Principal
from backend.services.claims import hex32, record_event
from backend.services.context import ServiceContext
from backend.services.review import _assignment, reason_code_number
from backend.services.review_verdicts import (
    VERDICT_TTL_SECONDS,
    VerdictRequest,
    VerdictResult,
    _check_request,
    relay_verdict,
)


@dataclass(frozen=True)
class VerdictDraft:
    """The typed-data document the reviewer's device signs, and the address that must sign it.

    ``report_salt`` lets the device check ``reportHash`` against the report it wrote before signing
    (the salt hides the report from everyone else; its author may see it)."""

    typed_data: dict[str, Any]
    signer: str
    report_hash: str
    report_salt: str
    expires_at: int


def _device_reviewer(account: Account) -> str:
    if account.signing_address is None:
        raise Conflict("register your signing key first", code="NO_SIGNING_KEY")
    if account.signing_key_encrypted is not None:
        raise Conflict(
            "your verdicts are still signed with the server-held key: register your own key to sign them yourself",
            code="SERVER_KEY_STILL_IN_USE",
        )
    return str(account.signing_address)


def draft_verdict(ctx: ServiceContext, principal: Principal, claim_pk: str, request: VerdictRequest) -> VerdictDraft:
    """Seal the report and return the Verdict document for the reviewer's device to sign."""
    from evidence_store import seal_evidence

    client = ctx.claim_ledger
    with ctx.sessions.begin() as session:
        claim, assignment = _assignment(session, principal, claim_pk)  # 404 before anything else
        _check_request(request)
        if assignment.signature is not None:
            raise Conflict("you already signed a verdict on this claim", code="VERDICT_ALREADY_SIGNED")
        if claim.status != "UNDER_REVIEW":
            raise Conflict(f"the claim is {claim.status}, not under review", code="INVALID_STATE")
        reviewer = session.get(Account, principal.account_id)
        assert reviewer is not None
        signer = _device_reviewer(reviewer)
        salt = new_salt()
        sealed = seal_evidence(ctx.store, ctx.keyring, [request.report.encode("utf-8")])
        verdict = Verdict(
            claim_id=claim.claim_id,
            verdict=int(VerdictKind[request.verdict]),
            reason_code=reason_code_number(request.verdict, request.reason_code),
            report_hash=report_hash(request.report, salt),
            rule_set_hash=claim.rule_set_hash,
            nonce=client.nonces(signer),
            deadline=int(ctx.w3.eth.get_block("latest")["timestamp"]) + VERDICT_TTL_SECONDS,
        )
        record_event(
            session,
            claim,
            "verdict_drafted",
            private={
                "reviewerId": reviewer.id,
                "signer": signer,
                "verdict": request.verdict,
                "reasonCode": request.reason_code or "APPROVED",
                "reportHash": hex32(verdict.report_hash),
                "nonce": verdict.nonce,
                "deadline": verdict.deadline,
                "reportSalt": hex32(salt),
                "reportCid": str(sealed.cid),
                "reportKid": sealed.kid,
                "reportDek": hex32(sealed.wrapped_dek),
                "reportSha256": hex32(sealed.plaintext_sha256),
                "reportSize": sealed.size,
            },
        )
    document = verdict_typed_data(verdict, client.domain())
    # JSON as wallets and eth_signTypedData_v4 take it: bytes as 0x hex, uint256 as decimal strings.
    document["message"] = {
        name: "0x" + value.hex() if isinstance(value, bytes) else str(value) if name in ("nonce", "deadline") else value
        for name, value in document["message"].items()
    }
    return VerdictDraft(document, signer, hex32(verdict.report_hash) or "", hex32(salt) or "", verdict.deadline)


def _hex32(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise InvalidInput(f"{name} must be 0x-prefixed 32 bytes", code="BAD_VERDICT_MESSAGE", field=name)
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise InvalidInput(f"{name} must be hex", code="BAD_VERDICT_MESSAGE", field=name) from exc


def _uint(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{name} must be an unsigned integer", code="BAD_VERDICT_MESSAGE", field=name)
    try:
        number = int(value, 0) if isinstance(value, str) else value
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an unsigned integer", code="BAD_VERDICT_MESSAGE", field=name) from exc
    if number < 0:
        raise InvalidInput(f"{name} must be an unsigned integer", code="BAD_VERDICT_MESSAGE", field=name)
    return number


def verdict_from_message(message: dict[str, Any]) -> Verdict:
    """The Verdict of an EIP-712 ``message`` (Solidity field names, hex bytes, decimal or hex integers)."""
    if not isinstance(message, dict):
        raise InvalidInput("the verdict message must be an object", code="BAD_VERDICT_MESSAGE")
    try:
        verdict = Verdict(
            claim_id=_hex32(message.get("claimId"), "claimId"),
            verdict=_uint(message.get("verdict"), "verdict"),
            reason_code=_uint(message.get("reasonCode"), "reasonCode"),
            report_hash=_hex32(message.get("reportHash"), "reportHash"),
            rule_set_hash=_hex32(message.get("ruleSetHash"), "ruleSetHash"),
            nonce=_uint(message.get("nonce"), "nonce"),
            deadline=_uint(message.get("deadline"), "deadline"),
        )
    except InvalidInput as exc:
        if exc.code == "BAD_VERDICT_MESSAGE":
            raise
        raise InvalidInput(exc.message, code="BAD_VERDICT_MESSAGE") from exc
    if verdict.verdict not in (VerdictKind.APPROVE, VerdictKind.REJECT):
        raise InvalidInput("verdict is 1 (approve) or 2 (reject)", code="BAD_VERDICT_MESSAGE", field="verdict")
    return verdict


def submit_signed_verdict(
    ctx: ServiceContext, principal: Principal, claim_pk: str, message: dict[str, Any], signature: bytes
) -> VerdictResult:
    """Check a device-signed verdict against the server's draft and the registered key; store and relay it."""
    client = ctx.claim_ledger
    with ctx.sessions.begin() as session:
        claim, assignment = _assignment(session, principal, claim_pk)  # 404 before anything else
        verdict = verdict_from_message(message)
        reviewer = session.get(Account, principal.account_id)
        assert reviewer is not None
        signer = _device_reviewer(reviewer)
        if assignment.signature is not None:
            if bytes(assignment.signature) != signature:
                raise Conflict("you already signed a verdict on this claim", code="VERDICT_ALREADY_SIGNED")
        else:
            if verdict.claim_id != claim.claim_id or verdict.rule_set_hash != claim.rule_set_hash:
                raise InvalidInput("the verdict is for another claim or rule set", code="BAD_VERDICT_MESSAGE")
            recovered = typed_data.recover_signer(verdict_typed_data(verdict, client.domain()), signature)
            if recovered != to_checksum_address(signer):
                raise Forbidden("the verdict is not signed by your registered key", code="SIGNATURE_NOT_REGISTERED_KEY")
            draft = _matching_draft(session, claim.id, reviewer.id, signer, verdict)
            kind = VerdictKind(verdict.verdict).name
            reason = draft["reasonCode"]
            if reason_code_number(kind, None if reason == "APPROVED" else reason) != verdict.reason_code:
                raise InvalidInput("the reason code differs from the draft", code="BAD_VERDICT_MESSAGE")
            assignment.verdict = kind
            assignment.reason_code = reason
            assignment.report_hash = verdict.report_hash
            assignment.signature = signature
            private = {k: draft[k] for k in draft if k not in ("signer", "verdict", "reasonCode", "reportHash")}
            record_event(
                session,
                claim,
                "verdict_signed",
                verdict=kind,
                reportHash=hex32(verdict.report_hash),
                signedOn="device",
                private=private | {"signer": signer},
            )
    return relay_verdict(ctx, principal, claim_pk)


def _matching_draft(session: Any, claim_pk: str, reviewer_id: str, signer: str, verdict: Verdict) -> dict[str, Any]:
    """The private details of the server's draft this signed verdict answers (DRAFT_NOT_FOUND if none)."""
    rows = session.scalars(
        select(ClaimEvent)
        .where(ClaimEvent.claim_pk == claim_pk, ClaimEvent.kind == "verdict_drafted")
        .order_by(ClaimEvent.id.desc())
    ).all()
    wanted_kind = VerdictKind(verdict.verdict).name
    for row in rows:
        private = json.loads(row.detail).get("private", {})
        if (
            private.get("reviewerId") == reviewer_id
            and private.get("signer") == signer
            and private.get("verdict") == wanted_kind
            and private.get("reportHash") == hex32(verdict.report_hash)
            and int(private.get("nonce", -1)) == verdict.nonce
            and int(private.get("deadline", -1)) == verdict.deadline
        ):
            return dict(private)
    raise Conflict("no verdict draft of the server matches this message: ask for a new draft", code="DRAFT_NOT_FOUND")


__all__ = [
    "VerdictDraft",
    "draft_verdict",
    "submit_signed_verdict",
    "verdict_from_message",
]
