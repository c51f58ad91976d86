"""Rosters behind the RosterTimelock (issue 15 item 1): a reviewer or juror role announced with a
public delay is *pending* until executed once the delay has passed, never at once; the workflow
clock's ``execute_due`` executes it; a retry does not announce twice; a revocation and a later
re-grant are operations of their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from eth_utils.crypto import keccak
from web3 import Web3
from web3.middleware import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

from backend import devices
from backend.chain.anvil import rpc_call
from backend.chain.roster import JUROR, ScheduleScan
from backend.errors import ChainUnavailable
from backend.runtime import Runtime
from backend.services.claims import ledger
from backend.services.rule_sets import roster_for
from tests.accounts.support import Api, make_account, token_for
from tests.stacks import node_of

DELAY = 3600
JUROR_ADDRESS = "0x00000000000000000000000000000000000dEaD1"
OTHER_ADDRESS = "0x00000000000000000000000000000000000dEaD2"


def _advance(runtime: Runtime, seconds: int) -> None:
    url = node_of(runtime).url
    rpc_call(url, "evm_increaseTime", [seconds])
    rpc_call(url, "evm_mine")


def test_a_role_is_pending_until_its_announcement_is_executed_after_the_delay(
    runtime_factory: Callable[..., Runtime],
) -> None:
    runtime = runtime_factory(roster_delay=DELAY)
    roster = roster_for(runtime)
    assert int(runtime.contracts["RosterTimelock"].functions.getMinDelay().call()) == DELAY
    assert roster.grant_role(JUROR, JUROR_ADDRESS) is not None  # announced
    assert roster.role_status(JUROR, JUROR_ADDRESS) == "pending"
    assert not roster.has_role(JUROR, JUROR_ADDRESS)
    assert roster.grant_role(JUROR, JUROR_ADDRESS) is None  # a retry finds its announcement
    assert [op.pending for op in roster.operations()] == [True]
    assert roster.execute_due() == []  # not ready yet: nobody can execute it early
    _advance(runtime, DELAY)
    assert len(roster.execute_due()) == 1
    assert roster.role_status(JUROR, JUROR_ADDRESS) == "held"
    assert JUROR_ADDRESS.lower() in [a.lower() for a in ledger(runtime).jurors()]

    assert roster.revoke_role(JUROR, JUROR_ADDRESS) is not None  # the revocation is announced too
    assert roster.has_role(JUROR, JUROR_ADDRESS)
    _advance(runtime, DELAY)
    assert len(roster.execute_due()) == 1
    assert roster.role_status(JUROR, JUROR_ADDRESS) == "none"
    assert roster.grant_role(JUROR, JUROR_ADDRESS) is not None  # a new operation (another salt)
    assert [op.pending for op in roster.operations()] == [False, False, True]


class _Requests:
    """The JSON-RPC requests a Web3 sends (method, params), recorded by a middleware of its own."""

    def __init__(self, w3: Web3) -> None:
        self.sent: list[tuple[str, Any]] = []
        sent = self.sent

        class Recording(Web3Middleware):
            def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
                def record(method: RPCEndpoint, params: Any) -> RPCResponse:
                    sent.append((str(method), params))
                    return make_request(method, params)

                return record

        w3.middleware_onion.add(Recording, "recording")

    def log_windows(self) -> list[tuple[int, int]]:
        return [(int(p[0]["fromBlock"], 16), int(p[0]["toBlock"], 16)) for m, p in self.sent if m == "eth_getLogs"]

    def timelock_reads(self, selector: str) -> int:
        return sum(1 for m, p in self.sent if m == "eth_call" and str(p[0]["data"]).startswith(selector))


def test_execute_due_reads_only_the_blocks_mined_since_its_last_cycle(
    runtime_factory: Callable[..., Runtime],
) -> None:
    runtime = runtime_factory(roster_delay=DELAY)
    roster = roster_for(runtime)
    get_timestamp = "0x" + runtime.contracts["RosterTimelock"].encode_abi("getTimestamp", args=[b"\0" * 32])[2:10]
    scan = ScheduleScan(roster.from_block)
    requests = _Requests(runtime.w3)
    roster.grant_role(JUROR, JUROR_ADDRESS)
    requests.sent.clear()
    assert roster.execute_due(scan) == []  # first cycle: everything since the timelock's deployment
    first_head = runtime.w3.eth.block_number
    assert requests.log_windows() == [(roster.from_block, first_head)] * 2  # CallScheduled, CallSalt
    assert requests.timelock_reads(get_timestamp) == 1
    assert list(scan.waiting) != []

    roster.grant_role(JUROR, OTHER_ADDRESS)
    _advance(runtime, DELAY)
    requests.sent.clear()
    assert len(roster.execute_due(scan)) == 2  # both announcements are due now
    second_head = runtime.w3.eth.block_number - 2  # the two executions were mined after the read
    assert requests.log_windows() == [(first_head + 1, second_head)] * 2
    assert requests.timelock_reads(get_timestamp) == 1  # only the announcement it had not seen
    assert roster.role_status(JUROR, JUROR_ADDRESS) == roster.role_status(JUROR, OTHER_ADDRESS) == "held"

    requests.sent.clear()
    assert roster.execute_due(scan) == []
    assert requests.log_windows() == [(second_head + 1, runtime.w3.eth.block_number)] * 2
    assert requests.timelock_reads(get_timestamp) == 0
    assert scan.waiting == {}


def test_execute_due_reads_everything_again_when_the_chain_it_read_was_replaced(
    runtime_factory: Callable[..., Runtime],
) -> None:
    """A reorg (here: a snapshot reverted) takes the block the scan stopped at: the announcement
    mined in its place is found, the vanished one forgotten."""
    runtime = runtime_factory(roster_delay=DELAY)
    roster = roster_for(runtime)
    url = node_of(runtime).url
    scan = ScheduleScan(roster.from_block)
    snapshot = rpc_call(url, "evm_snapshot")
    roster.grant_role(JUROR, JUROR_ADDRESS)
    assert roster.execute_due(scan) == []
    assert len(scan.waiting) == 1
    rpc_call(url, "evm_revert", [snapshot])
    roster.grant_role(JUROR, OTHER_ADDRESS)  # mined at the height the vanished announcement had
    _advance(runtime, DELAY)
    assert len(roster.execute_due(scan)) == 1
    assert roster.role_status(JUROR, OTHER_ADDRESS) == "held"
    assert roster.role_status(JUROR, JUROR_ADDRESS) == "none"
    assert scan.waiting == {}


def test_the_api_shows_a_role_pending_until_its_time_then_in_force_then_being_revoked(
    runtime_factory: Callable[..., Runtime],
) -> None:
    """What the juror (GET /signing-key) and the operator (GET /accounts) see of the timelock."""
    runtime = runtime_factory(roster_delay=DELAY)
    api = Api(runtime)
    operator = token_for(runtime, make_account(runtime, "operator"))
    juror = make_account(runtime, "juror")
    address = devices.register_key(api, token_for(runtime, juror), keccak(text="hubao-roster-timelock-juror"))
    announced_at = int(runtime.w3.eth.get_block("latest")["timestamp"])

    def seen() -> tuple[dict[str, Any], dict[str, Any]]:
        mine = api.get("/signing-key", token_for(runtime, juror)).json()["onChainRole"]
        listed = [a for a in api.get("/accounts", operator, params={"role": "juror"}).json() if a["id"] == juror.id]
        assert [a["signingAddress"] for a in listed] == [address]
        return mine, listed[0]["onChainRole"]

    mine, listed = seen()
    assert mine == listed
    assert (mine["role"], mine["status"]) == ("JUROR_ROLE", "pending")
    assert datetime.fromisoformat(mine["changeAt"]) == datetime.fromtimestamp(announced_at + DELAY, UTC)

    _advance(runtime, DELAY)
    roster = roster_for(runtime)
    assert len(roster.execute_due()) == 1
    assert seen() == ({"role": "JUROR_ROLE", "status": "held", "changeAt": None},) * 2

    roster.revoke_role(JUROR, address)
    revoked_at = int(runtime.w3.eth.get_block("latest")["timestamp"])
    mine, listed = seen()
    assert mine == listed
    assert mine["status"] == "revoking"  # still in force until the revocation is executed
    assert datetime.fromisoformat(mine["changeAt"]) == datetime.fromtimestamp(revoked_at + DELAY, UTC)
    operator_row = api.get("/accounts", operator, params={"role": "operator"}).json()[0]
    assert operator_row["onChainRole"] is None  # operators sign nothing on the roster


def test_execute_due_keeps_a_change_whose_execution_failed_for_the_next_cycle(
    runtime_factory: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle whose execution fails (the node went away mid-cycle) forgets nothing it read."""
    runtime = runtime_factory(roster_delay=DELAY)
    roster = roster_for(runtime)
    scan = ScheduleScan(roster.from_block)
    roster.grant_role(JUROR, JUROR_ADDRESS)
    _advance(runtime, DELAY)
    execute = roster._execute

    def unreachable(data: bytes, salt: bytes) -> bytes:
        raise ChainUnavailable("cannot reach the chain: ConnectError")

    monkeypatch.setattr(roster, "_execute", unreachable)
    with pytest.raises(ChainUnavailable):
        roster.execute_due(scan)
    assert len(scan.waiting) == 1
    monkeypatch.setattr(roster, "_execute", execute)
    assert len(roster.execute_due(scan)) == 1  # no new block to read: found in what the scan kept
    assert roster.role_status(JUROR, JUROR_ADDRESS) == "held"


def test_the_api_says_unknown_when_the_chain_cannot_be_read(runtime_factory: Callable[..., Runtime]) -> None:
    runtime = runtime_factory()
    api = Api(runtime)
    juror = make_account(runtime, "juror")
    devices.register_key(api, token_for(runtime, juror), keccak(text="hubao-roster-timelock-offline"))
    node_of(runtime).kill()
    key = api.get("/signing-key", token_for(runtime, juror))
    assert key.status_code == 200, key.text
    assert key.json()["onChainRole"] == {"role": "JUROR_ROLE", "status": "unknown", "changeAt": None}
