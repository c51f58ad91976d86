"""Structured logging: one line per event, human-readable or JSON lines (``HUBAO_LOG_JSON``).

An event logged with an exception (``log.exception``, ``exc_info=True``) carries its cause in both
formats: the traceback follows the text line (indented) and is the ``exc`` field of the JSON line;
loops that retry also put :func:`cause_of` in a ``cause`` field, so that a repeated failure logged
without its traceback still says what failed.

Privacy rule: callers never pass personal data, document hashes, salts or plaintext CIDs.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


CAUSE_MAX_CHARS = 500


def cause_of(exc: BaseException) -> str:
    """One line naming ``exc`` and what raised it: ``Type[CODE]: message (from Type: message)``."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 3:
        seen.add(id(current))
        code = getattr(current, "code", None)
        name = type(current).__name__ + (f"[{code}]" if isinstance(code, str) else "")
        text = " ".join(str(current).split())
        parts.append(f"{name}: {text}" if text else name)
        current = current.__cause__ or current.__context__
    line = parts[0] + "".join(f" (from {part})" for part in parts[1:])
    return line if len(line) <= CAUSE_MAX_CHARS else line[: CAUSE_MAX_CHARS - 1] + "…"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line += "\n" + "\n".join("    " + row for row in trace.splitlines())
        return line


def configure_logging(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if as_json else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("web3", "urllib3", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
