"""The one place where errors become HTTP responses.

Every error body is ``{"code": ..., "message": ...}``. Domain errors keep their message; 5xx
answers carry fixed public messages so internals never leak.

400 or 422: a body that cannot be read as what the operation takes is 400 — malformed JSON
(``MALFORMED_JSON``), a multipart form that does not parse, exceeds the reader's bounds, has its
parts out of order or misnamed, or lacks a required field or file (``MalformedRequest``:
``MALFORMED_MULTIPART``, ``TOO_MANY_FIELDS``, ``FIELD_TOO_LONG``, ``FIELDS_AFTER_FILES``,
``UNEXPECTED_PART``, ``MISSING_FIELD``, ``EVIDENCE_REQUIRED``). 422 is for a readable body whose
content is refused: a JSON body that is missing or not an object, an unknown or mistyped field
(``extra="forbid"``, RELIABILITY D3), a present form field with a wrong value (``VALIDATION_ERROR``),
an out-of-range query parameter (D13), and the domain's ``InvalidInput`` rules.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from backend import errors as e

log = logging.getLogger(__name__)

# Most specific first.
STATUS: list[tuple[type[e.HubaoError], int]] = [
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.Forbidden, 403),
    (e.Unauthorized, 401),
    (e.InvalidInput, 422),
    (e.MalformedRequest, 400),
    (e.PayloadTooLarge, 413),
    (e.UnsupportedMediaType, 415),
    (e.TooManyRequests, 429),
    (e.DomainError, 400),
    (e.ChainUnavailable, 503),
    (e.ChainError, 502),
    (e.DatabaseError, 503),
]
PUBLIC_5XX = {
    500: "internal error",
    502: "the chain rejected or lost the operation; retry later",
    503: "a backing service is unavailable; retry later",
    504: "a backing service timed out; retry later",
}


class ErrorOut(BaseModel):
    """The body of every error answer."""

    code: str
    message: str


# Declared on every operation (the app's ``responses``): any of them can answer with these, and
# 422 is this envelope, not FastAPI's default ``HTTPValidationError``.
COMMON_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "bad request"),
        (401, "missing or bad credentials"),
        (403, "not allowed for this role"),
        (404, "not found"),
        (409, "conflicts with the current state"),
        (413, "too large"),
        (415, "unsupported media type"),
        (422, "invalid input"),
        (429, "quota used up"),
        (500, "internal error"),
        (502, "the chain rejected or lost the operation"),
        (503, "a backing service is unavailable, or the server is overloaded (OVERLOADED); see Retry-After"),
        (504, "a backing service timed out"),
    )
}


def extra_mappings() -> list[tuple[type[Exception], int]]:
    """Errors from sibling packages (evidence store) mapped by class name to keep imports one-way."""
    mapped: list[tuple[type[Exception], int]] = []
    try:
        import evidence_store.errors as store_errors
    except ImportError:
        return mapped
    for name, status in (
        ("NotFound", 404),
        ("StoreUnavailable", 503),
        ("StoreTimeout", 504),
        ("IntegrityError", 502),
        ("DecryptionError", 403),
        ("EvidenceShredded", 410),
    ):
        cls = getattr(store_errors, name, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            mapped.append((cls, status))
    return mapped


def status_for(exc: Exception) -> int:
    for cls, status in [*STATUS, *extra_mappings()]:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


_NOT_AN_OBJECT = frozenset({"model_attributes_type", "model_type", "dict_type"})


def _expected_media_type(request: Request) -> str | None:
    """The media type the matched operation reads its body as (a form's, or JSON's), if any."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    media_type = getattr(getattr(body_field, "field_info", None), "media_type", None)
    return media_type if isinstance(media_type, str) else None


def _body_problem(
    error: Mapping[str, Any], content_type: str | None, expected: str | None = None
) -> tuple[int, str, str] | None:
    """The answer for a JSON body that is not there, not JSON or not an object, in words a client
    can act on (FastAPI says "27: JSON decode error" or "Input should be a valid dictionary or
    object to extract fields from"); None for an error inside a well-formed body."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type")
    if kind == "json_invalid" and loc[:1] == ("body",):
        reason = str(error.get("ctx", {}).get("error") or "it cannot be parsed")
        position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        where = f" at character {position + 1}" if position is not None else ""
        return 400, "MALFORMED_JSON", f"the request body is not valid JSON: {reason}{where}"
    media_type = (content_type or "").split(";")[0].strip().lower()
    form = expected in ("application/x-www-form-urlencoded", "multipart/form-data")
    if form and kind == "missing" and loc[:1] == ("body",) and media_type not in ("", expected):
        # A form sent as JSON: every field reads as missing ("username: Field required").
        return 415, "UNSUPPORTED_MEDIA_TYPE", f"send this form as {expected}, not {media_type}"
    if loc != ("body",):
        return None
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if kind == "missing":
        return 422, "VALIDATION_ERROR", "the request body is missing: send a JSON object (application/json)"
    if kind in _NOT_AN_OBJECT and not is_json:
        named = media_type or "no Content-Type"
        return (
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"the request body must be JSON sent with Content-Type: application/json, not {named}",
        )
    if kind in _NOT_AN_OBJECT:
        return 422, "VALIDATION_ERROR", "the request body must be a JSON object ({...})"
    return None


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain(_request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        code = str(getattr(exc, "code", "INTERNAL_ERROR"))
        message = str(getattr(exc, "message", "") or exc) if status < 500 else PUBLIC_5XX.get(status, "error")
        if status >= 500:
            log.warning("request failed", extra={"code": code, "status": status})
        headers = {"Retry-After": "5"} if status in (503, 504) else None
        if status == 429:
            headers = {"Retry-After": str(max(1, int(getattr(exc, "fields", {}).get("retry_after", 1))))}
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        body_problem = _body_problem(first, request.headers.get("content-type"), _expected_media_type(request))
        if body_problem is not None:
            status, code, message = body_problem
            return JSONResponse(error_body(code, message), status_code=status)
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse(error_body("VALIDATION_ERROR", f"{where}: {first.get('msg')}".strip(": ")), status_code=422)

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(
            exc.status_code, "HTTP_ERROR"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def on_pool_timeout(request: Request, _exc: Exception) -> JSONResponse:
        # Every database connection of this process stayed busy (HUBAO_DATABASE_POOL_TIMEOUT).
        return await on_domain(request, e.DatabaseError("the database is busy", code="DATABASE_BUSY"))

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        if status == 500:
            log.exception("unhandled error")
            return JSONResponse(error_body("INTERNAL_ERROR", PUBLIC_5XX[500]), status_code=500)
        return await on_domain(_request, exc)

    async def on_client_gone(request: Request, _exc: Exception) -> JSONResponse:
        # The client left (or the server's body deadline closed the connection): nobody reads this.
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return JSONResponse(error_body("CLIENT_DISCONNECTED", "the client went away"), status_code=400)

    app.add_exception_handler(ClientDisconnect, on_client_gone)
    app.add_exception_handler(e.HubaoError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(PoolTimeout, on_pool_timeout)
    app.add_exception_handler(Exception, on_unexpected)
