"""EIP-170: every deployed contract's runtime code fits in 24,576 bytes (mainnet and most L2s refuse more).

Read from the committed artifacts (what ``backend/chain/deploy.py`` deploys). ClaimLedger is the one
close to the limit: its pure helper views (``claimIdOf``, ``voteCommitment``) were dropped in 2.0.0
for the bytecode budget — the Python mirrors in ``backend/chain/eip712.py`` and the golden vectors
shared with forge pin those encodings instead (contracts/README.md, "Contract size").
"""

from __future__ import annotations

import pytest

from backend.chain.compiler import load_artifact
from backend.chain.deploy import SUITE

EIP170_LIMIT = 24_576


@pytest.mark.parametrize("artifact", sorted({spec.artifact_name for spec in SUITE}))
def test_runtime_code_within_eip170(artifact: str) -> None:
    code = bytes.fromhex(load_artifact(artifact)["deployedBytecode"].removeprefix("0x"))
    assert 0 < len(code) <= EIP170_LIMIT, f"{artifact} runtime is {len(code)} bytes"


def test_suite_deploys_the_roster_timelock_before_claim_ledger() -> None:
    names = [spec.name for spec in SUITE]
    assert names.index("RosterTimelock") < names.index("ClaimLedger")
