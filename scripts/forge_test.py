"""Run forge (npm ``@foundry-rs/forge``) on the Foundry project in ``contracts/``, offline.

    python scripts/forge_test.py [forge test arguments...]        # forge test
    python scripts/forge_test.py --build [forge build arguments...]  # forge build

What it sets up, so that forge works from any directory on a machine without internet:
- the compiler is the pinned npm solc behind ``scripts/solc-js`` (``FOUNDRY_SOLC``, absolute path:
  the relative path in ``contracts/foundry.toml`` only holds when forge runs inside ``contracts/``);
- ``FOUNDRY_OFFLINE=true``: forge never looks up compiler releases;
- ``FOUNDRY_REMAPPINGS`` maps ``@openzeppelin/`` to the *absolute* node_modules path. With the
  relative ``../node_modules`` of ``contracts/remappings.txt`` forge names directly imported
  OpenZeppelin files ``../node_modules/...`` but their own imports ``/abs/.../node_modules/...``,
  so every OpenZeppelin file is compiled twice under two names, which breaks slither's reference
  resolution;
- forge's own directory is put first on ``PATH`` (crytic-compile, used by the slither gate, calls
  ``forge`` by name).

Budgets (fuzz 1,000 runs for ``verify``, invariants 256 runs x depth 500) live in
``contracts/foundry.toml`` and the tests' inline config; ``FOUNDRY_INVARIANT_RUNS``,
``FOUNDRY_FUZZ_SEED`` etc. in the environment still override them (nightly sweeps).
The exit status is forge's.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = REPO_ROOT / "contracts"
SOLC_WRAPPER = REPO_ROOT / "scripts" / "solc-js"
NODE_MODULES = REPO_ROOT / "node_modules"

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class ForgeSetupError(RuntimeError):
    """The toolchain forge needs is missing (run ``make setup``)."""


def forge_binary() -> Path:
    """Path of the forge executable shipped by the npm package for this platform."""
    system = platform.system().lower()
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    binary = NODE_MODULES / "@foundry-rs" / f"forge-{system}-{arch}" / "bin" / "forge"
    if not binary.is_file():
        raise ForgeSetupError(f"forge is not installed at {binary}: run `make setup` (npm ci)")
    return binary


def forge_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for forge (and for tools that call forge by name, such as crytic-compile)."""
    if shutil.which("node") is None:
        raise ForgeSetupError("node is not on PATH: the solc wrapper scripts/solc-js needs it")
    if not (NODE_MODULES / "solc").is_dir():
        raise ForgeSetupError("npm solc is not installed: run `make setup` (npm ci)")
    env = dict(os.environ if base is None else base)
    env["FOUNDRY_SOLC"] = str(SOLC_WRAPPER)
    env["FOUNDRY_OFFLINE"] = "true"
    env["FOUNDRY_REMAPPINGS"] = f"@openzeppelin/={NODE_MODULES / '@openzeppelin'}/"
    env["PATH"] = os.pathsep.join([str(forge_binary().parent), env.get("PATH", "")])
    return env


def forge_command(subcommand: str, args: list[str]) -> list[str]:
    return [str(forge_binary()), subcommand, "--root", str(PROJECT), *args]


def run_forge(
    subcommand: str, args: list[str], *, capture: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``forge <subcommand> <args>`` in ``contracts/`` and return the finished process."""
    return subprocess.run(
        forge_command(subcommand, args),
        cwd=PROJECT,
        env=forge_env(env),
        capture_output=capture,
        text=True,
        check=False,
    )


def main(argv: list[str]) -> int:
    subcommand, args = ("build", argv[1:]) if argv[:1] == ["--build"] else ("test", argv)
    try:
        return run_forge(subcommand, args).returncode
    except ForgeSetupError as exc:
        print(f"forge_test: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
