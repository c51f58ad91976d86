"""D11: the API takes no URLs, so there is nothing to aim at loopback or metadata endpoints (SSRF).

If a URL-taking request field is ever added, this guard fails and D11's payload tests are owed.
"""

from __future__ import annotations

import re
from typing import Any

from backend.api.app import create_app
from backend.config import Settings

URLISH = re.compile(r"ur[il]", re.IGNORECASE)


def _request_schemas(spec: dict[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for param in op.get("parameters", []):
                found.append((f"{method.upper()} {path} param {param['name']}", {param["name"]: param.get("schema")}))
            for content in op.get("requestBody", {}).get("content", {}).values():
                found.append((f"{method.upper()} {path} body", content.get("schema")))
    return found


def _url_fields(schema: Any, components: dict[str, Any], where: str, seen: frozenset[str]) -> list[str]:
    if isinstance(schema, list):
        return [hit for inner in schema for hit in _url_fields(inner, components, where, seen)]
    if not isinstance(schema, dict):
        return []
    hits: list[str] = []
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return [] if name in seen else _url_fields(components[name], components, f"{where} → {name}", seen | {name})
    if schema.get("format") in ("uri", "url", "iri", "uri-reference", "iri-reference"):
        hits.append(f"{where}: format {schema['format']}")
    for key, inner in schema.get("properties", {}).items():
        if URLISH.search(key) and _is_string(inner, components):
            hits.append(f"{where}.{key}: string field named like a URL")
        hits += _url_fields(inner, components, f"{where}.{key}", seen)
    for key, inner in schema.items():
        if key != "properties" and isinstance(inner, dict | list):
            hits += _url_fields(inner, components, where, seen)
    return hits


def _is_string(schema: Any, components: dict[str, Any]) -> bool:
    if not isinstance(schema, dict):
        return False
    if "$ref" in schema:
        return _is_string(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    options = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    return any(isinstance(o, dict) and o.get("type") == "string" for o in options)


def test_openapi_has_no_url_taking_request_fields(tmp_path: Any) -> None:
    spec = create_app(Settings(data_dir=tmp_path)).openapi()
    components = spec.get("components", {}).get("schemas", {})
    schemas = _request_schemas(spec)
    assert len(schemas) > 20  # the walk saw the API's parameters and bodies
    hits = [hit for where, schema in schemas for hit in _url_fields(schema, components, where, frozenset())]
    assert hits == []


def test_url_guard_flags_a_uri_field() -> None:
    """The guard itself: a body with a ``format: uri`` field or a ``callbackUrl`` string is caught."""
    components = {"Hook": {"properties": {"callbackUrl": {"type": "string"}, "target": {"format": "uri"}}}}
    hits = _url_fields({"$ref": "#/components/schemas/Hook"}, components, "POST /x body", frozenset())
    assert len(hits) == 2
