"""``GET /anchors/{batchId}``: an anchored evidence batch as the chain records it (any signed-in role).

Public chain data; the web UI compares an evidence receipt's root, previous root, leaf count and
block with it (receipt steps 6–11, as ``hubao receipt verify --rpc`` does).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path

from backend.api.deps import CurrentPrincipal, RuntimeDep
from backend.api.routes.claims import ApiModel
from backend.services.anchors import anchored_batch

router = APIRouter(tags=["evidence"])


class AnchoredBatchOut(ApiModel):
    batch_id: int
    chain_id: int
    contract: str
    root: str
    prev_root: str
    leaf_count: int
    block_number: int


@router.get(
    "/anchors/{batch_id}",
    response_model=AnchoredBatchOut,
    summary="An anchored evidence batch: root, previous root, leaf count and block, read from EvidenceNotary",
    responses={404: {"description": "BATCH_NOT_FOUND"}},
)
def anchor(
    batch_id: Annotated[int, Path(ge=0, le=2**64 - 1)], _principal: CurrentPrincipal, runtime: RuntimeDep
) -> AnchoredBatchOut:
    return AnchoredBatchOut(**asdict(anchored_batch(runtime, batch_id)))
