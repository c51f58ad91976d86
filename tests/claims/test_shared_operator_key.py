"""Several processes sign with the operator key (``HUBAO_API_WORKERS`` > 1): their nonces never collide.

"Another process" is a second runtime over the same settings (as in test_filing_relay): its own
operator sender — its own thread lock — on the same data dir, database and chain. Two sender
objects in one process are as separate as two processes for a lock file: an ``flock`` belongs to
the open file, and each send opens its own.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from web3.types import TxParams, Wei

from backend.api.app import create_app
from backend.chain.transactions import SentTransaction, TransactionSender
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


def _lock_is_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases the lock if it was taken
    return True


def _all_land_at_once(sources: list[Callable[[], TransactionSender]], each: int) -> None:
    """Two threads per source send ``each`` transfers at once, each through ``source()``: every
    transaction is accepted with a nonce of its own, and mined."""
    sent: list[tuple[TransactionSender, SentTransaction]] = []
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


def test_the_nonce_lock_is_held_until_the_node_has_the_transaction(world: World, other_process: Runtime) -> None:
    operator, other = world.runtime.operator, other_process.operator
    assert operator.lock_path is not None
    assert operator.lock_path == other.lock_path
    assert operator.lock_path.is_relative_to(world.runtime.settings.resolved_data_dir)
    held_while_broadcasting: list[bool] = []

    def check(_: SentTransaction) -> None:
        assert operator.lock_path is not None
        held_while_broadcasting.append(not _lock_is_free(operator.lock_path))

    operator.wait(operator.send(TRANSFER, before_broadcast=check))
    assert held_while_broadcasting == [True]
    assert _lock_is_free(operator.lock_path)


def test_a_nonce_taken_outside_the_lock_is_chosen_again(world: World) -> None:
    """A sender that does not share the lock (another host, a hand-run tool) takes the nonce between
    the pending count and the broadcast: the transaction is signed again with the next nonce."""
    operator = world.runtime.operator
    outsider = TransactionSender(operator.w3, operator.signer)  # same key, no lock file
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
    relayed by the operator) is built per request, so only the lock file orders two requests for the
    same key — in one process as much as in two."""
    participant = world.staff("reviewer", server_key=True)
    signer = signing_account(world.runtime, participant.account)
    world.runtime.operator.transact({"to": signer.address, "value": Wei(10**18), "gas": 21000})
    assert world.runtime.sender(signer).lock_path == other_process.sender(signer).lock_path
    # a new sender per request
    _all_land_at_once([lambda: world.runtime.sender(signer), lambda: other_process.sender(signer)], each=6)
