"""Member consent: the typed-data documents a member's own key signs for a claim action, and the
check of a signed answer before it is relayed (issue 14 item 4).

The server hands out the document (ClaimLedger's domain, the claim id, a deadline), the member's
device signs it with the claim's key (withdrawal, appeal) or a fresh key of its own (objection), and
the answer is checked here — the signature must recover to the key the contract will require — then
relayed; the contract checks it again and is the authority. The server never holds these keys.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from backend.chain import typed_data
from backend.errors import Conflict, InvalidInput
from backend.services.context import ServiceContext

__all__ = ["CONSENT_SECONDS", "consent_draft", "require_consent"]

#: How long a signed member action stays valid: its ``deadline`` is the chain's time plus this.
CONSENT_SECONDS = 3600


def _domain(ctx: ServiceContext) -> dict[str, Any]:
    return ctx.claim_ledger.domain().as_dict()


def _chain_now(ctx: ServiceContext) -> int:
    """The latest block's time: what the contract compares ``deadline`` with (not this host's clock)."""
    return int(ctx.w3.eth.get_block("latest")["timestamp"])


def consent_draft(
    ctx: ServiceContext,
    kind: str,
    claim_id: bytes,
    *,
    signer: str | None,
    objector_commitment: bytes | None = None,
) -> dict[str, Any]:
    """``{typedData, signer}``: the document to sign; ``signer`` is the key the contract will require
    (None for an objection: the objector's device makes a fresh key for it)."""
    if kind != "Objection" and not signer:
        raise Conflict(
            "this claim was filed before claimant keys: it has no key that could sign this", code="NO_CLAIMANT_KEY"
        )
    deadline = _chain_now(ctx) + CONSENT_SECONDS
    doc = typed_data.consent_document(
        _domain(ctx), kind, claim_id=claim_id, deadline=deadline, objector_commitment=objector_commitment
    )
    return {"typedData": doc, "signer": signer}


def require_consent(
    ctx: ServiceContext,
    kind: str,
    claim_id: bytes,
    *,
    deadline: int,
    signature: bytes,
    signer: str,
    objector_commitment: bytes | None = None,
) -> None:
    """Refuse (422 WRONG_SIGNER, BAD_SIGNATURE, CONSENT_EXPIRED) a signed action the contract would refuse."""
    if deadline < _chain_now(ctx):
        raise InvalidInput("this signature has expired: sign again", code="CONSENT_EXPIRED", field="deadline")
    doc = typed_data.consent_document(
        _domain(ctx), kind, claim_id=claim_id, deadline=deadline, objector_commitment=objector_commitment
    )
    recovered = typed_data.recover_signer(doc, signature)
    if recovered != to_checksum_address(signer):
        raise InvalidInput(
            f"the {kind} is signed by {recovered}, not by the key it needs ({to_checksum_address(signer)})",
            code="WRONG_SIGNER",
            field="signature",
        )
