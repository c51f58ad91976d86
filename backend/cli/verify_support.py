"""What ``hubao receipt verify`` and ``hubao shares verify`` share around the proof steps: reading
the chain without a traceback, and the deployment check as a numbered step.

The steps themselves (``backend.proofs``) take a lookup bound to one contract. Bound naïvely to the
address a receipt names, a receipt naming a wrong address made every call revert
(``TRANSACTION_FAILED``) instead of failing a step. :class:`CheckedDeployment` wraps the lookup: the
deployment step reads its ``chain_id``, and when the address holds no contract, or a contract whose
runtime code is not the expected artifact's, that read raises the step's own ``DeploymentMismatch``
— so the report says "rejected at step 6 (DEPLOYMENT)" (step 7 for share receipts), naming why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.errors import ChainError, ChainUnavailable, InvalidInput
from backend.proofs.errors import DeploymentMismatch


def refuse_api_error(file: Path, text: bytes) -> None:
    """Refuse, in one line, a file that holds the API's error envelope instead of a receipt: a
    download with an expired token saves ``{"code": "UNAUTHORIZED", …}``, which step 1 read as a
    receipt "missing field version" (found by the QA walk-through)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return
    if isinstance(doc, dict) and set(doc) == {"code", "message"} and all(isinstance(v, str) for v in doc.values()):
        raise InvalidInput(
            f"{file} is not a receipt: it holds an error the API answered ({doc['code']}: {doc['message']}); "
            "download the receipt again",
            code="NOT_A_RECEIPT",
        )


# The fields the on-chain steps check and the offline ones cannot (evidence receipts: steps 6-13).
NOT_CHECKED_OFFLINE = ("chainId", "contract", "batchId", "prevRoot", "leafCount", "anchorBlock", "anchorTx")


def connect_or_fail(rpc: str) -> Any:
    """A Web3 client for ``rpc`` that answers ``eth_chainId``; ChainUnavailable (one line) otherwise."""
    from backend.chain.client import connect

    try:
        w3 = connect(rpc)
        _ = w3.eth.chain_id
    except ChainError:
        raise
    except Exception as exc:  # malformed URL, refused connection, not JSON-RPC
        raise ChainUnavailable(
            f"cannot read the chain at {rpc}: {exc.__class__.__name__}", code="CHAIN_UNAVAILABLE"
        ) from exc
    return w3


def deployment_problem(w3: Any, address: str, artifact: dict[str, Any], name: str) -> str | None:
    """Why ``address`` is not a deployed ``name`` on this chain, or None when it is."""
    from backend.chain.deploy import runtime_code_matches

    code = bytes(w3.eth.get_code(w3.to_checksum_address(address)))
    if not code:
        return f"no contract at {address} on chain {w3.eth.chain_id}"
    if not runtime_code_matches(w3, w3.to_checksum_address(address), artifact):
        return f"the contract at {address} is not a {name} (its code differs from the committed artifact)"
    return None


class CheckedDeployment:
    """A lookup whose ``chain_id`` raises the deployment step's error when the contract is wrong.

    ``receipt_chain_id`` is the receipt's: a wrong chain id is reported as such (the step compares
    it first), a wrong contract only on the receipt's chain.
    """

    def __init__(
        self,
        lookup: Any,
        problem: str | None,
        chain_id: int,
        receipt_chain_id: int | None,
        error: type[DeploymentMismatch] | type[Any] = DeploymentMismatch,
    ) -> None:
        self._lookup = lookup
        self._error = error
        self._problem = problem
        self._chain_id = chain_id
        self._receipt_chain_id = receipt_chain_id

    @property
    def chain_id(self) -> int:
        if self._problem is not None and self._receipt_chain_id == self._chain_id:
            raise self._error(self._problem, field="contract")
        return self._chain_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lookup, name)
