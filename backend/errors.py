"""The backend's exception tree.

    HubaoError                       base: every error carries a stable ``code`` and a ``message``
    ├── ConfigError                  bad or unsafe configuration (start-up stops with one line)
    ├── ChainError                   the chain could not be used
    │   ├── ChainUnavailable         RPC unreachable or timing out
    │   ├── ContractMismatch         deployed code differs from the committed artifacts
    │   └── TransactionFailed        a transaction reverted or was dropped (``revert`` names the error)
    ├── CompileError                 solc failed or artifacts are stale
    ├── DatabaseError                database unreachable or schema out of date
    └── DomainError                  a request the domain rules refuse
        ├── NotFound                 unknown (or not visible to the caller) object
        ├── Conflict                 duplicate or out-of-order operation
        ├── Forbidden                caller's role may not do this
        ├── Unauthorized             missing or bad credentials
        ├── InvalidInput             well-formed but unacceptable input
        ├── MalformedRequest         a body that cannot be read as the form the operation takes
        ├── PayloadTooLarge          upload above the size limit
        ├── UnsupportedMediaType     upload whose bytes are not an allowed type
        └── TooManyRequests          a quota is used up (``retry_after`` seconds)

HTTP mapping lives in ``backend.api.errors`` only.
"""

from __future__ import annotations

from typing import Any


class HubaoError(Exception):
    """Base error: ``code`` is machine-readable and stable, ``message`` is for humans."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, code: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields

    def __str__(self) -> str:
        return self.message


class ConfigError(HubaoError):
    code = "CONFIG_ERROR"


class ChainError(HubaoError):
    code = "CHAIN_ERROR"


class ChainUnavailable(ChainError):
    code = "CHAIN_UNAVAILABLE"


class ContractMismatch(ChainError):
    code = "CONTRACT_MISMATCH"


class TransactionFailed(ChainError):
    code = "TRANSACTION_FAILED"


class CompileError(HubaoError):
    code = "COMPILE_ERROR"


class DatabaseError(HubaoError):
    code = "DATABASE_ERROR"


class DomainError(HubaoError):
    code = "DOMAIN_ERROR"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Conflict(DomainError):
    code = "CONFLICT"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class Unauthorized(DomainError):
    code = "UNAUTHORIZED"


class InvalidInput(DomainError):
    code = "INVALID_INPUT"


class MalformedRequest(DomainError):
    """A request body that cannot be read as the form the operation takes: unparseable, beyond the
    reader's bounds, parts out of order or misnamed, a required field missing (400, as malformed
    JSON is). A field that is there but whose value is wrong is :class:`InvalidInput` (422)."""

    code = "MALFORMED_REQUEST"


class PayloadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(DomainError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class TooManyRequests(DomainError):
    """A per-caller quota is used up; ``fields["retry_after"]`` says when to try again (seconds)."""

    code = "RATE_LIMITED"
