"""D12: schemathesis over the in-process app, once per role with a valid token.

Every check except ``max_response_time`` runs on every generated case (no 5xx, status codes,
content types, headers and bodies as the OpenAPI declares). ``max_examples`` is kept small so the
whole module stays within a few minutes on CI; longer sweeps belong to benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CheckFunction, max_response_time
from schemathesis.specs.openapi.checks import positive_data_acceptance

from backend.api.app import create_app
from tests.claims.builders import World, world_fixture

pytestmark = pytest.mark.xdist_group(name="security-schemathesis")

ROLES = ("member", "reviewer", "juror", "auditor", "operator")
MAX_EXAMPLES = 20
# Operations whose valid requests obey a rule the OpenAPI schema does not carry, so a schema-valid
# request may be refused (422) by design: the claim form's fields must precede its files
# (streamed filing), a REJECT verdict needs a reasonCode, payout bands must ascend.
CROSS_FIELD_RULES = frozenset({"POST /claims", "POST /review/claims/{claim_pk}/verdict", "POST /rules"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "schemathesis")


@pytest.fixture(scope="module")
def tokens(world: World) -> dict[str, str]:
    staff = {role: world.staff(role).token for role in ROLES if role != "member"}
    return {"member": world.member().token, **staff}


@pytest.fixture(scope="module")
def app(world: World) -> FastAPI:
    return create_app(runtime=world.runtime)


@pytest.fixture(scope="module")
def bearers(tokens: dict[str, str]) -> list[dict[str, str]]:
    return [{"Authorization": f"Bearer {tokens[role]}"} for role in ROLES]


def _check_operation(operation: Any, bearers: list[dict[str, str]]) -> None:
    excluded: list[CheckFunction] = [max_response_time]
    if operation.label in CROSS_FIELD_RULES:
        excluded.append(positive_data_acceptance)

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def run(case: schemathesis.Case[Any]) -> None:
        for headers in bearers:
            case.call_and_validate(headers=headers, excluded_checks=excluded)

    run()


def test_api_conforms_to_its_schema_as_every_role(app: FastAPI, bearers: list[dict[str, str]]) -> None:
    """Each generated case is sent once per role; every operation is tried, failures are collected."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err (unparsable operation) fails here
        checked += 1
        try:
            _check_operation(operation, bearers)
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert checked > 20
    assert failures == [], "\n\n".join(failures)
