"""The same end-to-end scenario on every supported node: anvil, ganache 7.9.2 and hardhat 2.22
(tests/chains/nodes.py, each from npm, started here on a free loopback port) — and on
``HUBAO_TEST_RPC_URL`` when set (a node started elsewhere; chain id 31337 with the development
mnemonic, or HUBAO_DEPLOYER_KEY / HUBAO_NOTARY_KEY / HUBAO_ADMIN_ADDRESS of funded accounts).

Deploy, join, file a claim with evidence, anchor, two reviewer verdicts, public notice, an
objection, a jury, a published period, the member's share receipt, ``hubao receipt verify --rpc``,
``hubao shares verify --rpc`` and ``hubao audit`` with every step passed — through the API, the
CLI and the claims builders (tests/claims/builders.py), never through anvil-only methods: only
``evm_increaseTime`` / ``evm_mine``, which every development node answers. The rest of the chain
suite runs on anvil only (it uses ``anvil_setCode``, ``anvil_reorg``, ``evm_setNextBlockTimestamp``…).

The nodes run one after the other on one xdist worker (group ``chains-matrix``): they are
CPU-bound and would otherwise slow each other and the suite.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backend.apportionment.publish import compute_and_publish_period
from backend.apportionment.schedule import DEFAULT_SCHEDULE
from backend.chain.anvil import rpc_call
from backend.chain.client import account, connect
from backend.chain.compiler import load_artifact
from backend.chain.transactions import ContractReverted, TransactionSender, register_errors
from backend.cli import app, load_commands
from backend.config import ANVIL_DEV_KEYS, Settings
from backend.demo import check_demo_chain, seed_demo
from backend.runtime import build_runtime
from tests.chains.nodes import KINDS, Node, external_node, start_node
from tests.claims.builders import World, pdf, start_world

pytestmark = pytest.mark.xdist_group("chains-matrix")

load_commands()

NODES = [*KINDS, *(["external"] if os.environ.get("HUBAO_TEST_RPC_URL") else [])]
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module", params=NODES)
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Node]]:
    kind = str(request.param)
    started = time.monotonic()
    running = external_node() if kind == "external" else start_node(kind, tmp_path_factory.mktemp(kind))
    assert running is not None
    try:
        yield kind, running
    finally:
        running.kill()
        TIMINGS[kind] = time.monotonic() - started


def _ok(response: Any, *codes: int) -> dict[str, Any]:
    assert response.status_code in (codes or (200, 201)), response.text
    return dict(response.json())


# The builders date each join 200 days back (past the waiting period) while it is anchored now: the
# audit's anchoring deadline (membership log, evidence) must cover that backdating.
BACKDATING_DEADLINE = str(300 * 86400)


def _hubao(world: World, *args: str) -> tuple[int, str]:
    env = {
        "HUBAO_DATA_DIR": str(world.runtime.settings.data_dir),
        "HUBAO_RPC_URL": world.runtime.settings.chain_url,
        "HUBAO_EVIDENCE_ANCHORING_DEADLINE": BACKDATING_DEADLINE,
    }
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def _chain_time(world: World) -> int:
    return int(world.runtime.w3.eth.get_block("latest")["timestamp"])


def _move_chain_to(world: World, instant: datetime) -> None:
    """The chain's clock to ``instant`` or just past it (evm_increaseTime: every node has it)."""
    ahead = int(instant.timestamp()) - _chain_time(world)
    if ahead > 0:
        rpc_call(world.runtime.settings.chain_url, "evm_increaseTime", [ahead])
    rpc_call(world.runtime.settings.chain_url, "evm_mine")
    assert _chain_time(world) >= int(instant.timestamp())


def test_end_to_end_scenario(node: tuple[str, Node], tmp_path: Path) -> None:
    kind, running = node
    world = start_world(tmp_path, node=running)  # deploy, bootstrap, a rule set with a 3-juror jury
    try:
        claimant, objector = world.member(name=f"claimant-{kind}"), world.member(name=f"objector-{kind}")
        filed = _ok(world.file(claimant, [("report.pdf", pdf(f"{kind}: pathology report"), "application/pdf")]), 201)
        pk, evidence_id = str(filed["id"]), str(filed["evidence"][0]["id"])
        world.anchor()  # the evidence batch and the joins (membership log)

        world.approve_by_review(pk)  # two reviewers' signed verdicts
        assert world.claim(claimant, pk)["status"] == "IN_NOTICE"
        _ok(world.object(objector, str(filed["claimId"]), "doubt"))  # signed by the objector's device key
        world.jury_votes(pk, [True, True, False])
        assert _ok(world.api.post(f"/claims/{pk}/tally", world.operator.token))["status"] == "APPROVED"
        approved_at = datetime.fromtimestamp(_chain_time(world), UTC)

        period = DEFAULT_SCHEDULE.period_for(approved_at)
        now = period.window_end + timedelta(hours=1)
        _move_chain_to(world, now)
        compute_and_publish_period(world.runtime, period, now)
        world.anchor()

        share = _ok(world.api.get(f"/me/shares/{period.period_id}/receipt", claimant.token))
        evidence = _ok(world.api.get(f"/claims/{pk}/evidence/{evidence_id}/receipt", claimant.token))
        url = world.runtime.settings.chain_url
        for command, document in (("receipt", evidence), ("shares", share)):
            path = tmp_path / f"{command}.json"
            path.write_text(json.dumps(document))
            code, out = _hubao(world, command, "verify", str(path), "--rpc", url, "--json")
            assert code == 0, f"{command} verify: {out}"
            assert json.loads(out)["ok"] is True

        code, out = _hubao(world, "audit", "--json")
        assert code == 0, out
        report = json.loads(out)
        assert [s["status"] for s in report["steps"]] == ["passed"] * len(report["steps"]), out
        assert len(report["steps"]) == 7
    finally:
        world.runtime.close()


def test_demo_seeds_on_the_node(node: tuple[str, Node], tmp_path: Path) -> None:
    """``hubao run --demo`` with HUBAO_RPC_URL: the demo plan is seeded on any development node,
    its anchors buried by evm_mine even under the default HUBAO_CONFIRMATIONS=2."""
    _kind, running = node
    check_demo_chain(running.url)
    runtime = build_runtime(Settings(rpc_url=running.url, data_dir=tmp_path / "data", anchoring=False))
    try:
        assert seed_demo(runtime) is True
        assert runtime.anchoring_worker().backlog() == 0
    finally:
        runtime.close()


def test_a_mined_revert_is_named_on_the_node(node: tuple[str, Node]) -> None:
    """A transaction sent without simulation that reverts once mined (status 0 on anvil and
    ganache, an error at send on hardhat) surfaces as the contract's named error."""
    _kind, running = node
    w3 = connect(running.url)
    sender = TransactionSender(w3, account(ANVIL_DEV_KEYS[0]))
    artifact = load_artifact("EvidenceNotary")
    register_errors([artifact["abi"]])
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor(sender.address, sender.address).build_transaction({"from": sender.address})
    tx.pop("nonce", None)
    notary = w3.eth.contract(address=sender.transact(tx)["contractAddress"], abi=artifact["abi"])
    wrong_prev = b"\x01" * 32  # the head is zero: EvidenceNotaryPrevRootMismatch
    data = notary.encode_abi("anchor", args=[b"\x02" * 32, 1, wrong_prev])
    with pytest.raises(ContractReverted) as reverted:
        sender.transact({"to": notary.address, "data": data, "gas": 200_000})
    assert reverted.value.error == "EvidenceNotaryPrevRootMismatch"
    assert reverted.value.args_ == (b"\x00" * 32, wrong_prev)
