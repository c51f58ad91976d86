"""Regenerate tests/vectors/apportionment.json.

    .venv/bin/python tests/apportionment/make_vectors.py

Derivation, so that no expected value comes from the code under test:

* schedule — written by hand from DESIGN.md (notice 7th/21st, debit 14th/28th, 00:00 in
  Asia/Shanghai = 16:00 UTC the day before) plus one DST-gap case (America/Santiago skips
  00:00–01:00 local on 2024-09-08, checked below against zoneinfo directly);
* period arithmetic — ``apportionment_support.reference_*`` (Fraction, floor/ceil straight from
  the formulas, per member class); the worked example is also asserted against the numbers of
  the issue (P 3,000,000,000; fee 240,000,000; D 3,240,000,000; base 648);
* roots, proofs, tree indices, leaf hashes and the file digest — ``scripts/merkle_oracle.mjs``
  (@openzeppelin/merkle-tree 1.0.8, ethereum-cryptography keccak under node); member
  commitments keccak256(uint256(i)) also by node; the file bytes by
  ``apportionment_support.encode_ledger_file`` written from the format's spec;
* receipt mutations — the failing step of each follows from the step order in
  backend/apportionment/receipts.py (reasoned per case in the ``why`` field).

Inputs are deterministic, so regenerating gives an identical file; a diff is a protocol change.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apportionment_support import (
    MEMBER_TYPES,
    SHARE_TYPES,
    VECTORS,
    encode_ledger_file,
    inputs_json,
    members_10k_paid,
    reference_rules,
    reference_share,
    reference_totals,
    run_oracle,
    share_values_json,
)

LIBRARY = "@openzeppelin/merkle-tree 1.0.8 (npm), run by scripts/merkle_oracle.mjs under node"
RMB_300K = 30_000_000  # fen
RMB_100K = 10_000_000


def schedule_cases() -> dict[str, Any]:
    sh = "Asia/Shanghai"
    # Hand-derived: notice instants are 00:00+08:00 = 16:00Z on the previous day.
    lookups = [
        # (instant, expected period id, why)
        ("2024-03-06T23:59:59+08:00", 20240307, "last second before the 7th's notice instant"),
        ("2024-03-07T00:00:00+08:00", 20240321, "the notice instant itself belongs to the next window"),
        ("2024-03-06T16:00:00+00:00", 20240321, "same instant written in UTC"),
        ("2024-03-06T15:59:59+00:00", 20240307, "one second earlier, in UTC"),
        ("2024-03-21T00:00:00+08:00", 20240407, "21st's notice instant → next month's 7th"),
        ("2024-03-31T12:00:00+08:00", 20240407, "end of month"),
        ("2024-12-21T00:00:00+08:00", 20250107, "year rollover"),
        ("2024-12-20T15:59:59+00:00", 20241221, "just before the year's last notice"),
        ("2024-01-01T00:00:00+08:00", 20240107, "new year's day"),
        ("2024-02-29T09:00:00+08:00", 20240307, "leap day"),
    ]
    periods = [
        {
            "periodId": 20240307,
            "noticeAt": "2024-03-07T00:00:00+08:00",
            "debitAt": "2024-03-14T00:00:00+08:00",
            "windowStart": "2024-02-21T00:00:00+08:00",
            "windowEnd": "2024-03-07T00:00:00+08:00",
            "noticeTimestamp": 1_709_740_800,  # 2024-03-06T16:00:00Z
            "year": 2024,
        },
        {
            "periodId": 20250107,
            "noticeAt": "2025-01-07T00:00:00+08:00",
            "debitAt": "2025-01-14T00:00:00+08:00",
            "windowStart": "2024-12-21T00:00:00+08:00",
            "windowEnd": "2025-01-07T00:00:00+08:00",
            "noticeTimestamp": 1_736_179_200,  # 2025-01-06T16:00:00Z
            "year": 2025,
        },
    ]
    ranges = [
        # periods whose notice instant lies in [start, end)
        ("2024-03-07T00:00:00+08:00", "2024-04-21T00:00:00+08:00", [20240307, 20240321, 20240407]),
        ("2024-03-07T00:00:01+08:00", "2024-04-21T00:00:01+08:00", [20240321, 20240407, 20240421]),
        ("2024-12-01T00:00:00+08:00", "2025-01-22T00:00:00+08:00", [20241207, 20241221, 20250107, 20250121]),
        ("2024-03-08T00:00:00+08:00", "2024-03-08T00:00:00+08:00", []),
    ]
    santiago = ZoneInfo("America/Santiago")
    gap_utc = datetime(2024, 9, 8, 4, 0, tzinfo=UTC)
    # Independent check of the DST fact the case relies on: local 00:00 does not exist that day.
    assert gap_utc.astimezone(santiago).hour == 1
    assert datetime(2024, 9, 8, 3, 59, tzinfo=UTC).astimezone(santiago).day == 7
    dst = {
        "config": {"noticeDays": [8, 22], "debitDays": [15, 28], "timezone": "America/Santiago"},
        "periodId": 20240908,
        "noticeAtUtc": "2024-09-08T04:00:00+00:00",
        "why": "Chile moves clocks from 00:00 to 01:00 on 2024-09-08: the first instant of the day is 01:00-03:00",
    }
    return {
        "config": {"noticeDays": [7, 21], "debitDays": [14, 28], "timezone": sh},
        "lookups": [{"instant": i, "periodId": p, "why": w} for i, p, w in lookups],
        "periods": periods,
        "ranges": [{"start": s, "end": e, "periodIds": ids} for s, e, ids in ranges],
        "dstGap": dst,
    }


def period_case(name: str, why: str, inputs: dict[str, Any], members_by_paid: list[tuple[int, int]]) -> dict[str, Any]:
    return {
        "name": name,
        "why": why,
        "inputs": inputs,
        "membersByPaid": [[p, c] for p, c in members_by_paid],
        "expected": reference_totals(inputs, members_by_paid),
    }


def period_cases() -> list[dict[str, Any]]:
    worked = inputs_json(claimCount=100, payoutsFen=100 * RMB_300K, memberCount=5_000_000)
    rules = reference_rules(worked)
    # The issue's numbers, by hand.
    assert worked["payoutsFen"] == 3_000_000_000
    assert rules == {"feeFen": 240_000_000, "dueFen": 3_240_000_000, "baseFen": 648, "surplusOutFen": 0}
    mixed = [(0, 4_998_000), (17_000, 1_000), (18_152, 400), (18_153, 300), (18_500, 200), (18_800, 60), (25_000, 40)]
    ten = inputs_json(claimCount=10, payoutsFen=10 * RMB_300K, memberCount=1_000_000)
    assert reference_rules(ten)["baseFen"] == 324
    cases = [
        period_case(
            "worked-example-5m",
            "5,000,000 members, 100 claims of RMB 300,000, fee 8 %: base 648; per-case cap 10 × 100 = 1,000 does not "
            "bind; every member pays 648",
            worked,
            [(0, 5_000_000)],
        ),
        period_case(
            "worked-example-5m-annual-cap",
            "the worked example with members near the annual cap 18,800: 18,152 pays exactly 648 (edge), 18,153 pays "
            "647, 18,500 pays 300, 18,800 (cap reached) and 25,000 (over it) pay 0; the operator pays the rest",
            worked,
            mixed,
        ),
        period_case(
            "ten-claims-5m-cap-does-not-bind",
            "10 claims among 5,000,000: base ceil(324,000,000 / 5,000,000) = 65 < per-case cap 100, so the cap does "
            "not bind at this size (it binds below 3,240,000 members)",
            inputs_json(claimCount=10, payoutsFen=10 * RMB_300K, memberCount=5_000_000),
            [(0, 5_000_000)],
        ),
        period_case(
            "per-case-cap-binds",
            "10 claims among 1,000,000: base 324 > per-case cap 10 × 10 = 100: members pay 100, the operator 224; a "
            "member 50 fen from the annual cap pays 50",
            ten,
            [(0, 999_000), (18_750, 1_000)],
        ),
        period_case(
            "per-case-cap-equals-base",
            "base = ceil(324,000,000 / 3,240,000) = 100 = per-case cap: no subsidy, S_out 0",
            inputs_json(claimCount=10, payoutsFen=10 * RMB_300K, memberCount=3_240_000),
            [(0, 3_240_000)],
        ),
        period_case(
            "per-case-cap-one-fen-below-base",
            "base = ceil(324,000,000 / 3,239,999) = 101: the cap binds by one fen, subsidy 1 each",
            inputs_json(claimCount=10, payoutsFen=10 * RMB_300K, memberCount=3_239_999),
            [(0, 3_239_999)],
        ),
        period_case(
            "rounding-up-surplus",
            "base = ceil(324,000,000 / 3,240,001) = 100: S_out = 3,240,001 × 100 − 324,000,000 = 100",
            inputs_json(claimCount=10, payoutsFen=10 * RMB_300K, memberCount=3_240_001),
            [(0, 3_240_001)],
        ),
        period_case(
            "tiny-pool",
            "one RMB 100,000 claim among 7 members: D 10,800,000, base ceil(…/7) = 1,542,858, S_out 6; each pays the "
            "per-case cap 10",
            inputs_json(claimCount=1, payoutsFen=RMB_100K, memberCount=7),
            [(0, 5), (18_795, 1), (18_800, 1)],
        ),
        period_case(
            "surplus-covers-period",
            "S_in 20,000,000 > P + fee = 10,800,000: D = −9,200,000 ≤ 0, nobody pays, S_out 9,200,000",
            inputs_json(claimCount=1, payoutsFen=RMB_100K, surplusInFen=20_000_000, memberCount=1_000),
            [(0, 1_000)],
        ),
        period_case(
            "surplus-exactly-covers",
            "S_in = P + fee: D = 0, base 0, S_out 0",
            inputs_json(claimCount=1, payoutsFen=RMB_100K, surplusInFen=10_800_000, memberCount=1_000),
            [(0, 1_000)],
        ),
        period_case(
            "surplus-partly-covers",
            "the worked example with S_in 1,234,567: D 3,238,765,433, base 648, S_out = 1,234,567",
            inputs_json(claimCount=100, payoutsFen=100 * RMB_300K, surplusInFen=1_234_567, memberCount=5_000_000),
            [(0, 5_000_000)],
        ),
        period_case(
            "wind-down",
            "wind-down: the operator pays every member's base (share 0, subsidy 648)",
            {**worked, "windDown": True},
            [(0, 4_999_000), (18_800, 1_000)],
        ),
        period_case(
            "fee-floor",
            "P 12,345 fen at 800 bps: fee floor(987.6) = 987; D 13,332; N 1,000: base 14, S_out 668",
            inputs_json(claimCount=1, payoutsFen=12_345, memberCount=1_000, perCaseCapFen=20),
            [(0, 1_000)],
        ),
        period_case(
            "no-fee",
            "fee_bps 0: D = P",
            inputs_json(claimCount=2, payoutsFen=2 * RMB_100K, feeBps=0, memberCount=2_000_000, perCaseCapFen=100),
            [(0, 2_000_000)],
        ),
        period_case(
            "no-members-nothing-due",
            "N = 0 and no claims: D = −S_in ≤ 0, the period closes with base 0 and S_out = S_in",
            inputs_json(surplusInFen=500),
            [],
        ),
    ]
    return cases


def error_cases() -> list[dict[str, Any]]:
    return [
        {
            "name": "no-members-something-due",
            "inputs": inputs_json(claimCount=1, payoutsFen=RMB_100K),
            "code": "NO_SHARING_MEMBERS",
        },
        {
            "name": "payouts-without-claims",
            "inputs": inputs_json(claimCount=0, payoutsFen=1, memberCount=10),
            "code": "PERIOD_INPUTS_INVALID",
        },
        {
            "name": "fee-over-100-percent",
            "inputs": inputs_json(claimCount=1, payoutsFen=1, feeBps=10_001, memberCount=10),
            "code": "PERIOD_INPUTS_INVALID",
        },
    ]


def ledger_rows(inputs: dict[str, Any], members: list[tuple[bytes, int]]) -> list[tuple[bytes, int, int, int]]:
    base = reference_rules(inputs)["baseFen"]
    rows = []
    for c, paid in members:
        share, subsidy = reference_share(inputs, base, paid)
        rows.append((c, share, subsidy, paid + share))
    return rows


def ledger_case(
    name: str, why: str, inputs: dict[str, Any], members: list[tuple[bytes, int]], *, full: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    members = sorted(members)
    rows = ledger_rows(inputs, members)
    totals = reference_totals(inputs, [(p, 1) for _, p in members])
    share_tree, member_tree = run_oracle(
        [
            {"op": "build", "leafTypes": SHARE_TYPES, "values": share_values_json(rows)},
            {"op": "build", "leafTypes": MEMBER_TYPES, "values": [["0x" + c.hex()] for c, _ in members]},
        ]
    )
    root = bytes.fromhex(share_tree["root"][2:])
    file_bytes = encode_ledger_file(inputs, True, rows, totals, root)
    (file_digest,) = run_oracle([{"op": "keccak", "data": "0x" + file_bytes.hex()}])
    case: dict[str, Any] = {
        "name": name,
        "why": why,
        "inputs": inputs,
        "expected": {
            "totals": {k: v for k, v in totals.items() if k != "sharesByPaid"},
            "shareRoot": share_tree["root"],
            "membershipRoot": member_tree["root"],
            "memberCount": len(members),
            "fileSize": len(file_bytes),
            "fileKeccak256": file_digest["hash"],
        },
    }
    if full:
        case["members"] = [{"memberCommitment": "0x" + c.hex(), "paidThisYearFen": p} for c, p in members]
        case["expected"]["rows"] = [
            {
                "memberCommitment": "0x" + c.hex(),
                "shareFen": s,
                "subsidyFen": b,
                "yearToDateFen": y,
                "leafHash": share_tree["leafHashes"][i],
                "treeIndex": share_tree["treeIndices"][i],
                "proof": share_tree["proofs"][i],
            }
            for i, (c, s, b, y) in enumerate(rows)
        ]
    return case, share_tree


def commitments_by_node(n: int) -> list[bytes]:
    answers = run_oracle([{"op": "keccak", "data": "0x" + i.to_bytes(32, "big").hex()} for i in range(n)])
    return [bytes.fromhex(a["hash"][2:]) for a in answers]


def leaf_encoding_cases() -> list[dict[str, Any]]:
    values = [
        ["0x" + "00" * 32, "0", "0", "0"],
        ["0x" + "ab" * 32, "648", "0", "1296"],
        ["0x" + "ff" * 32, str(2**64 - 1), str(2**64 - 1), str(2**64 - 1)],
    ]
    answers = run_oracle([{"op": "keccakAbi", "types": SHARE_TYPES, "values": v} for v in values])
    tree = run_oracle([{"op": "build", "leafTypes": SHARE_TYPES, "values": values, "sortLeaves": False}])[0]
    members = run_oracle([{"op": "build", "leafTypes": MEMBER_TYPES, "values": [[v[0]] for v in values]}])[0]
    return [
        {
            "values": v,
            "encoded": a["encoded"],
            "leafHash": tree["leafHashes"][i],
            "membershipLeafHash": members["leafHashes"][i],
        }
        for i, (v, a) in enumerate(zip(values, answers, strict=True))
    ]


def receipt_for(case: dict[str, Any], tree: dict[str, Any], index: int) -> dict[str, Any]:
    inputs = dict(case["inputs"])
    period_id = inputs.pop("periodId")
    totals = case["expected"]["totals"]
    row = case["expected"]["rows"][index]
    return {
        "version": 1,
        "kind": "share",
        "chainId": None,
        "contract": None,
        "ledgerCid": None,
        "periodId": period_id,
        "period": {
            **inputs,
            **{
                k: totals[k]
                for k in ("feeFen", "dueFen", "baseFen", "shareTotalFen", "subsidyTotalFen", "surplusOutFen")
            },
        },
        "ledgerRoot": tree["root"],
        "leaf": {k: row[k] for k in ("memberCommitment", "shareFen", "subsidyFen", "yearToDateFen")},
        "leafHash": row["leafHash"],
        "proof": row["proof"],
    }


def receipt_mutations(receipt: dict[str, Any]) -> list[dict[str, Any]]:
    """Each mutation alters the receipt (dotted paths); ``step`` is the step that must fail (null: passes)."""
    other = "0x" + "42" * 32
    leaf = receipt["leaf"]
    period = receipt["period"]
    # The golden receipt is small-7's row 2, the leaf at tree index 6 (node's treeIndex): depth 2,
    # a 2-node proof. Leaves of an N-leaf tree sit at tree indices [N − 1, 2N − 2], depths
    # floor(log2(t + 1)): N = 7 → {2, 3}, N = 2 → {1}, N = 4 → {2}, N = 8 → {3}.
    assert (period["memberCount"], len(receipt["proof"])) == (7, 2)
    return [
        {"why": "unsupported version", "set": {"version": 2}, "step": 1},
        {"why": "wrong kind", "set": {"kind": "evidence"}, "step": 1},
        {"why": "unknown key", "set": {"extra": 1}, "step": 1},
        # leafIndex left the format before v1 shipped: no step could check it (receipts.py).
        {"why": "leafIndex is not in the format", "set": {"leafIndex": 6}, "step": 1},
        {"why": "missing key", "delete": ["proof"], "step": 1},
        {"why": "chainId without contract", "set": {"chainId": 31337}, "step": 1},
        {"why": "amount as a string", "set": {"leaf.shareFen": str(leaf["shareFen"])}, "step": 1},
        {"why": "upper-case hex", "set": {"leafHash": receipt["leafHash"].upper().replace("0X", "0x")}, "step": 1},
        {"why": "negative amount", "set": {"leaf.subsidyFen": -1}, "step": 1},
        {"why": "boolean as an integer", "set": {"period.windDown": 0}, "step": 1},
        {
            "why": "share changed: leaf no longer hashes to leafHash",
            "set": {"leaf.shareFen": leaf["shareFen"] + 1},
            "step": 2,
        },
        {"why": "another member's commitment", "set": {"leaf.memberCommitment": other}, "step": 2},
        {"why": "leafHash replaced", "set": {"leafHash": other}, "step": 2},
        {"why": "a proof node altered", "set": {"proof.0": other}, "step": 3},
        {"why": "ledger root altered", "set": {"ledgerRoot": other}, "step": 3},
        {"why": "proof truncated", "set": {"proof": receipt["proof"][:-1]}, "step": 3},
        {
            "why": "memberCount too few: no leaf of 2 members has a 2-node proof",
            "set": {"period.memberCount": 2},
            "step": 4,
        },
        {
            "why": "memberCount too many: no leaf of 8 members has a 2-node proof",
            "set": {"period.memberCount": 8},
            "step": 4,
        },
        {
            "why": "memberCount 4 has leaves at depth 2: passes step 4, base no longer recomputes",
            "set": {"period.memberCount": 4},
            "step": 5,
        },
        {"why": "baseFen altered", "set": {"period.baseFen": period["baseFen"] + 1}, "step": 5},
        {"why": "feeBps altered: fee no longer recomputes", "set": {"period.feeBps": period["feeBps"] + 1}, "step": 5},
        {
            "why": "shareTotal breaks Σshare + Σsubsidy = N × base",
            "set": {"period.shareTotalFen": period["shareTotalFen"] + 1},
            "step": 5,
        },
        {"why": "surplusOut altered", "set": {"period.surplusOutFen": period["surplusOutFen"] + 1}, "step": 5},
        {
            "why": "annual cap 1 fen higher: this member would owe 1 fen more",
            "set": {"period.annualCapFen": period["annualCapFen"] + 1},
            "step": 6,
        },
        {"why": "wind-down claimed: the member should owe 0", "set": {"period.windDown": True}, "step": 6},
        {
            "why": "recorded on chain: chain fields filled",
            "set": {
                "chainId": 31337,
                "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "ledgerCid": "0x01551220" + "ab" * 32,
            },
            "step": None,
        },
    ]


def main() -> None:
    small_inputs = inputs_json(claimCount=3, payoutsFen=3 * RMB_300K, memberCount=7)
    commitments = commitments_by_node(10_000)
    # Default caps, 3 claims: case cap 30. Paid values sit on the annual-cap edges.
    small_paid = [0, 18_770, 18_771, 18_800, 19_000, 100, 5]
    small, small_tree = ledger_case(
        "small-7",
        "7 members, 3 RMB 300,000 claims, default caps: case cap 30 binds; 18,770 pays exactly 30 (edge), 18,771 "
        "pays 29, 18,800 and 19,000 pay 0",
        small_inputs,
        list(zip(commitments[:7], small_paid, strict=True)),
        full=True,
    )
    big_inputs = inputs_json(
        periodId=20240321,
        claimCount=1,
        payoutsFen=RMB_100K,
        surplusInFen=123_457,
        memberCount=10_000,
        perCaseCapFen=2_000,
    )
    big, _ = ledger_case(
        "members-10k",
        "10,000 members (commitment keccak256(uint256(i)), paid (i × 7,919) mod 19,000), one RMB 100,000 claim, "
        "S_in 123,457, a rule set with per-case cap 2,000: base 1,068, S_out 3,457, the annual cap binds near 18,800",
        big_inputs,
        [(commitments[i], members_10k_paid(i)) for i in range(10_000)],
        full=False,
    )
    assert big["expected"]["totals"]["baseFen"] == 1_068
    assert big["expected"]["totals"]["surplusOutFen"] == 3_457
    receipt = receipt_for(small, small_tree, 2)  # the member at 18,771: pays 29
    assert receipt["leaf"]["shareFen"] == 29
    assert small["expected"]["rows"][2]["treeIndex"] == 6  # depth 2 (receipt_mutations relies on it)
    doc = {
        "description": "Apportionment (backend/apportionment): schedule, arithmetic, share ledgers, share receipts.",
        "derivation": (
            "Generated by tests/apportionment/make_vectors.py. Schedule cases by hand from DESIGN.md. Arithmetic by "
            "tests/apportionment/apportionment_support.py's reference (Fraction, floor/ceil from the formulas), the "
            "worked example also checked against the issue's numbers. Roots, proofs, tree indices, leaf hashes, "
            f"member commitments and file digests by {LIBRARY} and ethereum-cryptography. File bytes from the "
            "format's spec (encode_ledger_file). The receipt carries no tree index (a sorted-pair proof has no "
            "position). Receipt mutation steps from the step order of receipts.py."
        ),
        "schedule": schedule_cases(),
        "periods": period_cases(),
        "errors": error_cases(),
        "leafEncoding": leaf_encoding_cases(),
        "ledgers": [small, big],
        "receipt": receipt,
        "receiptMutations": receipt_mutations(receipt),
    }
    path = VECTORS / "apportionment.json"
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
