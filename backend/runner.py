"""The local runner behind ``make run``: embedded anvil + API, stopped cleanly on Ctrl-C.

Everything it starts is stopped on exit; state stays in the data directory so the next run
resumes the same chain, contracts and data.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from backend.chain.anvil import AnvilNode
from backend.config import Settings

log = logging.getLogger(__name__)


def chain_state_path(settings: Settings) -> Path:
    return settings.resolved_data_dir / "chain" / "state.json"


@contextlib.contextmanager
def local_chain(settings: Settings) -> Iterator[str]:
    """Yield the JSON-RPC URL to use: the configured one, or a spawned anvil with persisted state."""
    if settings.rpc_url:
        yield settings.rpc_url
        return
    settings.ensure_data_dir()
    node = AnvilNode(
        port=settings.chain_port,
        chain_id=settings.chain_id,
        state_path=chain_state_path(settings),
        state_interval=5,
        block_time=settings.block_time or None,
        log_path=settings.resolved_data_dir / "chain" / "anvil.log",
        die_with_parent=True,  # a runner killed with kill -9 takes its anvil along
    )
    node.start()
    log.info("anvil started", extra={"url": node.url, "state": str(node.state_path)})
    try:
        yield node.url
    finally:
        node.stop()
        log.info("anvil stopped; chain state saved")
