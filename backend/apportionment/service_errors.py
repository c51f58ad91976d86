"""Errors of the apportionment service edge (publishing, member views, wind-down).

Conflict (backend.errors)                          409
├── PeriodNotClosed        PERIOD_NOT_CLOSED       the period's window has not ended (clock or chain)
├── PeriodOutOfOrder       PERIOD_OUT_OF_ORDER     an earlier period must be published first
└── PeriodRecordMismatch   PERIOD_RECORD_MISMATCH  the chain holds a record that differs from the
                                                   recomputation (an alarm for the auditor)
NotFound (backend.errors)                          404
├── NotAMember             NOT_A_MEMBER            the signed-in account has no membership
└── ShareNotFound          SHARE_NOT_FOUND         no published period, or the member is not in it
ChainError (backend.errors)
└── ApportionmentUnavailable APPORTIONMENT_NOT_DEPLOYED  the context has no Apportionment contract
"""

from __future__ import annotations

from backend.errors import ChainError, Conflict, NotFound

__all__ = [
    "ApportionmentUnavailable",
    "ClaimFilingClosed",
    "NotAMember",
    "PeriodNotClosed",
    "PeriodOutOfOrder",
    "PeriodRecordMismatch",
    "ShareNotFound",
]


class ClaimFilingClosed(Conflict):
    """A claim refused by the wind-down rule (``code`` says which part)."""

    code = "WIND_DOWN_FILING_CLOSED"


class PeriodNotClosed(Conflict):
    code = "PERIOD_NOT_CLOSED"


class PeriodOutOfOrder(Conflict):
    code = "PERIOD_OUT_OF_ORDER"


class PeriodRecordMismatch(Conflict):
    code = "PERIOD_RECORD_MISMATCH"


class NotAMember(NotFound):
    code = "NOT_A_MEMBER"


class ShareNotFound(NotFound):
    code = "SHARE_NOT_FOUND"


class ApportionmentUnavailable(ChainError):
    code = "APPORTIONMENT_NOT_DEPLOYED"
