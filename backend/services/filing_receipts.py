"""The operator's signed filing receipt (``backend.proofs.filing_receipt``): made when a filing is
accepted, before it is relayed to ClaimLedger, and handed to the claimant to keep.

The receipt is signed with the operator's ClaimLedger key over the EIP-712 ``FilingReceipt`` of the
ClaimLedger domain; ``onChainBy`` is the acceptance time (on the chain's clock,
:func:`backend.services.chain_clock.queue_time`) plus ``HUBAO_FILING_ONCHAIN_DEADLINE``. It is
kept with the claim's ``submitted`` timeline row (public values only) so the claimant can download
it again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import coincurve
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Claim, ClaimEvent
from backend.errors import NotFound
from backend.proofs.filing_receipt import FilingReceipt, filing_receipt_digest
from backend.services.context import ServiceContext

__all__ = ["FILING_RECEIPT_DETAIL", "filing_receipt_of", "sign_filing_receipt"]

#: The key of the receipt in the ``submitted`` row's detail.
FILING_RECEIPT_DETAIL = "filingReceipt"


def sign_filing_receipt(
    ctx: ServiceContext, claim_id: bytes, evidence_root: bytes, accepted_at: datetime
) -> FilingReceipt:
    """The operator's receipt for a filing accepted at ``accepted_at`` (RFC 6979, low s)."""
    domain = ctx.claim_ledger.domain()
    filed_at = int(accepted_at.timestamp())
    on_chain_by = filed_at + ctx.settings.filing_onchain_deadline
    digest = filing_receipt_digest(
        chain_id=domain.chain_id,
        contract=domain.verifying_contract,
        domain_version=domain.version,
        claim_id=claim_id,
        evidence_root=evidence_root,
        filed_at=filed_at,
        on_chain_by=on_chain_by,
    )
    rsv = coincurve.PrivateKey(bytes(ctx.operator.signer.key)).sign_recoverable(digest, hasher=None)
    return FilingReceipt(
        chain_id=domain.chain_id,
        contract=domain.verifying_contract,
        domain_version=domain.version,
        operator=ctx.operator.address,
        claim_id=claim_id,
        evidence_root=evidence_root,
        filed_at=filed_at,
        on_chain_by=on_chain_by,
        signature=rsv[:64] + bytes([rsv[64] + 27]),
    )


def filing_receipt_of(session: Session, claim: Claim) -> dict[str, Any]:
    """The claim's filing receipt as issued; NotFound (NO_FILING_RECEIPT) for a filing that got none
    (rejected by the rules at filing, never to be on chain; or filed before receipts existed)."""
    details = session.scalars(
        select(ClaimEvent.detail).where(ClaimEvent.claim_pk == claim.id, ClaimEvent.kind == "submitted")
    ).all()
    for detail in details:
        receipt = json.loads(detail).get(FILING_RECEIPT_DETAIL)
        if isinstance(receipt, dict):
            return receipt
    raise NotFound("this claim has no filing receipt", code="NO_FILING_RECEIPT")
