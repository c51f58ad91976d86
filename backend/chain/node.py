"""What the chain node can do, checked before the contracts are deployed or used.

* :func:`check_evm` — the node executes the opcodes of the EVM version the artifacts were compiled
  for (``provenance.settings.evmVersion``). Each version newer than london is probed by an
  ``eth_call`` of a few bytes of creation code using its new opcodes (PUSH0 for shanghai; MCOPY and
  TSTORE for cancun): a node that does not know one answers "invalid opcode" (ganache 7.9.2 stops at
  shanghai). A node that cannot run the contracts is refused with one line saying which opcode of
  which version it lacks — otherwise it would deploy them and fail later, call by call.
* :func:`mines_on_its_own` — whether blocks come without transactions. A node that mines only on
  demand (ganache's and hardhat's defaults, anvil without ``--block-time``) never buries an anchor
  under ``HUBAO_CONFIRMATIONS`` blocks unless something else sends transactions; ``hubao serve`` /
  ``hubao run`` with ``HUBAO_RPC_URL`` say so at start-up (:func:`on_demand_mining_message`).
"""

from __future__ import annotations

import time
from typing import Any

from web3 import Web3

from backend.errors import ChainError, ChainUnavailable

# EVM versions in order (solc's names); only those after london add opcodes a probe checks.
EVM_VERSIONS = ("london", "paris", "shanghai", "cancun", "prague", "osaka")
# (version, opcode, creation code that uses it and returns nothing)
_PROBES: tuple[tuple[str, str, str], ...] = (
    ("shanghai", "PUSH0", "0x5f5ff3"),  # PUSH0 PUSH0 RETURN
    ("cancun", "MCOPY", "0x5f5f5f5e5f5ff3"),  # PUSH0 x3, MCOPY(0, 0, 0), PUSH0 PUSH0 RETURN
    ("cancun", "TSTORE", "0x5f5f5d5f5ff3"),  # PUSH0 PUSH0 TSTORE, PUSH0 PUSH0 RETURN
)


class NodeUnsupported(ChainError):
    code = "CHAIN_EVM_UNSUPPORTED"


def artifacts_evm_version(artifacts: list[dict[str, Any]]) -> str:
    """The newest ``evmVersion`` the artifacts were compiled for."""
    versions = {str(a["provenance"]["settings"]["evmVersion"]) for a in artifacts}
    unknown = versions - set(EVM_VERSIONS)
    if unknown:
        raise NodeUnsupported(f"artifacts compiled for an unknown evmVersion {sorted(unknown)}")
    return max(versions, key=EVM_VERSIONS.index)


def check_evm(w3: Web3, evm_version: str, url: str = "the chain") -> None:
    """Refuse a node that cannot execute code compiled for ``evm_version`` (NodeUnsupported)."""
    wanted = EVM_VERSIONS.index(evm_version)
    for version, opcode, code in _PROBES:
        if EVM_VERSIONS.index(version) > wanted:
            continue
        try:
            w3.eth.call({"data": code})  # type: ignore[typeddict-item]
        except (OSError, TimeoutError) as exc:
            raise ChainUnavailable(f"cannot reach {url} ({exc.__class__.__name__})") from exc
        except Exception as exc:
            text = " ".join(str(exc).split())
            reason = "invalid opcode" if "invalid opcode" in text.lower() else text[:160]
            raise NodeUnsupported(
                f"the node at {url} cannot run the contracts: they are compiled for evmVersion {evm_version} "
                f"and the node rejects {opcode} (a {version} opcode): {reason}; use a node that runs "
                f"{evm_version} (anvil, hardhat 2.22, geth ≥ 1.13.12) or start it with hardfork {evm_version}",
            ) from exc


MINING_PROBE_SECONDS = 3.0  # how long start-up watches the head of a configured node


def mines_on_its_own(w3: Web3, wait: float = MINING_PROBE_SECONDS, poll: float = 0.25) -> bool:
    """True when the chain's head moves within ``wait`` seconds without us sending anything."""
    start = int(w3.eth.block_number)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(poll)
        if int(w3.eth.block_number) > start:
            return True
    return False


def on_demand_mining_message(url: str, confirmations: int, wait: float) -> str:
    return (
        f"the chain at {url} made no block in {wait:.0f} s: it mines only on demand, so an anchor waits "
        f"for HUBAO_CONFIRMATIONS={confirmations} blocks until other transactions come; give the node a "
        "block time (anvil --block-time 1, ganache --miner.blockTime 1, hardhat mining.interval 1000) "
        "or set HUBAO_CONFIRMATIONS=0 on a development chain"
    )
