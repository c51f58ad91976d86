"""Multipart request bodies read incrementally for the Kubo-RPC server (``add``, ``block/put``,
``dag/import``): the request is consumed on the event loop, the parts are pulled from the worker
thread the store runs in, one chunk at a time — nothing is spooled to disk or memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

__all__ = ["BadArgument", "MultipartPart", "MultipartStream"]


class BadArgument(Exception):
    """A bad or missing argument: Kubo answers 400 with Code 1."""


@dataclass
class MultipartPart:
    headers: dict[str, str]

    @property
    def filename(self) -> str:
        _, params = parse_options_header(self.headers.get("content-disposition", ""))
        raw = params.get(b"filename", b"")
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream")


class MultipartStream:
    """The parts of a multipart request body, read lazily: the request is consumed on the event
    loop, the parts are pulled from a worker thread (``anyio.from_thread.run``)."""

    def __init__(self, request: Request) -> None:
        content_type, params = parse_options_header(request.headers.get("content-type", ""))
        boundary = params.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise BadArgument("file argument 'path' is required (multipart/form-data body expected)")
        self._body = request.stream().__aiter__()
        self._events: deque[tuple[str, Any]] = deque()
        self._finished = False
        self._headers: dict[str, str] = {}
        self._field = b""
        self._value = b""

        def on_header_field(data: bytes, start: int, end: int) -> None:
            self._field += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            self._value += data[start:end]

        def on_header_end() -> None:
            self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
            self._field, self._value = b"", b""

        def on_headers_finished() -> None:
            self._events.append(("begin", MultipartPart(self._headers)))
            self._headers = {}

        def on_part_data(data: bytes, start: int, end: int) -> None:
            self._events.append(("data", bytes(data[start:end])))

        def on_part_end() -> None:
            self._events.append(("end", None))

        self._parser = MultipartParser(
            boundary,
            {
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
            },
        )

    async def _next_event(self) -> tuple[str, Any]:
        while not self._events:
            if self._finished:
                return ("eof", None)
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._finished = True
                self._parser.finalize()
                continue
            if chunk:
                self._parser.write(chunk)
        return self._events.popleft()

    def _pull(self) -> tuple[str, Any]:
        return anyio.from_thread.run(self._next_event)

    def parts(self) -> Iterator[tuple[MultipartPart, Iterator[bytes]]]:
        """Each part with an iterator over its bytes (exhaust it before asking for the next part)."""
        while True:
            kind, value = self._pull()
            if kind == "eof":
                return
            if kind != "begin":
                continue
            done = False

            def data() -> Iterator[bytes]:
                nonlocal done
                while not done:
                    k, v = self._pull()
                    if k == "data":
                        yield v
                    else:
                        done = True
                        if k == "eof":
                            raise BadArgument("multipart body ended inside a part")

            yield value, data()
            for _ in data():  # skip what the consumer left unread
                pass
