from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from pydantic import Field

from backend.api.deps import RuntimeDep, SessionDep, role_dependency
from backend.api.schemas import ApiModel, Hex
from backend.api.uploads import run_with_body
from backend.errors import PayloadTooLarge
from backend.services.auth import Principal
from backend.services.chain_clock import queue_time
from backend.services.evidence import MAGIC, accept_evidence, check_uploader, size_text
from backend.services.receipts import evidence_receipt
from evidence_store.multiformats import CID

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


class EvidenceAccepted(ApiModel):
    """Returned once, to the uploader: ``salt`` and ``plaintextSha256`` are private to the claimant."""

    id: str
    cid: str = Field(description="CID of the encrypted file in the evidence store")
    commitment: Hex = Field(description="keccak256(abi.encode(sha256(plaintext), salt)) — the anchored value")
    salt: Hex = Field(description="PRIVATE: lets the claimant prove the commitment; never published")
    plaintext_sha256: Hex = Field(description="PRIVATE: sha256 of the uploaded file")
    size: int
    media_type: str
    receipt_url: str


@router.post(
    "",
    status_code=201,
    response_model=EvidenceAccepted,
    summary="Upload one evidence file (raw body, streamed, encrypted before it is stored)",
    responses={
        403: {"description": "NOT_A_MEMBER: uploads are for members of the plan"},
        413: {"description": "too large"},
        415: {"description": "not PDF, PNG or JPEG"},
        429: {"description": "UPLOAD_QUOTA: the account's daily uploads are used up (Retry-After)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in MAGIC},
        }
    },
)
async def upload_evidence(
    request: Request,
    runtime: RuntimeDep,
    principal: Annotated[Principal, role_dependency("member")],
    claim_ref: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{64}$", description="bytes32 claim reference")],
) -> EvidenceAccepted:
    limit = runtime.settings.upload_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"evidence is larger than the {size_text(limit)} limit per file")
    await anyio.to_thread.run_sync(
        check_uploader, runtime.sessions, principal.account_id, runtime.settings.evidence_uploads_per_day
    )
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    accepted = await run_with_body(
        request,
        lambda chunks: accept_evidence(
            runtime.sessions,
            runtime.store,
            runtime.keyring,
            claim_ref=bytes.fromhex(claim_ref[2:]),
            chunks=chunks,
            media_type=media_type,
            max_bytes=limit,
            uploader_id=principal.account_id,
            queued_at=queue_time(runtime),
        ),
    )
    return EvidenceAccepted.model_validate(
        {
            **asdict(accepted),  # commitment, salt, plaintext_sha256 (bytes become 0x hex), size, media_type
            "id": accepted.evidence_id,
            "cid": str(CID.from_bytes(accepted.cid)),
            "receipt_url": f"/evidence/{accepted.evidence_id}/receipt",
        }
    )
