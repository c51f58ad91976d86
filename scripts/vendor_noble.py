#!/usr/bin/env python3
"""Copy the audited noble crypto modules the browser needs from node_modules into the web UI.

The page runs under ``script-src 'self'`` with no build step, so the browser must load
``@noble/curves`` (secp256k1) and ``@noble/hashes`` (keccak256, scrypt) from the app's own origin.
Bare specifiers (``@noble/hashes/sha3.js``) cannot be resolved by a browser without an import map,
and an import map is an inline script (it would need a CSP hash, changed at every upgrade), so
this script copies each module reachable from the entry points below, byte for byte except:

- an import of ``@noble/<pkg>/<file>`` is rewritten to the relative path of the vendored copy;
- the trailing ``//# sourceMappingURL=`` line is dropped (the maps are not vendored).

The output (``backend/web/static/vendor/noble/``) is committed, with each package's LICENSE and a
``PROVENANCE.json`` naming the package versions, their lockfile integrity and the SHA-256 of every
source and vendored file. ``tests/device/test_vendor_noble.py`` re-runs :func:`vendored_files`
on the pinned node_modules and fails when the committed copy differs.

    python scripts/vendor_noble.py           # (re)write the vendored copy
    python scripts/vendor_noble.py --check   # exit 1 when the committed copy is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
OUT = ROOT / "backend" / "web" / "static" / "vendor" / "noble"
PACKAGES = ("curves", "hashes")
# What the device modules import (backend/web/static/js/device/); everything they reach comes along.
ENTRY_POINTS = ("curves/secp256k1.js", "hashes/sha3.js", "hashes/scrypt.js", "hashes/utils.js")
# Top-level static imports and re-exports (`import ... from "x"`, `export ... from "x"`, `import "x"`),
# anchored at a line start so the usage examples in the JSDoc comments (` * import ...`) are skipped.
SPECIFIER = re.compile(r"""^((?:import|export)\b[^;'"]*?\bfrom\s*|import\s*)(['"])([^'"\n]+)\2""", re.MULTILINE)
SOURCE_MAP = re.compile(r"\n//# sourceMappingURL=[^\n]*\n?$")


def _package_dir(node_modules: Path, package: str) -> Path:
    return node_modules / "@noble" / package


def _resolve(importer: str, specifier: str) -> str:
    """The vendored path (``<pkg>/<file>``) that ``specifier``, imported from ``importer``, names."""
    if specifier.startswith("@noble/"):
        package, _, rest = specifier[len("@noble/") :].partition("/")
        if package not in PACKAGES or not rest.endswith(".js"):
            raise ValueError(f"{importer}: unexpected import {specifier!r}")
        return f"{package}/{rest}"
    if specifier.startswith("."):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))
    raise ValueError(f"{importer}: unexpected bare import {specifier!r}")


def _relative(importer: str, target: str) -> str:
    path = posixpath.relpath(target, posixpath.dirname(importer))
    return path if path.startswith("../") else f"./{path}"


def vendored_files(node_modules: Path = NODE_MODULES) -> dict[str, bytes]:
    """Every file of the vendored copy, by path under ``vendor/noble/``, built from ``node_modules``."""
    files: dict[str, bytes] = {}
    sources: dict[str, str] = {}
    pending = list(ENTRY_POINTS)
    while pending:
        name = pending.pop()
        if name in files:
            continue
        package, _, rest = name.partition("/")
        source = (_package_dir(node_modules, package) / rest).read_bytes()
        text = source.decode("utf-8")

        def rewrite(match: re.Match[str], name: str = name) -> str:
            target = _resolve(name, match.group(3))
            pending.append(target)
            return f"{match.group(1)}{match.group(2)}{_relative(name, target)}{match.group(2)}"

        text = SPECIFIER.sub(rewrite, text)
        text = SOURCE_MAP.sub("\n", text)
        files[name] = text.encode("utf-8")
        sources[name] = hashlib.sha256(source).hexdigest()

    lock = json.loads((node_modules.parent / "package-lock.json").read_text())
    packages: dict[str, dict[str, str]] = {}
    for package in PACKAGES:
        meta = json.loads((_package_dir(node_modules, package) / "package.json").read_text())
        locked = lock["packages"][f"node_modules/@noble/{package}"]
        if locked["version"] != meta["version"]:
            raise ValueError(
                f"@noble/{package} is {meta['version']} in node_modules, {locked['version']} in the lockfile"
            )
        packages[f"@noble/{package}"] = {
            "version": meta["version"],
            "integrity": locked["integrity"],
            "license": meta["license"],
        }
        files[f"{package}/LICENSE"] = (_package_dir(node_modules, package) / "LICENSE").read_bytes()
    provenance = {
        "generator": "scripts/vendor_noble.py",
        "entryPoints": list(ENTRY_POINTS),
        "packages": packages,
        "files": {
            name: {"source_sha256": sources[name], "vendored_sha256": hashlib.sha256(files[name]).hexdigest()}
            for name in sorted(sources)
        },
    }
    files["PROVENANCE.json"] = (json.dumps(provenance, indent=2, sort_keys=True) + "\n").encode()
    return files


def committed_files(out: Path = OUT) -> dict[str, bytes]:
    """The vendored copy as it is on disk."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed copy differs")
    args = parser.parse_args(argv)
    wanted = vendored_files()
    if args.check:
        have = committed_files()
        stale = sorted(name for name in wanted.keys() | have.keys() if wanted.get(name) != have.get(name))
        for name in stale:
            print(f"stale: vendor/noble/{name}", file=sys.stderr)
        return 1 if stale else 0
    for path in OUT.rglob("*"):
        if path.is_file() and path.relative_to(OUT).as_posix() not in wanted:
            path.unlink()
    for name, content in wanted.items():
        target = OUT / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    print(f"vendored {len(wanted)} files into {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
