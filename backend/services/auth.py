"""Passwords and access tokens.

Passwords: scrypt (stdlib, memory-hard) with a per-password salt, encoded
``scrypt$n$r$p$salt$hash``. Tokens: short-lived HS256 JWTs carrying the account id, role and the
account's ``token_version``; bumping the version revokes every token of that account. Only HS256
is accepted when decoding (``alg=none`` and key confusion are refused by construction).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Account
from backend.errors import Forbidden, Unauthorized

ROLES = ("member", "reviewer", "juror", "auditor", "operator")
TOKEN_TTL = timedelta(minutes=30)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 1024 * 1024, dklen=32, **_SCRYPT)
    enc = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${enc(salt).decode()}${enc(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), maxmem=64 * 1024 * 1024, dklen=32
    )
    return hmac.compare_digest(actual, base64.b64decode(digest))


def load_or_create_secret(path: Path) -> bytes:
    """The JWT signing secret kept in the data directory (created once, mode 0600)."""
    if path.exists():
        return path.read_bytes()
    secret = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(secret)
    tmp.chmod(0o600)
    tmp.replace(path)
    return secret


@dataclass(frozen=True)
class Principal:
    """Who is calling: the authenticated account (never taken from the request body)."""

    account_id: str
    role: str
    username: str


def issue_token(account: Account, secret: bytes, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    claims = {
        "sub": account.id,
        "role": account.role,
        "ver": account.token_version,
        "iat": int(now.timestamp()),
        "exp": int((now + TOKEN_TTL).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def authenticate(session: Session, username: str, password: str) -> Account:
    account = session.scalars(select(Account).where(Account.username == username)).first()
    # Hash even for unknown users so timing does not reveal which usernames exist.
    valid = verify_password(password, account.password_hash if account else _DUMMY_HASH)
    if account is None or not valid or account.disabled:
        raise Unauthorized("wrong username or password")
    return account


def principal_from_token(session: Session, token: str, secret: bytes) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp", "ver"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid or expired token") from exc
    # Every request passes here: the four columns it needs, not an ORM object.
    account = session.execute(
        select(Account.id, Account.role, Account.username, Account.disabled, Account.token_version).where(
            Account.id == str(claims["sub"])
        )
    ).first()
    if account is None or account.disabled or account.token_version != claims["ver"]:
        raise Unauthorized("invalid or expired token")
    return Principal(account.id, account.role, account.username)


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"this operation needs the role {' or '.join(roles)}")


_DUMMY_HASH = hash_password(secrets.token_hex(8))
