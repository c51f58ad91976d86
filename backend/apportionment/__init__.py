"""Apportionment (分摊): every member's share of a period, computed from the chain's figures and
verifiable by that member.

Verification-critical, pure (no database, no chain, no settings), integer fen only, pinned by
``tests/vectors/apportionment.json``. Changing what any of these functions returns is a protocol
change.

Modules: ``schedule`` (periods, notice and debit instants, approval windows), ``arithmetic``
(fee, D, base, shares, subsidies, S_out and the exact invariant), ``ledger`` (streaming share
ledger, its file format, share-ledger and membership-snapshot Merkle roots), ``receipts`` (the
per-member share receipt and its offline verification), ``errors``.
"""

from backend.apportionment.arithmetic import (
    DEFAULT_ANNUAL_CAP_FEN,
    DEFAULT_FEE_BPS,
    DEFAULT_PER_CASE_CAP_FEN,
    BaseCharge,
    PeriodInputs,
    PeriodTotals,
    compute_base,
    member_share,
    share_of_member,
    totals_for_members,
    totals_for_ytd_histogram,
)
from backend.apportionment.ledger import (
    EMPTY_ROOT,
    MEMBERSHIP_LEAF_TYPES,
    SHARE_LEAF_TYPES,
    MembershipSnapshot,
    ShareLedgerBuilder,
    ShareLedgerReader,
    ShareLedgerResult,
    ShareRow,
    build_share_ledger,
    check_year_to_date_continuity,
    encode_share_leaf,
    membership_leaf_hash,
    membership_snapshot,
    share_leaf_hash,
    verify_share_ledger,
    write_share_ledger,
)
from backend.apportionment.receipts import (
    ShareReceipt,
    ShareVerificationReport,
    make_share_receipt,
    parse_share_receipt,
    verify_share_receipt_offline,
)
from backend.apportionment.schedule import (
    DEFAULT_SCHEDULE,
    ApportionmentSchedule,
    Period,
    ScheduleConfig,
    period_for,
    periods_between,
)

__all__ = [
    "DEFAULT_ANNUAL_CAP_FEN",
    "DEFAULT_FEE_BPS",
    "DEFAULT_PER_CASE_CAP_FEN",
    "DEFAULT_SCHEDULE",
    "EMPTY_ROOT",
    "MEMBERSHIP_LEAF_TYPES",
    "SHARE_LEAF_TYPES",
    "ApportionmentSchedule",
    "BaseCharge",
    "MembershipSnapshot",
    "Period",
    "PeriodInputs",
    "PeriodTotals",
    "ScheduleConfig",
    "ShareLedgerBuilder",
    "ShareLedgerReader",
    "ShareLedgerResult",
    "ShareReceipt",
    "ShareRow",
    "ShareVerificationReport",
    "build_share_ledger",
    "check_year_to_date_continuity",
    "compute_base",
    "encode_share_leaf",
    "make_share_receipt",
    "member_share",
    "membership_leaf_hash",
    "membership_snapshot",
    "parse_share_receipt",
    "period_for",
    "periods_between",
    "share_leaf_hash",
    "share_of_member",
    "totals_for_members",
    "totals_for_ytd_histogram",
    "verify_share_ledger",
    "verify_share_receipt_offline",
    "write_share_ledger",
]
