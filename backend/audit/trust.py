"""What the audit takes on the operator's word: facts it cannot re-derive from the chain, the
evidence store or a self-authenticating document, listed in every report (``trustAssumptions``).

Each entry names the fact, why the audit cannot check it, the steps whose pass relies on it, and
whether a secret the operator holds (its database, its keys, its role-admin key) is enough to make
such a step pass with the fact false (``operatorCanSatisfy``). ``complete: true`` in a report means
every step ran and passed *given these*, and that nothing in the audited history rests on a secret the
operator holds (``operatorSatisfiable``, ``backend.audit.custody``).
The list is static: it changes when the system moves a fact on chain (issue 15: rosters behind a
timelock, the jury drawn on chain, an anchored membership log), not from one history to another.
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


TRUST_ASSUMPTIONS: tuple[TrustAssumption, ...] = (
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
        "juryDraw",
        "who was drawn for a jury",
        "the juror list and the block drawJury is sent at are the operator's choice; step 3 checks the seed "
        "block, the jurors' role and their independence, not who should have been drawn",
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
        "rosterAdmin",
        "who may review claims and sit on juries",
        "REVIEWER_ROLE and JUROR_ROLE are granted by ClaimLedger's role admin at once, with no public delay; "
        "step 3 checks that a signer held the role at that block, which any grant by the admin satisfies",
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
"""Sorted by ``id`` (the report lists them in this order)."""
