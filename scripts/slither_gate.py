"""Slither gate (RELIABILITY C6): fail on any unresolved High or Medium finding in contracts/src.

    python scripts/slither_gate.py [--project DIR] [--json OUT]

1. ``forge build --build-info`` of the deployable sources only (tests skipped), offline, with the
   pinned npm solc behind ``scripts/solc-js`` (see ``forge_test.py``). The build goes to a
   directory keyed by the hash of the sources and the Foundry config under
   ``<project>/cache/slither/``, so an unchanged tree is not recompiled and each build directory
   holds exactly one build-info. Nothing here calls solc-select or downloads a compiler.
2. ``slither <project> --ignore-compile`` on that build, with ``slither.config.json`` (repository
   root) minus its ``justifications`` key.
3. Every detector excluded and every path filtered by the config must carry a one-line
   justification in ``justifications`` (key: the detector name, or ``filter_paths=<value>``);
   a missing one fails the gate, so nothing is silenced without a reason on record.

Exit status: 0 clean; 1 High/Medium findings or an unjustified exclusion; 2 the tools failed.
Low and Informational findings are listed by detector but do not fail the gate.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from forge_test import REPO_ROOT, ForgeSetupError, forge_binary, forge_env

CONFIG = REPO_ROOT / "slither.config.json"
FAILING_IMPACTS = ("High", "Medium")
_CONFIG_FILES = ("foundry.toml", "remappings.txt")


class GateError(RuntimeError):
    """The gate could not run (tool failure), as opposed to the gate finding problems."""


def load_config(path: Path = CONFIG) -> tuple[dict[str, Any], dict[str, str]]:
    """(slither config without justifications, justifications)."""
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    justifications = raw.pop("justifications", {})
    if not isinstance(justifications, dict):
        raise GateError(f"{path.name}: 'justifications' must be an object")
    return raw, {str(k): str(v) for k, v in justifications.items()}


def unjustified_exclusions(config: dict[str, Any], justifications: dict[str, str]) -> list[str]:
    """Each excluded detector / filtered path that has no non-empty one-line justification."""
    wanted = [d.strip() for d in str(config.get("detectors_to_exclude") or "").split(",") if d.strip()]
    if config.get("filter_paths"):
        wanted.append(f"filter_paths={config['filter_paths']}")
    problems = []
    for key in wanted:
        reason = justifications.get(key, "").strip()
        if not reason or "\n" in reason:
            problems.append(key)
    return problems


def source_digest(project: Path) -> str:
    """Hash of every input of the build: sources under src/ and the Foundry configuration."""
    digest = hashlib.sha256()
    files = sorted(project.joinpath("src").rglob("*.sol")) + [project / name for name in _CONFIG_FILES]
    for path in files:
        if path.is_file():
            digest.update(path.relative_to(project).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def build(project: Path) -> Path:
    """Compile ``project/src`` with build-info; return the forge ``out`` directory."""
    root = project / "cache" / "slither"
    out = root / source_digest(project)
    if (out / "build-info").is_dir() and any((out / "build-info").glob("*.json")):
        return out
    if root.is_dir():
        shutil.rmtree(root)  # stale builds of older sources
    root.mkdir(parents=True)
    # Build into a temporary directory, then rename: a run interrupted mid-build leaves no
    # half-written directory that a later run would take for a finished one.
    staging = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    result = subprocess.run(
        [
            str(forge_binary()),
            "build",
            "--root",
            str(project),
            "--build-info",
            "--skip",
            "./test/**",
            "./script/**",
            "--out",
            str(staging / "out"),
            "--cache-path",
            str(staging / "cache"),
        ],
        cwd=project,
        env=forge_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise GateError(f"forge build failed:\n{result.stdout}\n{result.stderr}")
    (staging / "out").rename(out)
    shutil.rmtree(staging)
    return out


def run_slither(project: Path, out: Path, config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Run slither on the build in ``out``; return its JSON report and its "analyzed" summary line.

    Slither logs ``ERROR:`` when it cannot resolve part of the AST and then analyses what it
    could: an incomplete analysis could hide findings, so it is a tool failure here.
    """
    slither = Path(sys.executable).with_name("slither")
    with tempfile.TemporaryDirectory(prefix="slither-gate-") as tmp:
        config_file = Path(tmp) / "slither.config.json"
        config_file.write_text(json.dumps(config), encoding="utf-8")
        report_file = Path(tmp) / "report.json"
        result = subprocess.run(
            [
                str(slither),
                str(project),
                "--ignore-compile",
                "--foundry-out-directory",
                str(out),
                "--config-file",
                str(config_file),
                "--json",
                str(report_file),
            ],
            cwd=REPO_ROOT,
            env=forge_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if not report_file.is_file():
            raise GateError(f"slither produced no report (exit {result.returncode}):\n{result.stderr[-4000:]}")
        report: dict[str, Any] = json.loads(report_file.read_text(encoding="utf-8"))
    if not report.get("success", False):
        raise GateError(f"slither failed: {report.get('error')}\n{result.stderr[-4000:]}")
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    if errors:
        raise GateError("slither could not analyse everything:\n" + "\n".join(errors[:20]))
    summary = re.search(r"analyzed \((\d+) contracts with (\d+) detectors\)", result.stderr)
    if summary is None or int(summary.group(1)) == 0:
        raise GateError(f"slither analysed no contracts:\n{result.stderr[-4000:]}")
    return report, summary.group(0)


def findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    detectors: list[dict[str, Any]] = (report.get("results") or {}).get("detectors") or []
    return detectors


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO_ROOT / "contracts", help="Foundry project root")
    parser.add_argument("--config", type=Path, default=CONFIG, help="slither config with justifications")
    parser.add_argument("--json", type=Path, help="also write slither's JSON report here")
    args = parser.parse_args(argv)
    project: Path = args.project.resolve()

    try:
        config, justifications = load_config(args.config)
        missing = unjustified_exclusions(config, justifications)
        if missing:
            print(f"slither gate: FAIL — exclusions without a one-line justification: {', '.join(missing)}")
            return 1
        report, analyzed = run_slither(project, build(project), config)
    except (GateError, ForgeSetupError, OSError, json.JSONDecodeError) as exc:
        print(f"slither gate: could not run: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")

    results = findings(report)
    blocking = [r for r in results if r.get("impact") in FAILING_IMPACTS]
    others = Counter(f"{r.get('check')} ({r.get('impact')})" for r in results if r not in blocking)
    for name, count in sorted(others.items()):
        print(f"  note: {count} × {name}")
    for r in blocking:
        first_line = str(r.get("description", "")).strip().splitlines()[0]
        print(f"  {str(r.get('impact')).upper()}: {r.get('check')}: {first_line}")
    if blocking:
        print(f"slither gate: FAIL — {len(blocking)} unresolved High/Medium finding(s)")
        return 1
    print(f"slither gate: OK — 0 High/Medium findings, {len(results)} lower-impact ({analyzed}, {project.name}/src)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
