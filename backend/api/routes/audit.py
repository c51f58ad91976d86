"""``GET /audit``: the full audit report (auditor role), computed in a worker thread."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Response

from backend.api.deps import RuntimeDep, role_dependency
from backend.audit.runner import audit_runtime

router = APIRouter(tags=["audit"])


@router.get(
    "/audit",
    summary="Re-derive the notarized history from the chain and the evidence store; name every mismatch",
    dependencies=[role_dependency("auditor")],  # type: ignore[list-item]
    responses={
        200: {"description": "the deterministic audit report (``ok`` says whether it passed)"},
        401: {"description": "not signed in"},
        403: {"description": "not an auditor"},
    },
)
async def get_audit(runtime: RuntimeDep) -> Response:
    report = await anyio.to_thread.run_sync(audit_runtime, runtime)
    return Response(content=report.to_json_text(), media_type="application/json")
