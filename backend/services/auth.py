"""Passwords and access tokens.

Passwords: argon2id (``argon2-cffi``, OWASP's first choice) at OWASP's parameters (19 MiB, t=2,
p=1), in the PHC string format ``$argon2id$v=19$m=…``. Hashes of earlier releases (scrypt, encoded
``scrypt$n$r$p$salt$hash``) still verify and are replaced by an argon2id hash at the account's next
successful sign-in (:func:`authenticate`, in the caller's transaction). Usernames compare
case-insensitively after Unicode NFKC normalisation (``models.username_key``).

Tokens: short-lived HS256 JWTs (:data:`TOKEN_TTL`) carrying the account id, role, the account's
``token_version`` and the id of their sign-in session (``sid``, a row of ``auth_sessions``). Every
request checks both in one query, by primary key (:func:`principal_from_token`): ending a session
(signing out on one device) refuses its token on the next request on every host sharing the
database, and bumping the version (signing out everywhere, an operator's revocation) refuses every
token of the account. A token without ``sid`` is refused. Only HS256 is accepted when decoding
(``alg=none`` and key confusion are refused by construction).

A session lasts at most its ``max_age`` from sign-in (``HUBAO_SESSION_MAX_AGE``, 12 hours by
default; ``auth_sessions.expires_at`` is its end): :func:`refresh_token` gives a token of the
session — still valid, or expired while the session lasts — a new token of the same session, so a
web page or a script stays signed in without the password, never past the session's end, and not
after the session was ended (sign-out, sign-out everywhere, revocation, a disabled account). Each
refresh rotates: the session moves to its next ``generation`` (the token's ``gen``), and the token
it replaced may refresh again only within :data:`REFRESH_GRACE` (a second tab, a retried request).
Presented again later, it ends the session (``SESSION_REPLAYED``): either its owner or someone who
copied it already refreshed it, so a stolen token cannot be renewed behind the owner's back.

Sessions keep no IP address: only a short description of the device (:func:`describe_device`, e.g.
"Firefox on Android"), when it signed in and was last seen (to the minute), and are deleted once
their token has expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Account, AuthSession, username_key
from backend.errors import Forbidden, NotFound, Unauthorized

log = logging.getLogger(__name__)

ROLES = ("member", "reviewer", "juror", "auditor", "operator")
TOKEN_TTL = timedelta(minutes=30)
# How long a sign-in session lasts when the caller does not say (HUBAO_SESSION_MAX_AGE's default).
SESSION_MAX_AGE = timedelta(hours=12)
# How long after a refresh the token it replaced may refresh again (a retried request, or a duplicated
# browser tab holding the same token, whose timer a browser may delay by up to a minute while it is in
# the background) and get the new generation's token; after that, presenting it ends the session.
REFRESH_GRACE = timedelta(minutes=2)
# A session's ``last_seen_at`` is written at most this often (a request within it writes nothing).
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
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
    session_id: str | None = None  # the sign-in session of the token (None: not from a token)


# Browser families by the token that names them, most specific first (Edge and Opera also say
# "Chrome", Chrome also says "Safari"); operating systems likewise (Android also says "Linux").
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
_PRODUCT = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,31}")


def describe_device(user_agent: str | None) -> str:
    """A short description of a ``User-Agent`` for the owner's list of sessions: browser family
    and operating system ("Firefox on Android"), or a program's name ("curl"); never the whole
    string (versions and build details single a device out)."""
    if not user_agent:
        return "unknown device"
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser is not None:
        return f"{browser} on {system}" if system else browser
    product = _PRODUCT.match(user_agent.strip())
    return product.group(0) if product else "unknown device"


@dataclass(frozen=True)
class IssuedToken:
    """A bearer token, when it expires (never after its session's end) and the role it carries."""

    token: str
    expires_at: datetime
    role: str

    def expires_in(self, now: datetime | None = None) -> int:
        """Whole seconds until the token expires (RFC 6749 ``expires_in``)."""
        return max(0, int((self.expires_at - (now or datetime.now(UTC))).total_seconds()))


def _encode(
    secret: bytes,
    *,
    account_id: str,
    sid: str,
    role: str,
    version: int,
    now: datetime,
    session_end: datetime,
    generation: int = 0,
) -> IssuedToken:
    expires = min(now + TOKEN_TTL, session_end)
    claims = {
        "sub": account_id,
        "sid": sid,
        "gen": generation,
        "role": role,
        "ver": version,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return IssuedToken(jwt.encode(claims, secret, algorithm="HS256"), expires, role)


def issue_session_token(
    session: Session,
    account: Account,
    secret: bytes,
    *,
    user_agent: str | None = None,
    now: datetime | None = None,
    max_age: timedelta = SESSION_MAX_AGE,
) -> IssuedToken:
    """A token for ``account`` and the sign-in session it names (a new ``auth_sessions`` row ending
    ``max_age`` from ``now``, flushed in ``session``: the caller commits)."""
    now = now or datetime.now(UTC)
    row = AuthSession(
        account_id=account.id,
        device=describe_device(user_agent),
        created_at=now,
        last_seen_at=now,
        expires_at=now + max_age,
    )
    session.add(row)
    session.flush()
    return _encode(
        secret,
        account_id=account.id,
        sid=row.id,
        role=account.role,
        version=account.token_version,
        now=now,
        session_end=row.expires_at,
    )


def issue_token(
    session: Session,
    account: Account,
    secret: bytes,
    *,
    user_agent: str | None = None,
    now: datetime | None = None,
    max_age: timedelta = SESSION_MAX_AGE,
) -> str:
    """:func:`issue_session_token`'s token alone."""
    return issue_session_token(session, account, secret, user_agent=user_agent, now=now, max_age=max_age).token


def start_session(
    sessions: sessionmaker[Session],
    account: Account,
    secret: bytes,
    *,
    user_agent: str | None = None,
    max_age: timedelta = SESSION_MAX_AGE,
) -> str:
    """Sign ``account`` in on a device: its token (committed); see :func:`sign_in_session`."""
    return sign_in_session(sessions, account, secret, user_agent=user_agent, max_age=max_age).token


def sign_in_session(
    sessions: sessionmaker[Session],
    account: Account,
    secret: bytes,
    *,
    user_agent: str | None = None,
    max_age: timedelta = SESSION_MAX_AGE,
) -> IssuedToken:
    """Sign ``account`` in on a device for at most ``max_age``: its first token (committed).
    Sessions that have ended by age, anyone's, are deleted on the way (an indexed range, empty most
    of the time)."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.execute(delete(AuthSession).where(AuthSession.expires_at < now))
        return issue_session_token(session, account, secret, user_agent=user_agent, now=now, max_age=max_age)


def refresh_token(
    sessions: sessionmaker[Session], token: str, secret: bytes, *, now: datetime | None = None
) -> IssuedToken:
    """A new token of ``token``'s session (committed: the session is seen now).

    ``token`` must be one this server signed; it may have expired, as long as its session has not
    ended: by age (``auth_sessions.expires_at``), by sign-out or revocation (the session's
    ``revoked_at``, the account's ``token_version``) or by the account being disabled. The new
    token expires :data:`TOKEN_TTL` from now or at the session's end, whichever comes first, and
    carries the account's current role. Raises Unauthorized, saying whether to sign in again.
    """
    now = now or datetime.now(UTC)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["sub", "sid", "exp", "ver"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token: sign in again") from exc
    sid = str(claims["sid"])
    presented = int(claims.get("gen", 0))
    with sessions.begin() as session:
        found = session.execute(
            select(
                Account.role,
                Account.disabled,
                Account.token_version,
                AuthSession.revoked_at,
                AuthSession.expires_at,
                AuthSession.generation,
                AuthSession.rotated_at,
            )
            .join(AuthSession, AuthSession.account_id == Account.id)
            .where(AuthSession.id == sid, Account.id == str(claims["sub"]))
            .with_for_update(of=AuthSession)  # two refreshes of one session take turns
        ).first()
        if found is None or found.disabled or found.token_version != claims["ver"]:
            raise Unauthorized("this session has ended: sign in again")
        if found.revoked_at is not None:
            raise Unauthorized("this session was signed out: sign in again")
        if found.expires_at <= now:
            raise Unauthorized("this session has ended (a sign-in lasts a limited time): sign in again")
        generation, rotated_at = found.generation, found.rotated_at
        # The token this one replaced, again within the grace: a second tab or a retried refresh.
        in_grace = presented == generation - 1 and rotated_at is not None and now - rotated_at <= REFRESH_GRACE
        if presented == generation or in_grace:
            if presented == generation:
                generation += 1  # rotate: this token will not refresh again
                session.execute(
                    update(AuthSession)
                    .where(AuthSession.id == sid)
                    .values(last_seen_at=now, generation=generation, rotated_at=now)
                )
            else:
                session.execute(update(AuthSession).where(AuthSession.id == sid).values(last_seen_at=now))
            return _encode(
                secret,
                account_id=str(claims["sub"]),
                sid=sid,
                role=found.role,
                version=found.token_version,
                now=now,
                session_end=found.expires_at,
                generation=generation,
            )
        # Replayed: its owner or someone who copied it refreshed it already.
        session.execute(update(AuthSession).where(AuthSession.id == sid).values(revoked_at=now))
    log.warning("a refreshed token was presented again: its session was ended")
    raise Unauthorized(
        "this token was already refreshed, so this session was ended in case it was copied: sign in again",
        code="SESSION_REPLAYED",
    )


@dataclass(frozen=True)
class SessionView:
    """One of an account's sessions as its owner sees it (``current``: the one asking)."""

    id: str
    device: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


def list_sessions(session: Session, principal: Principal, now: datetime | None = None) -> list[SessionView]:
    """The caller's sessions still open (not ended, not expired), the most recently seen first."""
    now = now or datetime.now(UTC)
    rows = session.scalars(
        select(AuthSession)
        .where(
            AuthSession.account_id == principal.account_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .order_by(AuthSession.last_seen_at.desc(), AuthSession.id)
    )
    return [
        SessionView(r.id, r.device, r.created_at, r.last_seen_at, r.expires_at, r.id == principal.session_id)
        for r in rows
    ]


def end_session(sessions: sessionmaker[Session], principal: Principal, session_id: str) -> None:
    """End one of the caller's own sessions (committed): its token is refused from the next request
    on, on every host. Ending one already ended is a no-op; another account's session, or none,
    is NotFound (the same answer, so session ids of others cannot be probed)."""
    with sessions.begin() as session:
        row = session.get(AuthSession, session_id)
        if row is None or row.account_id != principal.account_id:
            raise NotFound("no such session", code="SESSION_NOT_FOUND")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)


def end_all_sessions(session: Session, account_id: str) -> None:
    """Mark every open session of the account ended (in ``session``; the caller commits). Tokens are
    refused by the account's ``token_version``, which the caller bumps; this keeps the owner's list
    of sessions true."""
    session.execute(
        update(AuthSession)
        .where(AuthSession.account_id == account_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


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


def principal_from_token(sessions: sessionmaker[Session], token: str, secret: bytes) -> Principal:
    """Who sends ``token``: one query by primary keys (the account and its session), so a session
    ended or an account revoked on any host is refused here on the next request. The session's
    ``last_seen_at`` is moved on at most once per :data:`LAST_SEEN_RESOLUTION`, best effort (a
    failed write is skipped: the request is not refused for it). Raises Unauthorized."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "sid", "exp", "ver"]})
    except jwt.ExpiredSignatureError as exc:  # a genuine token past its time: say what to do
        raise Unauthorized(
            f"your token expired (tokens last {int(TOKEN_TTL.total_seconds()) // 60} minutes): "
            "POST /auth/refresh with it for a new one while its sign-in lasts, or sign in again"
        ) from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid or expired token") from exc
    sid = str(claims["sid"])
    now = datetime.now(UTC)
    # A short session of its own: a long upload must not hold a pooled connection for its duration.
    with sessions() as session:
        # Every request passes here: the columns it needs, not ORM objects.
        found = session.execute(
            select(
                Account.id,
                Account.role,
                Account.username,
                Account.disabled,
                Account.token_version,
                AuthSession.revoked_at,
                AuthSession.last_seen_at,
            )
            .join(AuthSession, AuthSession.account_id == Account.id)
            .where(AuthSession.id == sid, Account.id == str(claims["sub"]))
        ).first()
        if found is None or found.disabled or found.token_version != claims["ver"]:
            raise Unauthorized("invalid or expired token")
        if found.revoked_at is not None:
            raise Unauthorized("this session was signed out: sign in again")
        if now - found.last_seen_at >= LAST_SEEN_RESOLUTION:
            _touch(session, sid, now)
    return Principal(found.id, found.role, found.username, sid)


def _touch(session: Session, sid: str, now: datetime) -> None:
    try:
        session.execute(
            update(AuthSession)
            .where(AuthSession.id == sid, AuthSession.last_seen_at <= now - LAST_SEEN_RESOLUTION)
            .values(last_seen_at=now)
        )
        session.commit()
    except OperationalError:
        session.rollback()


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"this operation needs the role {' or '.join(roles)}")


_DUMMY_HASH = hash_password(secrets.token_hex(8))
