"""Reference arithmetic, deterministic members and the JS oracle for the apportionment tests.

The reference here is written apart from backend/apportionment on purpose (``Fraction`` and
``math.floor``/``math.ceil`` straight from DESIGN.md's formulas, per member, no fast paths), so
that the property tests and the vector generator compare two derivations, not one with itself.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"
ORACLE = REPO / "scripts" / "merkle_oracle.mjs"
SHARE_TYPES = ["bytes32", "uint64", "uint64", "uint64"]
MEMBER_TYPES = ["bytes32"]


def reference_rules(inputs: Mapping[str, Any]) -> dict[str, int]:
    """fee, D, base, S_out and the case cap, from the JSON form of PeriodInputs (no members)."""
    p = inputs["payoutsFen"]
    fee = math.floor(Fraction(p * inputs["feeBps"], 10_000))
    due = p + fee - inputs["surplusInFen"]
    n = inputs["memberCount"]
    if due <= 0:
        base = 0
    elif n == 0:
        raise ZeroDivisionError("D > 0 and N = 0")
    else:
        base = math.ceil(Fraction(due, n))
    return {"feeFen": fee, "dueFen": due, "baseFen": base, "surplusOutFen": n * base - due}


def reference_share(inputs: Mapping[str, Any], base: int, paid: int) -> tuple[int, int]:
    """(share, subsidy) of one member, straight from the rule."""
    if inputs["windDown"] or base == 0:
        share = 0
    else:
        share = max(0, min(base, inputs["perCaseCapFen"] * inputs["claimCount"], inputs["annualCapFen"] - paid))
    return share, base - share


def reference_totals(inputs: Mapping[str, Any], members_by_paid: Iterable[tuple[int, int]]) -> dict[str, Any]:
    """Totals and per-class shares for a population given as (paid, count) pairs."""
    rules = reference_rules(inputs)
    base = rules["baseFen"]
    share_total = subsidy_total = count_total = 0
    by_paid = []
    for paid, count in members_by_paid:
        share, subsidy = reference_share(inputs, base, paid)
        share_total += share * count
        subsidy_total += subsidy * count
        count_total += count
        by_paid.append([paid, share, subsidy])
    assert count_total == inputs["memberCount"]
    return {
        **rules,
        "shareTotalFen": share_total,
        "subsidyTotalFen": subsidy_total,
        "sharesByPaid": by_paid,
    }


def inputs_json(**overrides: Any) -> dict[str, Any]:
    """PeriodInputs JSON with the plan defaults, overridden."""
    doc: dict[str, Any] = {
        "periodId": 20240307,
        "ruleSetHash": "0x" + "11" * 32,
        "claimCount": 0,
        "payoutsFen": 0,
        "feeBps": 800,
        "surplusInFen": 0,
        "memberCount": 0,
        "perCaseCapFen": 10,
        "annualCapFen": 18_800,
        "windDown": False,
    }
    doc.update(overrides)
    return doc


def member_commitment_of(i: int) -> bytes:
    """The benchmark's and vectors' deterministic member commitment: keccak256(uint256(i))."""
    from backend.proofs.keccak import keccak256

    return keccak256(i.to_bytes(32, "big"))


def members_10k_paid(i: int) -> int:
    """What member i of the 10k vector paid earlier this year."""
    return (i * 7_919) % 19_000


def encode_ledger_file(
    inputs: Mapping[str, Any],
    ascending: bool,
    rows: list[tuple[bytes, int, int, int]],
    totals: Mapping[str, int],
    root: bytes,
) -> bytes:
    """The share-ledger file (format hubao-share-ledger/1) written field by field from its spec."""

    def u(v: int, n: int = 8) -> bytes:
        return v.to_bytes(n, "big")

    flags = (1 if inputs["windDown"] else 0) | (2 if ascending else 0)
    out = [
        b"HUBAO-SL",
        u(1, 2),
        u(flags, 2),
        u(inputs["periodId"]),
        bytes.fromhex(inputs["ruleSetHash"][2:]),
        u(inputs["claimCount"]),
        u(inputs["payoutsFen"]),
        u(inputs["feeBps"]),
        u(inputs["surplusInFen"]),
        u(inputs["memberCount"]),
        u(inputs["perCaseCapFen"]),
        u(inputs["annualCapFen"]),
    ]
    for c, share, subsidy, ytd in rows:
        out += [c, u(share), u(subsidy), u(ytd)]
    out += [
        b"HUBAO-SE",
        u(len(rows)),
        u(totals["feeFen"]),
        totals["dueFen"].to_bytes(8, "big", signed=True),
        u(totals["baseFen"]),
        u(totals["shareTotalFen"]),
        u(totals["subsidyTotalFen"]),
        u(totals["surplusOutFen"]),
        root,
    ]
    return b"".join(out)


def run_oracle(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run scripts/merkle_oracle.mjs (@openzeppelin/merkle-tree under node) on ``requests``."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is required: the JS library is the independent oracle")
    proc = subprocess.run(
        [node, str(ORACLE)],
        input=json.dumps({"requests": requests}),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"merkle oracle failed: {proc.stderr[-2000:]}")
    responses: list[dict[str, Any]] = json.loads(proc.stdout)["responses"]
    return responses


def share_values_json(rows: Iterable[tuple[bytes, int, int, int]]) -> list[list[str]]:
    """Rows in the JS library's value form (hex bytes32, decimal-string uint64)."""
    return [["0x" + c.hex(), str(s), str(b), str(y)] for c, s, b, y in rows]
