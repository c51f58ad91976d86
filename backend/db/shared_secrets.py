"""One set of secrets for every host of a deployment, checked through the shared database.

Hosts that serve one plan must sign the same login tokens and open the same evidence keys: a
second host with its own JWT secret would refuse the first host's sessions, and one with its own
key-encryption key could not open evidence the first one sealed. Production provides the secrets
by configuration (``HUBAO_JWT_SECRET``, ``HUBAO_KEYS_DIR``), never generated per host; this module
makes a mismatch a start-up refusal instead of a silent split.

The database keeps, per secret, only a fingerprint: SHA-256 under a domain tag of a 256-bit secret
(JWT secret) or the keyring's own KEK fingerprint, which reveals nothing usable about the secret.
The first host to start records its fingerprints; every later host compares its own. A KEK the
database knows and this host lacks is logged, not refused (a retired KEK may be gone for good).
"""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import SharedSecret
from backend.errors import ConfigError

__all__ = ["check_shared_secrets", "jwt_fingerprint"]

log = logging.getLogger(__name__)


_HINT = {
    "jwt": "give every host the same HUBAO_JWT_SECRET",
    "kek": "give every host the same key-encryption keys (HUBAO_KEYS_DIR)",
}


def jwt_fingerprint(secret: bytes) -> bytes:
    return hashlib.sha256(b"hubao/jwt-fingerprint/v1\x00" + secret).digest()


def check_shared_secrets(sessions: sessionmaker[Session], fingerprints: Mapping[str, bytes]) -> list[str]:
    """Record the fingerprints this database does not know yet; refuse (``ConfigError``
    ``HOST_SECRETS_DIFFER``) when one it knows differs. Returns the KEK names the database knows
    and this host lacks."""
    host = socket.gethostname()
    for name, fingerprint in sorted(fingerprints.items()):
        try:
            with sessions.begin() as session:
                known = session.get(SharedSecret, name)
                if known is None:
                    session.add(SharedSecret(name=name, fingerprint=fingerprint, first_host=host))
                    continue
                if bytes(known.fingerprint) != fingerprint:
                    kind = name.split(":", 1)[0]
                    raise ConfigError(
                        f"this host's {name} differs from the one host {known.first_host!r} recorded in the shared "
                        f"database: {_HINT.get(kind, 'give every host the same secrets')}",
                        code="HOST_SECRETS_DIFFER",
                    )
        except IntegrityError:  # another host recorded it at the same moment: compare with theirs
            return check_shared_secrets(sessions, fingerprints)
    with sessions() as session:
        known_keks = set(session.scalars(select(SharedSecret.name).where(SharedSecret.name.like("kek:%"))))
    missing = sorted(known_keks - set(fingerprints))
    if missing:
        log.warning("this host lacks key-encryption keys other hosts recorded", extra={"keks": missing})
    return missing
