"""Membership log: leaf format, batch trees and join receipts against golden vectors and the JS library.

tests/vectors/membership_log.json holds the JS library's own output (see its "derivation").
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from proofs_support import VECTORS, LedgerLookup, apply_mutation, run_oracle

from backend.proofs.errors import LeafEncodingError, ReceiptStep
from backend.proofs.hexstr import from_hex, to_hex
from backend.proofs.leaves import standard_leaf_hash, values_from_json
from backend.proofs.membership_log import (
    EXIT,
    JOIN,
    MEMBERSHIP_LEAF_TYPES,
    MembershipChange,
    batch_tree,
    encode_membership_leaf,
    members_at,
)
from backend.proofs.membership_receipt import (
    left_out_of_period,
    make_membership_receipt,
    parse_membership_receipt,
    verify_membership_receipt_offline,
    verify_membership_receipt_onchain,
)

DOC = json.loads((VECTORS / "membership_log.json").read_text(encoding="utf-8"))


def _change(values: list[str]) -> MembershipChange:
    change, commitment, at = values_from_json(MEMBERSHIP_LEAF_TYPES, values)
    return MembershipChange(change, commitment, at)


@pytest.mark.parametrize("case", DOC["leaves"], ids=lambda c: f"change{c['values'][0]}-{c['values'][2]}")
def test_membership_leaf_encodes_and_hashes_as_the_js_library(case: dict[str, Any]) -> None:
    leaf = _change(case["values"])
    assert to_hex(leaf.encode()) == case["encoded"]
    assert to_hex(leaf.leaf_hash()) == case["leafHash"]
    assert leaf.leaf_hash() == standard_leaf_hash(MEMBERSHIP_LEAF_TYPES, leaf.values())


@pytest.mark.parametrize("case", DOC["batches"], ids=lambda c: c["name"])
def test_batch_tree_gives_the_js_root_and_proofs(case: dict[str, Any]) -> None:
    leaves = [_change(v) for v in case["values"]]
    tree = batch_tree([leaf.leaf_hash() for leaf in leaves])
    assert to_hex(tree.root) == case["root"]
    assert [to_hex(leaf.leaf_hash()) for leaf in leaves] == case["leafHashes"]
    for i, proof in enumerate(case["proofs"]):
        assert [to_hex(p) for p in tree.proof(i)] == proof


def test_membership_trees_match_the_js_library_on_seeded_random_batches() -> None:
    rng = random.Random(20261206)
    requests, ours = [], []
    for _ in range(12):
        n = rng.randint(1, 40)
        leaves = [
            MembershipChange(rng.choice((JOIN, EXIT)), rng.randbytes(32), rng.randint(0, 2**64 - 1)) for _ in range(n)
        ]
        ours.append(batch_tree([leaf.leaf_hash() for leaf in leaves]))
        values = [[str(leaf.change), to_hex(leaf.member_commitment), str(leaf.effective_at)] for leaf in leaves]
        requests.append({"op": "build", "leafTypes": list(MEMBERSHIP_LEAF_TYPES), "values": values, "sortLeaves": True})
    for tree, answer in zip(ours, run_oracle(requests), strict=True):
        assert to_hex(tree.root) == answer["root"]
        assert [[to_hex(p) for p in tree.proof(i)] for i in range(tree.leaf_count)] == answer["proofs"]


@pytest.mark.parametrize(
    ("change", "commitment", "at", "field"),
    [
        (0, bytes(32), 1, "change"),
        (3, bytes(32), 1, "change"),
        (True, bytes(32), 1, "change"),
        (1, bytes(31), 1, "memberCommitment"),
        (1, bytes(32), -1, "effectiveAt"),
        (1, bytes(32), 2**64, "effectiveAt"),
    ],
)
def test_membership_leaf_refuses_values_outside_its_types(change: Any, commitment: bytes, at: int, field: str) -> None:
    with pytest.raises(LeafEncodingError, match=field):
        encode_membership_leaf(change, commitment, at)


def test_join_receipt_vector_verifies_offline_and_against_the_chain() -> None:
    receipt = DOC["receipt"]
    offline = verify_membership_receipt_offline(json.dumps(receipt))
    assert offline.ok, offline.to_json()
    assert offline.status_of(ReceiptStep.COMMITMENT) == "passed"
    onchain = verify_membership_receipt_onchain(receipt, LedgerLookup(DOC["chain"]))
    assert onchain.ok, onchain.to_json()
    assert [s.step for s in onchain.steps] == list(ReceiptStep)
    public = parse_membership_receipt(receipt).public_copy()
    assert "salt" not in public.to_json()
    assert verify_membership_receipt_offline(public).status_of(ReceiptStep.COMMITMENT) == "skipped"


@pytest.mark.parametrize(
    ("mutation", "step"),
    [
        ({"set": {"kind": "evidence"}}, ReceiptStep.SCHEMA),
        ({"set": {"leaf.change": 3}}, ReceiptStep.SCHEMA),
        ({"delete": ["salt"]}, ReceiptStep.SCHEMA),
        ({"set": {"leaf.effectiveAt": 1798761601}}, ReceiptStep.LEAF_HASH),
        ({"set": {"root": "0x" + "11" * 32}}, ReceiptStep.PROOF),
        ({"set": {"memberId": "someone-else"}}, ReceiptStep.COMMITMENT),
        ({"set": {"leafCount": 100}}, ReceiptStep.POSITION),
        ({"set": {"chainId": 1}}, ReceiptStep.DEPLOYMENT),
        ({"set": {"batchId": 9}}, ReceiptStep.BATCH),
        ({"set": {"prevRoot": "0x" + "22" * 32}}, ReceiptStep.PREV_ROOT),
        ({"set": {"leafCount": 4}}, ReceiptStep.LEAF_COUNT),
        ({"set": {"anchorBlock": 41}}, ReceiptStep.ANCHOR_BLOCK),
        ({"set": {"anchorTx": "0x" + "33" * 32}}, ReceiptStep.ANCHOR_TX),
    ],
)
def test_altered_join_receipt_fails_at_the_named_step(mutation: dict[str, Any], step: ReceiptStep) -> None:
    doc = apply_mutation(DOC["receipt"], mutation)
    report = verify_membership_receipt_onchain(doc, LedgerLookup(DOC["chain"]))
    assert report.failed_step == step, report.to_json()


def test_make_membership_receipt_builds_a_receipt_that_verifies() -> None:
    leaves = [_change(v) for v in DOC["batches"][3]["values"]]
    tree = batch_tree([leaf.leaf_hash() for leaf in leaves])
    receipt = make_membership_receipt(
        tree=tree,
        index=2,
        leaf=leaves[2],
        chain_id=31337,
        contract=DOC["chain"]["contract"],
        batch_id=1,
        prev_root=bytes(32),
        anchor_tx=bytes(range(32)),
        anchor_block=7,
    )
    assert to_hex(receipt.root) == DOC["batches"][3]["root"]
    assert verify_membership_receipt_offline(receipt.to_json_text()).ok
    with pytest.raises(Exception, match="not the leaf at this index"):
        make_membership_receipt(
            tree=tree,
            index=1,
            leaf=leaves[2],
            chain_id=31337,
            contract=DOC["chain"]["contract"],
            batch_id=1,
            prev_root=bytes(32),
            anchor_tx=bytes(32),
            anchor_block=7,
        )


def test_members_at_replays_joins_and_exits_in_commitment_order() -> None:
    a, b, c, d = (bytes([i]) * 32 for i in (1, 2, 3, 4))
    log = [
        MembershipChange(JOIN, a, 100),
        MembershipChange(EXIT, b, 150),
        MembershipChange(JOIN, b, 50),
        MembershipChange(JOIN, c, 201),
        MembershipChange(JOIN, d, 200),
        MembershipChange(EXIT, d, 200),
    ]
    assert list(members_at(log, 99)) == [b]
    assert list(members_at(log, 149)) == [a, b]
    assert list(members_at(log, 150)) == [a]  # an exit effective at the snapshot: not protected
    assert list(members_at(log, 200)) == [a]  # join and exit in the same second: the exit wins
    assert list(members_at(log, 201)) == [a, c]
    with pytest.raises(ValueError, match="ascending commitment order"):
        list(members_at(list(reversed(log)), 300))


def test_left_out_of_period_only_for_an_anchored_join_without_exit() -> None:
    receipt = parse_membership_receipt(DOC["receipt"])
    at = receipt.leaf.effective_at
    base = {"snapshot_at": at, "published_block": 42, "in_period": False, "exit_before_snapshot": False}
    assert left_out_of_period(receipt, **base)
    assert not left_out_of_period(receipt, **{**base, "in_period": True})
    assert not left_out_of_period(receipt, **{**base, "exit_before_snapshot": True})
    assert not left_out_of_period(receipt, **{**base, "snapshot_at": at - 1})
    assert not left_out_of_period(receipt, **{**base, "published_block": 41})
    exit_receipt = parse_membership_receipt({**DOC["receipt"], "leaf": {**DOC["receipt"]["leaf"], "change": 2}})
    assert not left_out_of_period(exit_receipt, **base)
    assert from_hex(DOC["receipt"]["leaf"]["memberCommitment"]) == receipt.leaf.member_commitment
