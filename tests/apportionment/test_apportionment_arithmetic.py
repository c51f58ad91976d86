"""Share arithmetic: golden periods (the 5 M-member worked example), cap edges, refusals, and F7.

RELIABILITY.md F7: 1,000 random periods, exact equality Σshare + Σsubsidy = N × base = D + S_out,
and the backend's figures equal an independent recomputation (apportionment_support.reference_*).
The streaming ledger version of F7 (with trees and files) is in test_apportionment_ledger.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from apportionment_support import VECTORS, inputs_json, reference_rules, reference_share, reference_totals
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.apportionment.arithmetic import (
    PeriodInputs,
    PeriodTotals,
    compute_base,
    member_share,
    totals_for_members,
    totals_for_ytd_histogram,
)
from backend.apportionment.errors import (
    InvariantViolated,
    MemberCountMismatch,
    MemberRowInvalid,
    NoSharingMembers,
    PeriodInputsInvalid,
)

VEC: dict[str, Any] = json.loads((VECTORS / "apportionment.json").read_text(encoding="utf-8"))
TOTAL_KEYS = ("feeFen", "dueFen", "baseFen", "shareTotalFen", "subsidyTotalFen", "surplusOutFen")


def _inputs(doc: dict[str, Any]) -> PeriodInputs:
    return PeriodInputs.from_json(doc)


@pytest.mark.parametrize("case", VEC["periods"], ids=lambda c: c["name"])
def test_totals_for_ytd_histogram_match_golden_period(case: dict[str, Any]) -> None:
    inputs = _inputs(case["inputs"])
    totals = totals_for_ytd_histogram(inputs, {paid: count for paid, count in case["membersByPaid"]})
    assert totals.to_json() == {k: case["expected"][k] for k in TOTAL_KEYS}
    assert totals.member_count == inputs.member_count
    base = compute_base(inputs)
    for paid, share, subsidy in case["expected"]["sharesByPaid"]:
        assert member_share(inputs, base, paid) == (share, subsidy)


def test_worked_example_charges_648_fen_each_before_caps() -> None:
    case = next(c for c in VEC["periods"] if c["name"] == "worked-example-5m")
    inputs = _inputs(case["inputs"])
    base = compute_base(inputs)
    assert (inputs.payouts_fen, base.fee_fen, base.due_fen, base.base_fen) == (
        3_000_000_000,
        240_000_000,
        3_240_000_000,
        648,
    )
    assert base.case_cap_fen == 648  # per-case cap 10 × 100 = 1,000 does not bind
    totals = totals_for_ytd_histogram(inputs, {0: 5_000_000})
    assert totals.share_total_fen == 3_240_000_000
    assert totals.subsidy_total_fen == 0
    assert totals.surplus_out_fen == 0


@pytest.mark.parametrize("case", VEC["errors"], ids=lambda c: c["name"])
def test_golden_error_case_raises_its_code(case: dict[str, Any]) -> None:
    with pytest.raises((NoSharingMembers, PeriodInputsInvalid)) as info:
        compute_base(_inputs(case["inputs"]))
    assert info.value.code == case["code"]


def test_compute_base_refuses_due_without_members() -> None:
    inputs = _inputs(inputs_json(claimCount=1, payoutsFen=100))
    with pytest.raises(NoSharingMembers, match="no sharing members") as info:
        compute_base(inputs)
    assert info.value.fields["due_fen"] == 108


def test_empty_population_closes_when_nothing_is_due() -> None:
    inputs = _inputs(inputs_json(surplusInFen=77))
    totals = totals_for_members(inputs, [])
    assert (totals.base_fen, totals.share_total_fen, totals.subsidy_total_fen, totals.surplus_out_fen) == (0, 0, 0, 77)


# --- cap edges --------------------------------------------------------------------------------


def _cap_inputs(base_target: int, per_case_cap: int, claims: int = 1) -> PeriodInputs:
    # N = 1 and no fee make base = P exactly.
    return _inputs(
        inputs_json(claimCount=claims, payoutsFen=base_target, feeBps=0, memberCount=1, perCaseCapFen=per_case_cap)
    )


@pytest.mark.parametrize(
    ("base_fen", "case_cap", "share", "subsidy"),
    [
        (99, 100, 99, 0),  # cap above base: base binds
        (100, 100, 100, 0),  # cap equals base
        (101, 100, 100, 1),  # cap one fen below base
        (5_000, 100, 100, 4_900),
    ],
)
def test_per_case_cap_binds_exactly_at_its_edge(base_fen: int, case_cap: int, share: int, subsidy: int) -> None:
    inputs = _cap_inputs(base_fen, case_cap)
    base = compute_base(inputs)
    assert base.base_fen == base_fen
    assert member_share(inputs, base, 0) == (share, subsidy)


def test_per_case_cap_scales_with_number_of_claims() -> None:
    inputs = _cap_inputs(1_000, 10, claims=37)  # cap 370
    assert member_share(inputs, compute_base(inputs), 0) == (370, 630)


@pytest.mark.parametrize(
    ("paid", "share"),
    [
        (0, 648),
        (18_800 - 648, 648),  # exactly room for the full base
        (18_800 - 647, 647),  # one fen short
        (18_799, 1),
        (18_800, 0),  # annual cap reached
        (18_801, 0),  # over it (e.g. a lowered cap): floored at 0, never negative
        (10**12, 0),
    ],
)
def test_annual_cap_binds_exactly_at_its_edge(paid: int, share: int) -> None:
    inputs = _inputs(inputs_json(claimCount=100, payoutsFen=3_000_000_000, memberCount=5_000_000))
    assert member_share(inputs, compute_base(inputs), paid) == (share, 648 - share)


def test_wind_down_makes_operator_pay_every_base() -> None:
    inputs = _inputs(inputs_json(claimCount=100, payoutsFen=3_000_000_000, memberCount=5_000_000, windDown=True))
    base = compute_base(inputs)
    assert base.base_fen == 648
    assert member_share(inputs, base, 0) == (0, 648)
    totals = totals_for_ytd_histogram(inputs, {0: 5_000_000})
    assert totals.subsidy_total_fen == 3_240_000_000
    assert totals.share_total_fen == 0


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"claimCount": -1}, "claim_count"),
        ({"payoutsFen": 1.5, "claimCount": 1}, "payouts_fen"),
        ({"memberCount": True}, "member_count"),
        ({"feeBps": 10_001}, "fee_bps"),
        ({"surplusInFen": 2**64}, "surplus_in_fen"),
        ({"payoutsFen": 5}, "payouts_fen"),  # payouts without claims
        ({"ruleSetHash": "0x" + "11" * 31}, "ruleSetHash"),
        ({"windDown": 1}, "wind_down"),
    ],
)
def test_period_inputs_reject_out_of_range_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(PeriodInputsInvalid) as info:
        _inputs(inputs_json(**overrides))
    assert info.value.fields["field"] == field


def test_from_payouts_rejects_non_positive_payout() -> None:
    with pytest.raises(PeriodInputsInvalid, match="payout 1 must be a positive integer"):
        PeriodInputs.from_payouts([10, 0], period_id=1, member_count=1, rule_set_hash=bytes(32))


def test_from_payouts_counts_claims_and_sums_payouts() -> None:
    inputs = PeriodInputs.from_payouts([30_000_000, 10_000_000], period_id=1, member_count=1, rule_set_hash=bytes(32))
    assert (inputs.claim_count, inputs.payouts_fen) == (2, 40_000_000)


def test_period_inputs_json_round_trips() -> None:
    doc = VEC["periods"][1]["inputs"]
    assert _inputs(doc).to_json() == doc


@pytest.mark.parametrize("paid", [-1, True, 1.0, 2**64])
def test_member_share_rejects_bad_paid_this_year(paid: Any) -> None:
    inputs = _inputs(inputs_json(claimCount=1, payoutsFen=100, memberCount=1))
    with pytest.raises(MemberRowInvalid, match="paid_this_year_fen"):
        member_share(inputs, compute_base(inputs), paid)


def test_totals_refuse_wrong_member_count() -> None:
    inputs = _inputs(inputs_json(claimCount=1, payoutsFen=100, memberCount=3))
    with pytest.raises(MemberCountMismatch, match="2 member rows for a period of 3"):
        totals_for_members(inputs, [0, 0])


def test_check_invariant_rejects_totals_off_by_one_fen() -> None:
    totals = PeriodTotals(
        period_id=1,
        member_count=2,
        fee_fen=0,
        due_fen=9,
        base_fen=5,
        share_total_fen=10,
        subsidy_total_fen=1,
        surplus_out_fen=1,
    )
    with pytest.raises(InvariantViolated, match="share invariant violated"):
        totals.check_invariant()


# --- F7: 1,000 random periods -----------------------------------------------------------------

_cap_values = st.one_of(st.just(10), st.integers(min_value=0, max_value=10**6))
_annual_caps = st.one_of(st.just(18_800), st.integers(min_value=0, max_value=10**7))


@st.composite
def periods(draw: st.DrawFn, max_count: int = 10**8) -> tuple[dict[str, Any], dict[int, int]]:
    """A period's inputs and its population as {paid_this_year: count}, with edge values favoured."""
    claims = draw(st.integers(min_value=0, max_value=500))
    payouts = 0
    if claims:
        payouts = draw(
            st.one_of(
                st.sampled_from([30_000_000, 10_000_000]).map(lambda p: p * claims),
                st.integers(min_value=claims, max_value=10**12),
            )
        )
    fee_bps = draw(st.one_of(st.just(800), st.integers(min_value=0, max_value=10_000)))
    gross = payouts + payouts * fee_bps // 10_000
    surplus = draw(st.one_of(st.just(0), st.integers(min_value=0, max_value=gross + 1_000)))
    per_case, annual = draw(_cap_values), draw(_annual_caps)
    n_classes = draw(st.integers(min_value=0, max_value=8))
    paid_values = draw(
        st.lists(
            st.one_of(
                st.integers(min_value=0, max_value=annual + 10),
                st.sampled_from([0, max(0, annual - 1), annual, annual + 1]),
            ),
            min_size=n_classes,
            max_size=n_classes,
            unique=True,
        )
    )
    counts = draw(st.lists(st.integers(min_value=1, max_value=max_count), min_size=n_classes, max_size=n_classes))
    population = dict(zip(paid_values, counts, strict=True))
    doc = inputs_json(
        periodId=draw(st.integers(min_value=0, max_value=2**64 - 1)),
        claimCount=claims,
        payoutsFen=payouts,
        feeBps=fee_bps,
        surplusInFen=surplus,
        memberCount=sum(counts),
        perCaseCapFen=per_case,
        annualCapFen=annual,
        windDown=draw(st.booleans()),
    )
    return doc, population


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(period=periods())
def test_random_period_totals_satisfy_invariant_and_equal_reference(
    period: tuple[dict[str, Any], dict[int, int]],
) -> None:
    doc, population = period
    inputs = _inputs(doc)
    if inputs.member_count == 0 and compute_due(doc) > 0:
        with pytest.raises(NoSharingMembers):
            totals_for_ytd_histogram(inputs, population)
        return
    totals = totals_for_ytd_histogram(inputs, population)
    expected = reference_totals(doc, population.items())
    assert totals.to_json() == {k: expected[k] for k in TOTAL_KEYS}
    n, base = totals.member_count, totals.base_fen
    # F7, exactly.
    assert totals.share_total_fen + totals.subsidy_total_fen == n * base == totals.due_fen + totals.surplus_out_fen
    if totals.due_fen > 0:
        assert 0 <= totals.surplus_out_fen < n
    else:
        assert base == 0
        assert totals.surplus_out_fen == -totals.due_fen
    assert reference_rules(doc)["baseFen"] == base
    charge = compute_base(inputs)
    for paid in population:
        share, subsidy = member_share(inputs, charge, paid)
        assert (share, subsidy) == reference_share(doc, base, paid)
        assert 0 <= share <= base
        assert subsidy >= 0
        assert share <= inputs.per_case_cap_fen * inputs.claim_count
        assert share <= max(0, inputs.annual_cap_fen - paid)
        assert not inputs.wind_down or share == 0


def compute_due(doc: dict[str, Any]) -> int:
    fee = doc["payoutsFen"] * doc["feeBps"] // 10_000
    return int(doc["payoutsFen"] + fee - doc["surplusInFen"])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(period=periods(max_count=50), data=st.data())
def test_totals_do_not_depend_on_population_order(
    period: tuple[dict[str, Any], dict[int, int]], data: st.DataObject
) -> None:
    doc, population = period
    inputs = _inputs(doc)
    if inputs.member_count == 0 and compute_due(doc) > 0:
        return
    members = [paid for paid, count in population.items() for _ in range(count)]
    shuffled = data.draw(st.permutations(members))
    assert totals_for_members(inputs, shuffled) == totals_for_ytd_histogram(inputs, population)
