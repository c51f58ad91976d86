from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.api.deps import RuntimeDep, SessionDep
from backend.services.receipts import evidence_receipt

router = APIRouter(prefix="/evidence", tags=["evidence"])


@router.get(
    "/{evidence_id}/receipt",
    summary="Version-1 evidence receipt: Merkle inclusion proof of the commitment, anchored on chain",
    responses={404: {"description": "unknown evidence"}, 409: {"description": "not anchored yet"}},
)
def get_receipt(evidence_id: str, runtime: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    receipt = evidence_receipt(
        session,
        evidence_id,
        chain_id=runtime.deployment.chain_id,
        contract=runtime.contracts["EvidenceNotary"].address,
    )
    return receipt.to_json()
