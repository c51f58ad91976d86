"""Accounts (logins), the reviewer/juror signing keys, the on-chain rosters and declared relations.

Roles: member, reviewer, juror, auditor, operator — one per account. Reviewers and jurors sign
EIP-712 messages. Reviewers sign with the key their own device made (registered by
``participant_keys``; the server holds only its address). Accounts of ``SERVER_KEY_ROLES``, and
accounts created before device keys, have a key generated here (the legacy custody, recorded in
``server_held_keys`` for the audit); it never leaves this module in the clear except as the
:class:`LocalAccount` returned by :func:`signing_account`, and is never logged.

Legacy signing keys at rest (``Account.signing_key_encrypted``), envelope encryption::

    sealed = b"HBSK" || 0x01 || len(kid) (u8) || kid || wrapped_dek (60) || nonce (12) || AES-256-GCM(dek, key)
    aad    = b"hubao/signing-key/v1" || 0x00 || account id || 0x00 || signing address

The data key (DEK) is wrapped under the keyring's current KEK (``evidence_store.crypto``), so a
KEK rotation re-wraps 60 bytes and never touches the sealed key. The associated data binds the
sealed key to its account and address: a row copied onto another account does not open.

    UsernameTaken (Conflict, 409)          USERNAME_TAKEN (login rows: :mod:`backend.services.logins`)
    InvalidInput (422)                     INVALID_USERNAME, WEAK_PASSWORD, INVALID_ROLE, NOT_A_SIGNER
    NotFound (404)                         ACCOUNT_NOT_FOUND, MEMBER_NOT_FOUND
    Conflict (409)                         RELATION_EXISTS, NOT_A_SIGNER (a relation for an account that signs nothing)
    SigningKeyUnavailable (HubaoError, 500) the sealed key does not open (KEK missing, row altered)
"""

from __future__ import annotations

import logging
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.chain.roster import JUROR, REVIEWER
from backend.db.models import Account, Member, Relation, ServerHeldKey
from backend.errors import ChainUnavailable, Conflict, HubaoError, InvalidInput, NotFound
from backend.services.auth import end_all_sessions
from backend.services.context import ServiceContext
from backend.services.logins import MAX_PASSWORD as MAX_PASSWORD  # the login rules, re-exported
from backend.services.logins import MIN_PASSWORD as MIN_PASSWORD
from backend.services.logins import SERVER_KEY_ROLES as SERVER_KEY_ROLES
from backend.services.logins import STAFF_ROLES as STAFF_ROLES
from backend.services.logins import USERNAME_RE as USERNAME_RE
from backend.services.logins import UsernameTaken as UsernameTaken
from backend.services.logins import add_login, new_login
from backend.services.logins import register_member as register_member
from backend.services.rule_sets import roster_for
from evidence_store.crypto import WrappedKey, new_data_key
from evidence_store.errors import EvidenceStoreError

if TYPE_CHECKING:
    from evidence_store.crypto import Keyring

log = logging.getLogger(__name__)

SIGNING_ROLES: Final[dict[str, str]] = {"reviewer": REVIEWER, "juror": JUROR}
# Jurors send commitVote / revealVote themselves: keep enough gas on their keys.
JUROR_MIN_BALANCE_WEI: Final = 10**16  # 0.01 ether
JUROR_TOP_UP_WEI: Final = 5 * 10**16  # 0.05 ether

_SEAL_MAGIC: Final = b"HBSK\x01"
_SEAL_AAD: Final = b"hubao/signing-key/v1\x00"
_WRAPPED_LEN: Final = 12 + 32 + 16


class SigningKeyUnavailable(HubaoError):
    code = "SIGNING_KEY_UNAVAILABLE"


# --- signing keys at rest ------------------------------------------------------------------------


def _aad(account_id: str, address: str) -> bytes:
    return _SEAL_AAD + account_id.encode() + b"\x00" + address.encode()


def seal_signing_key(keyring: Keyring, account_id: str, address: str, private_key: bytes) -> bytes:
    """Encrypt ``private_key`` for ``account_id``/``address`` under a fresh DEK wrapped by ``keyring``."""
    dek = new_data_key()
    wrapped = keyring.wrap(dek)
    kid = wrapped.kid.encode()
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(dek).encrypt(nonce, private_key, _aad(account_id, address))
    return _SEAL_MAGIC + struct.pack(">B", len(kid)) + kid + wrapped.blob + nonce + sealed


def open_signing_key(keyring: Keyring, account: Account) -> LocalAccount:
    """The account's signing key, checked against its stored address."""
    sealed = account.signing_key_encrypted
    if sealed is None or account.signing_address is None:
        raise InvalidInput("this account has no signing key (reviewers and jurors only)", code="NOT_A_SIGNER")
    blob = bytes(sealed)
    try:
        if not blob.startswith(_SEAL_MAGIC):
            raise ValueError("unknown format")
        kid_len = blob[len(_SEAL_MAGIC)]
        offset = len(_SEAL_MAGIC) + 1
        kid = blob[offset : offset + kid_len].decode()
        offset += kid_len
        wrapped = WrappedKey(kid, blob[offset : offset + _WRAPPED_LEN])
        offset += _WRAPPED_LEN
        nonce, ciphertext = blob[offset : offset + 12], blob[offset + 12 :]
        dek = keyring.unwrap(wrapped)
        key = AESGCM(dek).decrypt(nonce, ciphertext, _aad(account.id, account.signing_address))
        signer: LocalAccount = EthAccount.from_key(key)
    except (ValueError, IndexError, InvalidTag, EvidenceStoreError) as exc:
        raise SigningKeyUnavailable(f"the signing key of account {account.id} does not open") from exc
    if signer.address != account.signing_address:
        raise SigningKeyUnavailable(f"the signing key of account {account.id} does not match its address")
    return signer


def signing_account(ctx: ServiceContext, account: Account) -> LocalAccount:
    """The reviewer's or juror's EIP-712 signer (decrypted under ``ctx.keyring``).

    Raises InvalidInput (``NOT_A_SIGNER``) for accounts without a key and
    :class:`SigningKeyUnavailable` when the sealed key does not open.
    """
    return open_signing_key(ctx.keyring, account)


# --- accounts ------------------------------------------------------------------------------------


def create_account(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    keyring: Keyring | None = None,
    server_key: bool | None = None,
) -> Account:
    """Add an account to ``session`` (flushed, not committed). Accounts of ``SERVER_KEY_ROLES`` get a
    signing key sealed under ``keyring`` (``server_key`` overrides, e.g. to rebuild a data directory
    of the legacy custody); the others that sign register their device's key later. The on-chain
    role is granted separately (:func:`grant_signing_role`), after the row is committed."""
    account = new_login(session, username, password, role)
    if role in SIGNING_ROLES and (role in SERVER_KEY_ROLES if server_key is None else server_key):
        if keyring is None:
            raise ValueError("a keyring is needed to create reviewer and juror accounts")
        signer: LocalAccount = EthAccount.create()
        account.signing_address = str(signer.address)
        account.signing_key_encrypted = seal_signing_key(keyring, account.id, account.signing_address, signer.key)
        session.add(ServerHeldKey(address=account.signing_address, account_id=account.id))
    return add_login(session, account)


def grant_signing_role(ctx: ServiceContext, account: Account) -> bytes | None:
    """Announce REVIEWER_ROLE / JUROR_ROLE on ClaimLedger for the account's signing address.

    The operator schedules the grant on the RosterTimelock; it takes effect when executed once the
    public delay (``HUBAO_ROSTER_DELAY``) has passed — at once with a zero delay, otherwise by the
    workflow clock (:meth:`~backend.chain.roster.RosterClient.execute_due`). Until then the role is
    *pending* (:meth:`~backend.chain.roster.RosterClient.role_status`). Jurors' addresses are also
    topped up with gas (a juror may send its own commit/reveal). Returns the hash of the
    transaction sent, or None when the role was already held, already announced and waiting, or
    the account signs nothing.
    """
    role = SIGNING_ROLES.get(account.role)
    if role is None or account.signing_address is None or account.disabled:
        return None
    roster = roster_for(ctx)
    tx = roster.grant_role(role, account.signing_address)
    if role == JUROR:
        roster.fund(account.signing_address, JUROR_MIN_BALANCE_WEI, JUROR_TOP_UP_WEI)
    return tx


def create_staff_account(
    ctx: ServiceContext, username: str, password: str, role: str, *, server_key: bool | None = None
) -> Account:
    """Create a staff account (committed), then grant its on-chain role. A failed grant leaves the
    account in place; :func:`sync_roster` (run by ``bootstrap.bootstrap``) grants it later."""
    if role not in STAFF_ROLES:
        raise InvalidInput(f"staff role must be one of {', '.join(STAFF_ROLES)}", code="INVALID_ROLE")
    with ctx.sessions.begin() as session:
        account = create_account(session, username, password, role, keyring=ctx.keyring, server_key=server_key)
    grant_signing_role(ctx, account)
    return account


def get_account(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("no such account", code="ACCOUNT_NOT_FOUND")
    return account


def revoke_tokens(session: Session, account_id: str) -> Account:
    """Invalidate every token issued so far to the account (bumps ``token_version``) and end every
    session of its list of signed-in devices."""
    account = get_account(session, account_id)
    account.token_version += 1
    end_all_sessions(session, account_id)
    session.flush()
    return account


def sign_up(sessions: sessionmaker[Session], username: str, password: str) -> Account:
    """:func:`register_member` in a transaction of its own, committed."""
    with sessions.begin() as session:
        return register_member(session, username, password)


def revoke_all_tokens(sessions: sessionmaker[Session], account_id: str) -> Account:
    """:func:`revoke_tokens` in a transaction of its own, committed."""
    with sessions.begin() as session:
        return revoke_tokens(session, account_id)


def list_accounts(session: Session, *, role: str | None, limit: int, offset: int) -> list[Account]:
    query = select(Account).order_by(Account.created_at, Account.id).limit(limit).offset(offset)
    if role is not None:
        query = query.where(Account.role == role)
    return list(session.scalars(query))


@dataclass(frozen=True)
class OnChainRole:
    """An account's roster role on ClaimLedger as the chain has it (RosterTimelock, see
    :mod:`backend.chain.roster`): ``held`` (in force), ``pending`` (a grant is announced),
    ``revoking`` (in force, a revocation is announced), ``none``, or ``unknown`` when the chain
    cannot be read right now. ``change_at``: when the announced change may take effect."""

    role: str
    status: str
    change_at: datetime | None = None


@dataclass(frozen=True)
class AccountView:
    """An account as the operator's list shows it: the row's public fields and its on-chain role."""

    id: str
    username: str
    role: str
    signing_address: str | None
    disabled: bool
    created_at: datetime
    on_chain_role: OnChainRole | None


def on_chain_roles(ctx: ServiceContext, accounts: list[Account]) -> dict[str, OnChainRole]:
    """The on-chain role of every account that signs (reviewers, jurors with an address), by id."""
    by_role: dict[str, list[Account]] = {}
    for account in accounts:
        role = SIGNING_ROLES.get(account.role)
        if role is not None and account.signing_address is not None:
            by_role.setdefault(role, []).append(account)
    found: dict[str, OnChainRole] = {}
    roster = roster_for(ctx)
    for role, signers in by_role.items():
        addresses = [to_checksum_address(str(a.signing_address)) for a in signers]
        try:
            standings = roster.role_standings(role, addresses)
        except ChainUnavailable:
            found.update((a.id, OnChainRole(role, "unknown")) for a in signers)
            continue
        for account, address in zip(signers, addresses, strict=True):
            standing = standings[address]
            at = None if standing.change_at is None else datetime.fromtimestamp(standing.change_at, UTC)
            found[account.id] = OnChainRole(role, standing.status, at)
    return found


def account_views(ctx: ServiceContext, *, role: str | None, limit: int, offset: int) -> list[AccountView]:
    """:func:`list_accounts` with each signer's on-chain role (one chain read per role listed)."""
    with ctx.sessions() as session:
        accounts = list_accounts(session, role=role, limit=limit, offset=offset)
    roles = on_chain_roles(ctx, accounts)
    return [
        AccountView(a.id, a.username, a.role, a.signing_address, a.disabled, a.created_at, roles.get(a.id))
        for a in accounts
    ]


def sync_roster(ctx: ServiceContext) -> int:
    """Grant on chain every reviewer/juror role an enabled account lacks; returns how many were sent."""
    with ctx.sessions() as session:
        signers = list(
            session.scalars(
                select(Account).where(
                    Account.role.in_(tuple(SIGNING_ROLES)),
                    Account.disabled.is_(False),
                    Account.signing_address.is_not(None),
                )
            )
        )
    return sum(1 for account in signers if grant_signing_role(ctx, account) is not None)


def signers_with_role(session: Session, role: str) -> Iterator[Account]:
    """Enabled accounts of ``role`` ("reviewer" or "juror") that hold a signing key."""
    yield from session.scalars(
        select(Account)
        .where(Account.role == role, Account.disabled.is_(False), Account.signing_address.is_not(None))
        .order_by(Account.id)
    )


# --- relations (conflicts of interest) -----------------------------------------------------------


@dataclass(frozen=True)
class DeclaredRelation:
    account_id: str
    member_id: str
    tx_hash: bytes | None


def declare_relation(ctx: ServiceContext, account_id: str, member_id: str) -> DeclaredRelation:
    """Record that reviewer/juror ``account_id`` is related to member ``member_id``, in the database
    and on chain (``declareConflict(address, memberCommitment)``): they never review or judge
    that member's claims. Chain first, so a retry after a crash completes the row. A participant
    who has not registered a key yet gets the conflict declared on chain when they do
    (``participant_keys.register_signing_key`` declares every relation for the new address)."""
    with ctx.sessions() as session:
        account = get_account(session, account_id)
        if account.role not in SIGNING_ROLES:
            # The request is well formed; the account's role is what refuses it (a state, hence 409).
            raise Conflict("relations are declared for reviewers and jurors only", code="NOT_A_SIGNER")
        member = session.get(Member, member_id)
        if member is None:
            raise NotFound("no such member", code="MEMBER_NOT_FOUND")
        exists = session.scalars(
            select(Relation.id).where(Relation.account_id == account_id, Relation.member_id == member_id)
        ).first()
        if exists is not None:
            raise Conflict("this relation is already declared", code="RELATION_EXISTS")
        address, commitment = account.signing_address, bytes(member.commitment)
    tx = roster_for(ctx).declare_conflict(address, commitment) if address is not None else None
    try:
        with ctx.sessions.begin() as session:
            session.add(Relation(account_id=account_id, member_id=member_id))
    except IntegrityError as exc:
        raise Conflict("this relation is already declared", code="RELATION_EXISTS") from exc
    return DeclaredRelation(account_id, member_id, tx)


def related_member_ids(session: Session, account_id: str) -> set[str]:
    """Members the account is declared related to (for excluding it from their claims)."""
    return set(session.scalars(select(Relation.member_id).where(Relation.account_id == account_id)))
