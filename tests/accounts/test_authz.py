"""Authentication and function-level authorization over every operation of ``app.openapi()``:
D2 (bad tokens → 401), D4 (operation × role matrix == tests/accounts/policy.json), D3 (no
secret-bearing field in any response schema; every probed response scanned by ``Api``)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from backend.db.models import Account, AuthSession
from backend.runtime import Runtime
from backend.services.accounts import revoke_tokens
from backend.services.auth import issue_token
from tests.accounts.authz_support import ROLES, Operation, call, load_policy, operations
from tests.accounts.support import FORBIDDEN_FIELDS, Api, make_account, token_for

pytestmark = pytest.mark.xdist_group(name="accounts-authz")

# Operations anyone may call without a token. Everything else must answer 401 to a bad token.
PUBLIC = frozenset(
    {
        "GET /health",
        "POST /auth/token",
        "POST /accounts/register",
        "GET /rules/current",
        "GET /rules/illnesses",
        "GET /evidence/{evidence_id}/receipt",
    }
)
# Response fields allowed by design, per operation: the uploader alone gets the salt of its file.
SCHEMA_EXEMPTIONS = {"POST /evidence": frozenset({"salt"})}


@pytest.fixture(scope="module")
def api(plan_runtime: Runtime) -> Api:
    return Api(plan_runtime)


@pytest.fixture(scope="module")
def role_tokens(plan_runtime: Runtime) -> dict[str, str]:
    accounts = {role: make_account(plan_runtime, role) for role in ROLES}
    # The member has joined the plan: member-only operations (evidence uploads) are open to it.
    from datetime import UTC, date, datetime

    from backend.services import membership

    with plan_runtime.sessions.begin() as session:
        member = session.get(Account, accounts["member"].id)
        assert member is not None
        membership.join(session, plan_runtime, member, date(1990, 1, 1), 700, [False] * 3, datetime.now(UTC))
    return {role: token_for(plan_runtime, account) for role, account in accounts.items()}


def _protected(api: Api) -> list[Operation]:
    return [op for op in operations(api) if op.key not in PUBLIC]


# --- the table itself ----------------------------------------------------------------------------


def test_policy_table_lists_exactly_the_api_operations(api: Api) -> None:
    policy = load_policy()
    table = set(policy["operations"])
    actual = {op.key for op in operations(api)}
    assert sorted(actual - table) == [], "operations missing from tests/accounts/policy.json"
    assert sorted(table - actual) == [], "policy.json lists operations the API no longer has"
    assert policy["roles"] == list(ROLES)
    for key, entry in policy["operations"].items():
        assert entry["access"] in ("public", "function", "object"), key
        if entry["access"] == "function":
            assert entry["roles"], key
            assert set(entry["roles"]) <= set(ROLES), key


def test_public_set_matches_the_policy_table() -> None:
    public = {key for key, entry in load_policy()["operations"].items() if entry["access"] == "public"}
    assert public == PUBLIC


# --- D2: broken authentication --------------------------------------------------------------------


def _unsigned(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _bad_tokens(runtime: Runtime) -> dict[str, str | None]:
    """Every kind of bad credential, each for an operator account (the most powerful role)."""
    operator = make_account(runtime, "operator")
    with runtime.sessions.begin() as session:
        account = session.get(Account, operator.id)
        assert account is not None
        now = datetime.now(UTC)
        live = jwt.decode(token_for(runtime, operator), runtime.jwt_secret, algorithms=["HS256"])
        claims = {
            "sub": account.id,
            "sid": live["sid"],
            "role": "operator",
            "ver": account.token_version,
            "exp": int(now.timestamp()) + 600,
        }
        expired = issue_token(session, account, runtime.jwt_secret, now=now - timedelta(hours=2))
        wrong_key = jwt.encode(claims, b"\x01" * 32, algorithm="HS256")
        alg_none = _unsigned(claims)
        unknown_sub = jwt.encode({**claims, "sub": "0" * 32}, runtime.jwt_secret, algorithm="HS256")
        no_session = jwt.encode({k: v for k, v in claims.items() if k != "sid"}, runtime.jwt_secret, algorithm="HS256")
    signed_out = token_for(runtime, operator)
    with runtime.sessions.begin() as session:
        row = session.get(AuthSession, jwt.decode(signed_out, runtime.jwt_secret, algorithms=["HS256"])["sid"])
        assert row is not None
        row.revoked_at = now
    revoked_account = make_account(runtime, "operator")
    revoked = token_for(runtime, revoked_account)
    disabled_account = make_account(runtime, "operator")
    disabled = token_for(runtime, disabled_account)
    with runtime.sessions.begin() as session:
        revoke_tokens(session, revoked_account.id)
        target = session.get(Account, disabled_account.id)
        assert target is not None
        target.disabled = True
    return {
        "missing": None,
        "garbage": "not-a-jwt",
        "expired": expired,
        "alg-none": alg_none,
        "wrong-key": wrong_key,
        "unknown-account": unknown_sub,
        "revoked": revoked,
        "disabled": disabled,
        "no-session": no_session,
        "signed-out-session": signed_out,
    }


# Refreshing is what an expired token of a still-open session is for (POST /auth/refresh): every
# other bad token is refused there too.
EXPIRED_RENEWED = {"POST /auth/refresh"}


def test_bad_tokens_get_401_on_every_protected_operation(plan_runtime: Runtime, api: Api) -> None:
    bad = _bad_tokens(plan_runtime)
    failures = []
    checked = 0
    for op in _protected(api):
        for kind, token in bad.items():
            response = call(api, op, token)
            checked += 1
            if kind == "expired" and op.key in EXPIRED_RENEWED:
                if response.status_code != 200 or not response.json().get("access_token"):
                    failures.append(f"{op.key} [{kind}] → {response.status_code}, expected a renewed token")
                continue
            if response.status_code != 401 or response.json().get("code") != "UNAUTHORIZED":
                failures.append(f"{op.key} [{kind}] → {response.status_code}")
    assert failures == []
    assert checked == len(_protected(api)) * len(bad) > 0


def test_basic_scheme_and_malformed_headers_get_401(api: Api, role_tokens: dict[str, str]) -> None:
    op = next(op for op in _protected(api) if op.key == "GET /auth/me")
    for header in (f"Basic {role_tokens['operator']}", "Bearer", f"bearer  {role_tokens['operator']}x"):
        assert call(api, op, None, headers={"Authorization": header}).status_code == 401, header


# --- D4: function-level authorization matrix -------------------------------------------------------


def test_role_matrix_matches_the_policy_table(api: Api, role_tokens: dict[str, str]) -> None:
    policy = load_policy()["operations"]
    mismatches: list[str] = []
    for op in operations(api):
        entry = policy.get(op.key)
        assert entry is not None, f"{op.key} missing from policy.json"
        anonymous = call(api, op, None).status_code
        if entry["access"] == "public":
            if anonymous in (401, 403) or anonymous >= 500:
                mismatches.append(f"{op.key} anonymous → {anonymous} (public)")
            continue
        if anonymous != 401:
            mismatches.append(f"{op.key} anonymous → {anonymous}")
        for role in ROLES:
            status = call(api, op, role_tokens[role]).status_code
            if status >= 500:
                mismatches.append(f"{op.key} as {role} → {status}")
            elif entry["access"] == "object":
                # A nonexistent object: refused or not found for everyone, never served, never 401.
                if status not in (403, 404, 422):
                    mismatches.append(f"{op.key} as {role} → {status} on a nonexistent object")
            elif role in entry["roles"]:
                if status in (401, 403):
                    mismatches.append(f"{op.key} as {role} → {status}, policy admits {role}")
            elif status != 403:
                mismatches.append(f"{op.key} as {role} → {status}, policy says 403")
    assert mismatches == []


def test_members_get_403_on_every_staff_function(api: Api, role_tokens: dict[str, str]) -> None:
    """D4: a claimant calling reviewer/juror/operator functions is refused with 403."""
    policy = load_policy()["operations"]
    staff_only = [
        op
        for op in operations(api)
        if policy[op.key]["access"] == "function" and "member" not in policy[op.key]["roles"]
    ]
    assert {"POST /accounts", "POST /rules", "GET /review/queue", "POST /plan/wind-down"} <= {
        op.key for op in staff_only
    }
    for op in staff_only:
        response = call(api, op, role_tokens["member"])
        assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN"), op.key


# --- D3: exposure -------------------------------------------------------------------------------


def _schema_fields(schema: Any, components: dict[str, Any], seen: frozenset[str] = frozenset()) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return set() if name in seen else _schema_fields(components[name], components, seen | {name})
    found: set[str] = set()
    for key, inner in schema.get("properties", {}).items():
        found |= {key} | _schema_fields(inner, components, seen)
    for key in ("items", "additionalProperties"):
        found |= _schema_fields(schema.get(key), components, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for inner in schema.get(key, []):
            found |= _schema_fields(inner, components, seen)
    return found


def test_no_response_schema_carries_a_secret_field(api: Api) -> None:
    spec = api.app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    leaks: list[str] = []
    for op in operations(api):
        allowed = SCHEMA_EXEMPTIONS.get(op.key, frozenset())
        for status, response in op.spec.get("responses", {}).items():
            for content in response.get("content", {}).values():
                exposed = (_schema_fields(content.get("schema"), components) & FORBIDDEN_FIELDS) - allowed
                leaks += [f"{op.key} {status}: {name}" for name in sorted(exposed)]
    assert leaks == []


def test_probed_responses_were_scanned(api: Api, role_tokens: dict[str, str]) -> None:
    """``Api`` checks every JSON body it receives for forbidden fields; make sure it did receive some."""
    before = api.responses

    def scan(op: Operation) -> int:
        return call(api, op, role_tokens["operator"]).status_code

    statuses = [scan(op) for op in operations(api) if op.method == "get"]
    assert api.responses - before == len(statuses) > 0
