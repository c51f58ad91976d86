"""The rule set in force (public, with its hash and anchoring transaction), the catalog, publishing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BeforeValidator, ConfigDict, Field

from backend.api.deps import RuntimeDep, SessionDep, role_dependency
from backend.api.schemas import ApiModel, Hex
from backend.services import rule_sets
from backend.services.auth import Principal
from backend.services.claim_filing import MAX_FILES_PER_CLAIM

router = APIRouter(prefix="/rules", tags=["rules"])

Operator = Annotated[Principal, role_dependency("operator")]


class RuleSetOut(ApiModel):
    # A RuleSetRecord as the API shows it: RuleSetOut.of(record).
    version: int
    hash: Hex = Field(description="keccak256 of canonicalJson, as anchored on ClaimLedger")
    canonical_json: str = Field(description="the exact bytes hashed (sorted keys, no whitespace)")
    # The same rules parsed, read from the record's canonical_json. Its keys are the protocol's
    # (snake_case, hashed as they are), not the API's.
    rules: Annotated[dict[str, Any], BeforeValidator(json.loads)] = Field(validation_alias="canonical_json")
    anchor_tx: Hex | None = Field(description="anchorRuleSet transaction")
    active: bool
    created_at: datetime


class IllnessOut(ApiModel):
    code: str
    name_en: str
    name_zh: str


class CatalogOut(ApiModel):
    version: int
    illnesses: list[IllnessOut]
    # The filing form's limits, so a client refuses a file before uploading it.
    upload_max_bytes: int | None = Field(None, description="largest evidence file accepted (bytes)")
    max_files_per_claim: int | None = Field(None, description="most files one claim may carry")


class AgeBandIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    max_age_years: int = Field(ge=0, le=150)
    payout_fen: int = Field(gt=0, lt=2**64)


class RuleChanges(ApiModel):
    """Parameters to change; the rest is carried over from the rule set in force. The version is
    assigned by the server."""

    model_config = ConfigDict(extra="forbid")

    min_age_days: int | None = Field(None, ge=0, le=150 * 366)  # unbounded, timedelta() overflowed: a 500
    max_join_age_years: int | None = Field(None, ge=1, le=150)
    end_age_years: int | None = Field(None, ge=1, le=150)
    min_credit_score: int | None = Field(None, ge=0, le=1000)
    waiting_period_days: int | None = Field(None, ge=0, le=3650)
    catalog_version: int | None = Field(None, ge=1)
    payout_bands: list[AgeBandIn] | None = Field(None, min_length=1, max_length=10)
    review_quorum: int | None = Field(None, ge=1, le=255)
    notice_seconds: int | None = Field(None, ge=1, lt=2**32)
    jury_size: int | None = Field(None, ge=1, le=255)
    min_turnout: int | None = Field(None, ge=1, le=255)
    commit_seconds: int | None = Field(None, ge=1, lt=2**32)
    reveal_seconds: int | None = Field(None, ge=1, lt=2**32)
    fee_bps: int | None = Field(None, ge=0, le=10_000)
    per_case_cap_fen: int | None = Field(None, ge=0)
    annual_cap_fen: int | None = Field(None, ge=0)
    late_filing_days_after_wind_down: int | None = Field(None, ge=0, le=36_500)  # as min_age_days
    health_questions: list[Annotated[str, Field(min_length=1, max_length=500)]] | None = Field(
        None, min_length=1, max_length=50
    )


@router.get("/current", response_model=RuleSetOut, summary="The rule set in force, its hash and anchor")
def current(session: SessionDep) -> RuleSetOut:
    return RuleSetOut.of(rule_sets.current_rule_set_record(session))


@router.get("/illnesses", response_model=CatalogOut, summary="The catalog of covered critical illnesses")
def illnesses(runtime: RuntimeDep) -> CatalogOut:
    catalog = CatalogOut.model_validate(rule_sets.load_illness_catalog().to_json())
    catalog.upload_max_bytes = runtime.settings.upload_max_bytes
    catalog.max_files_per_claim = MAX_FILES_PER_CLAIM
    return catalog


@router.post(
    "",
    status_code=201,
    response_model=RuleSetOut,
    summary="Publish the next rule-set version (anchored on chain; the previous one is retired)",
    responses={409: {"description": "RULE_SET_UNCHANGED or RULE_SET_CHANGED"}, 422: {"description": "out of range"}},
)
def publish(body: RuleChanges, runtime: RuntimeDep, _operator: Operator) -> RuleSetOut:
    changes = body.model_dump(exclude_none=True)
    return RuleSetOut.of(rule_sets.publish_rule_set(runtime, changes))
