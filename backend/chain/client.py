"""Web3 connection and contract handles, built once per process (app lifespan / CLI command)."""

from __future__ import annotations

from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from requests.adapters import HTTPAdapter
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from backend.errors import ChainUnavailable


def http_web3(url: str, timeout: float = 10.0) -> Web3:
    """A Web3 client for ``url`` over :func:`rpc_session` (no probe)."""
    # Only eth_chainId is cached (web3 asks for it before every transaction); block and state
    # reads must never be cached or reorg detection would stop seeing changes.
    provider = Web3.HTTPProvider(
        url,
        request_kwargs={"timeout": timeout},
        session=rpc_session(),
        cache_allowed_requests=True,
        cacheable_requests={"eth_chainId"},
    )
    return Web3(provider)


def connect(url: str, timeout: float = 10.0) -> Web3:
    """A Web3 client for ``url`` that has answered ``eth_chainId``, or ChainUnavailable."""
    w3 = http_web3(url, timeout)
    try:
        w3.eth.chain_id  # noqa: B018 - the call is the reachability probe
    except (OSError, Web3Exception, ValueError) as exc:
        raise ChainUnavailable(
            f"cannot reach the chain at {url} ({exc.__class__.__name__}): start it or fix HUBAO_RPC_URL",
        ) from exc
    return w3


def rpc_session() -> requests.Session:
    """The HTTP session every JSON-RPC call of a process goes through (web3 shares an explicit
    session between threads; urllib3's pool is thread-safe).

    ``trust_env`` off: the node is reached at the configured URL, never through a proxy named by
    the environment (``HTTP_PROXY`` must not be able to route the operator's signed transactions
    elsewhere) — and requests no longer scans the whole environment for proxy settings on every
    call, which cost ~1 ms of CPU per JSON-RPC request here. The pool holds a connection per
    thread that talks to the node at once (request threads, relays, workers).
    """
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def account(private_key: str) -> LocalAccount:
    acct: LocalAccount = Account.from_key(private_key)
    return acct


def contract_at(w3: Web3, address: str, artifact: dict[str, Any]) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact["abi"])
