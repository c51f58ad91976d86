"""The chain's clock over HTTP (issue 17 item 4): read by any signed-in role, moved forward only on
the local development chain (the demo's way through windows that last days)."""

from __future__ import annotations

from backend.runtime import Runtime
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
