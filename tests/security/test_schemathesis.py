"""D12: schemathesis over the in-process app, once per role with a valid token.

Every check except ``max_response_time`` runs on every generated case (no 5xx, status codes,
content types, headers and bodies as the OpenAPI declares). ``max_examples`` is 50 per operation,
the low end of the row's 50–100, which keeps the module near two minutes on CI (row budget: 10).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky
from schemathesis.checks import CheckFunction, max_response_time
from schemathesis.engine.errors import is_inconsistent_replay
from schemathesis.specs.openapi.checks import positive_data_acceptance

from backend.api.app import create_app
from tests.claims.builders import World, pdf, world_fixture

pytestmark = pytest.mark.xdist_group(name="security-schemathesis")

ROLES = ("member", "reviewer", "juror", "auditor", "operator")
MAX_EXAMPLES = 50  # RELIABILITY D12: 50–100 per operation
# Operations whose valid requests obey a rule the OpenAPI schema does not carry, so a schema-valid
# request may be refused (400 or 422) by design: the claim form's fields must precede its files
# (streamed filing), a REJECT verdict needs a reasonCode, payout bands must ascend.
CROSS_FIELD_RULES = frozenset({"POST /claims", "POST /review/claims/{claim_pk}/verdict", "POST /rules"})
# Sign-out ends the caller's session (/auth/logout) or every session of its account
# (/auth/logout-all): sent with the shared role tokens it would leave every later operation
# answering 401. Both are checked apart, with tokens of their own.
SESSION_ENDING_PATH = ["/auth/logout", "/auth/logout-all"]


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


@pytest.mark.usefixtures("people")  # seeded first: a generated wind-down would refuse its members
def test_api_conforms_to_its_schema_as_every_role(app: FastAPI, bearers: list[dict[str, str]]) -> None:
    """Each generated case is sent once per role; every operation is tried, failures are collected."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path=SESSION_ENDING_PATH)
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


# --- stateful: workflows chained along the OpenAPI links (backend/api/links.py) -------------------

STATEFUL_EXAMPLES = 15
STATEFUL_STEPS = 6
# Chains the seeded data always allows (claimant, reviewer, juror). Links that consume their data
# (an objection takes the one claim off the notice list) are exercised but not required: a
# flaky-replay end of a role's run can come before them.
ROLE_LINKS = {
    "claimant": {"GET /claims GetClaim", "GET /claims GetTimeline"},
    "reviewer": {"GET /review/queue GetReviewDetail"},
    "juror": {"GET /jury/assignments GetCase"},
}
EXPECTED_LINKS = set().union(*ROLE_LINKS.values())
# A flaky replay can end a role's run before it reaches its chain; such a role gets another run
# (randomized, so it explores another path), at most this many in all.
STATEFUL_ATTEMPTS = 3


@pytest.fixture(scope="module")
def people(world: World) -> dict[str, str]:
    """Tokens of people with something to chain: a claimant with claims under review, in public
    notice and before a jury; a reviewer assigned to one; a juror seated on another; a member who
    may object; the operator and the auditor."""
    claimant, objector, bystander = world.member(), world.member(), world.member()
    claims = []
    for text in ("under review", "before a jury", "in notice"):
        response = world.file(claimant, [("scan.pdf", pdf(f"stateful {text}"), "application/pdf")])
        assert response.status_code == 201, response.text
        claims.append(response.json())
    reviewing, disputed, noticed = claims
    for claim in (disputed, noticed):
        world.approve_by_review(str(claim["id"]))
    objected = world.object(objector, disputed["claimId"], "seen well")
    assert objected.status_code == 201, objected.text
    return {
        "claimant": claimant.token,
        "reviewer": world.reviewers_of(str(reviewing["id"]))[0].token,
        "juror": world.seated(str(disputed["id"]))[0].token,
        "member": bystander.token,
        "operator": world.operator.token,
        "auditor": world.auditor.token,
    }


def test_stateful_workflows_along_the_links_as_every_role(app: FastAPI, people: dict[str, str]) -> None:
    """Scenarios chain operations along the OpenAPI links (list → claim → timeline and evidence;
    queue → detail → verification → verdict; assignments → case → commit; notice → objection; …),
    once per role; every check but max_response_time on every step, and the links are followed.

    Every check failure is recorded as it happens. Hypothesis may then report the run as flaky
    ("inconsistent data generation"), because the API's state moved on between a scenario and its
    replay; that ends the role's run like schemathesis' own runner does, without hiding a failure.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path=SESSION_ENDING_PATH)
    schema.config.phases.stateful.inference.algorithms = []  # the declared links only
    machine = schema.as_state_machine()
    followed: set[str] = set()
    failures: list[str] = []

    for role, token in people.items():

        class AsRole(machine):  # type: ignore[misc,valid-type]
            role_name, bearer = role, token

            def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
                return {"headers": {"Authorization": f"Bearer {self.bearer}"}}

            def step(self, input: Any) -> Any:
                if input.transition is not None and input.is_applied and not input.transition.is_inferred:
                    source, link, _target = input.transition.id.split(" -> ")
                    followed.add(f"{source} {link.split('] ', 1)[1]}")
                return super().step(input)

            def validate_response(self, response: Any, case: schemathesis.Case[Any], **kwargs: Any) -> None:
                excluded: list[CheckFunction] = [max_response_time]
                if case.operation.label in CROSS_FIELD_RULES:
                    excluded.append(positive_data_acceptance)
                try:
                    case.validate_response(response, excluded_checks=excluded, recorder=self.recorder)
                except (Exception, BaseExceptionGroup) as exc:
                    failures.append(f"{self.role_name} {case.operation.label}: {str(exc)[:2000]}")
                    raise

        for attempt in range(STATEFUL_ATTEMPTS):
            try:
                AsRole.run(
                    settings=settings(
                        max_examples=STATEFUL_EXAMPLES,
                        stateful_step_count=STATEFUL_STEPS,
                        phases=[Phase.generate],
                        database=None,
                        deadline=None,
                        suppress_health_check=list(HealthCheck),
                        derandomize=attempt == 0,
                    )
                )
            except (Flaky, AssertionError) as exc:
                if not isinstance(exc, Flaky) and not is_inconsistent_replay(exc):
                    raise
                print(f"{role}: run {attempt + 1} ended by a flaky replay")
            if ROLE_LINKS.get(role, set()) <= followed:
                break
    assert failures == [], "\n\n".join(failures)
    # Not vacuous: the workflows of every role were chained along the declared links.
    print(sorted(followed))
    assert followed >= EXPECTED_LINKS, sorted(EXPECTED_LINKS - followed)


def test_sign_out_conforms_to_its_schema_as_every_role(app: FastAPI, world: World) -> None:
    """POST /auth/logout and /auth/logout-all, apart: each role signs out with a token of its own,
    once per case."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path=SESSION_ENDING_PATH)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert sorted(op.label for op in operations) == ["POST /auth/logout", "POST /auth/logout-all"]

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: schemathesis.Case[Any]) -> None:
            for role in ROLES:
                token = _member_login(world) if role == "member" else world.staff(role).token
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {token}"}, excluded_checks=[max_response_time]
                )

        run()


def _member_login(world: World) -> str:
    """A member login that has not joined (a generated wind-down may refuse new members by now)."""
    import secrets

    from backend.services.accounts import register_member
    from backend.services.auth import issue_token

    with world.runtime.sessions.begin() as session:
        account = register_member(session, f"signout-{secrets.token_hex(4)}", "correct horse battery")
        return issue_token(session, account, world.runtime.jwt_secret)
