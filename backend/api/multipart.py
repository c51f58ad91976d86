"""A pull-based ``multipart/form-data`` reader: parts are yielded as the body streams, each part's
body chunk by chunk, so a file goes straight into its consumer and is never spooled to disk.

Malformed bodies (including the parser's own bounds: header line size, headers per part) raise
``MalformedRequest`` with the code ``MALFORMED_MULTIPART``; a form beyond this reader's bounds
(``TOO_MANY_FIELDS``, ``FIELD_TOO_LONG``) or with its parts out of order or misnamed
(``FIELDS_AFTER_FILES``, ``UNEXPECTED_PART``) too: 400, like malformed JSON (``backend.api.errors``).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from backend.errors import MalformedRequest, UnsupportedMediaType

MAX_FIELD_BYTES = 1024
"""Longest text field accepted (bytes)."""
MAX_FIELDS = 10
"""Most text fields accepted in one form."""


class Part:
    """One part of the form: ``filename`` is None for a text field; ``data`` streams its body."""

    def __init__(self, name: str, filename: str | None, content_type: str, data: Iterator[bytes]) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.data = data


def form_boundary(content_type_header: str) -> bytes:
    """The boundary of a ``multipart/form-data`` body, or UnsupportedMediaType."""
    content_type, options = parse_options_header(content_type_header)
    if content_type != b"multipart/form-data":
        raise UnsupportedMediaType("send the claim as multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedRequest(
            "multipart/form-data without a boundary: the Content-Type must say boundary=...",
            code="MALFORMED_MULTIPART",
        )
    return bytes(boundary)


class MultipartReader:
    """Pull-based multipart reader: parts are yielded as the body streams, bodies chunk by chunk."""

    def __init__(self, body: Iterator[bytes], boundary: bytes) -> None:
        self._body = body
        self._events: collections.deque[tuple[str, Any]] = collections.deque()
        self._headers: dict[str, bytes] = {}
        self._field = b""
        self._value = b""
        self._done = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._begin,
                "on_header_field": lambda d, s, e: self._append("_field", d[s:e]),
                "on_header_value": lambda d, s, e: self._append("_value", d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": lambda: self._events.append(("headers", dict(self._headers))),
                "on_part_data": lambda d, s, e: self._events.append(("data", bytes(d[s:e]))),
                "on_part_end": lambda: self._events.append(("end", None)),
            },
        )

    def _append(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + bytes(data))

    def _begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value
        self._field = self._value = b""

    def _next(self) -> tuple[str, Any] | None:
        while not self._events:
            if self._done:
                return None
            chunk = next(self._body, None)
            try:
                if chunk is None:
                    self._parser.finalize()
                    self._done = True
                elif chunk:
                    self._parser.write(chunk)
            except MultipartParseError as exc:
                # Includes the parser's own bounds (header line size, headers per part): a 4xx, not a 500.
                raise MalformedRequest(f"malformed multipart body: {exc}", code="MALFORMED_MULTIPART") from exc
        return self._events.popleft()

    def _data(self) -> Iterator[bytes]:
        while True:
            event = self._next()
            if event is None:
                raise MalformedRequest("the multipart body ended inside a part", code="MALFORMED_MULTIPART")
            if event[0] == "end":
                return
            if event[0] == "data" and event[1]:
                yield event[1]

    def parts(self) -> Iterator[Part]:
        while True:
            event = self._next()
            if event is None:
                return
            if event[0] != "headers":
                continue
            headers: dict[str, bytes] = event[1]
            _, options = parse_options_header(headers.get("content-disposition", b""))
            name = options.get(b"name", b"").decode("utf-8", "replace")
            raw_filename = options.get(b"filename")
            filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
            content_type = headers.get("content-type", b"").decode("latin-1").split(";")[0].strip().lower()
            data = self._data()
            yield Part(name, filename, content_type, data)
            for _ in data:  # drain what the consumer left
                pass


def field_text(part: Part) -> str:
    """A text field's value (stripped), at most :data:`MAX_FIELD_BYTES` long."""
    collected = b""
    for chunk in part.data:
        collected += chunk
        if len(collected) > MAX_FIELD_BYTES:
            raise MalformedRequest(f"field {part.name!r} is too long", code="FIELD_TOO_LONG", field=part.name)
    return collected.decode("utf-8", "replace").strip()


class FieldsThenFiles:
    """A form whose text fields all come before its files (as S3's POST uploads require): the
    fields can be checked before any byte of a file is read.

    :meth:`fields` reads the text fields up to the first file; :meth:`files` then yields the file
    parts, refusing a text field after a file (``FIELDS_AFTER_FILES``) and a file part not named
    ``files_name``.
    """

    def __init__(self, parts: Iterator[Part], *, files_name: str) -> None:
        self._parts = parts
        self._files_name = files_name
        self._first_file: Part | None = None

    def fields(self) -> dict[str, str]:
        """The text fields before the first file (at most :data:`MAX_FIELDS`)."""
        fields: dict[str, str] = {}
        for part in self._parts:
            if part.filename is not None:
                self._first_file = part
                break
            if len(fields) >= MAX_FIELDS:
                raise MalformedRequest(f"too many fields: at most {MAX_FIELDS}", code="TOO_MANY_FIELDS")
            fields[part.name] = field_text(part)
        return fields

    def files(self) -> Iterator[Part]:
        """The file parts, each to be read before the next is parsed (call after :meth:`fields`)."""
        part = self._first_file
        while part is not None:
            if part.filename is None:
                raise MalformedRequest("send the fields before the files", code="FIELDS_AFTER_FILES")
            if part.name != self._files_name:
                raise MalformedRequest(
                    f"a file part named {part.name!r}: files go in parts named {self._files_name!r}",
                    code="UNEXPECTED_PART",
                )
            yield part
            part = next(self._parts, None)
