"""Rosters behind the RosterTimelock (issue 15 item 1): a reviewer or juror role announced with a
public delay is *pending* until executed once the delay has passed, never at once; the workflow
clock's ``execute_due`` executes it; a retry does not announce twice; a revocation and a later
re-grant are operations of their own."""

from __future__ import annotations

from collections.abc import Callable

from backend.chain.anvil import rpc_call
from backend.chain.roster import JUROR
from backend.runtime import Runtime
from backend.services.claims import ledger
from backend.services.rule_sets import roster_for
from tests.stacks import node_of

DELAY = 3600
JUROR_ADDRESS = "0x00000000000000000000000000000000000dEaD1"


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
