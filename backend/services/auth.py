"""Passwords and access tokens.

Passwords: argon2id (``argon2-cffi``, OWASP's first choice) at OWASP's parameters (19 MiB, t=2,
p=1), in the PHC string format ``$argon2id$v=19$m=…``. Hashes of earlier releases (scrypt, encoded
``scrypt$n$r$p$salt$hash``) still verify and are replaced by an argon2id hash at the account's next
successful sign-in (:func:`authenticate`, in the caller's transaction). Usernames compare
case-insensitively after Unicode NFKC normalisation (``models.username_key``).

Tokens: short-lived HS256 JWTs carrying the account id, role and the account's ``token_version``;
bumping the version revokes every token of that account. Only HS256
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
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Account, username_key
from backend.errors import Forbidden, Unauthorized

ROLES = ("member", "reviewer", "juror", "auditor", "operator")
TOKEN_TTL = timedelta(minutes=30)
# OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1 (its first configuration).
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (PHC string)."""
    return PASSWORD_HASHER.hash(password)


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (argon2id, or a legacy scrypt hash)."""
    if encoded.startswith("$argon2"):
        try:
            return PASSWORD_HASHER.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), maxmem=256 * 1024 * 1024, dklen=32
    )
    return hmac.compare_digest(actual, base64.b64decode(digest))


def needs_rehash(encoded: str) -> bool:
    """True for a hash of an earlier scheme or weaker parameters (replaced at the next sign-in)."""
    if not encoded.startswith("$argon2id$"):
        return True
    try:
        return PASSWORD_HASHER.check_needs_rehash(encoded)
    except InvalidHashError:
        return True


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


def find_account(session: Session, username: str) -> Account | None:
    """The account ``username`` names: the exact name first (two accounts registered before
    usernames were case-insensitive, ``Alice`` and ``alice``, each keep signing in with their own
    spelling), then the case-insensitive key."""
    exact = session.scalars(select(Account).where(Account.username == username)).first()
    if exact is not None:
        return exact
    return session.scalars(select(Account).where(Account.username_key == username_key(username))).first()


def authenticate(session: Session, username: str, password: str) -> Account:
    """The account whose credentials these are; a legacy or weaker hash is replaced in ``session``
    (flushed, committed by the caller). Raises Unauthorized."""
    account = find_account(session, username)
    # Hash even for unknown users so timing does not reveal which usernames exist.
    valid = verify_password(password, account.password_hash if account else _DUMMY_HASH)
    if account is None or not valid or account.disabled:
        raise Unauthorized("wrong username or password")
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
        session.flush()
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
