"""Provenance of the vendored noble modules: the committed copy is what scripts/vendor_noble.py makes
from the pinned node_modules (package-lock.json), and the browser can resolve every import in it."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vendor_noble", ROOT / "scripts" / "vendor_noble.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vendor_noble", module)
    spec.loader.exec_module(module)
    return module


vendor_noble = _script()


def test_vendored_copy_equals_what_the_script_makes_from_node_modules() -> None:
    if not (vendor_noble.NODE_MODULES / "@noble" / "curves" / "package.json").is_file():
        pytest.skip("node_modules is not installed (npm ci): the vendored copy cannot be re-derived")
    wanted = vendor_noble.vendored_files()
    committed = vendor_noble.committed_files()
    assert sorted(committed) == sorted(wanted)
    stale = [name for name in wanted if committed[name] != wanted[name]]
    assert stale == []


def test_vendored_versions_are_the_ones_package_json_pins() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]
    provenance = json.loads((vendor_noble.OUT / "PROVENANCE.json").read_text())
    for name, meta in provenance["packages"].items():
        assert meta["version"] == pinned[name], name
        assert meta["integrity"].startswith("sha512-")
    assert set(provenance["files"]) == {p for p in vendor_noble.committed_files() if p.endswith(".js")}


def test_every_vendored_import_is_relative_and_resolves() -> None:
    modules = sorted(vendor_noble.OUT.rglob("*.js"))
    assert len(modules) >= 10
    for path in modules:
        text = path.read_text()
        for specifier in vendor_noble.SPECIFIER.findall(text):
            target = specifier[2]
            assert target.startswith(("./", "../")), (path, target)
            assert (path.parent / target).resolve().is_file(), (path, target)
        assert "sourceMappingURL" not in text, path
        assert not re.search(r"^\s*import\s*\(", text, flags=re.MULTILINE), path


def test_rewrite_maps_bare_specifiers_to_the_vendored_copy() -> None:
    assert vendor_noble._resolve("curves/abstract/weierstrass.js", "@noble/hashes/hmac.js") == "hashes/hmac.js"
    assert vendor_noble._relative("curves/abstract/weierstrass.js", "hashes/hmac.js") == "../../hashes/hmac.js"
    assert vendor_noble._relative("curves/secp256k1.js", "curves/utils.js") == "./utils.js"
    with pytest.raises(ValueError, match="unexpected bare import"):
        vendor_noble._resolve("curves/utils.js", "lodash")
