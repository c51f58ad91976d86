"""Participants' own signing keys: registration by proof of possession, and retiring server-held keys.

A reviewer's or juror's key is made and kept on the participant's device (the web UI's keystore, a browser
wallet, or a keystore file used with ``hubao sign``). The server stores only its **address**
(``Account.signing_address``, with ``signing_key_encrypted`` NULL): no private key, no key-wrapping
key, nothing that could sign for the reviewer.

Registration (proof of possession)::

    1. POST challenge {address}  ->  the KeyRegistration typed-data document
       (backend/chain/typed_data.py) for this account and address, valid CHALLENGE_TTL_SECONDS;
       challenge = HMAC-SHA256(server secret, "hubao/key-registration/v1" ‖ account ‖ address ‖ expiresAt),
       so the server keeps no state between the two calls.
    2. the device signs it (EIP-712, the key being registered);
    3. POST {address, expiresAt, signature}: the server rebuilds the document, checks the expiry
       and that the signature recovers to the address, then — chain first, so a retry completes —
       grants REVIEWER_ROLE / JUROR_ROLE to the address, re-declares the account's conflicts of interest for it
       (ClaimLedger keys conflicts by address), revokes the role of the previous address, and only
       then stores the new address and deletes the sealed server-held key.

Migration: a reviewer account created with a server-held key keeps working (the server signs its
verdicts, as before) until its owner registers a key of their own; from then on the server cannot
sign for it. Jurors vote only with a key of their own (ClaimLedger 2 ``commitVoteBySig``): new juror
accounts get no server-held key, and a juror's legacy server-held key signs nothing — registering
their own key retires it (role revoked on chain, sealed key deleted); the history it signed stays.

    InvalidInput (422)   INVALID_ADDRESS
    Forbidden (403)      NOT_A_DEVICE_SIGNER (not a reviewer or juror), CHALLENGE_EXPIRED,
                         KEY_NOT_PROVEN (the signature is malformed or by another key)
    Conflict (409)       KEY_IN_USE (another account's address), VERDICT_AWAITING_RELAY
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any, Final

from eth_utils.address import is_address, to_checksum_address
from sqlalchemy import select, text

from backend.chain import typed_data
from backend.chain.roster import JUROR, REVIEWER
from backend.db.models import Account, Member, Relation, ReviewAssignment, ServerHeldKey, utcnow
from backend.errors import Conflict, Forbidden, InvalidInput
from backend.services.accounts import OnChainRole, get_account, on_chain_roles
from backend.services.auth import Principal
from backend.services.context import ServiceContext
from backend.services.review import fill_short_panels
from backend.services.rule_sets import roster_for

log = logging.getLogger(__name__)

CHALLENGE_TTL_SECONDS: Final = 600
# Roles whose key lives on the participant's device (the on-chain role each key is granted).
DEVICE_ROLES: Final[dict[str, str]] = {"reviewer": REVIEWER, "juror": JUROR}
_CHALLENGE_TAG: Final = b"hubao/key-registration/v1\x00"


@dataclass(frozen=True)
class SigningKeyView:
    """Where an account's signing key lives: ``device`` (only its address is here), ``server``
    (the legacy sealed key), or ``none``."""

    address: str | None
    custody: str
    device_keys_supported: bool
    on_chain_role: OnChainRole | None = None


def signing_key_view(account: Account, on_chain_role: OnChainRole | None = None) -> SigningKeyView:
    custody = "none"
    if account.signing_address is not None:
        custody = "server" if account.signing_key_encrypted is not None else "device"
    return SigningKeyView(account.signing_address, custody, account.role in DEVICE_ROLES, on_chain_role)


def my_signing_key(ctx: ServiceContext, principal: Principal) -> SigningKeyView:
    """Where my key lives and where its roster role stands on chain (pending until a time, …)."""
    with ctx.sessions() as session:
        account = get_account(session, principal.account_id)
    return signing_key_view(account, on_chain_roles(ctx, [account]).get(account.id))


def _address(value: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput("address must be a 20-byte hex address", code="INVALID_ADDRESS", field="address")
    return str(to_checksum_address(value))


def _challenge(ctx: ServiceContext, account_id: str, address: str, expires_at: int) -> bytes:
    message = _CHALLENGE_TAG + b"\x00".join((account_id.encode(), address.lower().encode(), str(expires_at).encode()))
    return hmac.new(ctx.jwt_secret, message, hashlib.sha256).digest()


def _document(ctx: ServiceContext, account: Account, address: str, expires_at: int) -> dict[str, Any]:
    domain = ctx.claim_ledger.domain().as_dict()
    challenge = _challenge(ctx, account.id, address, expires_at)
    return typed_data.key_registration_document(
        domain, account=account.username, key=address, challenge=challenge, expires_at=expires_at
    )


def _device_signer(account: Account) -> str:
    role = DEVICE_ROLES.get(account.role)
    if role is None or account.disabled:
        raise Forbidden("only reviewers and jurors register their own signing key", code="NOT_A_DEVICE_SIGNER")
    return role


def key_registration_challenge(
    ctx: ServiceContext, principal: Principal, address: str, *, now: int | None = None
) -> dict[str, Any]:
    """The KeyRegistration typed-data document the caller's device signs to register ``address``."""
    key = _address(address)
    expires_at = int(now if now is not None else time.time()) + CHALLENGE_TTL_SECONDS
    with ctx.sessions() as session:
        account = get_account(session, principal.account_id)
        _device_signer(account)
        return _document(ctx, account, key, expires_at)


@dataclass(frozen=True)
class KeyRegistration:
    """What registering a key changed, on chain and here."""

    address: str
    previous_address: str | None
    retired_server_key: bool
    grant_tx: bytes | None
    revoke_tx: bytes | None
    conflicts_declared: int


def _truncate_wal(ctx: ServiceContext) -> None:
    """Checkpoint SQLite's write-ahead log and truncate it: its frames still hold the page as it was
    before the sealed key was deleted. Best effort: a reader holding an old snapshot keeps the log
    until it ends (PostgreSQL keeps the dead row version until VACUUM)."""
    with ctx.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def register_signing_key(
    ctx: ServiceContext,
    principal: Principal,
    address: str,
    expires_at: int,
    signature: bytes,
    *,
    now: int | None = None,
) -> KeyRegistration:
    """Register ``address`` as the caller's signing key once ``signature`` proves possession of it."""
    key = _address(address)
    with ctx.sessions() as session:
        account = get_account(session, principal.account_id)
        role = _device_signer(account)
        # A refused proof is a 403 whatever the reason: expired, malformed or by another key.
        if int(now if now is not None else time.time()) > expires_at:
            raise Forbidden("the registration challenge has expired: ask for a new one", code="CHALLENGE_EXPIRED")
        document = _document(ctx, account, key, expires_at)
        try:
            signer = typed_data.recover_signer(document, signature)
        except InvalidInput as exc:
            raise Forbidden(f"the signature proves nothing: {exc.message}", code="KEY_NOT_PROVEN") from exc
        if signer != key:
            raise Forbidden("the signature was not made with the key being registered", code="KEY_NOT_PROVEN")
        holder = session.scalars(select(Account.id).where(Account.signing_address == key)).first()
        if holder is not None and holder != account.id:
            raise Conflict("this key is registered to another account", code="KEY_IN_USE")
        awaiting = session.scalars(
            select(ReviewAssignment.id).where(
                ReviewAssignment.reviewer_id == account.id,
                ReviewAssignment.signature.is_not(None),
                ReviewAssignment.submitted_at.is_(None),
            )
        ).first()
        if awaiting is not None and account.signing_address != key:
            raise Conflict("a signed verdict of yours awaits relay: submit it first", code="VERDICT_AWAITING_RELAY")
        previous = account.signing_address
        commitments = [
            bytes(c)
            for c in session.scalars(
                select(Member.commitment)
                .join(Relation, Relation.member_id == Member.id)
                .where(Relation.account_id == account.id)
            )
        ]
    roster = roster_for(ctx)
    grant = roster.grant_role(role, key)
    declared = sum(1 for c in commitments if roster.declare_conflict(key, c) is not None)
    revoke = roster.revoke_role(role, previous) if previous is not None and previous != key else None
    sqlite = ctx.engine.dialect.name == "sqlite"
    with ctx.sessions.begin() as session:
        account = get_account(session, principal.account_id)
        retired = account.signing_key_encrypted is not None
        if sqlite:  # overwrite the freed bytes of the sealed key instead of leaving them in the page
            session.execute(text("PRAGMA secure_delete = ON"))
        if retired and previous is not None:  # the record outlives the key: the audit still counts its signatures
            held = session.get(ServerHeldKey, previous)
            if held is not None:
                held.retired_at = utcnow()
        account.signing_address = key
        account.signing_key_encrypted = None
        session.flush()
        if sqlite:
            session.execute(text("PRAGMA secure_delete = OFF"))
    if sqlite and retired:
        _truncate_wal(ctx)
    log.info(
        "signing key registered",
        extra={"account_id": principal.account_id, "address": key, "previous": previous, "retired": retired},
    )
    if role == REVIEWER and previous is None:  # a new reviewer: claims waiting for a panel get one now
        fill_short_panels(ctx)
    return KeyRegistration(key, previous, retired, grant, revoke, declared)
