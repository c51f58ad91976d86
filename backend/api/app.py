"""FastAPI app factory. The lifespan builds the runtime once (unless one is passed in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend import __version__
from backend.api.docs import mount_docs
from backend.api.errors import COMMON_RESPONSES, install_error_handlers
from backend.api.headers import DefaultHeaders
from backend.api.links import add_links
from backend.api.overload import InFlightLimit
from backend.api.routes import (
    accounts,
    anchors,
    audit,
    auth,
    chain_clock,
    claims,
    evidence,
    health,
    jury,
    members,
    notice,
    periods,
    review,
    rules,
    shares,
    signing_keys,
)
from backend.config import Settings, load_settings
from backend.runtime import Runtime, build_runtime
from backend.web import mount_web


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the API. With ``runtime`` given (tests), the caller owns its lifecycle."""
    settings = settings or (runtime.settings if runtime else load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or build_runtime(settings)
        if owned and settings.anchoring:
            app.state.runtime.start_background()
        try:
            yield
        finally:
            if owned:
                app.state.runtime.close()

    docs = settings.docs_enabled
    app = FastAPI(
        title="Hubao",
        version=__version__,
        lifespan=lifespan,
        description="Notarized, verifiable claims for a mutual-aid health plan.",
        docs_url=None,  # backend.api.docs serves /docs with Swagger UI from this origin (no CDN)
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        responses=COMMON_RESPONSES,
    )
    if runtime is not None:
        app.state.runtime = runtime
    # Innermost of the middlewares: an OVERLOADED answer still gets CORS and the default headers.
    app.add_middleware(InFlightLimit, limit=settings.api_max_in_flight)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(DefaultHeaders)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(evidence.router)
    app.include_router(accounts.router)
    app.include_router(members.router)
    app.include_router(rules.router)
    app.include_router(claims.router)
    app.include_router(review.router)
    app.include_router(signing_keys.router)
    app.include_router(notice.router)
    app.include_router(jury.router)
    app.include_router(shares.router)
    app.include_router(audit.router)
    app.include_router(periods.router)
    app.include_router(anchors.router)
    app.include_router(chain_clock.router)
    mount_web(app)
    if docs:
        mount_docs(app, "/openapi.json")
    _with_links(app)
    return app


def _with_links(app: FastAPI) -> None:
    """The generated OpenAPI document, plus the links between operations (``backend.api.links``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
