"""Which recorded signatures an operator-held secret could have made (issue 14 item 5).

Step 3 proves that each verdict and each vote was signed by the key the event names, and that the
key held its role. It cannot tell whose device that key lives on: a key this server generated and
sealed (the legacy custody, ``server_held_keys``) signs as well as a participant's own. Such
signatures are not forgeries the replay can name, but a pass built on them proves only that the
*server* signed — so the report lists them under ``operatorSatisfiable`` and ``complete`` stays
false while the audited history has any.

The operator's database says which keys were server-held; an operator who deletes those rows hides
them from this count, which is why every participant can check on the public roster that the
address holding their role is the one their device made (``keyCustody`` in ``backend.audit.trust``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from backend.audit.ledger_events import LedgerLog

__all__ = ["SIGNER_FIELDS", "ServerSigned", "server_signed"]

# The events whose signer is a participant key, and the field naming it.
SIGNER_FIELDS: dict[str, str] = {"VerdictRecorded": "reviewer", "VoteCommitted": "juror"}


@dataclass(frozen=True)
class ServerSigned:
    """Recorded signatures by server-held keys, per event kind."""

    counts: dict[str, int]
    addresses: tuple[str, ...]

    def __bool__(self) -> bool:
        return any(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        described = ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()) if n)
        return {
            "id": "serverHeldKeys",
            "step": 3,
            "what": f"{described} signed by keys this server generated (it holds or held them)",
            "counts": dict(sorted(self.counts.items())),
            "addresses": list(self.addresses),
        }


def server_signed(logs: Iterable[LedgerLog], server_keys: frozenset[str]) -> ServerSigned:
    """Count the verdicts and vote commitments in ``logs`` signed by one of ``server_keys``."""
    counts = dict.fromkeys(SIGNER_FIELDS, 0)
    seen: set[str] = set()
    for log in logs:
        field_name = SIGNER_FIELDS.get(log.name)
        if field_name is None or log.malformed:
            continue
        signer = str(log.fields[field_name]).lower()
        if signer in server_keys:
            counts[log.name] += 1
            seen.add(signer)
    return ServerSigned(counts, tuple(sorted(seen)))
