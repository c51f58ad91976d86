"""The filing relay's rounds (backend/services/filing_relay.py), with a recording round function:
a round waits for filings announced with expect() — at most the linger, up to the batch size —
and a lone filing goes at once."""

from __future__ import annotations

import threading
import time

from backend.services.filing_relay import FiledState, FilingRelay


class Rounds:
    """A round function that records the claims of each round."""

    def __init__(self) -> None:
        self.rounds: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, claim_pks: list[str], filed: dict[str, FiledState]) -> dict[str, BaseException]:
        with self.lock:
            self.rounds.append(sorted(claim_pks))
        return {}


def test_a_lone_filing_goes_at_once_even_with_a_long_linger() -> None:
    rounds = Rounds()
    relay = FilingRelay(rounds, linger=30.0)
    try:
        t0 = time.monotonic()
        relay.file("a", timeout=5)
        assert time.monotonic() - t0 < 2
        assert rounds.rounds == [["a"]]
    finally:
        relay.close()


def test_a_round_waits_for_the_filings_on_their_way_and_takes_them_together() -> None:
    rounds = Rounds()
    relay = FilingRelay(rounds, linger=30.0)
    try:
        for _ in range(3):
            relay.expect()
        first = relay.submit("a", expected=True)
        time.sleep(0.2)
        assert rounds.rounds == []  # two more are on their way
        relay.submit("b", expected=True)
        time.sleep(0.1)
        assert rounds.rounds == []
        last = relay.submit("c", expected=True)
        first.result(5)
        last.result(5)
        assert rounds.rounds == [["a", "b", "c"]]
    finally:
        relay.close()


def test_a_filing_that_fails_is_forgotten_and_the_round_goes() -> None:
    rounds = Rounds()
    relay = FilingRelay(rounds, linger=30.0)
    try:
        relay.expect()
        relay.expect()
        done = relay.submit("a", expected=True)
        time.sleep(0.1)
        assert not done.done()
        relay.forget()  # the other one was refused: nothing is left to wait for
        done.result(5)
        assert rounds.rounds == [["a"]]
    finally:
        relay.close()


def test_the_wait_is_bounded_by_the_linger_and_by_a_full_batch() -> None:
    rounds = Rounds()
    relay = FilingRelay(rounds, linger=0.3, max_batch=2)
    try:
        for _ in range(5):
            relay.expect()
        t0 = time.monotonic()
        relay.file("a", timeout=5)  # the others never come: the linger ends the wait
        assert 0.25 <= time.monotonic() - t0 < 3
        relay.submit("b", expected=True)
        relay.submit("c", expected=True)  # a full batch goes without waiting out the linger
        relay.file("d", timeout=5)
        assert rounds.rounds[0] == ["a"]
        assert rounds.rounds[1] == ["b", "c"]
    finally:
        relay.close()
