"""Solidity compilation through py-solc-x, with provenance-stamped artifacts.

Compiler resolution (first that applies):
1. an explicit native ``solc`` (``HUBAO_SOLC_BINARY``), if its version is the pinned one;
2. a native ``solc`` of the pinned version already known to py-solc-x;
3. the npm ``solc`` package (official emscripten build) behind ``scripts/solc-js``, a wrapper that
   speaks solc's ``--version`` / ``--standard-json`` CLI.

Every deployable contract in ``contracts/src`` gets ``contracts/artifacts/<Name>.json`` holding its
ABI, creation and runtime bytecode and the provenance of the build: compiler version, settings and
the sha256 of every source that went into it (OpenZeppelin included). Compilation is deterministic:
the same sources give byte-identical artifacts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from backend.config import REPO_ROOT
from backend.errors import CompileError

SOLC_VERSION = "0.8.28"
COMPILER_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "shanghai",
    "viaIR": False,
    "metadata": {"bytecodeHash": "ipfs"},
    "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
}
_OUTPUT_SELECTION = {
    "*": {
        "*": [
            "abi",
            "evm.bytecode.object",
            "evm.deployedBytecode.object",
            "evm.deployedBytecode.immutableReferences",
            "metadata",
        ]
    }
}
ARTIFACT_FORMAT = "hubao-artifact-v1"


@dataclass(frozen=True)
class ContractsLayout:
    """Where sources, artifacts and node modules live (the repository by default)."""

    root: Path = REPO_ROOT

    @property
    def sources(self) -> Path:
        return self.root / "contracts" / "src"

    @property
    def artifacts(self) -> Path:
        return self.root / "contracts" / "artifacts"

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"

    @property
    def solc_js(self) -> Path:
        return self.root / "scripts" / "solc-js"


def resolve_solc(layout: ContractsLayout, native: Path | None = None) -> Path:
    """Pick the compiler binary (see module docstring); raise CompileError if none can run."""
    if native is not None:
        version = _binary_version(native)
        if version != SOLC_VERSION:
            raise CompileError(f"HUBAO_SOLC_BINARY {native} is solc {version}, the pinned version is {SOLC_VERSION}")
        return native
    try:
        for installed in solcx.get_installed_solc_versions():
            if str(installed) == SOLC_VERSION:
                return Path(solcx.install.get_executable(SOLC_VERSION))
    except SolcError:
        pass
    if not (layout.node_modules / "solc").is_dir():
        raise CompileError("npm solc is not installed: run `npm ci` (make setup) first")
    return layout.solc_js


def _binary_version(binary: Path) -> str:
    try:
        return str(solcx.wrapper.get_solc_version(binary))
    except (OSError, SolcError) as exc:
        raise CompileError(f"cannot run solc at {binary}: {exc}") from exc


def source_files(layout: ContractsLayout) -> list[Path]:
    return sorted(layout.sources.glob("*.sol"))


def _standard_input(layout: ContractsLayout, files: Iterable[Path]) -> dict[str, Any]:
    sources = {f"contracts/src/{path.name}": {"content": path.read_text(encoding="utf-8")} for path in files}
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {**COMPILER_SETTINGS, "outputSelection": _OUTPUT_SELECTION},
    }


def compile_contracts(layout: ContractsLayout | None = None, native: Path | None = None) -> dict[str, dict[str, Any]]:
    """Compile every source in ``contracts/src`` and return artifacts keyed by contract name.

    Only deployable contracts (non-empty creation bytecode, defined in ``contracts/src``) are returned.
    """
    layout = layout or ContractsLayout()
    files = source_files(layout)
    if not files:
        raise CompileError(f"no Solidity sources in {layout.sources}")
    solc = resolve_solc(layout, native)
    std_input = _standard_input(layout, files)
    try:
        output = solcx.compile_standard(
            std_input,
            solc_binary=solc,
            base_path=str(layout.root),
            allow_paths=[str(layout.root), str(layout.node_modules)],
        )
    except SolcError as exc:
        raise CompileError(f"solc failed: {_first_error(exc)}") from exc
    version = _binary_version(solc)
    all_sources = _used_sources(output, layout)
    artifacts: dict[str, dict[str, Any]] = {}
    for unit, contracts in sorted(output.get("contracts", {}).items()):
        if not unit.startswith("contracts/src/"):
            continue
        for name, data in sorted(contracts.items()):
            bytecode = data["evm"]["bytecode"]["object"]
            if not bytecode:
                continue  # interfaces and abstract contracts
            metadata = json.loads(data["metadata"])
            used = sorted(metadata["sources"])
            artifacts[name] = {
                "format": ARTIFACT_FORMAT,
                "contractName": name,
                "sourceName": unit,
                "abi": data["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "immutableReferences": data["evm"]["deployedBytecode"].get("immutableReferences", {}),
                "provenance": {
                    "compiler": f"solc-{version}",
                    "settings": COMPILER_SETTINGS,
                    "sources": {src: all_sources[src] for src in used},
                },
            }
    return artifacts


def _used_sources(output: dict[str, Any], layout: ContractsLayout) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for unit in output.get("sources", {}):
        path = _source_path(unit, layout)
        hashes[unit] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def _source_path(unit: str, layout: ContractsLayout) -> Path:
    if unit.startswith("@openzeppelin/"):
        return layout.node_modules / unit
    return layout.root / unit


def _first_error(exc: SolcError) -> str:
    text = str(exc)
    match = re.search(r"(ParserError|TypeError|DeclarationError|CompilerError|Error)[^\n]*", text)
    return match.group(0) if match else text.splitlines()[0]


def artifact_json(artifact: dict[str, Any]) -> str:
    """Canonical serialisation: sorted keys, two-space indent, trailing newline."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def write_artifacts(artifacts: dict[str, dict[str, Any]], layout: ContractsLayout | None = None) -> list[Path]:
    layout = layout or ContractsLayout()
    layout.artifacts.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in artifacts.items():
        path = layout.artifacts / f"{name}.json"
        text = artifact_json(artifact)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in layout.artifacts.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    return written


def load_artifact(name: str, layout: ContractsLayout | None = None) -> dict[str, Any]:
    layout = layout or ContractsLayout()
    path = layout.artifacts / f"{name}.json"
    if not path.exists():
        raise CompileError(f"no artifact for {name}: run `hubao compile`")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def stale_artifacts(layout: ContractsLayout | None = None) -> list[str]:
    """Describe every way the committed artifacts disagree with the sources on disk (empty = fresh).

    Cheap: compares the sha256 recorded in each artifact's provenance with the files now on disk,
    and the set of source files with the set the artifacts were built from.
    """
    layout = layout or ContractsLayout()
    problems: list[str] = []
    seen_units: set[str] = set()
    artifacts = sorted(layout.artifacts.glob("*.json"))
    if not artifacts:
        return ["no artifacts: run `hubao compile`"]
    for path in artifacts:
        artifact = json.loads(path.read_text(encoding="utf-8"))
        prov = artifact.get("provenance", {})
        if prov.get("compiler") != f"solc-{SOLC_VERSION}" and not str(prov.get("compiler", "")).startswith(
            f"solc-{SOLC_VERSION}+"
        ):
            problems.append(f"{path.name}: built with {prov.get('compiler')}, pinned is {SOLC_VERSION}")
        if prov.get("settings") != COMPILER_SETTINGS:
            problems.append(f"{path.name}: built with other compiler settings")
        for unit, digest in prov.get("sources", {}).items():
            seen_units.add(unit)
            source = _source_path(unit, layout)
            if not source.exists():
                problems.append(f"{path.name}: source {unit} is gone")
            elif hashlib.sha256(source.read_bytes()).hexdigest() != digest:
                problems.append(f"{path.name}: source {unit} changed since it was compiled")
    for source in source_files(layout):
        unit = f"contracts/src/{source.name}"
        if unit not in seen_units:
            problems.append(f"source {unit} is in no artifact: run `hubao compile`")
    return problems


def compile_if_needed(layout: ContractsLayout | None = None, native: Path | None = None) -> bool:
    """Recompile when any artifact is stale; return True when a compile ran."""
    layout = layout or ContractsLayout()
    if not stale_artifacts(layout):
        return False
    write_artifacts(compile_contracts(layout, native), layout)
    return True


def strip_metadata(bytecode: str) -> str:
    """Runtime/creation bytecode without the trailing CBOR metadata (length in the last 2 bytes)."""
    raw = bytes.fromhex(bytecode.removeprefix("0x"))
    if len(raw) < 2:
        return bytecode
    meta_len = int.from_bytes(raw[-2:], "big")
    if meta_len + 2 > len(raw):
        return bytecode
    return "0x" + raw[: -(meta_len + 2)].hex()
