"""Rule sets: canonical hash pinned, stored, anchored on ClaimLedger (event + storage), idempotent
bootstrap, publishing new versions (retiring the old), crash-retry paths, and the public routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from backend.chain.roster import RuleSetParams
from backend.db.models import RuleSetRecord
from backend.runtime import Runtime
from backend.services import rule_sets
from backend.services.bootstrap import bootstrap
from backend.services.rule_sets import (
    RuleSetError,
    RuleSetMismatch,
    RuleSetUnchanged,
    claim_params,
    current_rule_set,
    ensure_anchored,
    publish_rule_set,
    roster_for,
    rule_set_by_hash,
)
from backend.services.rules import DEFAULT_RULES, RuleSet
from tests.accounts.support import Api, make_account, token_for

pytestmark = pytest.mark.xdist_group(name="accounts-rule-sets")

# keccak256 of DEFAULT_RULES.canonical_json(), version 1. Derived by hand below with eth_utils'
# keccak (a different implementation from backend.proofs.keccak). A change is a protocol change.
DEFAULT_RULE_SET_HASH = "614411433e2a695db1e155c106bb4ce614cc9ece4a951e95e2b2d73f0a47d06b"


def _operator_nonce(runtime: Runtime) -> int:
    return int(runtime.w3.eth.get_transaction_count(runtime.operator.signer.address))


def _anchored_events(runtime: Runtime, tx_hash: bytes) -> list[dict[str, Any]]:
    receipt = runtime.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    events = runtime.contracts["ClaimLedger"].events.RuleSetAnchored().process_receipt(receipt)
    return [dict(e["args"]) for e in events]


def test_default_rule_set_hash_is_pinned() -> None:
    text = DEFAULT_RULES.canonical_json()
    assert keccak(text=text).hex() == DEFAULT_RULE_SET_HASH
    assert DEFAULT_RULES.hash().hex() == DEFAULT_RULE_SET_HASH
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert RuleSet.from_json(text) == DEFAULT_RULES


def test_bootstrap_stores_and_anchors_the_default_rule_set(plan_runtime: Runtime) -> None:
    default_hash = bytes.fromhex(DEFAULT_RULE_SET_HASH)
    with plan_runtime.sessions() as session:
        record = session.get(RuleSetRecord, default_hash)
        assert record is not None
        assert (record.version, record.canonical_json) == (1, DEFAULT_RULES.canonical_json())
        assert rule_set_by_hash(session, default_hash) == DEFAULT_RULES
        assert record.anchor_tx is not None
        anchor_tx = bytes(record.anchor_tx)
    anchored_at = int(plan_runtime.w3.eth.get_transaction_receipt(anchor_tx)["blockNumber"])
    first_in_force = int(plan_runtime.w3.eth.get_block(anchored_at)["timestamp"])  # the first rule set: no delay
    assert _anchored_events(plan_runtime, anchor_tx) == [
        {
            "ruleSetHash": default_hash,
            "noticeSeconds": 7 * 24 * 3600,
            "reviewQuorum": 2,
            "jurySize": 11,
            "minTurnout": 6,
            "commitSeconds": 2 * 24 * 3600,
            "revealSeconds": 2 * 24 * 3600,
            "feeBps": 800,
            "perCaseCapFen": 10,
            "annualCapFen": 18_800,
            "effectiveAt": first_in_force,
        }
    ]
    stored = plan_runtime.contracts["ClaimLedger"].functions.ruleSet(default_hash).call()
    assert tuple(stored) == (
        7 * 24 * 3600,
        2,
        11,
        6,
        2 * 24 * 3600,
        2 * 24 * 3600,
        False,
        800,
        10,
        18_800,
        first_in_force,
        first_in_force,
    )


def test_bootstrap_again_sends_no_transaction(plan_runtime: Runtime) -> None:
    before = _operator_nonce(plan_runtime)
    report = bootstrap(plan_runtime)
    assert _operator_nonce(plan_runtime) == before
    with plan_runtime.sessions() as session:
        _, current_hash = current_rule_set(session)
    assert report.rule_set_hash == current_hash
    assert (report.retired, report.roles_granted) == (0, 0)


def test_ensure_anchored_treats_an_existing_anchor_as_done_and_recovers_the_tx(plan_runtime: Runtime) -> None:
    default_hash = bytes.fromhex(DEFAULT_RULE_SET_HASH)
    with plan_runtime.sessions.begin() as session:
        record = session.get(RuleSetRecord, default_hash)
        assert record is not None
        original_tx = record.anchor_tx
        record.anchor_tx = None  # as if the process died between the anchor and the DB update
    before = _operator_nonce(plan_runtime)
    assert roster_for(plan_runtime).anchor_rule_set(default_hash, claim_params(DEFAULT_RULES)) is None
    assert ensure_anchored(plan_runtime, default_hash) == original_tx
    assert _operator_nonce(plan_runtime) == before
    with plan_runtime.sessions() as session:
        restored = session.get(RuleSetRecord, default_hash)
        assert restored is not None
        assert restored.anchor_tx == original_tx


def test_publish_anchors_the_next_version_and_retires_the_previous(fresh_runtime: Runtime) -> None:
    ledger = fresh_runtime.contracts["ClaimLedger"]
    previous_hash = bytes.fromhex(DEFAULT_RULE_SET_HASH)
    record = publish_rule_set(fresh_runtime, {"min_credit_score": 650, "jury_size": 9, "min_turnout": 5})
    with fresh_runtime.sessions() as session:
        rules, new_hash = current_rule_set(session)
        old = session.get(RuleSetRecord, previous_hash)
        assert old is not None
        assert not old.active
    assert (rules.version, rules.min_credit_score, rules.jury_size) == (2, 650, 9)
    assert new_hash == rules.hash() == bytes(record.hash)
    assert record.anchor_tx is not None
    events = _anchored_events(fresh_runtime, bytes(record.anchor_tx))
    assert [(e["ruleSetHash"], e["jurySize"], e["minTurnout"]) for e in events] == [(new_hash, 9, 5)]
    assert tuple(ledger.functions.ruleSet(new_hash).call())[6] is False  # retired
    assert tuple(ledger.functions.ruleSet(previous_hash).call())[6] is True
    with pytest.raises(RuleSetUnchanged):
        publish_rule_set(fresh_runtime, {"min_credit_score": 650})


def test_publish_retry_after_a_crash_reuses_the_anchor(fresh_runtime: Runtime) -> None:
    changes = {"waiting_period_days": 120}
    with fresh_runtime.sessions() as session:
        current, _ = current_rule_set(session)
    proposed = current.with_changes(version=current.version + 1, **changes)
    roster = roster_for(fresh_runtime)
    first_tx = roster.anchor_rule_set(proposed.hash(), claim_params(proposed))  # then the process "died"
    assert first_tx is not None
    record = publish_rule_set(fresh_runtime, changes)
    assert bytes(record.hash) == proposed.hash()
    assert record.anchor_tx == first_tx
    logs = (
        fresh_runtime.contracts["ClaimLedger"]
        .events.RuleSetAnchored()
        .get_logs(from_block=0, argument_filters={"ruleSetHash": proposed.hash()})
    )
    assert len(logs) == 1


def test_bootstrap_finishes_a_retirement_cut_short(fresh_runtime: Runtime) -> None:
    with fresh_runtime.sessions() as session:
        current, current_hash = current_rule_set(session)
    proposed = current.with_changes(version=current.version + 1, fee_bps=700)
    roster = roster_for(fresh_runtime)
    roster.anchor_rule_set(proposed.hash(), claim_params(proposed))
    rule_sets._insert(fresh_runtime, proposed, supersede=current_hash)  # died before retireRuleSet
    onchain = roster.rule_set(current_hash)
    assert onchain is not None
    assert not onchain.retired
    report = bootstrap(fresh_runtime)
    assert report.retired == 1
    assert report.rule_set_hash == proposed.hash()
    onchain = roster.rule_set(current_hash)
    assert onchain is not None
    assert onchain.retired


def test_ensure_anchored_refuses_other_parameters_under_the_same_hash(fresh_runtime: Runtime) -> None:
    with fresh_runtime.sessions() as session:
        current, current_hash = current_rule_set(session)
    proposed = current.with_changes(version=current.version + 1, notice_seconds=3 * 24 * 3600)
    forged = RuleSetParams(1, 1, 1, 1, 1, 1, 10_000, 5_000_000, 5_000_000)
    roster_for(fresh_runtime).anchor_rule_set(proposed.hash(), forged)
    rule_sets._insert(fresh_runtime, proposed, supersede=current_hash)
    with pytest.raises(RuleSetMismatch, match="other claim parameters"):
        ensure_anchored(fresh_runtime, proposed.hash())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_turnout": 12}, "min_turnout"),
        ({"max_join_age_years": 60}, "max_join_age_years"),
        ({"catalog_version": 2}, "catalog_version"),
        ({"payout_bands": [{"max_age_years": 59, "payout_fen": 1}, {"max_age_years": 39, "payout_fen": 2}]}, "payout"),
        ({"health_questions": []}, "health_questions"),
        ({"version": 9}, "assigned by the server"),
        ({"colour": "red"}, "unknown rule-set fields"),
    ],
)
def test_publish_refuses_out_of_range_rules(plan_runtime: Runtime, changes: dict[str, Any], message: str) -> None:
    before = _operator_nonce(plan_runtime)
    with pytest.raises(RuleSetError, match=message):
        publish_rule_set(plan_runtime, changes)
    assert _operator_nonce(plan_runtime) == before


def test_get_current_rules_is_public_and_matches_the_chain(plan_runtime: Runtime) -> None:
    api = Api(plan_runtime)
    response = api.get("/rules/current")
    assert response.status_code == 200, response.text
    body = response.json()
    with plan_runtime.sessions() as session:
        rules, current_hash = current_rule_set(session)
    assert body["hash"] == "0x" + current_hash.hex()
    assert "0x" + keccak(text=body["canonicalJson"]).hex() == body["hash"]
    assert body["rules"]["min_credit_score"] == rules.min_credit_score
    assert body["version"] == rules.version
    assert body["anchorTx"] is not None
    assert _anchored_events(plan_runtime, bytes.fromhex(body["anchorTx"][2:]))[0]["ruleSetHash"] == current_hash


def test_get_illness_catalog_is_public(plan_runtime: Runtime) -> None:
    body = Api(plan_runtime).get("/rules/illnesses").json()
    assert body["version"] == 1
    assert len(body["illnesses"]) == 100
    assert body["illnesses"][0] == {
        "code": "CI001",
        "nameEn": "Malignant tumour (severe)",
        "nameZh": "恶性肿瘤——重度",
    }


def test_publish_over_http_needs_the_operator_and_refuses_bad_bodies(fresh_runtime: Runtime) -> None:
    api = Api(fresh_runtime)
    operator = token_for(fresh_runtime, make_account(fresh_runtime, "operator"))
    reviewer = token_for(fresh_runtime, make_account(fresh_runtime, "reviewer"))
    assert api.post("/rules", reviewer, json={"feeBps": 500}).status_code == 403
    assert api.post("/rules", json={"feeBps": 500}).status_code == 401
    extra = api.post("/rules", operator, json={"feeBps": 500, "version": 7})
    assert (extra.status_code, extra.json()["code"]) == (422, "VALIDATION_ERROR")
    bad = api.post("/rules", operator, json={"jurySize": 3, "minTurnout": 4})
    assert (bad.status_code, bad.json()["code"]) == (422, "INVALID_RULE_SET")
    same = api.post("/rules", operator, json={"feeBps": DEFAULT_RULES.fee_bps})
    assert (same.status_code, same.json()["code"]) == (409, "RULE_SET_UNCHANGED")
    created = api.post("/rules", operator, json={"feeBps": 500})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["version"], body["rules"]["fee_bps"], body["active"]) == (2, 500, True)
    assert api.get("/rules/current").json()["hash"] == body["hash"]
