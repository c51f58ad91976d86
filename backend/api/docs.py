"""``/docs``: Swagger UI served from the app itself, never from a CDN (it works offline).

The assets are the npm package ``swagger-ui-dist``, pinned in ``package.json`` and the lockfile and
installed by ``npm ci`` (``make run`` / ``make test`` / the Dockerfile) into ``node_modules``; they
are served from there under ``/docs/assets/``. FastAPI's own page would load them from jsDelivr.
When the package is missing, ``/docs`` says how to install it instead of a blank page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, Response

from backend.errors import NotFound

DOCS = "/docs"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"}


def swagger_ui_dist() -> Path | None:
    """The installed ``swagger-ui-dist`` package: the checkout's ``node_modules`` (an editable
    install, ``make run``) or the working directory's (the Docker image's ``/app``)."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = root / "node_modules" / "swagger-ui-dist"
        if (candidate / "swagger-ui-bundle.js").is_file():
            return candidate
    return None


def mount_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve Swagger UI at ``/docs`` with its assets from this origin."""
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS)
    def docs() -> HTMLResponse:
        if swagger_ui_dist() is None:
            return HTMLResponse(
                "<!doctype html><title>Hubao API docs</title><h1>Swagger UI is not installed</h1>"
                "<p>Its assets come from the npm package swagger-ui-dist: run <code>npm ci</code> (or "
                "<code>make run</code>) in the checkout. The OpenAPI document is at "
                f'<a href="{openapi_url}">{openapi_url}</a>.</p>',
                status_code=503,
                headers=_HEADERS,
            )
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS}/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS}/assets/swagger-ui.css",
            swagger_favicon_url=f"{DOCS}/assets/favicon-32x32.png",
            oauth2_redirect_url=f"{DOCS}/oauth2-redirect",
        )
        page.headers.update(_HEADERS)
        return page

    @router.get(f"{DOCS}/oauth2-redirect")
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get(DOCS + "/assets/{name}")
    def asset(name: str) -> Response:
        root = swagger_ui_dist()
        if name not in ASSETS or root is None:
            raise NotFound("no such asset")
        return FileResponse(root / name, media_type=ASSETS[name], headers=_HEADERS)

    app.include_router(router)
