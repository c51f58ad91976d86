"""Several processes sign with the operator key (``HUBAO_API_WORKERS`` > 1): their nonces never collide.

"Another process" is a second runtime over the same settings (as in test_filing_relay): its own
chain outbox (dispatchers, lease holder name) on the same database and chain. Every send is a row
of the database outbox; one elected sender per key assigns the nonces
(``tests/notary/test_chain_outbox.py`` has the hosts-level cases: takeover, fencing, reverts).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from web3.types import TxParams, Wei

from backend.api.app import create_app
from backend.chain.client import account
from backend.chain.transactions import Sender, SentTransaction, TransactionSender
from backend.config import ANVIL_DEV_KEYS
from backend.db.models import ChainOutboxRow
from backend.runtime import Runtime
from backend.services.accounts import signing_account
from tests.claims.builders import Api, World, pdf, second_process, world_fixture

pytestmark = pytest.mark.xdist_group("claims-shared-key")

TRANSFER: TxParams = {"to": "0x000000000000000000000000000000000000dEaD", "value": Wei(1), "gas": 21000}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "shared-key")


@pytest.fixture
def other_process(world: World) -> Iterator[Runtime]:
    yield from second_process(world)


def _all_land_at_once(sources: list[Callable[[], Sender]], each: int) -> None:
    """Two threads per source send ``each`` transfers at once, each through ``source()``: every
    transaction is accepted with a nonce of its own, and mined."""
    sent: list[tuple[Sender, SentTransaction]] = []
    errors: list[BaseException] = []

    def send_many(source: Callable[[], TransactionSender]) -> None:
        for _ in range(each):
            sender = source()
            try:
                sent.append((sender, sender.send(TRANSFER)))
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=send_many, args=(source,)) for source in sources for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert len({tx.nonce for _, tx in sent}) == len(sent) == 2 * each * len(sources)
    for sender, tx in sent:
        assert sender.wait(tx)["status"] == 1


def test_concurrent_sends_from_two_processes_all_land(world: World, other_process: Runtime) -> None:
    """Two threads in each of two processes send with the operator key at once (unlocked, most of
    them failed NONCE_TOO_LOW)."""
    _all_land_at_once([lambda: world.runtime.operator, lambda: other_process.operator], each=8)


def test_every_send_is_a_row_of_the_outbox_sent_by_one_host(world: World, other_process: Runtime) -> None:
    """Both processes' sends of the operator key are outbox rows, all signed under one lease."""
    operator, other = world.runtime.operator, other_process.operator
    sent = [operator.send(TRANSFER), other.send(TRANSFER)]
    for sender, tx in zip((operator, other), sent, strict=True):
        assert sender.wait(tx)["status"] == 1
    assert world.runtime.chain_outbox is not None
    # The caller has its receipt at once; the row's outcome is written by the sender's next round.
    deadline = time.monotonic() + 30
    while True:
        with world.runtime.chain_outbox.sessions() as session:  # SQLite: the outbox's own file
            rows = [session.get(ChainOutboxRow, tx.outbox_id) for tx in sent]
        seen = [(r.status, r.nonce, bytes(r.tx_hash or b"")) for r in rows if r is not None]
        if all(status == "mined" for status, _, _ in seen) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert seen == [("mined", tx.nonce, tx.tx_hash) for tx in sent]
    assert sent[1].nonce == sent[0].nonce + 1


def test_a_nonce_taken_outside_the_lock_is_chosen_again(world: World) -> None:
    """The in-process sender (the CLI's, signing with a user's own key): another sender of the same
    key takes the nonce between the pending count and the broadcast; the transaction is signed
    again with the next nonce."""
    operator = TransactionSender(world.runtime.w3, account(ANVIL_DEV_KEYS[7]))
    outsider = TransactionSender(operator.w3, operator.signer)
    signed: list[SentTransaction] = []

    def race(sent: SentTransaction) -> None:
        signed.append(sent)
        if len(signed) == 1:
            outsider.wait(outsider.send({**TRANSFER, "value": Wei(2)}))

    final = operator.send(TRANSFER, before_broadcast=race)
    assert [s.nonce for s in signed] == [signed[0].nonce, signed[0].nonce + 1]
    assert final == signed[1]
    assert operator.wait(final)["status"] == 1


def test_filings_through_two_processes_at_once_all_reach_review(world: World, other_process: Runtime) -> None:
    """Members file through both processes' APIs at once: each process's filing relay sends its
    own ClaimLedger transactions with the operator key; every filing ends UNDER_REVIEW."""
    apis = [world, dataclasses.replace(world, runtime=other_process, api=Api(create_app(runtime=other_process)))]
    members = [world.member() for _ in range(6)]
    responses: dict[int, object] = {}

    def file(i: int) -> None:
        responses[i] = apis[i % 2].file(members[i], [("r.pdf", pdf(f"two processes {i}"), "application/pdf")])

    threads = [threading.Thread(target=file, args=(i,)) for i in range(len(members))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    results = [responses[i] for i in range(len(members))]
    assert [r.status_code for r in results] == [201] * len(members), [r.text for r in results]  # type: ignore[attr-defined]
    assert {r.json()["status"] for r in results} == {"UNDER_REVIEW"}  # type: ignore[attr-defined]


def test_a_participant_key_sends_from_two_processes_without_collisions(world: World, other_process: Runtime) -> None:
    """A participant key's sender (a legacy server-held key: jurors now vote from their own devices,
    relayed by the operator) is built per request; the outbox orders two requests for the same key
    — in one process as much as in two."""
    participant = world.staff("reviewer", server_key=True)
    signer = signing_account(world.runtime, participant.account)
    world.runtime.operator.transact({"to": signer.address, "value": Wei(10**18), "gas": 21000})
    # a new sender per request
    _all_land_at_once([lambda: world.runtime.sender(signer), lambda: other_process.sender(signer)], each=6)
