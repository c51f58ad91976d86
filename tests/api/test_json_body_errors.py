"""A JSON body that is malformed, missing, not an object or not sent as JSON gets the product's error
envelope with a message a client can act on (the QA walk-through found "27: JSON decode error" and
"Input should be a valid dictionary or object to extract fields from"), on every JSON operation."""

from __future__ import annotations

import pytest

from backend.runtime import Runtime
from tests.accounts.support import Api, make_account, token_for


@pytest.fixture
def member_api(runtime: Runtime) -> tuple[Api, str]:
    return Api(runtime), token_for(runtime, make_account(runtime, "member"))


@pytest.mark.parametrize("path", ["/accounts/register", "/members/join", "/chain/advance"])
def test_malformed_json_is_400_naming_what_and_where(member_api: tuple[Api, str], path: str) -> None:
    api, token = member_api
    response = api.post(
        path, token, content=b'{"birthDate": "1990-01-01",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "MALFORMED_JSON",
        "message": "the request body is not valid JSON: Expecting property name enclosed in double quotes"
        " at character 28",
    }


def test_json_body_that_is_not_an_object_or_missing_or_not_json(member_api: tuple[Api, str]) -> None:
    api, token = member_api
    array = api.post("/members/join", token, content=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert (array.status_code, array.json()) == (
        422,
        {"code": "VALIDATION_ERROR", "message": "the request body must be a JSON object ({...})"},
    )
    missing = api.post("/members/join", token, headers={"Content-Type": "application/json"})
    assert (missing.status_code, missing.json()["code"]) == (422, "VALIDATION_ERROR")
    assert missing.json()["message"] == "the request body is missing: send a JSON object (application/json)"
    as_text = api.post(
        "/members/join", token, content=b'{"birthDate": "1990-01-01"}', headers={"Content-Type": "text/plain"}
    )
    assert (as_text.status_code, as_text.json()) == (
        415,
        {
            "code": "UNSUPPORTED_MEDIA_TYPE",
            "message": "the request body must be JSON sent with Content-Type: application/json, not text/plain",
        },
    )


def test_field_errors_inside_a_good_body_keep_naming_the_field(member_api: tuple[Api, str]) -> None:
    api, token = member_api
    response = api.post(
        "/members/join", token, json={"birthDate": "1990-01-01", "creditScore": "high", "healthAnswers": [False]}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["message"].startswith("creditScore: ")


def test_a_form_sent_as_json_is_told_to_send_the_form(member_api: tuple[Api, str]) -> None:
    """POST /auth/token is the OAuth2 password form: JSON made every field read as missing."""
    api, _ = member_api
    as_json = api.post("/auth/token", json={"username": "someone", "password": "secret words"})
    assert (as_json.status_code, as_json.json()) == (
        415,
        {
            "code": "UNSUPPORTED_MEDIA_TYPE",
            "message": "send this form as application/x-www-form-urlencoded, not application/json",
        },
    )
    missing = api.post("/auth/token", data={"username": "someone"})  # the right type, a field missing
    assert (missing.status_code, missing.json()["message"]) == (422, "password: Field required")
