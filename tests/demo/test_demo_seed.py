"""The demo plan `make run` seeds: claims in every state, seeded once, all through the real API."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from backend.db.models import Claim, Member
from backend.demo import seed_demo
from backend.runtime import Runtime


def test_demo_seed_creates_every_claim_state_once(runtime: Runtime) -> None:
    assert seed_demo(runtime) is True
    with runtime.sessions() as session:
        states = Counter(session.scalars(select(Claim.status)).all())
        ended = session.scalars(select(Member.end_reason).where(Member.status == "ended")).all()
    assert states == Counter({"PAID": 1, "REJECTED": 2, "IN_NOTICE": 1, "DISPUTED": 1, "UNDER_REVIEW": 1})
    assert list(ended) == ["WAITING_PERIOD"]
    assert runtime.anchoring_worker().backlog() == 0
    assert seed_demo(runtime) is False  # a second `make run` keeps the same plan
