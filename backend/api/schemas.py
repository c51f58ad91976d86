"""The API's shared JSON models: one base (camelCase on the wire) and the claim views several routers answer with.

Every JSON body the API reads or writes is an :class:`ApiModel`: Python names stay snake_case, the
wire is camelCase (``alias_generator=to_camel``), and FastAPI serializes response models by alias.
Requests are read by alias; the Python name is accepted too (``populate_by_name``), as before.
``tests/api/test_openapi_casing.py`` fails on any property of the OpenAPI schemas that is not
camelCase.

Response models are built from the services' records by pydantic (:meth:`ApiModel.of`, attribute
by attribute), not copied field by field: a field added to a record and to its model is carried
without a third edit. Bytes become ``0x`` hex through :data:`Hex`.

Exception: the OAuth2 token answer (``backend.api.routes.auth.Token``) keeps ``access_token`` and
``token_type``, the names RFC 6749 §5.1 fixes and every OAuth2 client (Swagger UI's included) reads.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel


def _hex(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    return value


Hex = Annotated[str, BeforeValidator(_hex)]
"""A string on the wire; ``bytes`` from a record become ``0x`` hex."""


class ApiModel(BaseModel):
    """Base of every JSON body: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    @classmethod
    def of(cls, record: object) -> Self:
        """The model read from ``record``'s attributes (a service dataclass or a database row)."""
        return cls.model_validate(record, from_attributes=True)


class OnChainRoleOut(ApiModel):
    """A reviewer's or juror's roster role on ClaimLedger (changes wait out the RosterTimelock's delay)."""

    role: Literal["REVIEWER_ROLE", "JUROR_ROLE"]
    status: Literal["held", "pending", "revoking", "none", "unknown"] = Field(
        description="held: in force; pending: a grant is announced; revoking: in force, a revocation is "
        "announced; none; unknown: the chain cannot be read right now"
    )
    change_at: datetime | None = Field(
        None, description="pending/revoking: when the announced change may take effect (the workflow clock executes it)"
    )


class EvidenceOut(ApiModel):
    id: str
    media_type: str
    size: int
    commitment: str = Field(description="keccak256(abi.encode(sha256(plaintext), salt)), the anchored value")
    cid: str = Field(description="CID of the encrypted file")
    anchored: bool
    duplicate: bool = Field(description="the same plaintext is evidence of another claim")
    original_name: str | None = Field(None, description="only shown to the claimant")


class ClaimOut(ApiModel):
    id: str
    claim_id: str = Field(description="the claim's id on ClaimLedger")
    status: str
    illness_code: str
    diagnosis_date: date
    age_at_diagnosis: int
    payout_fen: int
    rule_set_hash: str
    evidence_root: str
    reason_code: str | None
    flags: list[str]
    filed_at: datetime = Field(
        description="when this server accepted the filing, on the server's wall clock (UTC); the filing receipt's "
        "filedAt is on the chain's clock, which a development chain moved ahead (POST /chain/advance) runs ahead of"
    )
    updated_at: datetime
    final_at: datetime | None = Field(
        description="when this server recorded the final decision, on the server's wall clock (UTC); the timeline's "
        "chainTime gives the chain's clock of each on-chain step"
    )
    evidence: list[EvidenceOut]
    chain_mismatch: list[str] = Field(
        default_factory=list,
        description="fields (status, payoutFen) whose database copy disagrees with ClaimLedger; "
        "status and payoutFen shown are the chain's",
    )
    claimant_key: str | None = Field(
        None, description="address of the key the claimant's device made for this claim: it signs withdrawal and appeal"
    )
    filing_receipt: dict[str, Any] | None = Field(
        None,
        description="to the claimant (filing answer and GET /claims/{id}): the operator's signed promise to have "
        "the claim on chain by onChainBy (also GET /claims/{id}/filing-receipt); keep it",
    )


class TimelineOut(ApiModel):
    kind: str
    at: datetime = Field(description="when this server recorded the step: the server's wall clock (UTC)")
    block_number: int | None
    tx_hash: str | None
    detail: dict[str, Any]
    chain_time: datetime | None = Field(
        None,
        description="on-chain steps: the block's timestamp, the chain's clock every window and deadline is judged by "
        "(ahead of the server's on a development chain moved forward with POST /chain/advance); null off chain",
    )


class VerdictIn(ApiModel):
    verdict: Literal["APPROVE", "REJECT"]
    reason_code: str | None = Field(None, description="one of the plan's reason codes; required to reject")
    report: str = Field(
        min_length=1, max_length=20_000, description="stored encrypted; only its salted hash goes on chain"
    )


class VerdictOut(ApiModel):
    claim: ClaimOut
    verdict: str
    reason_code: str | None
    report_hash: str
    digest: str = Field(description="EIP-712 digest the reviewer's key signed")
    tx_hash: str | None
    block_number: int | None
    relayed_by_other: bool = Field(description="someone else relayed this signed verdict first; it counts")
