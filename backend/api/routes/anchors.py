"""``GET /anchors/{batchId}`` and ``GET /anchors``: anchored evidence batches as the chain records
them (any signed-in role).

Public chain data; the web UI compares an evidence receipt's root, previous root, leaf count and
block with a batch (receipt steps 6–11, as ``hubao receipt verify --rpc`` does), and lists the
newest batches in the auditor's chain history.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep
from backend.api.schemas import ApiModel
from backend.services.anchors import anchored_batch, recent_batches

router = APIRouter(tags=["evidence"])


class AnchoredBatchOut(ApiModel):
    batch_id: int
    chain_id: int
    contract: str
    root: str
    prev_root: str
    leaf_count: int
    block_number: int


class AnchoredBatchEntryOut(ApiModel):
    batch_id: int
    root: str
    prev_root: str
    leaf_count: int
    block_number: int
    tx_hash: str | None = Field(description="the anchoring transaction; null where the node pruned the event")


@router.get(
    "/anchors",
    response_model=list[AnchoredBatchEntryOut],
    summary="The newest anchored evidence batches, newest first, read from EvidenceNotary",
)
def anchors(
    _principal: CurrentPrincipal, runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AnchoredBatchEntryOut]:
    return [AnchoredBatchEntryOut.of(entry) for entry in recent_batches(runtime, limit)]


@router.get(
    "/anchors/{batch_id}",
    response_model=AnchoredBatchOut,
    summary="An anchored evidence batch: root, previous root, leaf count and block, read from EvidenceNotary",
    responses={404: {"description": "BATCH_NOT_FOUND"}},
)
def anchor(
    batch_id: Annotated[int, Path(ge=0, le=2**64 - 1)], _principal: CurrentPrincipal, runtime: RuntimeDep
) -> AnchoredBatchOut:
    return AnchoredBatchOut.of(anchored_batch(runtime, batch_id))
