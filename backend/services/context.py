"""What a service call may use, named and typed: :class:`ServiceContext`.

The composition root (:mod:`backend.runtime`) builds one per process and completes it with the
two per-process helpers that need the context itself (the filing relay and the wind-down gate);
services and the apportionment service edge take it as their first argument and import nothing
from the composition root. Every field is typed, so mypy checks each call into the chain client,
the evidence store (:class:`~evidence_store.interface.EvidenceStore`) and the keyring
(:class:`~evidence_store.crypto.Keyring`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract import Contract

from backend.chain.claims import ClaimLedgerClient
from backend.chain.deploy import DeploymentRecord
from backend.chain.transactions import Sender
from backend.config import Settings
from backend.services.chain_outbox import ChainOutbox
from backend.services.filing_relay import FilingRelay
from backend.services.filing_writer import FilingWriter
from evidence_store.crypto import Keyring
from evidence_store.interface import EvidenceStore

if TYPE_CHECKING:  # claim_filing imports this module
    from backend.services.claim_filing import PreparedFiling

__all__ = ["ClaimFilingGate", "ServiceContext"]


class ClaimFilingGate(Protocol):
    """The plan-level rule on new claims (wind-down, DESIGN.md "Plan rules"), implemented by
    :class:`backend.apportionment.wind_down.WindDownGate` and wired by the composition root: the
    claims service asks it without depending on the apportionment package."""

    def check_claim_filing(self, diagnosis_date: date, now: datetime) -> None:
        """Raise a domain error when a claim diagnosed on ``diagnosis_date`` may not be filed at ``now``."""
        ...


@dataclass(eq=False)
class ServiceContext:
    """The resources of one process, built once: settings, database, chain, evidence store, keys."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    w3: Web3
    deployment: DeploymentRecord
    contracts: dict[str, Contract]
    operator: Sender
    notary: Sender
    claim_ledger: ClaimLedgerClient
    store: EvidenceStore
    keyring: Keyring
    jwt_secret: bytes = b""
    # Every chain write of this process goes through it (backend.services.chain_outbox).
    chain_outbox: ChainOutbox | None = None
    # Completed by the composition root right after construction (each needs the context itself).
    filing_relay: FilingRelay = field(init=False)
    filing_writer: FilingWriter[PreparedFiling] = field(init=False)
    claim_filing_gate: ClaimFilingGate = field(init=False)

    def sender(self, signer: LocalAccount) -> Sender:
        """A sender for ``signer`` (a legacy server-held juror's or reviewer's key): through the
        database outbox like the operator's, so every host and worker process shares its nonces."""
        if self.chain_outbox is None:
            raise RuntimeError("this context has no chain outbox")
        return self.chain_outbox.sender(signer, resident=False)
