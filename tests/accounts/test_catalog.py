"""The illness catalog: 100 covered illnesses with stable, unique codes (DESIGN.md "Coverage")."""

from __future__ import annotations

import hashlib
import json

import pytest

from backend.services.rule_sets import CATALOG_PATH, load_illness_catalog, parse_catalog
from backend.services.rules import DEFAULT_RULES

# sha256 of the code list of catalog version 1 joined by "\n" ("CI001\nCI002\n...\nCI100").
# Changing it means a code was renumbered, dropped or reused: that is a new catalog version.
CODES_SHA256_V1 = "68ff92288f3fdeae7f140c0d8fae4db27cee0f55b6962e563b9faa9c95655104"


def test_catalog_has_one_hundred_unique_codes_in_order() -> None:
    catalog = load_illness_catalog()
    codes = catalog.codes()
    assert catalog.version == 1
    assert len(codes) == 100
    assert len(set(codes)) == 100
    assert codes == tuple(f"CI{i:03d}" for i in range(1, 101))


def test_catalog_codes_are_pinned() -> None:
    codes = load_illness_catalog().codes()
    assert hashlib.sha256("\n".join(codes).encode()).hexdigest() == CODES_SHA256_V1


def test_catalog_names_are_bilingual_and_distinct() -> None:
    illnesses = load_illness_catalog().illnesses
    assert all(i.name_en.strip() and not any("\u4e00" <= ch <= "\u9fff" for ch in i.name_en) for i in illnesses)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in i.name_zh) for i in illnesses)
    assert len({i.name_en for i in illnesses}) == 100
    assert len({i.name_zh for i in illnesses}) == 100


def test_catalog_lookup_by_code() -> None:
    catalog = load_illness_catalog()
    first = catalog.get("CI001")
    assert first is not None
    assert first.name_zh == "恶性肿瘤——重度"
    assert catalog.covers("CI100")
    assert not catalog.covers("CI101")
    assert catalog.get("ci001") is None


def test_default_rules_name_the_shipped_catalog_version() -> None:
    assert DEFAULT_RULES.catalog_version == load_illness_catalog().version


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda doc: doc["illnesses"].append(dict(doc["illnesses"][0])), "duplicate codes"),
        (lambda doc: doc["illnesses"][3].update(code="C004"), "malformed code"),
        (lambda doc: doc["illnesses"].reverse(), "ascending order"),
        (lambda doc: doc["illnesses"][5].update(name_zh=" "), "Chinese name"),
        (lambda doc: doc.update(version=0), "version"),
    ],
)
def test_parse_catalog_rejects_broken_documents(mutate: object, message: str) -> None:
    doc = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        parse_catalog(json.dumps(doc))
