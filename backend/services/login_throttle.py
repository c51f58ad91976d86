"""Sign-in throttling: failed passwords are counted per account and per client, then refused.

Two moving windows (the ``limits`` library), counting failed sign-ins only:

* per account (the case-insensitive username key): ``HUBAO_LOGIN_LIMIT_ACCOUNT`` (default
  10 per 15 minutes) — an online guess of one password is slowed to a crawl;
* per client address: ``HUBAO_LOGIN_LIMIT_CLIENT`` (default 50 per 15 minutes) — one client
  spraying many accounts is stopped as well.

While either window is full, every sign-in of that account or client — the right password included
— is refused with ``TooManyRequests`` (429 ``LOGIN_RATE_LIMITED`` and ``Retry-After``: the seconds
until the oldest counted failure leaves the window), before any password is hashed. A successful
sign-in clears the account's count. Counts live in memory by default (one process; each API worker
counts apart) or in Redis when ``HUBAO_RATE_LIMIT_STORAGE`` names one (``redis://host:6379``),
shared by every worker.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Account, username_key
from backend.errors import ConfigError, DatabaseError, HubaoError, TooManyRequests, Unauthorized
from backend.services.auth import authenticate

log = logging.getLogger(__name__)


def _shown(storage_uri: str) -> str:
    """The storage URI without its credentials (``redis://:secret@host`` → ``redis://***@host``)."""
    return re.sub(r"//[^/@]*@", "//***@", storage_uri)


def check_storage(storage_uri: str) -> None:
    """Refuse at start-up a shared counter store that does not answer (HUBAO_RATE_LIMIT_STORAGE):
    a host started on it, said it was up, and answered every sign-in 500 (found by the QA
    walk-through)."""
    if storage_uri.startswith("memory://"):
        return
    try:
        answers = bool(storage_from_string(storage_uri).check())
    except Exception:  # a malformed URI or a missing client library: the same one line
        answers = False
    if not answers:
        raise ConfigError(
            f"HUBAO_RATE_LIMIT_STORAGE {_shown(storage_uri)} does not answer: start it, or set memory:// "
            "(sign-in counts per process)",
            code="RATE_LIMIT_STORAGE_UNREACHABLE",
        )


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """A counter store that stops answering while serving is a backing service down (503 with
    Retry-After), not an internal error."""
    try:
        yield
    except HubaoError:
        raise
    except Exception as exc:
        log.warning("sign-in counter store unavailable", extra={"error": exc.__class__.__name__})
        raise DatabaseError("the sign-in counter store is unavailable", code="RATE_LIMIT_STORAGE_UNAVAILABLE") from exc


@dataclass(frozen=True)
class LoginThrottle:
    """The two windows and their storage (one per process, built by the composition root)."""

    limiter: MovingWindowRateLimiter
    per_account: RateLimitItem
    per_client: RateLimitItem

    @classmethod
    def from_config(cls, storage_uri: str, per_account: str, per_client: str) -> LoginThrottle:
        return cls(MovingWindowRateLimiter(storage_from_string(storage_uri)), parse(per_account), parse(per_client))

    def _keys(self, username: str, client: str | None) -> list[tuple[RateLimitItem, str]]:
        keys = [(self.per_account, f"login/account/{username_key(username)}")]
        if client:
            keys.append((self.per_client, f"login/client/{client}"))
        return keys

    def check(self, username: str, client: str | None) -> None:
        """Raise TooManyRequests while the account's or the client's window is full."""
        with _storage_errors():
            self._check(username, client)

    def _check(self, username: str, client: str | None) -> None:
        for item, key in self._keys(username, client):
            if not self.limiter.test(item, key):
                reset = self.limiter.get_window_stats(item, key).reset_time
                retry = max(1, math.ceil(reset - time.time()))
                raise TooManyRequests(
                    f"too many failed sign-ins; try again in {retry} seconds",
                    code="LOGIN_RATE_LIMITED",
                    retry_after=retry,
                )

    def failed(self, username: str, client: str | None) -> None:
        with _storage_errors():
            for item, key in self._keys(username, client):
                self.limiter.hit(item, key)

    def succeeded(self, username: str) -> None:
        with _storage_errors():
            self.limiter.clear(self.per_account, f"login/account/{username_key(username)}")


def sign_in(
    sessions: sessionmaker[Session], throttle: LoginThrottle, username: str, password: str, client: str | None
) -> Account:
    """Check the throttle, then the credentials (in a transaction of its own: a legacy password hash
    is upgraded to argon2id on success). Raises TooManyRequests or Unauthorized."""
    throttle.check(username, client)
    try:
        with sessions.begin() as session:
            account = authenticate(session, username, password)
            session.expunge(account)
    except Unauthorized:
        throttle.failed(username, client)
        raise
    throttle.succeeded(username)
    return account
