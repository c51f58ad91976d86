"""Steps 3 and 4: every claim's ClaimLedger history replayed from its events, and the plan's rules.

Pure (verification-critical): takes what was read from the chain — ClaimLedger logs in chain
order, the timestamp and parent hash of their blocks, ``claim(id)`` storage at the audited head —
and the rule-set documents, and returns findings. Nothing here trusts the contract to have
enforced anything: every rule the contract is supposed to enforce is re-checked from the record
it left.

Step 3 (``ClaimHistoryInvalid``), per claim, event by event:

* the state machine (``IClaimLedger``): each event only from the states its edge starts from;
  ``claimId = keccak256(abi.encode(member, evidenceRoot, ruleSetHash, payoutFen))``;
* review: each ``VerdictRecorded``'s own fields (the claim, verdict, reason code, report hash,
  rule set, nonce, deadline) rebuild its EIP-712 digest (domain "Hubao"/"2", this chain, this
  ClaimLedger) and equal the event's ``digest``; its ``signature``, in the low-s form the contract's
  ``ECDSA.recover`` accepts, recovers over that digest to the event's reviewer, who held
  ``REVIEWER_ROLE`` at that log (replay of ``RoleGranted``/``RoleRevoked``), was not declared
  related to the claimant, had not reviewed the claim before, signed for the claim's rule set,
  with the signer's next nonce, before the deadline;
  ``ReviewDecided`` exactly when ``reviewQuorum`` verdicts are in, unanimous approval → IN_NOTICE
  with ``noticeEnds = block time + noticeSeconds``, else REJECTED;
* notice: objections strictly before ``noticeEnds``, ``NoticeFinalized`` at or after it;
* appeal: once, of a review rejection only;
* jury: each draw is **recomputed** (``AUDIT_JURY_DRAW_MISMATCH``): the draw was scheduled
  (``JuryDrawScheduled``, ``JURY_DRAW_DELAY`` blocks ahead, by an objection, an appeal or a voided
  round) and made after its seed block, within 256 blocks, with no roster change since the seed
  block; ``seed = keccak256(abi.encode(blockhash(drawBlock), claimId, round))`` with the hash read
  from the chain; the jurors are exactly ``backend.chain.jury_draw.select_jurors`` over the juror
  roster replayed from ``RoleGranted``/``RoleRevoked`` to the draw's position, excluding the
  claim's reviewers, the jurors of its earlier rounds and those declared related to its claimant
  or objector before the seed block; windows from the rule set; commits by drawn jurors before
  ``commitEnds``; reveals in ``[commitEnds, revealEnds)`` whose event's salt opens the commitment
  ``keccak256(abi.encode(claimId, round, juror, approve, salt))``; at the tally every seated juror
  who did not commit is ``JurorAbsent`` and who did not reveal ``VoteNotRevealed``; the tally after
  ``revealEnds``: voided iff fewer than ``minTurnout`` reveals (and a new draw scheduled), else a
  strict majority approves;
* payout only when APPROVED, of the amount filed;
* events = storage: the replayed claim equals ``claim(id)`` at the audited head, field for field.

Step 4 (``ClaimRuleViolated``) is checked in the same pass (``backend.audit.claim_rules``). The
claim's states and stored fields are ``backend.audit.claim_record``; the verdicts' digests and
signers, ``backend.audit.signatures``.

Why this module is over 500 lines: the replay is one state machine over one event stream, and
every handler reads and writes the same replay state (rosters, conflicts, rule sets, nonces, the
claim); split across modules, one transition table would be read in several places.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from backend.audit.claim_record import (
    APPROVED,
    DISPUTED,
    FILED,
    IN_NOTICE,
    NONE,
    PAID,
    REJECTED,
    STATE_NAMES,
    UNDER_REVIEW,
    WITHDRAWN,
    ZERO,
    ReplayedClaim,
    stored_differences,
)
from backend.audit.claim_rules import filing_problems, reason_code_problem, rule_set_param_findings
from backend.audit.errors import (
    AuditError,
    ClaimHistoryInvalid,
    ClaimRuleViolated,
    JuryDrawMismatch,
    ReviewOpeningOverdue,
    RoleNotInForce,
)
from backend.audit.ledger_events import LedgerLog
from backend.audit.signatures import signature_problems
from backend.chain.jury_draw import NotEnoughJurors, draw_seed, select_jurors
from backend.chain.ledger_types import OnchainClaim
from backend.proofs.keccak import keccak256
from backend.services.rules import RuleSet

__all__ = ["BlockInfo", "ClaimsVerdict", "check_claims"]

REVIEWER_ROLE = keccak256(b"REVIEWER_ROLE")
JUROR_ROLE = keccak256(b"JUROR_ROLE")

_WITHDRAWABLE = (FILED, UNDER_REVIEW, IN_NOTICE, DISPUTED)


# The claim edges: event → states it may start from (the jury events need DISPUTED).
_FROM: dict[str, tuple[int, ...]] = {
    "ClaimFiled": (NONE,),
    "ReviewOpened": (FILED,),
    "VerdictRecorded": (UNDER_REVIEW,),
    "ReviewDecided": (UNDER_REVIEW,),
    "ObjectionRecorded": (IN_NOTICE,),
    "NoticeFinalized": (IN_NOTICE,),
    "ClaimAppealed": (REJECTED,),
    "JuryDrawScheduled": (DISPUTED,),
    "JuryDrawn": (DISPUTED,),
    "JurorAbsent": (DISPUTED,),
    "VoteNotRevealed": (DISPUTED,),
    "VoteCommitted": (DISPUTED,),
    "VoteRevealed": (DISPUTED,),
    "JuryTallied": (DISPUTED,),
    "JuryRoundVoided": (DISPUTED,),
    "ClaimWithdrawn": _WITHDRAWABLE,
    "PayoutRecorded": (APPROVED,),
}


JURY_DRAW_DELAY = 2  # ClaimLedger.JURY_DRAW_DELAY


@dataclass(frozen=True, slots=True)
class BlockInfo:
    timestamp: int
    parent_hash: bytes
    hash: bytes = b""  # the block's own hash (a draw's seed block)


@dataclass
class ClaimsVerdict:
    """Findings of steps 3 and 4 and what they covered."""

    history: list[ClaimHistoryInvalid] = field(default_factory=list)
    rules: list[ClaimRuleViolated] = field(default_factory=list)
    history_checked: dict[str, int] = field(default_factory=dict)
    rules_checked: dict[str, int] = field(default_factory=dict)
    unverifiable: int = 0  # events whose block the node no longer serves
    missing_documents: list[str] = field(default_factory=list)  # rule-set hashes without a document
    states: dict[str, int] = field(default_factory=dict)  # claim id (hex) → replayed state
    overdue: list[ReviewOpeningOverdue] = field(default_factory=list)  # filings not opened in time
    draws: list[JuryDrawMismatch] = field(default_factory=list)  # jury draws that do not recompute
    roles: list[RoleNotInForce] = field(default_factory=list)  # verdicts/votes by accounts without the role


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _claim_id_of(member: bytes, evidence_root: bytes, rule_set_hash: bytes, payout_fen: int, claimant: str) -> bytes:
    return keccak256(
        member
        + evidence_root
        + rule_set_hash
        + payout_fen.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(claimant[2:])
    )


def _vote_commitment(claim_id: bytes, round_: int, juror: str, approve: bool, salt: bytes) -> bytes:
    return keccak256(
        claim_id
        + round_.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(juror[2:])
        + int(approve).to_bytes(32, "big")
        + salt
    )


class _Replay:
    def __init__(
        self,
        *,
        domain_separator: bytes,
        blocks: Mapping[int, BlockInfo | None],
        documents: Mapping[bytes, RuleSet],
        full: bool,
        in_scope: Callable[[bytes], bool],
        review_opening_seconds: int | None = None,
    ) -> None:
        self.separator = domain_separator
        self.opening_deadline = review_opening_seconds
        self.blocks = blocks
        self.documents = documents
        self.full = full
        self.in_scope = in_scope
        self.roles: dict[bytes, set[str]] = {REVIEWER_ROLE: set(), JUROR_ROLE: set()}
        self.conflicts: dict[tuple[str, bytes], int] = {}  # (account, commitment) → block declared
        # The juror roster as ClaimLedger.jurors() keeps it (append, swap-and-pop), and the block of
        # its last change (a draw after a change at or after its seed block must re-schedule).
        self.juror_roster: list[str] = []
        self.roster_changed: int = -1
        self.rule_sets: dict[bytes, tuple[int, ...]] = {}
        self.anchored_at: dict[bytes, tuple[int, int]] = {}
        self.retired: set[bytes] = set()
        self.effective_at: dict[bytes, int] = {}
        self.nonces: dict[str, int] = {}
        self.claims: dict[bytes, ReplayedClaim] = {}
        self.verdict = ClaimsVerdict()
        self.counts = {"events": 0, "verdicts": 0, "signatures": 0, "reveals": 0, "juryRounds": 0}
        self.signed: list[LedgerLog] = []  # VerdictRecorded logs, in chain order

    # -- findings ---------------------------------------------------------------------------

    def bad(self, log: LedgerLog, reason: str, message: str, *, fields: Sequence[str] = ()) -> None:
        self.verdict.history.append(_claim_finding(ClaimHistoryInvalid, log, reason, message, fields))

    def rule(self, claim_id: bytes, block: int, reason: str, message: str) -> None:
        self.verdict.rules.append(
            ClaimRuleViolated(
                f"claim {_hex(claim_id)} (filed in block {block}): {message}",
                reason=reason,
                claim=_hex(claim_id),
                block=block,
            )
        )

    def ts(self, log: LedgerLog) -> int | None:
        info = self.blocks.get(log.block)
        return None if info is None else info.timestamp

    def rules_of(self, claim: ReplayedClaim) -> tuple[int, ...]:
        # (noticeSeconds, reviewQuorum, jurySize, minTurnout, commitSeconds, revealSeconds)
        return self.rule_sets.get(claim.rule_set_hash, (0,) * 9)

    # -- the replay ------------------------------------------------------------------------

    def run(self, logs: Sequence[LedgerLog]) -> None:
        for log in logs:
            if log.malformed:
                self.bad(log, "malformed", "the log does not decode as this ClaimLedger event")
                continue
            if log.claim is None:
                self.config(log)
                continue
            self.counts["events"] += 1
            if self.blocks.get(log.block) is None:
                self.verdict.unverifiable += 1  # no header: its windows cannot be checked
            claim = self.claims.get(log.claim)
            if claim is None:
                if log.name != "ClaimFiled":
                    self.bad(log, "unknown_claim", "event for a claim that was never filed")
                    continue
                claim = self.claims[log.claim] = ReplayedClaim()
            allowed = _FROM[log.name]
            if claim.state not in allowed:
                wanted = " or ".join(STATE_NAMES[s] for s in allowed)
                self.bad(
                    log,
                    "transition",
                    f"recorded while the claim was {STATE_NAMES[claim.state]}; the state machine allows it only "
                    f"from {wanted}",
                    fields=["state"],
                )
            getattr(self, "on_" + log.name)(log, claim)

    def config(self, log: LedgerLog) -> None:
        f = log.fields
        if log.name == "RoleGranted":
            self.roles.setdefault(f["role"], set()).add(f["account"])
            if f["role"] == JUROR_ROLE and f["account"] not in self.juror_roster:
                self.juror_roster.append(f["account"])
                self.roster_changed = log.block
        elif log.name == "RoleRevoked":
            self.roles.setdefault(f["role"], set()).discard(f["account"])
            if f["role"] == JUROR_ROLE and f["account"] in self.juror_roster:
                index = self.juror_roster.index(f["account"])
                last = self.juror_roster.pop()
                if index < len(self.juror_roster):
                    self.juror_roster[index] = last
                self.roster_changed = log.block
        elif log.name == "ConflictDeclared":
            self.conflicts.setdefault((f["account"], f["memberCommitment"]), log.block)
        elif log.name == "RuleSetAnchored":
            self.rule_sets.setdefault(f["ruleSetHash"], f["params"])
            self.anchored_at.setdefault(f["ruleSetHash"], log.position)
            self.effective_at.setdefault(f["ruleSetHash"], f["effectiveAt"])
        elif log.name == "RuleSetRetired":
            self.retired.add(f["ruleSetHash"])

    def on_ClaimFiled(self, log: LedgerLog, c: ReplayedClaim) -> None:
        f = log.fields
        assert log.claim is not None
        c.state = FILED
        c.member_commitment, c.evidence_root = f["memberCommitment"], f["evidenceRoot"]
        c.rule_set_hash, c.payout_fen = f["ruleSetHash"], f["payoutFen"]
        c.filed_block = log.block
        c.filed_at = self.ts(log) or 0
        claimant = f["claimantKey"]
        if _claim_id_of(c.member_commitment, c.evidence_root, c.rule_set_hash, c.payout_fen, claimant) != log.claim:
            self.bad(
                log,
                "claim_id",
                "the claim id is not keccak256(member, evidenceRoot, ruleSetHash, payoutFen, claimantKey)",
            )
        if ZERO in (c.member_commitment, c.evidence_root) or c.payout_fen == 0:
            self.bad(log, "zero_argument", "filed with a zero commitment, evidence root or payout")
        # Step 4: the rule set in force at the filing, the payout an age-band amount.
        document = self.documents.get(c.rule_set_hash)
        for reason, message in filing_problems(
            c.rule_set_hash,
            c.payout_fen,
            anchored=c.rule_set_hash in self.anchored_at,
            retired=c.rule_set_hash in self.retired,
            document=document,
            filed_at=c.filed_at,
            effective_at=self.effective_at.get(c.rule_set_hash, 0),
        ):
            self.rule(log.claim, log.block, reason, message)
        if document is None and _hex(c.rule_set_hash) not in self.verdict.missing_documents:
            self.verdict.missing_documents.append(_hex(c.rule_set_hash))

    def on_ReviewOpened(self, log: LedgerLog, c: ReplayedClaim) -> None:
        self.left_filed(log, c, "opened for review")
        c.state = UNDER_REVIEW

    def left_filed(self, log: LedgerLog, c: ReplayedClaim, how: str) -> None:
        """The review-opening deadline, for a claim leaving FILED (opened, or withdrawn unopened)."""
        ts = self.ts(log)
        if self.opening_deadline is None or c.state != FILED or ts is None or not c.filed_at:
            return
        if ts - c.filed_at > self.opening_deadline:
            self.overdue(log.claim or ZERO, c, "opened_late", f"{how} {ts - c.filed_at} s after its filing", log.block)

    def overdue(self, claim_id: bytes, c: ReplayedClaim, reason: str, what: str, block: int) -> None:
        self.verdict.overdue.append(
            ReviewOpeningOverdue(
                f"claim {_hex(claim_id)} (filed in block {c.filed_block}): {what}; the review must be opened on "
                f"chain within {self.opening_deadline} s",
                reason=reason,
                claim=_hex(claim_id),
                block=block,
            )
        )

    def on_VerdictRecorded(self, log: LedgerLog, c: ReplayedClaim) -> None:
        f = log.fields
        assert log.claim is not None
        reviewer = f["reviewer"]
        self.counts["verdicts"] += 1
        if reviewer not in self.roles[REVIEWER_ROLE]:
            self.not_in_force(log, "not_reviewer", f"{reviewer} did not hold REVIEWER_ROLE at this block", ["reviewer"])
        if (reviewer, c.member_commitment) in self.conflicts:
            self.bad(log, "conflicted", f"reviewer {reviewer} is declared related to the claimant", fields=["reviewer"])
        if reviewer in c.reviewers:
            self.bad(log, "duplicate_reviewer", f"reviewer {reviewer} already has a verdict on this claim")
        if f["verdict"] not in (1, 2):
            self.bad(log, "verdict_value", f"verdict {f['verdict']} is neither APPROVE (1) nor REJECT (2)")
        self.counts["signatures"] += 1
        self.signed.append(log)  # its digest and signer: checked after the pass (check_signatures)
        if f["ruleSetHash"] != c.rule_set_hash:
            self.bad(log, "verdict_rule_set", "the verdict was signed for another rule set", fields=["ruleSetHash"])
        ts = self.ts(log)
        if ts is not None and ts > f["deadline"]:
            self.bad(log, "deadline", f"recorded at {ts}, after the verdict's deadline {f['deadline']}")
        if self.full:
            expected = self.nonces.get(reviewer, 0)
            if f["nonce"] != expected:
                self.bad(log, "nonce", f"signed with nonce {f['nonce']}; the reviewer's next nonce was {expected}")
            self.nonces[reviewer] = max(expected, f["nonce"]) + 1
        # Step 4: the reason code is one of the plan's.
        problem = reason_code_problem(reviewer, log.block, f["verdict"], f["reasonCode"])
        if problem is not None:
            self.rule(log.claim, c.filed_block, "reason_code", problem)
        c.reviewers.add(reviewer)
        if f["verdict"] == 1:
            c.review_approvals += 1
        else:
            c.review_rejections += 1

    def on_ReviewDecided(self, log: LedgerLog, c: ReplayedClaim) -> None:
        f = log.fields
        notice, quorum = self.rules_of(c)[:2]
        count = c.review_approvals + c.review_rejections
        if count != quorum:
            self.bad(log, "quorum", f"decided after {count} verdict(s); the rule set's review quorum is {quorum}")
        if (f["approvals"], f["rejections"]) != (c.review_approvals, c.review_rejections):
            self.bad(
                log,
                "tally",
                f"the event counts {f['approvals']} approval(s) and {f['rejections']} rejection(s); the verdicts "
                f"recorded were {c.review_approvals} and {c.review_rejections}",
            )
        outcome = IN_NOTICE if c.review_rejections == 0 else REJECTED
        if f["outcome"] != outcome:
            self.bad(
                log, "outcome", f"outcome {STATE_NAMES[f['outcome'] % 9]}, the verdicts give {STATE_NAMES[outcome]}"
            )
        ts = self.ts(log)
        expected_end = (ts or 0) + notice if f["outcome"] == IN_NOTICE else 0
        if ts is not None and f["noticeEnds"] != expected_end:
            self.bad(log, "notice_ends", f"noticeEnds {f['noticeEnds']}, expected {expected_end}")
        c.state = f["outcome"] if f["outcome"] in (IN_NOTICE, REJECTED) else outcome
        c.notice_ends = f["noticeEnds"]

    def on_ObjectionRecorded(self, log: LedgerLog, c: ReplayedClaim) -> None:
        ts = self.ts(log)
        if ts is not None and ts >= c.notice_ends:
            self.bad(log, "notice_closed", f"objection at {ts}, after the notice ended at {c.notice_ends}")
        if log.fields["objectorCommitment"] == ZERO:
            self.bad(log, "zero_argument", "zero objector commitment")
        c.objector_commitment = log.fields["objectorCommitment"]
        c.state = DISPUTED

    def on_NoticeFinalized(self, log: LedgerLog, c: ReplayedClaim) -> None:
        ts = self.ts(log)
        if ts is not None and ts < c.notice_ends:
            self.bad(
                log,
                "notice_open",
                f"finalized at block time {ts}, {c.notice_ends - ts} s before its notice ended at {c.notice_ends}",
                fields=["noticeEnds"],
            )
        c.state = APPROVED

    def on_ClaimAppealed(self, log: LedgerLog, c: ReplayedClaim) -> None:
        if c.appealed or c.jury_round != 0:
            self.bad(log, "appeal", "a second appeal, or an appeal of a jury's final rejection")
        c.appealed = True
        c.state = DISPUTED

    def not_in_force(self, log: LedgerLog, reason: str, message: str, fields: Sequence[str]) -> None:
        self.verdict.roles.append(_claim_finding(RoleNotInForce, log, reason, message, fields))

    def mismatch(self, log: LedgerLog, reason: str, message: str) -> None:
        cid = log.claim or ZERO
        self.verdict.draws.append(
            JuryDrawMismatch(
                f"claim {_hex(cid)}: {log.name} in block {log.block}: {message}",
                reason=reason,
                claim=_hex(cid),
                block=log.block,
                event=log.name,
            )
        )

    def on_JuryDrawScheduled(self, log: LedgerLog, c: ReplayedClaim) -> None:
        f = log.fields
        if f["round"] != c.jury_round + 1:
            self.mismatch(log, "round", f"scheduled round {f['round']}, expected {c.jury_round + 1}")
        if f["drawBlock"] != log.block + JURY_DRAW_DELAY:
            self.mismatch(log, "draw_block", f"seed block {f['drawBlock']}, expected {log.block + JURY_DRAW_DELAY}")
        c.draw_block = f["drawBlock"]

    def recompute_draw(self, log: LedgerLog, c: ReplayedClaim, size: int) -> None:
        """The draw as ClaimLedger must have made it, from the seed block's hash and the roster."""
        assert log.claim is not None
        f = log.fields
        draw_block = c.draw_block
        if draw_block == 0:
            self.mismatch(log, "not_scheduled", "drawn with no draw scheduled")
            return
        if not draw_block < log.block <= draw_block + 256:
            self.mismatch(log, "draw_block", f"drawn in block {log.block}; its seed block is {draw_block}")
            return
        if self.roster_changed >= draw_block:
            self.mismatch(
                log, "roster_changed", f"the juror roster changed in block {self.roster_changed}, after the seed block"
            )
        info = self.blocks.get(draw_block)
        if info is None or len(info.hash) != 32:
            self.verdict.unverifiable += 1  # the node no longer serves the seed block's header
            return
        seed = draw_seed(info.hash, log.claim, f["round"])
        if f["seed"] != seed:
            self.mismatch(log, "seed", f"seed {_hex(f['seed'])}; blockhash({draw_block}) gives {_hex(seed)}")
        commitments = [c.member_commitment] + ([c.objector_commitment] if c.objector_commitment != ZERO else [])
        excluded = {
            juror
            for juror in self.juror_roster
            if juror in c.reviewers
            or juror in c.seated
            or any(self.conflicts.get((juror, m), draw_block) < draw_block for m in commitments)
        }
        try:
            expected = [a.lower() for a in select_jurors(seed, self.juror_roster, excluded, size)]
        except NotEnoughJurors as exc:
            self.mismatch(log, "jurors", f"seated {len(f['jurors'])}; the roster had only {exc.eligible} eligible")
            return
        if [a.lower() for a in f["jurors"]] != expected:
            self.mismatch(log, "jurors", f"seated {f['jurors']}; the seed and the roster give {expected}")

    def on_JuryDrawn(self, log: LedgerLog, c: ReplayedClaim) -> None:
        f = log.fields
        _notice, _quorum, size, _turnout, commit_s, reveal_s = self.rules_of(c)[:6]
        self.counts["juryRounds"] += 1
        if c.commit_ends != 0:
            self.bad(log, "round_open", f"round {c.jury_round} was still open")
        if f["round"] != c.jury_round + 1:
            self.bad(log, "round", f"round {f['round']}, expected {c.jury_round + 1}")
        jurors: list[str] = f["jurors"]
        if len(jurors) != size:
            self.bad(log, "jury_size", f"{len(jurors)} juror(s) drawn; the rule set's jury size is {size}")
        if len(set(jurors)) != len(jurors):
            self.bad(log, "duplicate_juror", "a juror appears twice in the draw")
        for juror in sorted(set(jurors)):
            if juror not in self.roles[JUROR_ROLE]:
                self.not_in_force(log, "not_juror", f"{juror} did not hold JUROR_ROLE at the draw", ["jurors"])
            if juror in c.reviewers:
                self.bad(log, "juror_reviewed", f"juror {juror} reviewed this claim", fields=["jurors"])
            before = c.draw_block or log.block  # conflicts declared once the seed was known do not count
            related = self.conflicts.get((juror, c.member_commitment), before) < before or (
                c.objector_commitment != ZERO and self.conflicts.get((juror, c.objector_commitment), before) < before
            )
            if related:
                self.bad(log, "juror_conflicted", f"juror {juror} is declared related to the claimant or objector")
        ts = self.ts(log)
        if ts is not None and (f["commitEnds"], f["revealEnds"]) != (ts + commit_s, ts + commit_s + reveal_s):
            self.bad(
                log,
                "jury_windows",
                f"windows end at {f['commitEnds']}/{f['revealEnds']}, the rule set gives "
                f"{ts + commit_s}/{ts + commit_s + reveal_s}",
            )
        self.recompute_draw(log, c, size)
        c.draw_block = 0
        c.seated.update(jurors)
        c.jury_round = f["round"]
        c.commit_ends, c.reveal_ends = f["commitEnds"], f["revealEnds"]
        c.committed_votes = c.revealed_votes = c.jury_approvals = 0
        c.drawn, c.commitments, c.revealed = set(jurors), {}, {}

    def _round(self, log: LedgerLog, c: ReplayedClaim) -> bool:
        if c.commit_ends == 0 or log.fields["round"] != c.jury_round:
            self.bad(log, "round", f"no open jury round {log.fields['round']} (current round {c.jury_round})")
            return False
        return True

    def on_VoteCommitted(self, log: LedgerLog, c: ReplayedClaim) -> None:
        f = log.fields
        juror = f["juror"]
        self._round(log, c)
        if juror not in c.drawn:
            self.bad(log, "not_drawn", f"{juror} was not drawn for this round")
        if juror not in self.roles[JUROR_ROLE]:
            self.not_in_force(log, "not_juror", f"{juror} did not hold JUROR_ROLE when committing", ["juror"])
        if juror in c.commitments:
            self.bad(log, "double_commit", f"{juror} committed twice")
        ts = self.ts(log)
        if ts is not None and ts >= c.commit_ends:
            self.bad(log, "commit_window", f"committed at {ts}, after the commit window ended at {c.commit_ends}")
        if f["commitment"] == ZERO:
            self.bad(log, "zero_argument", "zero vote commitment")
        if juror not in c.commitments:
            c.committed_votes += 1
        c.commitments[juror] = f["commitment"]

    def on_VoteRevealed(self, log: LedgerLog, c: ReplayedClaim) -> None:
        f = log.fields
        juror, approve = f["juror"], f["approve"]
        assert log.claim is not None
        self.counts["reveals"] += 1
        self._round(log, c)
        commitment = c.commitments.get(juror)
        if commitment is None:
            self.bad(log, "no_commitment", f"{juror} revealed without a commitment in this round")
        if juror in c.revealed:
            self.bad(log, "double_reveal", f"{juror} revealed twice")
        ts = self.ts(log)
        if ts is not None and not c.commit_ends <= ts < c.reveal_ends:
            self.bad(log, "reveal_window", f"revealed at {ts}, outside [{c.commit_ends}, {c.reveal_ends})")
        if commitment is not None and _vote_commitment(log.claim, f["round"], juror, approve, f["salt"]) != commitment:
            self.bad(
                log,
                "opening",
                f"the revealed vote and salt do not open {juror}'s commitment",
                fields=["approve", "salt"],
            )
        if juror not in c.revealed:
            c.revealed_votes += 1
            c.jury_approvals += int(approve)
        c.revealed[juror] = approve

    def on_JurorAbsent(self, log: LedgerLog, c: ReplayedClaim) -> None:
        juror = log.fields["juror"]
        if self._round(log, c) and (juror not in c.drawn or juror in c.commitments):
            self.bad(log, "absence", f"{juror} is marked absent but was not seated or did commit")
        c.marked.add(juror)

    def on_VoteNotRevealed(self, log: LedgerLog, c: ReplayedClaim) -> None:
        juror = log.fields["juror"]
        if self._round(log, c) and (juror not in c.commitments or juror in c.revealed):
            self.bad(log, "absence", f"{juror} is marked unrevealed but did not commit or did reveal")
        c.marked.add(juror)

    def _tally(self, log: LedgerLog, c: ReplayedClaim) -> tuple[int, int, int] | None:
        if not self._round(log, c):
            return None
        missing = c.drawn - set(c.revealed) - c.marked
        if missing:
            self.bad(log, "absence", f"{len(missing)} seated juror(s) without a vote were not recorded absent")
        c.marked = set()
        ts = self.ts(log)
        if ts is not None and ts < c.reveal_ends:
            self.bad(log, "voting_open", f"tallied at {ts}, before the reveal window ended at {c.reveal_ends}")
        revealed = len(c.revealed)
        approvals = sum(c.revealed.values())
        c.commit_ends = c.reveal_ends = 0
        return revealed, approvals, self.rules_of(c)[3]

    def on_JuryRoundVoided(self, log: LedgerLog, c: ReplayedClaim) -> None:
        tally = self._tally(log, c)
        if tally is not None:
            revealed, _approvals, turnout = tally
            if revealed >= turnout:
                self.bad(log, "turnout", f"voided with {revealed} reveal(s); the minimum turnout {turnout} was met")
            if (log.fields["revealed"], log.fields["minTurnout"]) != (revealed, turnout):
                self.bad(log, "tally", "the event's reveal count or minimum turnout is not the replayed one")
        c.committed_votes = c.revealed_votes = c.jury_approvals = 0

    def on_JuryTallied(self, log: LedgerLog, c: ReplayedClaim) -> None:
        f = log.fields
        tally = self._tally(log, c)
        outcome = f["outcome"]
        if tally is not None:
            revealed, approvals, turnout = tally
            if revealed < turnout:
                self.bad(log, "turnout", f"decided with {revealed} reveal(s); the minimum turnout is {turnout}")
            expected = APPROVED if approvals * 2 > revealed else REJECTED
            if outcome != expected:
                self.bad(
                    log,
                    "outcome",
                    f"outcome {STATE_NAMES[outcome % 9]}, {approvals} of {revealed} reveals give "
                    f"{STATE_NAMES[expected]}",
                )
            size = self.rules_of(c)[2]
            if (f["approvals"], f["rejections"], f["jurySize"]) != (approvals, revealed - approvals, size):
                self.bad(log, "tally", "the event's approvals, rejections or jury size are not the replayed ones")
        c.state = outcome if outcome in (APPROVED, REJECTED) else c.state

    def on_ClaimWithdrawn(self, log: LedgerLog, c: ReplayedClaim) -> None:
        self.left_filed(log, c, "withdrawn without its review opened")
        if log.fields["from"] != c.state:
            self.bad(log, "withdrawn_from", f"the event says from {log.fields['from']}, the claim was {c.state}")
        c.state = WITHDRAWN
        c.commit_ends = c.reveal_ends = c.draw_block = 0

    def on_PayoutRecorded(self, log: LedgerLog, c: ReplayedClaim) -> None:
        f = log.fields
        if f["payoutFen"] != c.payout_fen:
            self.bad(log, "payout", f"paid {f['payoutFen']} fen, filed for {c.payout_fen}", fields=["payoutFen"])
        if f["paymentRef"] == ZERO:
            self.bad(log, "zero_argument", "zero payment reference")
        c.payment_ref = f["paymentRef"]
        c.state = PAID

    # -- after the replay --------------------------------------------------------------------

    def check_signatures(self, signers: Mapping[tuple[int, int], tuple[bytes, str | None]]) -> None:
        """Each recorded verdict's fields rebuild its digest, and its signature recovers to its reviewer."""
        for log, reason, message, fields in signature_problems(self.separator, self.signed, signers):
            self.bad(log, reason, message, fields=fields)

    def finish(self, storage: Mapping[bytes, OnchainClaim | None], head: int, head_time: int | None) -> None:
        for claim_id in sorted(self.claims):
            c = self.claims[claim_id]
            if not self.in_scope(claim_id):
                continue
            waited = head_time - c.filed_at if head_time is not None and c.filed_at else None
            deadline = self.opening_deadline
            if deadline is not None and c.state == FILED and waited is not None and waited > deadline:
                self.overdue(claim_id, c, "not_opened", f"not opened for review {waited} s after its filing", head)
            quorum = self.rules_of(c)[1]
            if c.state == UNDER_REVIEW and quorum and c.review_approvals + c.review_rejections >= quorum:
                self.verdict.history.append(
                    ClaimHistoryInvalid(
                        f"claim {_hex(claim_id)}: {quorum} verdict(s) reached the quorum but no ReviewDecided followed",
                        reason="undecided",
                        claim=_hex(claim_id),
                    )
                )
            stored = storage.get(claim_id)
            if stored is None:
                self.verdict.history.append(
                    ClaimHistoryInvalid(
                        f"claim {_hex(claim_id)}: claim() storage at block {head} does not decode",
                        reason="storage",
                        claim=_hex(claim_id),
                        block=head,
                    )
                )
                continue
            diffs = stored_differences(stored, c)
            if diffs:
                self.verdict.history.append(
                    ClaimHistoryInvalid(
                        f"claim {_hex(claim_id)}: claim() storage at block {head} differs from the replayed events in "
                        f"{', '.join(diffs)}",
                        reason="event_storage",
                        claim=_hex(claim_id),
                        block=head,
                        fields=diffs,
                    )
                )
            self.verdict.states[_hex(claim_id)] = c.state
        # Step 4: each anchored rule set in use carries its document's claim parameters.
        used = sorted({c.rule_set_hash for cid, c in self.claims.items() if self.in_scope(cid)})
        self.verdict.rules.extend(rule_set_param_findings(used, self.documents, self.rule_sets))


def check_claims(
    logs: Sequence[LedgerLog],
    *,
    domain_separator: bytes,
    blocks: Mapping[int, BlockInfo | None],
    storage: Callable[[], Mapping[bytes, OnchainClaim | None]],
    documents: Mapping[bytes, RuleSet],
    head: int,
    full: bool = True,
    in_scope: Callable[[bytes], bool] | None = None,
    signers: Callable[[], Mapping[tuple[int, int], tuple[bytes, str | None]]] = dict,
    review_opening_seconds: int | None = None,
    head_time: int | None = None,
) -> ClaimsVerdict:
    """Steps 3 and 4 over ``logs`` (every ClaimLedger log of the claims replayed, in chain order).

    ``full`` is False in an incremental audit (only the claims touched since the checkpoint are
    replayed, so per-signer nonces cannot be followed); ``in_scope`` limits the storage comparison.
    ``storage`` (``claim(id)`` at ``head``) and ``signers`` are called once the event-by-event pass
    is over, so that they may still be arriving while it runs. ``signers`` gives, for (some of) the
    ``VerdictRecorded`` logs by position, the digest their fields rebuild and the address their
    signature recovers to over it (:func:`recover_recorded`, which the audit runs in another
    process while it still reads the chain); the verdicts missing from it are recovered here.

    ``review_opening_seconds`` (None: not checked) is the deadline for opening a filing's review on
    chain: a claim that left ``FILED`` later than that after its ``ClaimFiled`` block, or is still
    ``FILED`` that long before ``head_time`` (the audited head's timestamp), is ``ReviewOpeningOverdue``.
    """
    replay = _Replay(
        domain_separator=domain_separator,
        blocks=blocks,
        documents=documents,
        full=full,
        in_scope=in_scope or (lambda _cid: True),
        review_opening_seconds=review_opening_seconds,
    )
    replay.run(logs)
    replay.check_signatures(signers())
    replay.finish(storage(), head, head_time)
    v = replay.verdict
    claims_in_scope = [cid for cid in replay.claims if replay.in_scope(cid)]
    v.history_checked = {
        "claims": len(claims_in_scope),
        **replay.counts,
        "unverifiable": v.unverifiable,
    }
    v.rules_checked = {
        "claims": len(claims_in_scope),
        "ruleSets": len({replay.claims[c].rule_set_hash for c in claims_in_scope}),
        "withoutDocument": sum(1 for c in claims_in_scope if replay.claims[c].rule_set_hash not in replay.documents),
    }
    return v


_Finding = TypeVar("_Finding", bound=AuditError)


def _claim_finding(kind: type[_Finding], log: LedgerLog, reason: str, message: str, fields: Sequence[str]) -> _Finding:
    """A finding about one claim event, named by claim, block and event (steps 3's two kinds)."""
    cid = log.claim or ZERO
    return kind(
        f"claim {_hex(cid)}: {log.name} in block {log.block}: {message}",
        reason=reason,
        claim=_hex(cid),
        block=log.block,
        event=log.name,
        fields=list(fields) or None,
    )
