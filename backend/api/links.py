"""OpenAPI links: which value of a response feeds which next request.

They document the API's workflows for clients (file a claim, then read it, its timeline and its
evidence; take a claim from the review queue, verify its evidence, decide; …) and drive
schemathesis' stateful tests (RELIABILITY D12), which chain operations along them.

``add_links`` is strict: a link whose source, target or parameter no longer exists raises, so a
renamed route breaks the schema tests instead of silently dropping the chain.
"""

from __future__ import annotations

from typing import Any

# Runtime expressions (OpenAPI 3.1 §4.8.20): the response body's JSON pointer, or the request's path.
ID = "$response.body#/id"
FIRST_ID = "$response.body#/0/id"
FIRST_EVIDENCE = "$response.body#/evidence/0/id"
SAME_CLAIM = "$request.path.claim_pk"

Link = tuple[str, str, dict[str, str]]  # (method, path, parameters) of the target

# What a claimant does next with a claim (a ClaimOut body: its id and its evidence).
CLAIM_FOLLOW_UPS: dict[str, Link] = {
    "GetTimeline": ("GET", "/claims/{claim_pk}/timeline", {"claim_pk": ID}),
    "GetEvidenceReceipt": (
        "GET",
        "/claims/{claim_pk}/evidence/{evidence_id}/receipt",
        {"claim_pk": ID, "evidence_id": FIRST_EVIDENCE},
    ),
    "GetEvidenceContent": (
        "GET",
        "/claims/{claim_pk}/evidence/{evidence_id}/content",
        {"claim_pk": ID, "evidence_id": FIRST_EVIDENCE},
    ),
    "Withdraw": ("POST", "/claims/{claim_pk}/withdraw", {"claim_pk": ID}),
}

# (method, path, status) of the source → link name → the target.
LINKS: dict[tuple[str, str, str], dict[str, Link]] = {
    ("POST", "/claims", "201"): {
        "GetClaim": ("GET", "/claims/{claim_pk}", {"claim_pk": ID}),
        **CLAIM_FOLLOW_UPS,
    },
    ("GET", "/claims", "200"): {
        "GetClaim": ("GET", "/claims/{claim_pk}", {"claim_pk": FIRST_ID}),
        "GetTimeline": ("GET", "/claims/{claim_pk}/timeline", {"claim_pk": FIRST_ID}),
    },
    ("GET", "/claims/{claim_pk}", "200"): {
        **CLAIM_FOLLOW_UPS,
        "Appeal": ("POST", "/claims/{claim_pk}/appeal", {"claim_pk": ID}),
    },
    ("GET", "/review/queue", "200"): {
        "GetReviewDetail": ("GET", "/review/claims/{claim_pk}", {"claim_pk": FIRST_ID}),
    },
    ("GET", "/review/claims/{claim_pk}", "200"): {
        "VerifyEvidence": (
            "GET",
            "/review/claims/{claim_pk}/evidence/{evidence_id}/verification",
            {"claim_pk": SAME_CLAIM, "evidence_id": "$response.body#/claim/evidence/0/id"},
        ),
        "OpenEvidence": (
            "GET",
            "/review/claims/{claim_pk}/evidence/{evidence_id}/content",
            {"claim_pk": SAME_CLAIM, "evidence_id": "$response.body#/claim/evidence/0/id"},
        ),
        "RecordVerdict": ("POST", "/review/claims/{claim_pk}/verdict", {"claim_pk": SAME_CLAIM}),
    },
    ("GET", "/notice", "200"): {
        "Object": ("POST", "/notice/{notice_id}/objections", {"notice_id": "$response.body#/0/noticeId"}),
    },
    ("GET", "/jury/assignments", "200"): {
        "GetCase": ("GET", "/jury/claims/{claim_pk}", {"claim_pk": FIRST_ID}),
    },
    ("GET", "/jury/claims/{claim_pk}", "200"): {
        "CommitVote": ("POST", "/jury/claims/{claim_pk}/commit", {"claim_pk": SAME_CLAIM}),
        "RevealVote": ("POST", "/jury/claims/{claim_pk}/reveal", {"claim_pk": SAME_CLAIM}),
    },
    ("GET", "/me/shares", "200"): {
        "GetShareReceipt": (
            "GET",
            "/me/shares/{period_id}/receipt",
            {"period_id": "$response.body#/shares/0/periodId"},
        ),
    },
    ("POST", "/evidence", "201"): {
        "GetReceipt": ("GET", "/evidence/{evidence_id}/receipt", {"evidence_id": ID}),
    },
    ("POST", "/accounts", "201"): {
        "RevokeTokens": ("POST", "/accounts/{account_id}/revoke-tokens", {"account_id": ID}),
        "DeclareRelation": ("POST", "/accounts/{account_id}/relations", {"account_id": ID}),
    },
    ("GET", "/accounts", "200"): {
        "RevokeTokens": ("POST", "/accounts/{account_id}/revoke-tokens", {"account_id": FIRST_ID}),
    },
}


def add_links(spec: dict[str, Any]) -> dict[str, Any]:
    """Add :data:`LINKS` to the responses of ``spec`` (an ``app.openapi()`` document); returns it."""
    paths = spec["paths"]
    for (method, path, status), links in LINKS.items():
        response = _operation(paths, method, path)["responses"][status]
        out = response.setdefault("links", {})
        for name, (target_method, target_path, parameters) in links.items():
            target = _operation(paths, target_method, target_path)
            declared = {p["name"] for p in target.get("parameters", []) if p.get("in") == "path"}
            if set(parameters) != declared:
                raise ValueError(f"link {name} gives {sorted(parameters)}, {target_path} takes {sorted(declared)}")
            out[name] = {"operationId": target["operationId"], "parameters": dict(parameters)}
    return spec


def _operation(paths: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    try:
        operation: dict[str, Any] = paths[path][method.lower()]
    except KeyError:
        raise ValueError(f"OpenAPI links name {method} {path}, which the app does not have") from None
    return operation
