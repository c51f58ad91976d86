"""The web UI: static ES modules, CSS and one HTML page, served by the API at ``/app/`` (same origin).

No build step and nothing from a CDN: the files under ``static/`` are what the browser loads. Every
UI response carries a strict Content-Security-Policy (no inline script or style, no other origin);
decrypted evidence is shown from ``blob:`` URLs the page makes from authenticated fetches.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response

from backend.errors import NotFound

STATIC = (Path(__file__).parent / "static").resolve()
PREFIX = "/app"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "frame-src blob:",
        "object-src blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def static_file(path: str) -> Path:
    """The file under ``static/`` that ``path`` names (``index.html`` for the root); NotFound otherwise."""
    candidate = (STATIC / (path or "index.html")).resolve()
    if not candidate.is_relative_to(STATIC) or candidate.suffix not in MEDIA_TYPES or not candidate.is_file():
        raise NotFound("no such page")
    return candidate


def _serve(path: str) -> Response:
    found = static_file(path)
    # HTML is re-checked on every load so a deploy is picked up; modules revalidate cheaply (ETag).
    cache = "no-cache"
    return FileResponse(
        found, media_type=MEDIA_TYPES[found.suffix], headers={**SECURITY_HEADERS, "Cache-Control": cache}
    )


router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(f"{PREFIX}")
def app_root() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(f"{PREFIX}/{{path:path}}")
def asset(path: str) -> Response:
    return _serve(path)


def mount_web(app: FastAPI) -> None:
    """Serve the UI at ``/app/`` (and send ``/`` there)."""
    app.include_router(router)
