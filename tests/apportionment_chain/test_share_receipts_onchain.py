"""A member's view over HTTP and their share receipt: verifies offline (steps 1–6) and on chain
(7–12), through the library and through ``hubao shares verify --rpc``; every altered field and a
self-consistent forgery fail."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils.crypto import keccak
from typer.testing import CliRunner

from backend.api.app import create_app
from backend.apportionment.arithmetic import PeriodInputs
from backend.apportionment.ledger import ShareLedgerReader, ShareRow, build_share_ledger, share_leaf_hash
from backend.apportionment.onchain import verify_share_receipt_onchain
from backend.apportionment.receipts import make_share_receipt, parse_share_receipt, verify_share_receipt_offline
from backend.apportionment.service_errors import PeriodNotClosed
from backend.chain.apportionment import ApportionmentClient, ApportionmentLookup
from backend.cli import _load_commands, app
from backend.proofs.receipts import StepStatus
from tests.apportionment_chain.conftest import Scenario
from tests.apportionment_chain.support import add_account

pytestmark = pytest.mark.xdist_group("apportionment-chain")


def _get(scenario: Scenario, path: str, token: str | None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(runtime=scenario.runtime))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://hubao.test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


def _lookup(scenario: Scenario) -> ApportionmentLookup:
    runtime = scenario.runtime
    return ApportionmentLookup(ApportionmentClient(runtime.w3, runtime.contracts["Apportionment"]))


@pytest.fixture(scope="module")
def m5_receipt(scenario: Scenario) -> dict[str, Any]:
    """m5's receipt for period 20310321 (new member: the per-case cap binds), from the API."""
    response = _get(scenario, "/me/shares/20310321/receipt", scenario.members["m5"].token)
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def test_share_history_lists_each_published_period_of_the_member(scenario: Scenario) -> None:
    def shares(name: str) -> list[tuple[int, int, int, int]]:
        response = _get(scenario, "/me/shares", scenario.members[name].token)
        assert response.status_code == 200, response.text
        return [(s["periodId"], s["shareFen"], s["subsidyFen"], s["yearToDateFen"]) for s in response.json()["shares"]]

    assert shares("m1") == [(20310307, 20, 412, 20), (20310321, 5, 320, 25), (20310407, 0, 0, 25)]
    assert shares("m5") == [(20310321, 20, 305, 20), (20310407, 0, 0, 20)]
    assert shares("m6") == [(20310307, 20, 412, 20)]
    entry = _get(scenario, "/me/shares", scenario.members["m1"].token).json()["shares"][0]
    assert entry["baseFen"] == 432
    assert entry["ledgerCid"].startswith("bafk")  # CIDv1 raw leaves, as Kubo prints it


def test_share_routes_refuse_other_roles_and_non_members(scenario: Scenario) -> None:
    operator = add_account(scenario.runtime, "ops-shares", "operator")
    forbidden = _get(scenario, "/me/shares", operator)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "FORBIDDEN")
    assert _get(scenario, "/me/shares", None).status_code == 401
    stranger = add_account(scenario.runtime, "member-without-membership", "member")
    missing = _get(scenario, "/me/shares", stranger)
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_A_MEMBER")
    # m5 joined after the notice of 20310307: no row in that period.
    absent = _get(scenario, "/me/shares/20310307/receipt", scenario.members["m5"].token)
    assert (absent.status_code, absent.json()["code"]) == (404, "SHARE_NOT_FOUND")
    unknown = _get(scenario, "/me/shares/20310505/receipt", scenario.members["m5"].token)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "SHARE_NOT_FOUND")


def test_member_receipt_verifies_offline_and_on_chain(scenario: Scenario, m5_receipt: dict[str, Any]) -> None:
    assert m5_receipt["leaf"] == {
        "memberCommitment": "0x" + scenario.members["m5"].commitment.hex(),
        "shareFen": 20,
        "subsidyFen": 305,
        "yearToDateFen": 20,
    }
    record = _lookup(scenario).period(20310321)
    assert record is not None
    assert m5_receipt["chainId"] == 31337
    assert m5_receipt["contract"] == scenario.runtime.contracts["Apportionment"].address
    assert m5_receipt["ledgerCid"] == "0x" + record.ledger_cid.hex()
    assert verify_share_receipt_offline(m5_receipt).ok
    report = verify_share_receipt_onchain(m5_receipt, _lookup(scenario))
    assert report.ok, report.to_json()
    assert [s["status"] for s in report.all_steps()] == ["passed"] * 12
    assert [s["step"] for s in report.all_steps()] == list(range(1, 13))


def test_cli_verifies_receipt_against_the_chain(scenario: Scenario, m5_receipt: dict[str, Any], tmp_path: Path) -> None:
    _load_commands()
    good = tmp_path / "receipt.json"
    good.write_text(json.dumps(m5_receipt))
    url = scenario.runtime.settings.chain_url
    result = CliRunner().invoke(app, ["shares", "verify", str(good), "--rpc", url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True
    offline_only = CliRunner().invoke(app, ["shares", "verify", str(good)])
    assert offline_only.exit_code == 0, offline_only.output
    said = " ".join(offline_only.output.split())
    assert "share receipt verified OFFLINE only" in said  # and names what only the chain can check
    assert "NOT checked without --rpc: chainId, contract" in said
    altered = copy.deepcopy(m5_receipt)
    altered["period"]["annualCapFen"] += 1  # invisible offline, refused on chain
    bad = tmp_path / "altered.json"
    bad.write_text(json.dumps(altered))
    assert CliRunner().invoke(app, ["shares", "verify", str(bad)]).exit_code == 0
    refused = CliRunner().invoke(app, ["shares", "verify", str(bad), "--rpc", url, "--json"])
    assert refused.exit_code == 1
    assert json.loads(refused.output)["failedStep"] == 11


def _flip_hex(value: str) -> str:
    last = int(value[-1], 16) ^ 1
    return value[:-1] + format(last, "x")


# (JSON path, the step that must refuse it). Amounts move by one fen; hashes flip one bit.
ALTERATIONS: list[tuple[str, set[int]]] = [
    ("version", {1}),
    ("kind", {1}),
    ("chainId", {7}),
    ("contract", {7}),
    ("ledgerCid", {10}),
    ("periodId", {9}),  # another published period: its root differs
    ("period.ruleSetHash", {11}),
    ("period.claimCount", {6}),
    ("period.payoutsFen", {5}),
    ("period.feeBps", {11}),  # 801 bps still floors to the same fee: only the chain tells
    ("period.surplusInFen", {5}),
    ("period.memberCount", {5}),  # 6 members still have leaves at the proof's depth: step 4 passes
    ("period.perCaseCapFen", {6}),
    ("period.annualCapFen", {11}),
    ("period.windDown", {6}),
    ("period.feeFen", {5}),
    ("period.dueFen", {5}),
    ("period.baseFen", {5}),
    ("period.shareTotalFen", {5}),
    ("period.subsidyTotalFen", {5}),
    ("period.surplusOutFen", {5}),
    ("ledgerRoot", {3}),
    ("leaf.memberCommitment", {2}),
    ("leaf.shareFen", {2}),
    ("leaf.subsidyFen", {2}),
    ("leaf.yearToDateFen", {2}),
    ("leafHash", {2}),
    ("proof[0]", {3}),
]


@pytest.mark.parametrize(("path", "steps"), ALTERATIONS, ids=[a for a, _ in ALTERATIONS])
def test_altered_receipt_fails_verification(
    scenario: Scenario, m5_receipt: dict[str, Any], path: str, steps: set[int]
) -> None:
    doc = copy.deepcopy(m5_receipt)
    if path == "proof[0]":
        doc["proof"][0] = _flip_hex(doc["proof"][0])
    elif path == "contract":
        doc["contract"] = "0x" + "11" * 20
    elif path == "periodId":
        doc["periodId"] = 20310307
    elif path == "kind":
        doc["kind"] = "evidence"
    else:
        parent = doc
        *outer, key = path.split(".")
        for part in outer:
            parent = parent[part]
        value = parent[key]
        if isinstance(value, bool):
            parent[key] = not value
        elif isinstance(value, int):
            parent[key] = value + 1
        else:
            parent[key] = _flip_hex(value)
    report = verify_share_receipt_onchain(doc, _lookup(scenario))
    assert not report.ok
    assert report.failed_step in steps, report.to_json()
    assert report.status_of(report.failed_step) == StepStatus.FAILED
    # Whatever fails offline never reaches the chain's steps.
    if report.failed_step <= 6:
        assert all(s.status == StepStatus.NOT_RUN for s in report.steps)


def _field_paths(doc: dict[str, Any]) -> set[str]:
    """Every scalar field of a receipt as a path in ALTERATIONS' notation (a list: its first item)."""
    out = set()
    for key, value in doc.items():
        if isinstance(value, dict):
            out |= {f"{key}.{sub}" for sub in _field_paths(value)}
        elif isinstance(value, list):
            out.add(f"{key}[0]")
        else:
            out.add(key)
    return out


def test_alterations_cover_every_field_of_the_receipt(m5_receipt: dict[str, Any]) -> None:
    # The format carries only what some step checks (leafIndex left it for that reason), so
    # every field has an alteration above that fails at a named step.
    paths = [a for a, _ in ALTERATIONS]
    assert len(paths) == len(set(paths))
    assert set(paths) == _field_paths(m5_receipt)


def test_self_consistent_forgery_verifies_offline_but_not_on_chain(
    scenario: Scenario, m5_receipt: dict[str, Any]
) -> None:
    """An operator's own ledger in which m5 pays less: arithmetic and proof are right, the chain is not."""
    real = parse_share_receipt(m5_receipt)
    p = real.period
    forged_inputs = PeriodInputs(
        period_id=p.period_id,
        rule_set_hash=p.rule_set_hash,
        claim_count=p.claim_count,
        payouts_fen=p.payouts_fen,
        fee_bps=p.fee_bps,
        surplus_in_fen=p.surplus_in_fen,
        member_count=p.member_count,
        per_case_cap_fen=p.per_case_cap_fen,
        annual_cap_fen=p.annual_cap_fen,
        wind_down=p.wind_down,
    )
    # Pretend m5 had already paid 15 this year: the annual cap leaves 10 instead of 20.
    others = sorted(keccak(text=f"forged-{i}") for i in range(4))
    rows = sorted([(c, 20) for c in others] + [(real.leaf.member_commitment, 15)])
    result = build_share_ledger(forged_inputs, rows, keep_tree=True)
    assert result.tree is not None
    index = [c for c, _ in rows].index(real.leaf.member_commitment)
    row = ShareRow(real.leaf.member_commitment, 10, result.totals.base_fen - 10, 25)
    forged = make_share_receipt(
        tree=result.tree,  # input index = row index
        index=index,
        row=row,
        inputs=forged_inputs,
        totals=result.totals,
        chain_id=real.chain_id,
        contract=real.contract,
        ledger_cid=real.ledger_cid,
    )
    assert verify_share_receipt_offline(forged).ok
    report = verify_share_receipt_onchain(forged, _lookup(scenario))
    assert not report.ok
    assert report.failed_step == 9  # ledgerRoot is not the root the chain recorded


def test_cli_publish_reverifies_a_published_period(scenario: Scenario) -> None:
    _load_commands()
    settings = scenario.runtime.settings
    env = {
        "HUBAO_RPC_URL": settings.chain_url,
        "HUBAO_DATA_DIR": str(settings.resolved_data_dir),
        "HUBAO_ANCHORING": "false",
        "HUBAO_LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(app, ["shares", "publish", "20310321", "--now", "2031-04-07T00:00:00+08:00"], env=env)
    assert result.exit_code == 0, result.output
    assert "already published; recomputation matches" in result.output
    early = CliRunner().invoke(app, ["shares", "publish", "20310421", "--now", "2031-04-08T00:00:00+08:00"], env=env)
    assert early.exit_code != 0
    assert isinstance(early.exception, PeriodNotClosed)


def test_contract_leaf_hash_equals_the_ledger_leaf_hash(scenario: Scenario) -> None:
    client = ApportionmentClient(scenario.runtime.w3, scenario.runtime.contracts["Apportionment"])
    with ShareLedgerReader(scenario.published["B"].ledger_path) as reader:
        for row in reader.rows():
            assert client.share_leaf_hash(*row) == share_leaf_hash(row)
