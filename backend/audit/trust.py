"""What the audit takes on the operator's word: facts it cannot re-derive from the chain, the
evidence store or a self-authenticating document, listed in every report (``trustAssumptions``).

Each entry names the fact, why the audit cannot check it, the steps whose pass relies on it, and
whether a secret the operator holds (its database, its keys, its role-admin key) is enough to make
such a step pass with the fact false (``operatorCanSatisfy``). ``complete: true`` in a report means
every step ran and passed *given these*, and that nothing in the audited history rests on a secret the
operator holds (``operatorSatisfiable``, ``backend.audit.custody``).
The list is static: it changes when the system moves a fact on chain, not from one history to
another. No longer listed since ClaimLedger 2.0.0: who is drawn for a jury (the contract draws from
its roster and step 3 recomputes every draw) and roster changes made at once (every reviewer/juror
change is a delayed, announced RosterTimelock operation, listed in ``rosterChanges``).
The rule set a claim is judged under and a period's fee, caps, claim count and payouts are no
longer listed: ClaimLedger accepts only the rule set in force (after its public delay) and
Apportionment takes the period's rule set and totals from ClaimLedger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TRUST_ASSUMPTIONS", "TrustAssumption"]


@dataclass(frozen=True)
class TrustAssumption:
    id: str
    fact: str
    why: str
    steps: tuple[int, ...]
    operator_can_satisfy: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fact": self.fact,
            "why": self.why,
            "steps": list(self.steps),
            "operatorCanSatisfy": self.operator_can_satisfy,
        }


_LISTED: tuple[TrustAssumption, ...] = (
    TrustAssumption(
        "ageBand",
        "which age band's payout applies to a claim",
        "the member's birth date and the diagnosis date are off chain; step 4 checks only that the payout is "
        "one of the rule set's band amounts",
        (4,),
        True,
    ),
    TrustAssumption(
        "eligibility",
        "each member was eligible when joining (age, credit score, health declaration)",
        "the joining data is off chain and a claim's member commitment is unlinkable to a membership",
        (4,),
        True,
    ),
    TrustAssumption(
        "evidenceQueuedAt",
        "when each evidence item was queued for anchoring (anchor_items.enqueued_at)",
        "the chain records when a batch was anchored, not when its items arrived; the anchoring deadline "
        "(step 5) is measured from the database's time",
        (5,),
        True,
    ),
    TrustAssumption(
        "drawSeedBlock",
        "the hash of each jury draw's seed block was not chosen to pick the jurors",
        "the contract draws from blockhash(drawBlock), fixed two blocks after the objection, appeal or voided "
        "round, and step 3 recomputes every draw; but whoever produces the seed block can grind its hash — on a "
        "chain the operator sequences (a private node, an L2 it runs) that is the operator — and a roster change "
        "after the seed block re-schedules the draw, so the operator can re-roll a draw at the cost of a visible "
        "roster change",
        (3,),
        True,
    ),
    TrustAssumption(
        "jurorConflicts",
        "every juror related to a claimant or an objector was declared (declareConflict) before the draw",
        "relations between people are off chain: the operator declares them, and the draw skips only the "
        "accounts declared before its seed block",
        (3,),
        True,
    ),
    TrustAssumption(
        "keyCustody",
        "each participant key on the roster was made on its participant's own device",
        "a signature proves which key signed, not whose device holds it; the audit counts the signatures of "
        "keys the server generated (operatorSatisfiable, from the operator's server_held_keys rows), and each "
        "reviewer and juror checks on the public roster that the address holding their role is their own",
        (3,),
        True,
    ),
    TrustAssumption(
        "launchRoster",
        "the effective dates of the members carried over at the plan's launch",
        "joins and exits anchored before the first claim or the first published period are the launch roster: their "
        "effective dates "
        "precede the plan's anchoring by nature, so step 6 does not hold them to the anchoring deadline; every "
        "later change is held to it",
        (6,),
        True,
    ),
    TrustAssumption(
        "membershipEnds",
        "each exit in the membership log was the member's own decision or a valid termination (waiting period, "
        "age limit, fraud)",
        "step 6 recomputes each period's members from the anchored log of joins and exits, but the log records "
        "that a membership ended and from when, not who decided it: members hold no key to sign their exit and "
        "the reason stays off chain",
        (6,),
        True,
    ),
    TrustAssumption(
        "rosterVetting",
        "each reviewer and juror admitted to a roster is an independent person the plan may admit",
        "every roster change is announced on the RosterTimelock a public delay before it takes effect and step 3 "
        "lists each with its announcement (rosterChanges), but the operator proposes the changes and nobody but "
        "the public, and the admin who may cancel, reviews them during the delay: the chain cannot tell who holds "
        "an address",
        (3,),
        True,
    ),
    TrustAssumption(
        "waitingPeriod",
        "no claim was filed for an illness diagnosed within the waiting period",
        "join and diagnosis dates are off chain",
        (4,),
        True,
    ),
)
TRUST_ASSUMPTIONS: tuple[TrustAssumption, ...] = tuple(sorted(_LISTED, key=lambda t: t.id))
"""Sorted by ``id`` (the report lists them in this order)."""
