"""Every JSON body of the API is camelCase: the OpenAPI document declares no other property name.

Path and query parameter names (``claim_pk``, ``evidence_id``, ``claim_ref``, …) are not checked:
they are part of the public URLs clients already build, not JSON bodies. Two bodies keep the names
a standard fixes for them, RFC 6749 (OAuth2): the token answer (``access_token``, ``token_type``,
``expires_in``)
and the password-flow form (``grant_type``, ``client_id``, ``client_secret``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from backend.api.app import create_app
from backend.api.schemas import ApiModel
from backend.config import Settings

CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")
RFC_6749 = {
    "Token": {"access_token", "token_type", "expires_in"},
    "Body_login_auth_token_post": {"grant_type", "client_id", "client_secret"},
}


def _property_names(node: Any, where: str) -> list[tuple[str, str]]:
    """(JSON pointer of the schema, property name) of every ``properties`` entry under ``node``."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            found.extend((where, name) for name in props)
        for key, value in node.items():
            found.extend(_property_names(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_property_names(value, f"{where}/{i}"))
    return found


def _not_camel(spec: dict[str, Any]) -> list[str]:
    bad = []
    for where, name in _property_names(spec, "#"):
        schema_name = where.removeprefix("#/components/schemas/")
        if name in RFC_6749.get(schema_name, set()):
            continue
        if not CAMEL.fullmatch(name):
            bad.append(f"{where}: {name}")
    return bad


def test_openapi_declares_only_camel_case_properties(tmp_path: Path) -> None:
    spec = create_app(Settings(data_dir=tmp_path)).openapi()
    names = _property_names(spec, "#")
    assert len(names) > 100, "the walk found the schemas' properties"
    assert _not_camel(spec) == []


def test_openapi_casing_check_names_a_snake_case_property(tmp_path: Path) -> None:
    spec = create_app(Settings(data_dir=tmp_path)).openapi()
    spec["components"]["schemas"]["MemberOut"]["properties"]["joined_at"] = {"type": "string"}
    spec["components"]["schemas"]["Token"]["properties"]["refresh_token"] = {"type": "string"}
    assert _not_camel(spec) == [
        "#/components/schemas/MemberOut: joined_at",
        "#/components/schemas/Token: refresh_token",
    ]


class _Sample(ApiModel):
    waiting_ends_at: str
    plaintext_sha256: str


@pytest.mark.parametrize(
    "payload", [{"waitingEndsAt": "x", "plaintextSha256": "y"}, {"waiting_ends_at": "x", "plaintext_sha256": "y"}]
)
def test_api_model_reads_either_name_and_writes_camel_case(payload: dict[str, str]) -> None:
    assert _Sample.model_validate(payload).model_dump(by_alias=True) == {"waitingEndsAt": "x", "plaintextSha256": "y"}
