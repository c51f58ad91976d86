from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.api.deps import RuntimeDep
from backend.services.health import health_report

router = APIRouter(tags=["health"])


@router.get("/health", summary="Chain, database, evidence store, contracts and anchoring status")
def health(runtime: RuntimeDep) -> JSONResponse:
    report: dict[str, Any] = health_report(runtime)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
