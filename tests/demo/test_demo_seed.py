"""The demo plan `make run` seeds: claims in every state, seeded once, all through the real API."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from backend.audit.report import StepStatus
from backend.audit.runner import audit_runtime
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
    # What an auditor sees first: the seeded history passes every step, with no false alarm from
    # the demo moving the chain's clock or from the members who joined before the plan was on chain.
    report = audit_runtime(runtime)
    assert report.findings == [], report.to_json_text()
    assert report.ok
    assert {s.step: s.status for s in report.steps} == dict.fromkeys(range(1, 8), StepStatus.PASSED)
    assert report.complete is (not report.operator_satisfiable)
    assert seed_demo(runtime) is False  # a second `make run` keeps the same plan


def test_demo_texts_describe_the_illness_filed() -> None:
    """Each demo filing's evidence and review text is about the catalog illness it names (issue 17:
    a coronary bypass claim, CI005, was reviewed as "MRI confirms stroke")."""
    import inspect
    import re

    from backend import demo
    from backend.services.rule_sets import load_illness_catalog

    source = inspect.getsource(demo)
    names = {i["code"]: i["name_en"].lower() for i in load_illness_catalog().to_json()["illnesses"]}
    keyword = {code: max(re.findall(r"[a-z]+", name), key=len) for code, name in names.items()}
    filed = re.findall(r'(?:(\w+) = )?demo\.file\(\s*\w+,\s*"(CI\d+)",\s*"([^"]+)"', source)
    reviews = dict(re.findall(r'demo\.review\(\s*reviewers,\s*(\w+)\["id"\],\s*"\w+",\s*[^,]+,\s*"([^"]+)"', source))
    assert len(filed) >= 6
    for var, code, text in filed:
        word = keyword[code][:7]  # "alzheimer's" → "alzheim", "vegetative" → "vegetat"
        assert word in text.lower(), (code, names[code], text)
        if var in reviews:
            assert word in reviews[var].lower() or code in reviews[var], (code, names[code], reviews[var])
