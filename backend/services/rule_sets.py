"""Rule sets in force: stored (canonical JSON + hash), anchored on ClaimLedger, and the illness catalog.

The database holds every version ever published (``RuleSetRecord``); the *current* rule set is
the active record with the highest version. Each is anchored on chain with
``anchorRuleSet(hash, noticeSeconds, reviewQuorum, jurySize, minTurnout, commitSeconds, revealSeconds,
feeBps, perCaseCapFen, annualCapFen)`` — the claim parameters and the share parameters, taken from
the canonical JSON whose keccak256 is the hash — and comes into force ``RULE_SET_DELAY`` seconds
later. A published version waits *pending* (stored inactive, anchored, not retired) until the
chain has it in force; then :func:`activate_due` makes it current and retires the one it
supersedes (``retireRuleSet``) so that no new claim can use that one.

Crash safety: the chain is written first and "already done" on chain counts as done
(``ClaimLedgerRuleSetExists``), so every step can be repeated; :func:`bootstrap` repeats the ones
a crash may have cut short.

    RuleSetError (InvalidInput, 422)   a published rule set is out of range (code INVALID_RULE_SET)
    RuleSetUnchanged (Conflict, 409)   publishing would change nothing (code RULE_SET_UNCHANGED)
    NotFound (404, code NO_RULE_SET)   nothing published yet (run :func:`bootstrap`)
    RuleSetMismatch (ChainError, 502)  the chain holds other parameters under a stored hash
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Subquery, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.chain.roster import RosterClient, RuleSetParams
from backend.db.models import RuleSetRecord
from backend.errors import ChainError, Conflict, InvalidInput, NotFound
from backend.proofs.keccak import keccak256
from backend.services.context import ServiceContext
from backend.services.rules import DEFAULT_RULES, AgeBand, RuleSet

log = logging.getLogger(__name__)

CATALOG_PATH = Path(__file__).resolve().parent.parent / "data" / "illnesses.json"
_UINT32 = 2**32 - 1
_UINT8 = 2**8 - 1
_UINT64 = 2**64 - 1


class RuleSetError(InvalidInput):
    code = "INVALID_RULE_SET"


class RuleSetUnchanged(Conflict):
    code = "RULE_SET_UNCHANGED"


class RuleSetMismatch(ChainError):
    code = "RULE_SET_MISMATCH"


# --- the illness catalog ------------------------------------------------------------------------


@dataclass(frozen=True)
class Illness:
    code: str
    name_en: str
    name_zh: str


@dataclass(frozen=True)
class IllnessCatalog:
    """The covered critical illnesses of one catalog version; codes are stable and never reused."""

    version: int
    illnesses: tuple[Illness, ...]
    _by_code: dict[str, Illness] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {i.code: i for i in self.illnesses})

    def get(self, code: str) -> Illness | None:
        return self._by_code.get(code)

    def covers(self, code: str) -> bool:
        return code in self._by_code

    def codes(self) -> tuple[str, ...]:
        return tuple(i.code for i in self.illnesses)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "illnesses": [{"code": i.code, "name_en": i.name_en, "name_zh": i.name_zh} for i in self.illnesses],
        }


def parse_catalog(text: str) -> IllnessCatalog:
    """Parse and check a catalog document: version ≥ 1, codes ``CI`` + 3 digits, unique, in order."""
    raw = json.loads(text)
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("illness catalog: version must be a positive integer")
    illnesses = tuple(
        Illness(str(item["code"]), str(item["name_en"]), str(item["name_zh"])) for item in raw["illnesses"]
    )
    codes = [i.code for i in illnesses]
    if len(set(codes)) != len(codes):
        raise ValueError("illness catalog: duplicate codes")
    for illness in illnesses:
        if len(illness.code) != 5 or not illness.code.startswith("CI") or not illness.code[2:].isdigit():
            raise ValueError(f"illness catalog: malformed code {illness.code!r}")
        if not illness.name_en.strip() or not illness.name_zh.strip():
            raise ValueError(f"illness catalog: {illness.code} needs an English and a Chinese name")
    if codes != sorted(codes):
        raise ValueError("illness catalog: codes must be in ascending order")
    return IllnessCatalog(version, illnesses)


@cache
def load_illness_catalog() -> IllnessCatalog:
    """The catalog shipped in ``backend/data/illnesses.json`` (read and checked once)."""
    return parse_catalog(CATALOG_PATH.read_text(encoding="utf-8"))


# --- validation ----------------------------------------------------------------------------------


def claim_params(rules: RuleSet) -> RuleSetParams:
    """The parameters ClaimLedger stores for ``rules``: those it enforces for claims and the share
    parameters Apportionment takes from it (the audit checks they are the anchored JSON's)."""
    return RuleSetParams(
        notice_seconds=rules.notice_seconds,
        review_quorum=rules.review_quorum,
        jury_size=rules.jury_size,
        min_turnout=rules.min_turnout,
        commit_seconds=rules.commit_seconds,
        reveal_seconds=rules.reveal_seconds,
        fee_bps=rules.fee_bps,
        per_case_cap_fen=rules.per_case_cap_fen,
        annual_cap_fen=rules.annual_cap_fen,
    )


def validate_rules(rules: RuleSet) -> None:
    """Raise :class:`RuleSetError` unless every parameter is in range (on chain and in the domain)."""
    problems: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    for spec in fields(rules):
        value = getattr(rules, spec.name)
        if spec.name not in ("payout_bands", "health_questions"):
            need(isinstance(value, int) and not isinstance(value, bool), f"{spec.name} must be an integer")
    if problems:
        raise RuleSetError("; ".join(problems))
    need(rules.version >= 1, "version must be ≥ 1")
    need(rules.min_age_days >= 0, "min_age_days must be ≥ 0")
    need(0 < rules.max_join_age_years < rules.end_age_years <= 150, "need 0 < max_join_age_years < end_age_years ≤ 150")
    need(0 <= rules.min_credit_score <= 1000, "min_credit_score must be in 0..1000")
    need(0 <= rules.waiting_period_days <= 3650, "waiting_period_days must be in 0..3650")
    need(rules.catalog_version == load_illness_catalog().version, "catalog_version must name the shipped catalog")
    bands = rules.payout_bands
    need(len(bands) >= 1, "payout_bands must not be empty")
    need(
        all(isinstance(b, AgeBand) for b in bands)
        and all(0 <= b.max_age_years <= 150 and 0 < b.payout_fen <= _UINT64 for b in bands)
        and all(a.max_age_years < b.max_age_years for a, b in itertools.pairwise(bands)),
        "payout_bands: ascending max_age_years, payouts 1..2^64-1 fen",
    )
    need(1 <= rules.review_quorum <= _UINT8, "review_quorum must be in 1..255")
    need(1 <= rules.jury_size <= _UINT8, "jury_size must be in 1..255")
    need(1 <= rules.min_turnout <= rules.jury_size, "min_turnout must be in 1..jury_size")
    for name in ("notice_seconds", "commit_seconds", "reveal_seconds"):
        need(1 <= getattr(rules, name) <= _UINT32, f"{name} must be in 1..2^32-1")
    need(0 <= rules.fee_bps <= 10_000, "fee_bps must be in 0..10000")
    need(0 <= rules.per_case_cap_fen <= _UINT64 and 0 <= rules.annual_cap_fen <= _UINT64, "caps must be in 0..2^64-1")
    need(rules.late_filing_days_after_wind_down >= 0, "late_filing_days_after_wind_down must be ≥ 0")
    need(
        len(rules.health_questions) >= 1
        and all(isinstance(q, str) and 0 < len(q.strip()) <= 500 for q in rules.health_questions),
        "health_questions: 1 or more non-empty questions of at most 500 characters",
    )
    if problems:
        raise RuleSetError("; ".join(problems))


# --- reading -------------------------------------------------------------------------------------


def _checked(record: RuleSetRecord) -> RuleSet:
    """Parse a stored record, refusing one whose JSON no longer matches its hash."""
    return _parse_checked(bytes(record.hash), record.version, record.canonical_json)


@lru_cache(maxsize=64)
def _parse_checked(rule_set_hash: bytes, version: int, canonical_json: str) -> RuleSet:
    # Keyed by the stored text itself: a row edited behind the API's back is a cache miss and is
    # checked again; an unchanged one (every filing reads the rule set in force) is parsed once.
    if keccak256(canonical_json.encode()) != rule_set_hash:
        raise RuleSetMismatch(f"stored rule set version {version} does not match its hash")
    rules = RuleSet.from_json(canonical_json)
    if rules.hash() != rule_set_hash or rules.version != version:
        raise RuleSetMismatch(f"stored rule set version {version} is not in canonical form")
    return rules


def current_rule_set_record(session: Session) -> RuleSetRecord:
    record = session.scalars(
        select(RuleSetRecord).where(RuleSetRecord.active.is_(True)).order_by(RuleSetRecord.version.desc()).limit(1)
    ).first()
    if record is None:
        raise NotFound("no rule set has been published yet", code="NO_RULE_SET")
    return record


def current_rule_set(session: Session) -> tuple[RuleSet, bytes]:
    """The rule set in force and its 32-byte hash (the value anchored on chain)."""
    record = current_rule_set_record(session)
    return _checked(record), bytes(record.hash)


def in_force_subquery() -> Subquery:
    """The rule set in force as a one-row subquery (``hash``, ``version``, ``canonical_json``), for a
    hot query to read it in the same round trip (outer-joined: no row when none is published);
    :func:`rule_set_of` turns the three columns into the checked rule set."""
    return (
        select(RuleSetRecord.hash, RuleSetRecord.version, RuleSetRecord.canonical_json)
        .where(RuleSetRecord.active.is_(True))
        .order_by(RuleSetRecord.version.desc())
        .limit(1)
        .subquery("rule_set_in_force")
    )


def rule_set_of(rule_set_hash: bytes | None, version: int | None, canonical_json: str | None) -> tuple[RuleSet, bytes]:
    """The checked rule set and its hash from :func:`in_force_subquery`'s columns; NO_RULE_SET when empty."""
    if rule_set_hash is None or version is None or canonical_json is None:
        raise NotFound("no rule set has been published yet", code="NO_RULE_SET")
    return _parse_checked(bytes(rule_set_hash), version, canonical_json), bytes(rule_set_hash)


def rule_set_by_hash(session: Session, rule_set_hash: bytes) -> RuleSet:
    """Any published rule set (current or superseded) by its hash; NotFound otherwise."""
    record = session.get(RuleSetRecord, rule_set_hash)
    if record is None:
        raise NotFound("unknown rule set", code="UNKNOWN_RULE_SET")
    return _checked(record)


# --- writing -------------------------------------------------------------------------------------


def roster_for(ctx: ServiceContext) -> RosterClient:
    """ClaimLedger's configuration calls, sent by the operator key of ``ctx``."""
    timelock = ctx.deployment.contracts.get("RosterTimelock")
    return RosterClient(
        ctx.w3,
        ctx.contracts["ClaimLedger"],
        ctx.operator,
        ctx.contracts.get("RosterTimelock"),
        from_block=timelock.block if timelock is not None else 0,
    )


def _deployment_block(ctx: ServiceContext) -> int:
    deployed = ctx.deployment.contracts.get("ClaimLedger")
    return deployed.block if deployed is not None else 0


def ensure_anchored(ctx: ServiceContext, rule_set_hash: bytes) -> bytes | None:
    """Anchor the stored rule set ``rule_set_hash`` unless the chain already has it; record the tx.

    Returns the anchoring transaction hash (also when it was anchored earlier and only the
    record had lost it), or None when the node no longer serves that log.
    """
    roster = roster_for(ctx)
    with ctx.sessions() as session:
        record = session.get(RuleSetRecord, rule_set_hash)
        if record is None:
            raise NotFound("unknown rule set", code="UNKNOWN_RULE_SET")
        rules = _checked(record)
        anchor_tx = record.anchor_tx
    params = claim_params(rules)
    onchain = roster.rule_set(rule_set_hash)
    if onchain is None:
        anchor_tx = roster.anchor_rule_set(rule_set_hash, params)
        if anchor_tx is None:  # anchored concurrently by another process
            onchain = roster.rule_set(rule_set_hash)
        else:
            log.info("rule set anchored", extra={"version": rules.version})
    if onchain is not None:
        if onchain.params != params:
            raise RuleSetMismatch(f"the chain holds other claim parameters for rule set version {rules.version}")
        if anchor_tx is None:
            anchor_tx = roster.anchoring_tx(rule_set_hash, _deployment_block(ctx))
    if anchor_tx is not None:
        with ctx.sessions.begin() as session:
            stored = session.get(RuleSetRecord, rule_set_hash)
            if stored is not None and stored.anchor_tx != anchor_tx:
                stored.anchor_tx = anchor_tx
    return anchor_tx


def _insert(ctx: ServiceContext, rules: RuleSet, *, supersede: bytes | None) -> RuleSetRecord:
    """Store ``rules`` as the current rule set (deactivating ``supersede`` in the same transaction)."""
    try:
        with ctx.sessions.begin() as session:
            if supersede is not None:
                previous = session.get(RuleSetRecord, supersede)
                if previous is None or not previous.active:
                    raise Conflict("the rule set changed meanwhile: retry", code="RULE_SET_CHANGED")
                previous.active = False
            record = RuleSetRecord(
                hash=rules.hash(), version=rules.version, canonical_json=rules.canonical_json(), active=True
            )
            session.add(record)
    except IntegrityError as exc:  # a concurrent publisher took this version first
        raise Conflict("the rule set changed meanwhile: retry", code="RULE_SET_CHANGED") from exc
    return record


def ensure_default_rule_set(ctx: ServiceContext, default: RuleSet = DEFAULT_RULES) -> RuleSetRecord:
    """Store ``default`` as version 1 when nothing is published, and anchor the current rule set.

    Idempotent: with a rule set already stored and anchored, this sends no transaction.
    """
    validate_rules(default)
    with ctx.sessions() as session:
        existing = session.scalars(select(RuleSetRecord).limit(1)).first()
    if existing is None:
        with contextlib.suppress(Conflict):  # another process stored it first
            _insert(ctx, default, supersede=None)
    with ctx.sessions() as session:
        current = current_rule_set_record(session)
        current_hash = bytes(current.hash)
    ensure_anchored(ctx, current_hash)
    with ctx.sessions() as session:
        return current_rule_set_record(session)


def publish_rule_set(ctx: ServiceContext, changes: Mapping[str, Any]) -> RuleSetRecord:
    """Publish the current rule set with ``changes`` as the next version, anchor it, retire the old.

    ``changes`` maps RuleSet field names to new values (``version`` is assigned here). A retry
    after a crash repeats the same version and hash, so the anchor is not duplicated.
    """
    if "version" in changes:
        raise RuleSetError("the version is assigned by the server")
    unknown = set(changes) - {f.name for f in fields(RuleSet)}
    if unknown:
        raise RuleSetError(f"unknown rule-set fields: {', '.join(sorted(unknown))}")
    normalized = dict(changes)
    if "payout_bands" in normalized:
        normalized["payout_bands"] = tuple(
            b if isinstance(b, AgeBand) else AgeBand(**b) for b in normalized["payout_bands"]
        )
    if "health_questions" in normalized:
        normalized["health_questions"] = tuple(normalized["health_questions"])
    with ctx.sessions() as session:
        current, current_hash = current_rule_set(session)
    if all(getattr(current, k) == v for k, v in normalized.items()):
        raise RuleSetUnchanged("these values are already the current rule set")
    proposed = current.with_changes(**normalized, version=current.version + 1)
    validate_rules(proposed)
    new_hash = proposed.hash()
    roster = roster_for(ctx)
    # Chain first: a crash here leaves an anchored hash nobody uses yet, and the retry re-derives
    # the same version and hash, finds it anchored and carries on.
    roster.anchor_rule_set(new_hash, claim_params(proposed))
    onchain = roster.rule_set(new_hash)
    if onchain is not None and onchain.effective_at > _chain_time(ctx):
        # In force only after the public delay: stored pending, the current one stays in use.
        _insert_pending(ctx, proposed)
        ensure_anchored(ctx, new_hash)
    else:
        _insert(ctx, proposed, supersede=current_hash)
        ensure_anchored(ctx, new_hash)
        roster.retire_rule_set(current_hash)
    with ctx.sessions() as session:
        record = session.get(RuleSetRecord, new_hash)
        assert record is not None
        return record


def _chain_time(ctx: ServiceContext) -> int:
    return int(ctx.w3.eth.get_block("latest")["timestamp"])


def _insert_pending(ctx: ServiceContext, rules: RuleSet) -> None:
    """Store ``rules`` inactive: published and anchored, waiting for its ``effectiveAt``."""
    try:
        with ctx.sessions.begin() as session:
            if session.get(RuleSetRecord, rules.hash()) is None:
                session.add(
                    RuleSetRecord(
                        hash=rules.hash(), version=rules.version, canonical_json=rules.canonical_json(), active=False
                    )
                )
    except IntegrityError as exc:
        raise Conflict("the rule set changed meanwhile: retry", code="RULE_SET_CHANGED") from exc


def activate_due(ctx: ServiceContext) -> int:
    """Make current every pending rule set (a version above the current one) that the chain has in
    force; retire what it supersedes. Returns how many became current."""
    roster = roster_for(ctx)
    now = _chain_time(ctx)
    activated = 0
    with ctx.sessions() as session:
        current = current_rule_set_record(session)
        pending = [
            bytes(h)
            for h in session.scalars(
                select(RuleSetRecord.hash)
                .where(RuleSetRecord.active.is_(False), RuleSetRecord.version > current.version)
                .order_by(RuleSetRecord.version)
            )
        ]
        current_hash = bytes(current.hash)
    for pending_hash in pending:
        onchain = roster.rule_set(pending_hash)
        if onchain is None or onchain.effective_at > now:
            break
        with ctx.sessions.begin() as session:
            previous = session.get(RuleSetRecord, current_hash)
            record = session.get(RuleSetRecord, pending_hash)
            if previous is None or record is None:
                break
            previous.active = False
            record.active = True
        roster.retire_rule_set(current_hash)
        current_hash = pending_hash
        activated += 1
    return activated


def retire_superseded(ctx: ServiceContext) -> int:
    """Retire on chain every stored rule set that a newer current one superseded (not the pending
    ones, above the current version); returns how many were sent."""
    roster = roster_for(ctx)
    with ctx.sessions() as session:
        current_version = current_rule_set_record(session).version
        inactive = [
            bytes(h)
            for h in session.scalars(
                select(RuleSetRecord.hash).where(
                    RuleSetRecord.active.is_(False), RuleSetRecord.version < current_version
                )
            )
        ]
    sent = 0
    for rule_set_hash in inactive:
        onchain = roster.rule_set(rule_set_hash)
        if onchain is not None and not onchain.retired and roster.retire_rule_set(rule_set_hash) is not None:
            sent += 1
    return sent
