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

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Account, username_key
from backend.errors import TooManyRequests, Unauthorized
from backend.services.auth import authenticate


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
        for item, key in self._keys(username, client):
            self.limiter.hit(item, key)

    def succeeded(self, username: str) -> None:
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
