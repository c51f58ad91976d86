"""The chain's clock over HTTP (issue 17 item 4): read by any signed-in role, moved forward only on
the local development chain (the demo's way through windows that last days)."""

from __future__ import annotations

from datetime import datetime

from backend.runtime import Runtime
from backend.services.bootstrap import bootstrap
from tests.accounts.support import Api, make_account, token_for


def test_chain_time_is_read_and_moved_forward_on_the_development_chain(runtime: Runtime) -> None:
    api = Api(runtime)
    token = token_for(runtime, make_account(runtime, "member"))
    before = api.get("/chain/time", token)
    assert before.status_code == 200, before.text
    body = before.json()
    assert (body["chainId"], body["canAdvance"], body["planTimeZone"]) == (31337, True, "Asia/Shanghai")
    assert body["chainTime"] == runtime.w3.eth.get_block("latest")["timestamp"]
    moved = api.post("/chain/advance", token, json={"seconds": 3 * 86_400})
    assert moved.status_code == 200, moved.text
    assert moved.json()["chainTime"] >= body["chainTime"] + 3 * 86_400
    assert runtime.w3.eth.get_block("latest")["timestamp"] == moved.json()["chainTime"]
    for bad in (0, -5, 10**9):
        refused = api.post("/chain/advance", token, json={"seconds": bad})
        assert (refused.status_code, refused.json()["code"]) == (422, "VALIDATION_ERROR")
    assert api.post("/chain/advance", None, json={"seconds": 60}).status_code == 401


def test_chain_clock_is_fixed_outside_development(runtime: Runtime) -> None:
    token = token_for(runtime, make_account(runtime, "operator"))
    runtime.settings = runtime.settings.model_copy(update={"env": "production"})
    api = Api(runtime)
    assert api.get("/chain/time", token).json()["canAdvance"] is False
    refused = api.post("/chain/advance", token, json={"seconds": 60})
    assert (refused.status_code, refused.json()["code"]) == (403, "CLOCK_FIXED")


def test_joins_and_exits_after_the_development_chain_moved_ahead_are_on_its_clock(runtime: Runtime) -> None:
    """The membership log's anchoring deadline and each period's snapshot are judged by block time.
    Stamped on the wall clock after the demo moved the chain days ahead, a join looked anchored days
    late (AUDIT_APPORTIONMENT_INVALID membership_log_late) and under protection at the snapshot of a
    period the chain had already published without it (membership_db, membership_log left_out)."""
    bootstrap(runtime)  # the default rule set, anchored
    api = Api(runtime)
    token = token_for(runtime, make_account(runtime, "member"))
    moved = api.post("/chain/advance", token, json={"seconds": 5 * 86_400})
    assert moved.status_code == 200, moved.text
    chain_now = moved.json()["chainTime"]
    joined = api.post(
        "/members/join", token, json={"birthDate": "1990-05-17", "creditScore": 700, "healthAnswers": [False] * 3}
    )
    assert joined.status_code == 201, joined.text
    assert datetime.fromisoformat(joined.json()["joinedAt"]).timestamp() >= chain_now
    left = api.post("/members/me/exit", token)
    assert left.status_code == 200, left.text
    assert datetime.fromisoformat(left.json()["endedAt"]).timestamp() >= chain_now
