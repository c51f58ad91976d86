"""Login rows: the username and password rules and adding an account to the database.

Everything here needs the database and the password hasher only — no chain, keyring or evidence
store — so ``hubao accounts create`` runs without building a runtime (it used to connect to the
chain and deploy before hashing one password). :mod:`backend.services.accounts` builds on it (the
legacy server-held signing key, on-chain roles) and re-exports these names.

    UsernameTaken (Conflict, 409)    USERNAME_TAKEN
    InvalidInput (422)               INVALID_USERNAME, WEAK_PASSWORD, INVALID_ROLE
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db.models import Account, new_public_id, username_key
from backend.errors import Conflict, InvalidInput
from backend.services.auth import ROLES, hash_password

STAFF_ROLES: Final = ("reviewer", "juror", "auditor", "operator")
USERNAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}$")
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 256

# Roles whose new accounts still get a key generated and sealed by the server (the legacy custody).
# None any more: reviewers (issue 14 item 1) and jurors (item 3) hold their own keys — a new one has
# no signing address until they register the key their device made (participant_keys).
SERVER_KEY_ROLES: Final[frozenset[str]] = frozenset()


class UsernameTaken(Conflict):
    code = "USERNAME_TAKEN"


def check_credentials(username: str, password: str) -> None:
    """Raise InvalidInput (``INVALID_USERNAME`` / ``WEAK_PASSWORD``) unless both follow the rules."""
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            "username: 3-64 characters of letters, digits and _ . @ -, starting with a letter or digit",
            code="INVALID_USERNAME",
        )
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters", code="WEAK_PASSWORD")


def new_login(session: Session, username: str, password: str, role: str) -> Account:
    """A new account row (not added to ``session``) once role, username and password pass the
    rules and the username is free; usernames are NFKC-normalised and compared case-insensitively."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="INVALID_ROLE")
    username = unicodedata.normalize("NFKC", username)
    check_credentials(username, password)
    key = username_key(username)
    taken = select(Account.id).where((Account.username_key == key) | (Account.username == username))
    if session.scalars(taken).first() is not None:
        raise UsernameTaken("this username is taken (usernames are case-insensitive)")
    return Account(
        id=new_public_id(), username=username, username_key=key, password_hash=hash_password(password), role=role
    )


def add_login(session: Session, account: Account) -> Account:
    """Add ``account`` (from :func:`new_login`) and flush; a concurrent registration of the same
    username is :class:`UsernameTaken` (the session must then roll back)."""
    session.add(account)
    try:
        session.flush()
    except IntegrityError as exc:
        raise UsernameTaken("this username is taken (usernames are case-insensitive)") from exc
    return account


def create_login(session: Session, username: str, password: str, role: str) -> Account:
    """An account without a server-held key, added to ``session`` (flushed, not committed)."""
    return add_login(session, new_login(session, username, password, role))


def register_member(session: Session, username: str, password: str) -> Account:
    """A self-service login with the member role (joining the plan is :func:`membership.join`)."""
    return create_login(session, username, password, "member")
