"""Share arithmetic of one apportionment period, exactly as DESIGN.md "Plan rules" → Apportionment.

Verification-critical: every member's share and the operator's subsidy come from here, and an
auditor must re-derive them to the fen. Pinned by ``tests/vectors/apportionment.json`` and by
the F7 property tests (``tests/apportionment``). Integers (fen) only — no float ever enters.

For a period with ``PeriodInputs``:

    P       = Σ payouts of the period's approved claims                     (payouts_fen)
    fee     = floor(P × fee_bps / 10000)                                     (default 800 = 8 %)
    D       = P + fee − S_in                                                 (S_in: surplus carried in)
    D ≤ 0:    base = 0, nobody pays, S_out = −D
    D > 0:    base = ceil(D / N)                                             (N: sharing members)
    share_m   = max(0, min(base, per_case_cap × cases, annual_cap − paid_this_year_m))
    subsidy_m = base − share_m                                               (the operator pays it)
    S_out   = N × base − D                                                   (0 ≤ S_out < N when D > 0)
    exact:    Σ share_m + Σ subsidy_m = N × base = D + S_out

Wind-down (``wind_down=True``): the operator pays every final period, ``share_m = 0`` and
``subsidy_m = base`` for every member; base, D and S_out are computed as above.

``N = 0``: when ``D ≤ 0`` nothing is owed and the period closes with ``base = 0`` and
``S_out = −D``; when ``D > 0`` there is nobody to share with and ``compute_base`` raises
``NoSharingMembers`` — the operator must decide (e.g. pay it as a subsidy) outside this module.

``paid_this_year_m`` is what member m paid in earlier periods of the same calendar year
(``Period.year``); a member already at or over the annual cap pays 0. ``year_to_date_m =
paid_this_year_m + share_m``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from backend.apportionment.errors import (
    InvariantViolated,
    MemberCountMismatch,
    MemberRowInvalid,
    NoSharingMembers,
    PeriodInputsInvalid,
)
from backend.proofs.hexstr import from_hex, is_canonical_hex, to_hex

__all__ = [
    "BPS_DENOMINATOR",
    "DEFAULT_ANNUAL_CAP_FEN",
    "DEFAULT_FEE_BPS",
    "DEFAULT_PER_CASE_CAP_FEN",
    "UINT64_MAX",
    "BaseCharge",
    "PeriodInputs",
    "PeriodTotals",
    "compute_base",
    "member_share",
    "share_of_member",
    "totals_for_members",
    "totals_for_ytd_histogram",
]

DEFAULT_FEE_BPS = 800
DEFAULT_PER_CASE_CAP_FEN = 10
DEFAULT_ANNUAL_CAP_FEN = 18_800
BPS_DENOMINATOR = 10_000
UINT64_MAX = 2**64 - 1


def _uint64(value: Any, name: str) -> int:
    if type(value) is not int or not 0 <= value <= UINT64_MAX:
        raise PeriodInputsInvalid(f"{name} must be an integer in [0, 2^64 − 1]", field=name)
    return value


# JSON keys of PeriodInputs, in their documented order (share receipts embed them too).
PERIOD_INPUT_KEYS: tuple[str, ...] = (
    "periodId",
    "ruleSetHash",
    "claimCount",
    "payoutsFen",
    "feeBps",
    "surplusInFen",
    "memberCount",
    "perCaseCapFen",
    "annualCapFen",
    "windDown",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodInputs:
    """Everything the arithmetic of one period depends on, apart from the members' rows.

    All amounts are integer fen and must fit uint64 (the chain's type). ``claim_count`` is the
    number of approved claims in the period (the "cases" of the per-case cap); a period without
    claims has no payouts. ``rule_set_hash`` names the anchored rule set the caps come from.
    """

    period_id: int
    claim_count: int
    payouts_fen: int
    member_count: int
    rule_set_hash: bytes
    fee_bps: int = DEFAULT_FEE_BPS
    surplus_in_fen: int = 0
    per_case_cap_fen: int = DEFAULT_PER_CASE_CAP_FEN
    annual_cap_fen: int = DEFAULT_ANNUAL_CAP_FEN
    wind_down: bool = False

    def __post_init__(self) -> None:
        for name in (
            "period_id",
            "claim_count",
            "payouts_fen",
            "member_count",
            "fee_bps",
            "surplus_in_fen",
            "per_case_cap_fen",
            "annual_cap_fen",
        ):
            _uint64(getattr(self, name), name)
        if self.fee_bps > BPS_DENOMINATOR:
            raise PeriodInputsInvalid("fee_bps must be at most 10000 (100 %)", field="fee_bps")
        if self.claim_count == 0 and self.payouts_fen != 0:
            raise PeriodInputsInvalid("a period without claims has no payouts", field="payouts_fen")
        if type(self.rule_set_hash) is not bytes or len(self.rule_set_hash) != 32:
            raise PeriodInputsInvalid("rule_set_hash must be 32 bytes", field="rule_set_hash")
        if type(self.wind_down) is not bool:
            raise PeriodInputsInvalid("wind_down must be a bool", field="wind_down")

    @classmethod
    def from_payouts(cls, payouts_fen: Iterable[int], **fields: Any) -> PeriodInputs:
        """Inputs for a period whose approved claims pay ``payouts_fen`` (each > 0)."""
        payouts = list(payouts_fen)
        for i, amount in enumerate(payouts):
            if type(amount) is not int or amount <= 0:
                raise PeriodInputsInvalid(f"payout {i} must be a positive integer (fen)", field="payouts_fen", index=i)
        return cls(claim_count=len(payouts), payouts_fen=sum(payouts), **fields)

    def to_json(self) -> dict[str, Any]:
        """JSON form (integers as JSON numbers, the hash as lower-case ``0x`` hex)."""
        return {
            "periodId": self.period_id,
            "ruleSetHash": to_hex(self.rule_set_hash),
            "claimCount": self.claim_count,
            "payoutsFen": self.payouts_fen,
            "feeBps": self.fee_bps,
            "surplusInFen": self.surplus_in_fen,
            "memberCount": self.member_count,
            "perCaseCapFen": self.per_case_cap_fen,
            "annualCapFen": self.annual_cap_fen,
            "windDown": self.wind_down,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PeriodInputs:
        """Parse ``to_json()`` output; ``PeriodInputsInvalid`` naming the first bad field."""
        if not isinstance(doc, Mapping) or set(doc) != set(PERIOD_INPUT_KEYS):
            raise PeriodInputsInvalid("period inputs must have exactly the documented keys", field="$")
        if not is_canonical_hex(doc["ruleSetHash"], 32):
            raise PeriodInputsInvalid("ruleSetHash must be 32 bytes of lower-case 0x hex", field="ruleSetHash")
        return cls(
            period_id=doc["periodId"],
            rule_set_hash=from_hex(doc["ruleSetHash"]),
            claim_count=doc["claimCount"],
            payouts_fen=doc["payoutsFen"],
            fee_bps=doc["feeBps"],
            surplus_in_fen=doc["surplusInFen"],
            member_count=doc["memberCount"],
            per_case_cap_fen=doc["perCaseCapFen"],
            annual_cap_fen=doc["annualCapFen"],
            wind_down=doc["windDown"],
        )


@dataclass(frozen=True, slots=True)
class BaseCharge:
    """The member-independent figures of a period.

    ``case_cap_fen = min(base, per_case_cap × cases)`` is the most any member can pay before
    the annual cap (0 in wind-down: members pay nothing).
    """

    fee_fen: int
    due_fen: int
    base_fen: int
    surplus_out_fen: int
    case_cap_fen: int


def compute_base(inputs: PeriodInputs) -> BaseCharge:
    """fee, D, base and S_out of a period (see the module docstring).

    Raises ``NoSharingMembers`` when ``D > 0`` and ``N = 0``; ``PeriodInputsInvalid`` when base
    would not fit uint64.
    """
    payouts = inputs.payouts_fen
    fee = payouts * inputs.fee_bps // BPS_DENOMINATOR
    due = payouts + fee - inputs.surplus_in_fen
    n = inputs.member_count
    if due <= 0:
        return BaseCharge(fee_fen=fee, due_fen=due, base_fen=0, surplus_out_fen=-due, case_cap_fen=0)
    if n == 0:
        raise NoSharingMembers(f"{due} fen are due but the period has no sharing members", due_fen=due)
    base = -(-due // n)  # ceil: a fraction of a fen is charged as a whole fen
    if base > UINT64_MAX:
        raise PeriodInputsInvalid("base does not fit uint64", field="member_count")
    case_cap = 0 if inputs.wind_down else min(base, inputs.per_case_cap_fen * inputs.claim_count)
    return BaseCharge(fee_fen=fee, due_fen=due, base_fen=base, surplus_out_fen=n * base - due, case_cap_fen=case_cap)


def share_of_member(*, case_cap_fen: int, annual_cap_fen: int, paid_this_year_fen: int) -> int:
    """``max(0, min(case_cap, annual_cap − paid_this_year))`` — one member's share.

    ``case_cap_fen`` is ``BaseCharge.case_cap_fen`` (already ``min(base, per_case_cap × cases)``,
    0 when nothing is due or in wind-down).
    """
    share = min(case_cap_fen, annual_cap_fen - paid_this_year_fen)
    return share if share > 0 else 0


def member_share(inputs: PeriodInputs, base: BaseCharge, paid_this_year_fen: int) -> tuple[int, int]:
    """``(share, subsidy)`` of a member who paid ``paid_this_year_fen`` earlier this year."""
    if type(paid_this_year_fen) is not int or not 0 <= paid_this_year_fen <= UINT64_MAX:
        raise MemberRowInvalid("paid_this_year_fen must be an integer in [0, 2^64 − 1]", field="paid_this_year_fen")
    share = share_of_member(
        case_cap_fen=base.case_cap_fen, annual_cap_fen=inputs.annual_cap_fen, paid_this_year_fen=paid_this_year_fen
    )
    return share, base.base_fen - share


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodTotals:
    """The outputs of a period: ``base``, ``fee``, ``D``, ``Σ share``, ``Σ subsidy``, ``S_out``.

    Constructed only through ``PeriodTotals.close`` (or parsed), which checks the exact invariant.
    """

    period_id: int
    member_count: int
    fee_fen: int
    due_fen: int
    base_fen: int
    share_total_fen: int
    subsidy_total_fen: int
    surplus_out_fen: int

    def check_invariant(self) -> None:
        """``Σ share + Σ subsidy = N × base = D + S_out`` exactly, else ``InvariantViolated``."""
        n_base = self.member_count * self.base_fen
        if self.share_total_fen + self.subsidy_total_fen != n_base or n_base != self.due_fen + self.surplus_out_fen:
            raise InvariantViolated(
                "share invariant violated: Σshare + Σsubsidy = N × base = D + S_out does not hold",
                period_id=self.period_id,
                share_total_fen=self.share_total_fen,
                subsidy_total_fen=self.subsidy_total_fen,
                n_times_base=n_base,
                due_fen=self.due_fen,
                surplus_out_fen=self.surplus_out_fen,
            )

    @classmethod
    def close(
        cls, inputs: PeriodInputs, base: BaseCharge, *, rows: int, share_total_fen: int, subsidy_total_fen: int
    ) -> PeriodTotals:
        """Totals of a period whose ``rows`` members paid these sums; checks count and invariant."""
        if rows != inputs.member_count:
            raise MemberCountMismatch(
                f"{rows} member rows for a period of {inputs.member_count} sharing members",
                rows=rows,
                member_count=inputs.member_count,
            )
        totals = cls(
            period_id=inputs.period_id,
            member_count=inputs.member_count,
            fee_fen=base.fee_fen,
            due_fen=base.due_fen,
            base_fen=base.base_fen,
            share_total_fen=share_total_fen,
            subsidy_total_fen=subsidy_total_fen,
            surplus_out_fen=base.surplus_out_fen,
        )
        totals.check_invariant()
        return totals

    def to_json(self) -> dict[str, int]:
        return {
            "feeFen": self.fee_fen,
            "dueFen": self.due_fen,
            "baseFen": self.base_fen,
            "shareTotalFen": self.share_total_fen,
            "subsidyTotalFen": self.subsidy_total_fen,
            "surplusOutFen": self.surplus_out_fen,
        }


def totals_for_members(inputs: PeriodInputs, paid_this_year_fen: Iterable[int]) -> PeriodTotals:
    """Totals for members given only by what each paid this year (no ledger, no tree)."""
    base = compute_base(inputs)
    rows = share_total = subsidy_total = 0
    for paid in paid_this_year_fen:
        share, subsidy = member_share(inputs, base, paid)
        share_total += share
        subsidy_total += subsidy
        rows += 1
    return PeriodTotals.close(inputs, base, rows=rows, share_total_fen=share_total, subsidy_total_fen=subsidy_total)


def totals_for_ytd_histogram(inputs: PeriodInputs, members_by_paid: Mapping[int, int]) -> PeriodTotals:
    """Totals for a population given as ``{paid_this_year_fen: number of members}``.

    A share depends on a member only through ``paid_this_year``, so this is exact and costs one
    step per distinct value — how a 5-million-member period is checked without 5 M rows.
    """
    base = compute_base(inputs)
    rows = share_total = subsidy_total = 0
    for paid, count in members_by_paid.items():
        if type(count) is not int or count < 0:
            raise MemberRowInvalid("member counts must be non-negative integers", paid_this_year_fen=paid)
        share, subsidy = member_share(inputs, base, paid)
        share_total += share * count
        subsidy_total += subsidy * count
        rows += count
    return PeriodTotals.close(inputs, base, rows=rows, share_total_fen=share_total, subsidy_total_fen=subsidy_total)
