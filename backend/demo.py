"""The demo plan that ``make run`` seeds once: people, and claims in every state of the workflow.

A composition module like :mod:`backend.runtime` (it drives the API, so it lives beside it, not
among the services the API calls).

It drives the product through its own HTTP API (in process), as its users would. Moving through
the public-notice and jury windows needs the chain's clock to move: that is done with
``evm_increaseTime`` / ``evm_mine``, which development nodes (anvil, ganache, hardhat) answer — so
the demo is seeded on the embedded anvil (``hubao run``) or, with ``hubao run --demo``, on the
development node ``HUBAO_RPC_URL`` names (:func:`check_demo_chain` refuses any other node first).
Anchors are buried by ``evm_mine`` too, so a node that mines only on demand is seeded as well.

Demo logins (printed at start-up): ``operator``, ``auditor``, ``reviewer1..3``, ``juror1..5``,
``alice`` … ``frank``, all with the password ``hubao-demo``.

The reviewers and jurors hold their own keys, as real ones do: the seeding code plays their
devices — it registers each one's key by signing the server's challenge, and signs each verdict
draft the server hands out; the server holds only the addresses. The demo keys come from a
PUBLISHED seed (:func:`backend.devices.demo_device_key`), so a demo user can rebuild one with
``hubao keys new --demo-device juror1 --out juror1.json`` and import it in the browser to vote on
the seeded jury (or create a key in the browser and register it: it replaces the demo key).

Claimants and objectors too: each demo filing is made with a fresh per-claim key the seeding code
holds (the claimant's "device"; the claim id binds its address), and the demo objection is signed
by a fresh key of the objector's. The seeded claims' keys are gone with the seed, so they cannot be
withdrawn or appealed later; claims filed in the browser keep their key in the browser.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from eth_account import Account as EthAccount
from sqlalchemy import select

from backend import devices
from backend.api.app import create_app
from backend.api.inprocess import InProcessClient
from backend.chain import typed_data
from backend.chain.anvil import rpc_call
from backend.db.models import Account
from backend.errors import ChainError, ConfigError
from backend.runtime import Runtime
from backend.services.accounts import create_staff_account, register_member
from backend.services.anchoring import MEMBERSHIP
from backend.services.auth import start_session
from backend.services.bootstrap import bootstrap
from backend.services.membership import join
from backend.services.rule_sets import current_rule_set, publish_rule_set

log = logging.getLogger(__name__)

DEMO_PASSWORD = "hubao-demo"  # noqa: S105 - a published demo password on a local chain only
DEMO_RULES = {"jury_size": 5, "min_turnout": 3}


@dataclass
class _Person:
    account: Account
    token: str
    device_key: bytes | None = None  # a reviewer's or juror's own key, held by the seeding code (their "device")


def _pdf(text: str) -> bytes:
    return b"%PDF-1.7\n% Hubao demo document\n" + text.encode() + b"\n%%EOF\n"


class _Demo:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.api = InProcessClient(create_app(runtime=runtime))
        self.claim_keys: dict[str, bytes] = {}  # claim → its claimant key (the claimant's "device")

    def staff(self, username: str, role: str) -> _Person:
        account = create_staff_account(self.runtime, username, DEMO_PASSWORD, role)
        return _Person(account, start_session(self.runtime.sessions, account, self.runtime.jwt_secret))

    def member(self, username: str, birth: date, joined_days_ago: int) -> _Person:
        with self.runtime.sessions.begin() as session:
            account = register_member(session, username, DEMO_PASSWORD)
            joined = datetime.now(UTC) - timedelta(days=joined_days_ago)
            join(session, self.runtime, account, birth, 720, [False, False, False], joined)
        return _Person(account, start_session(self.runtime.sessions, account, self.runtime.jwt_secret))

    def ok(self, response: Any, what: str) -> Any:
        if response.status_code >= 400:
            raise RuntimeError(f"demo seed: {what} failed: {response.status_code} {response.text}")
        return response.json()

    def file(self, person: _Person, illness: str, text: str, days_ago: int = 12, *, acknowledge: bool = False) -> Any:
        """File as the claimant's device does: with a fresh key for this claim (kept by the seed)."""
        diagnosed = (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()
        claim_key = EthAccount.create()
        data = {"illnessCode": illness, "diagnosisDate": diagnosed, "claimantKey": claim_key.address}
        if acknowledge:  # the claimant confirmed the waiting-period warning
            data["acknowledgeWaitingPeriod"] = "true"
        response = self.api.post(
            "/claims",
            person.token,
            data=data,
            files=[("files", ("report.pdf", _pdf(text), "application/pdf"))],
        )
        filed = self.ok(response, f"filing for {person.account.username}")
        self.claim_keys[filed["id"]] = bytes(claim_key.key)
        return filed

    def object(self, person: _Person, notice_id: str, reason: str) -> Any:
        """Object as the objector's device does: a fresh key signs the server's Objection draft."""
        draft = self.ok(self.api.post(f"/notice/{notice_id}/objections/draft", person.token), "objection draft")
        document = typed_data.check_hubao_document(
            typed_data.load_document(draft["typedData"]), primary_type="Objection"
        )
        key = EthAccount.create()
        body = {
            "reason": reason,
            "objectorKey": key.address,
            "deadline": int(document["message"]["deadline"]),
            "signature": "0x" + typed_data.sign(document, bytes(key.key)).hex(),
        }
        return self.ok(self.api.post(f"/notice/{notice_id}/objections", person.token, json=body), "objection")

    def queue_of(self, reviewer: _Person) -> set[str]:
        return {str(c["id"]) for c in self.ok(self.api.get("/review/queue", reviewer.token), "queue")}

    def own_key(self, reviewer: _Person) -> None:
        """Make a reviewer or juror a key of their own and register it (the server keeps only its address).
        The key comes from a published demo seed (:func:`devices.demo_device_key`), so a demo user can
        rebuild it with ``hubao keys new --demo-device NAME`` and import it in the browser."""
        key = devices.demo_device_key(reviewer.account.username)
        devices.register_key(self.api, reviewer.token, key)
        reviewer.device_key = key

    def review(self, reviewers: list[_Person], claim_pk: str, verdict: str, reason: str | None, report: str) -> None:
        body: dict[str, Any] = {"verdict": verdict, "report": report}
        if reason:
            body["reasonCode"] = reason
        for reviewer in reviewers:
            if claim_pk not in self.queue_of(reviewer):
                continue
            assert reviewer.device_key is not None, "demo reviewers hold their own keys"
            self.ok(devices.sign_verdict(self.api, reviewer.token, reviewer.device_key, claim_pk, body), "verdict")

    def anchor(self) -> None:
        """Anchor the queued evidence and the joins and exits; blocks are mined between cycles so
        anchors get their confirmations on any development node."""

        def mine() -> None:
            rpc_call(self.runtime.settings.chain_url, "evm_mine")

        self.runtime.anchoring_worker().run_until_idle(max_cycles=20, mine=mine)
        self.runtime.anchoring_worker(outbox=MEMBERSHIP).run_until_idle(max_cycles=20, mine=mine)

    def advance(self, seconds: int) -> None:
        url = self.runtime.settings.chain_url
        rpc_call(url, "evm_increaseTime", [seconds])
        rpc_call(url, "evm_mine")


def check_demo_chain(url: str) -> None:
    """Refuse, with one line, a node that cannot move its clock on request (not a development node)."""
    try:
        rpc_call(url, "evm_increaseTime", [0])
    except ChainError as exc:
        raise ConfigError(
            f"--demo moves the chain's clock (evm_increaseTime, evm_mine), which only development nodes "
            f"(anvil, ganache, hardhat) allow; the node at {url} refused it: {exc.message}",
            code="DEMO_NEEDS_DEV_CHAIN",
        ) from exc


def demo_seeded(runtime: Runtime) -> bool:
    with runtime.sessions() as session:
        return session.scalar(select(Account.id).where(Account.username == "operator")) is not None


def seed_demo(runtime: Runtime) -> bool:
    """Seed the demo plan once (False when it is already there). Needs a development node (:func:`check_demo_chain`)."""
    if demo_seeded(runtime):
        return False
    log.info("seeding the demo plan (first run only)")
    bootstrap(runtime)
    publish_rule_set(runtime, DEMO_RULES)
    demo = _Demo(runtime)
    operator = demo.staff("operator", "operator")
    demo.staff("auditor", "auditor")
    reviewers = [demo.staff(f"reviewer{i}", "reviewer") for i in range(1, 4)]
    for reviewer in reviewers:
        demo.own_key(reviewer)
    jurors = [demo.staff(f"juror{i}", "juror") for i in range(1, 6)]
    for juror in jurors:
        demo.own_key(juror)
    alice = demo.member("alice", date(1988, 3, 2), 400)
    bob = demo.member("bob", date(1979, 11, 20), 300)
    carol = demo.member("carol", date(1992, 7, 9), 250)
    dave = demo.member("dave", date(1985, 1, 30), 220)
    erin = demo.member("erin", date(1990, 6, 15), 200)
    frank = demo.member("frank", date(1995, 2, 11), 20)  # still in the waiting period
    # The members joined before the plan was on chain: anchored before its first claim and period,
    # they are its launch roster (the audit holds later joins and exits to the anchoring deadline).
    demo.anchor()

    # Every claim is filed, and its evidence anchored, before the chain's clock moves: the audit
    # measures anchoring delays on the chain's clock.
    paid = demo.file(carol, "CI001", "carol: biopsy confirms malignant tumour")
    rejected = demo.file(dave, "CI017", "dave: memory clinic letter, cognitive decline, no Alzheimer staging")
    notice = demo.file(bob, "CI042", "bob: neurology report, persistent vegetative state for 40 days")
    disputed = demo.file(erin, "CI005", "erin: cardiac surgery summary, coronary artery bypass grafting")
    # Under review: just filed.
    demo.file(alice, "CI003", "alice: neurology assessment, sequelae of stroke after 180 days")
    # Waiting period: diagnosed 10 days after joining, rejected and membership ended.
    demo.file(frank, "CI001", "frank: biopsy report, malignant tumour", days_ago=5, acknowledge=True)
    demo.anchor()

    # Paid: reviewed, public notice passed without objection, payout recorded.
    demo.review(reviewers, paid["id"], "APPROVE", None, "pathology report consistent with CI001")
    with runtime.sessions() as session:
        rules, _hash = current_rule_set(session)
    demo.advance(rules.notice_seconds + 60)
    demo.ok(demo.api.post(f"/claims/{paid['id']}/finalize-notice", operator.token), "finalize notice")
    demo.ok(
        demo.api.post(f"/claims/{paid['id']}/payout", operator.token, json={"reference": "DEMO-PAY-0001"}), "payout"
    )

    # Rejected at review.
    demo.review(
        reviewers,
        rejected["id"],
        "REJECT",
        "INSUFFICIENT_EVIDENCE",
        "no neurologist staging of severe Alzheimer disease in the file",
    )

    # In public notice now.
    demo.review(
        reviewers, notice["id"], "APPROVE", None, "neurology report confirms a persistent vegetative state (CI042)"
    )

    # Disputed: an objection sent it to a jury that is voting.
    demo.review(
        reviewers, disputed["id"], "APPROVE", None, "operative note confirms coronary artery bypass surgery (CI005)"
    )
    demo.object(alice, disputed["claimId"], "The diagnosis date looks earlier than the membership.")

    demo.anchor()  # the waiting-period exit
    log.info("demo plan seeded", extra={"jurors": len(jurors), "waiting_period_claimant": frank.account.username})
    return True
