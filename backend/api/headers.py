"""Headers every response carries unless its route set its own: ``Cache-Control: no-store`` (token
answers, claims, private receipts with salts must not sit in a browser's or a proxy's cache) and
``X-Content-Type-Options: nosniff`` (a JSON body is never sniffed into HTML). The web UI's static
files and the /docs assets set their own ``Cache-Control`` (revalidated, not stored-nowhere).

A plain ASGI middleware, not ``BaseHTTPMiddleware``: streamed uploads and downloads pass through
untouched, only the response start message gains two headers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULTS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


class DefaultHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_defaults(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in DEFAULTS if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_defaults)
