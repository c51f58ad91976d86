"""Builders for the claims tests: a bootstrapped runtime with a small jury, people, files, clock moves.

The rule set in force is the default with ``jury_size`` 3 and ``min_turnout`` 2 (published and
anchored through ``rule_sets.publish_rule_set``), so a jury round is three jurors' transactions.

Jurors hold their own keys (``Person.device_key``, held by the test as their "device", never by the
server): :meth:`World.staff` registers one for each juror by signing the server's challenge, and
:meth:`World.jury_votes` derives salts, signs commits and sends reveals with them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from backend import devices
from backend.api.app import create_app
from backend.api.inprocess import InProcessClient
from backend.chain import typed_data
from backend.chain.anvil import AnvilNode, rpc_call
from backend.config import Settings
from backend.db.models import Account, Member
from backend.runtime import Runtime, build_runtime
from backend.services.accounts import create_staff_account, register_member
from backend.services.anchoring import MEMBERSHIP
from backend.services.auth import start_session
from backend.services.bootstrap import bootstrap
from backend.services.membership import join
from backend.services.rule_sets import publish_rule_set
from backend.services.rules import RuleSet
from tests.stacks import keep_node, keep_rules, node_of, rules_of

PASSWORD = "correct horse battery"
JURY_SIZE = 3
MIN_TURNOUT = 2
_names = itertools.count()


def new_name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def pdf(text: str) -> bytes:
    return b"%PDF-1.7\n" + text.encode() + b"\n" + b"%%EOF\n"


def png(seed: bytes) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + seed * 40


Api = InProcessClient


@dataclass
class Person:
    account: Account
    token: str
    member: Member | None = None
    device_key: bytes | None = None  # a reviewer's or juror's own key, held by the test (their "device")

    @property
    def id(self) -> str:
        return self.account.id

    @property
    def address(self) -> str:
        assert self.account.signing_address is not None
        return self.account.signing_address


@dataclass
class World:
    """A runtime with its API, an operator, an auditor, reviewers and jurors."""

    runtime: Runtime
    api: Api
    operator: Person
    auditor: Person
    reviewers: list[Person] = field(default_factory=list)
    jurors: list[Person] = field(default_factory=list)
    # Claim → the claimant key its filing made (the claimant's "device" in these tests).
    claim_keys: dict[str, LocalAccount] = field(default_factory=dict)

    def token(self, account: Account) -> str:
        return start_session(self.runtime.sessions, account, self.runtime.jwt_secret)

    def staff(self, role: str, *, server_key: bool | None = None) -> Person:
        """A staff login; a reviewer or juror registers a key of its own "device" (held here), unless
        ``server_key`` asks for the legacy custody (a key the server generated)."""
        account = create_staff_account(self.runtime, new_name(role), PASSWORD, role, server_key=server_key)
        person = Person(account, self.token(account))
        if role in ("reviewer", "juror") and account.signing_address is None:
            self.own_key(person, keccak(text=f"hubao-test-{role}-device-{account.id}"))
        return person

    def own_key(self, person: Person, key: bytes | None = None) -> str:
        """Register ``key`` (default: a fresh one) as ``person``'s own signing key; returns its address."""
        key = key or bytes(EthAccount.create().key)
        address = devices.register_key(self.api, person.token, key)
        with self.runtime.sessions() as session:
            account = session.get(Account, person.account.id)
            assert account is not None
            session.expunge(account)
        person.account, person.device_key = account, key
        return address

    def commit(self, juror: Person, claim_pk: str, approve: bool) -> httpx.Response:
        """The juror's device derives the salt, signs the commit; the server relays it."""
        assert juror.device_key is not None
        return devices.commit_vote(self.api, juror.token, juror.device_key, claim_pk, approve)

    def reveal(self, juror: Person, claim_pk: str, approve: bool | None = None) -> httpx.Response:
        """The juror's device re-derives the salt and sends the opening."""
        assert juror.device_key is not None
        return devices.reveal_vote(self.api, juror.token, juror.device_key, claim_pk, approve)

    def member(self, *, joined_days_ago: int = 200, birth: date = date(1990, 5, 17), name: str | None = None) -> Person:
        """A member who joined ``joined_days_ago`` days ago (waiting period over after 90)."""
        with self.runtime.sessions.begin() as session:
            account = register_member(session, name or new_name("member"), PASSWORD)
            joined = datetime.now(UTC) - timedelta(days=joined_days_ago)
            member = join(session, self.runtime, account, birth, 700, [False, False, False], joined)
        return Person(account, self.token(account), member)

    def file(
        self,
        person: Person,
        files: list[tuple[str, bytes, str]],
        *,
        illness: str = "CI001",
        diagnosed: date | None = None,
        acknowledge_waiting_period: bool = False,
        idempotency_key: str | None = None,
        claim_key: LocalAccount | None = None,
        respond_async: bool = False,
    ) -> httpx.Response:
        """``respond_async``: send ``Prefer: respond-async`` (202 FILED once durable)."""
        diagnosed = diagnosed or (datetime.now(UTC).date() - timedelta(days=10))
        key = claim_key or EthAccount.create()
        data = {"illnessCode": illness, "diagnosisDate": diagnosed.isoformat(), "claimantKey": key.address}
        if acknowledge_waiting_period:
            data["acknowledgeWaitingPeriod"] = "true"
        response = self.api.post(
            "/claims",
            person.token,
            data=data,
            files=[("files", f) for f in files],
            headers={
                **({"Idempotency-Key": idempotency_key} if idempotency_key else {}),
                **({"Prefer": "respond-async"} if respond_async else {}),
            }
            or None,
        )
        if response.status_code in (200, 201, 202):  # a retry answers the claim filed first, with its key
            self.claim_keys.setdefault(response.json()["id"], key)
        return response

    def consent(self, person: Person, claim_pk: str, action: str, *, key: LocalAccount | None = None) -> httpx.Response:
        """``action`` (withdraw, appeal) as the claimant's device does it: the server's draft signed
        with the claim's key (or ``key``, to play someone else) and sent back."""
        draft = self.api.post(f"/claims/{claim_pk}/{action}/draft", person.token)
        if draft.status_code != 200:
            return draft
        document = typed_data.load_document(draft.json()["typedData"])
        signer = key or self.claim_keys[claim_pk]
        body = {
            "deadline": int(document["message"]["deadline"]),
            "signature": "0x" + typed_data.sign(document, bytes(signer.key)).hex(),
        }
        return self.api.post(f"/claims/{claim_pk}/{action}", person.token, json=body)

    def object(self, person: Person, notice_id: str, reason: str) -> httpx.Response:
        """An objection as the objector's device makes it: a fresh key signs the server's draft."""
        draft = self.api.post(f"/notice/{notice_id}/objections/draft", person.token)
        if draft.status_code != 200:
            return draft
        document = typed_data.load_document(draft.json()["typedData"])
        key = EthAccount.create()
        body = {
            "reason": reason,
            "objectorKey": key.address,
            "deadline": int(document["message"]["deadline"]),
            "signature": "0x" + typed_data.sign(document, bytes(key.key)).hex(),
        }
        return self.api.post(f"/notice/{notice_id}/objections", person.token, json=body)

    def anchor(self) -> None:
        """Anchor the queued evidence and the queued joins and exits (the membership log)."""
        self.runtime.anchoring_worker().run_until_idle()
        self.runtime.anchoring_worker(outbox=MEMBERSHIP).run_until_idle()

    def advance(self, seconds: int) -> None:
        url = self.runtime.settings.chain_url
        rpc_call(url, "evm_increaseTime", [seconds])
        rpc_call(url, "evm_mine")

    def reviewers_of(self, claim_pk: str) -> list[Person]:
        return [r for r in self.reviewers if any(q["id"] == claim_pk for q in self.queue(r))]

    def queue(self, reviewer: Person) -> list[dict[str, Any]]:
        response = self.api.get("/review/queue", reviewer.token)
        assert response.status_code == 200, response.text
        return list(response.json())

    def verdict(self, reviewer: Person, claim_pk: str, verdict: str, reason: str | None, report: str) -> httpx.Response:
        body: dict[str, Any] = {"verdict": verdict, "report": report}
        if reason is not None:
            body["reasonCode"] = reason
        if reviewer.device_key is not None:  # drafted by the server, signed on the device, relayed
            return devices.sign_verdict(self.api, reviewer.token, reviewer.device_key, claim_pk, body)
        return self.api.post(f"/review/claims/{claim_pk}/verdict", reviewer.token, json=body)

    def approve_by_review(self, claim_pk: str, report: str = "diagnosis confirmed by pathology") -> None:
        for reviewer in self.reviewers_of(claim_pk):
            response = self.verdict(reviewer, claim_pk, "APPROVE", None, report)
            assert response.status_code == 200, response.text

    def claim(self, person: Person, claim_pk: str) -> dict[str, Any]:
        response = self.api.get(f"/claims/{claim_pk}", person.token)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def seated(self, claim_pk: str) -> list[Person]:
        seats: dict[int, list[Person]] = {}
        for juror in self.jurors:
            for a in self.api.get("/jury/assignments", juror.token).json():
                if a["id"] == claim_pk and a["status"] == "DISPUTED":
                    seats.setdefault(int(a["round"]), []).append(juror)
        return seats[max(seats)] if seats else []

    def jury_votes(self, claim_pk: str, votes: list[bool]) -> list[Person]:
        """Seated jurors commit ``votes`` (in seat order), then reveal after the commit window."""
        rules = rules_of(self.runtime)
        seated = self.seated(claim_pk)
        assert len(seated) == JURY_SIZE
        for juror, vote in zip(seated, votes, strict=False):
            response = self.commit(juror, claim_pk, vote)
            assert response.status_code == 200, response.text
        self.advance(rules.commit_seconds)
        for juror, vote in zip(seated, votes, strict=False):
            response = self.reveal(juror, claim_pk, vote)
            assert response.status_code == 200, response.text
        self.advance(rules.reveal_seconds)
        return seated


def start_world(
    root: Path,
    *,
    reviewers: int = 3,
    jurors: int = 6,
    node: Any = None,
    legacy_reviewers: bool = False,
    database_url: str | None = None,
) -> World:
    """``node``: a started node with ``url`` and ``kill()`` (tests/chains/nodes.py); a fresh anvil
    when None. ``legacy_reviewers``: the reviewers' keys are generated and held by the server (a
    data directory from before device keys), instead of registered from their devices.
    ``database_url``: another database than the data dir's SQLite file (an empty one)."""
    node = node or AnvilNode(log_path=root / "anvil.log").start()
    settings = Settings(
        rpc_url=node.url,
        database_url=database_url,
        data_dir=root / "data",
        confirmations=0,
        batch_max_wait=0,
        anchoring=False,
        log_level="WARNING",
    )
    runtime = build_runtime(settings)
    keep_node(runtime, node)
    bootstrap(runtime)
    record = publish_rule_set(runtime, {"jury_size": JURY_SIZE, "min_turnout": MIN_TURNOUT})
    keep_rules(runtime, RuleSet.from_json(record.canonical_json))
    api = Api(create_app(runtime=runtime))
    world = World(runtime, api, Person.__new__(Person), Person.__new__(Person))
    world.operator = world.staff("operator")
    world.auditor = world.staff("auditor")
    world.reviewers = [world.staff("reviewer", server_key=legacy_reviewers or None) for _ in range(reviewers)]
    world.jurors = [world.staff("juror") for _ in range(jurors)]
    return world


def world_fixture(
    tmp_path_factory: pytest.TempPathFactory, name: str, database_url: str | None = None
) -> Iterator[World]:
    world = start_world(tmp_path_factory.mktemp(name), database_url=database_url)
    try:
        yield world
    finally:
        world.runtime.close()
        node_of(world.runtime).kill()


def second_process(world: World) -> Iterator[Runtime]:
    """A second runtime over the world's settings, as another process has it: its own filing relay
    and senders, the same data dir, database and chain (fixtures yield from this)."""
    runtime = build_runtime(world.runtime.settings, migrate_db=False)
    try:
        yield runtime
    finally:
        runtime.close()
