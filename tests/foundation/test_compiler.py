"""Contract pipeline: py-solc-x through the npm solc wrapper, deterministic, provenance-checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from backend.chain.compiler import (
    SOLC_VERSION,
    ContractsLayout,
    compile_contracts,
    compile_if_needed,
    resolve_solc,
    stale_artifacts,
    strip_metadata,
    write_artifacts,
)
from backend.config import REPO_ROOT
from backend.errors import CompileError

BOX = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
interface IBox { function set(uint256 v) external; }
contract Box is IBox, AccessControl {
    uint256 private _v;
    constructor(address admin) { _grantRole(DEFAULT_ADMIN_ROLE, admin); }
    function set(uint256 v) external { _v = v; }
}
"""


@pytest.fixture
def layout(tmp_path: Path) -> ContractsLayout:
    (tmp_path / "contracts" / "src").mkdir(parents=True)
    (tmp_path / "contracts" / "src" / "Box.sol").write_text(BOX)
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    (tmp_path / "scripts").symlink_to(REPO_ROOT / "scripts")
    return ContractsLayout(tmp_path)


def test_compile_uses_npm_solc_wrapper_when_no_native_solc(layout: ContractsLayout) -> None:
    assert resolve_solc(layout) == layout.solc_js
    artifacts = compile_contracts(layout)
    assert set(artifacts) == {"Box"}  # the interface has no bytecode and gets no artifact
    box = artifacts["Box"]
    assert box["provenance"]["compiler"] == f"solc-{SOLC_VERSION}"
    assert "node_modules/@openzeppelin/contracts/access/AccessControl.sol" in box["provenance"]["sources"]
    assert box["bytecode"].startswith("0x6080")
    assert any(item.get("name") == "AccessControlUnauthorizedAccount" for item in box["abi"])


def test_compile_twice_gives_byte_identical_artifacts(layout: ContractsLayout) -> None:
    first = write_artifacts(compile_contracts(layout), layout)[0].read_bytes()
    second = write_artifacts(compile_contracts(layout), layout)[0].read_bytes()
    assert first == second


def test_stale_artifacts_reports_changed_source(layout: ContractsLayout) -> None:
    write_artifacts(compile_contracts(layout), layout)
    assert stale_artifacts(layout) == []
    src = layout.sources / "Box.sol"
    src.write_text(src.read_text().replace("_v = v;", "_v = v + 1;"))
    assert stale_artifacts(layout) == ["Box.json: source contracts/src/Box.sol changed since it was compiled"]
    assert compile_if_needed(layout) is True
    assert stale_artifacts(layout) == []
    assert compile_if_needed(layout) is False


def test_stale_artifacts_reports_new_source(layout: ContractsLayout) -> None:
    write_artifacts(compile_contracts(layout), layout)
    shutil.copy(layout.sources / "Box.sol", layout.sources / "Crate.sol")
    (layout.sources / "Crate.sol").write_text(BOX.replace("Box", "Crate"))
    assert "source contracts/src/Crate.sol is in no artifact: run `hubao compile`" in stale_artifacts(layout)


def test_compile_reports_syntax_error_in_one_line(layout: ContractsLayout) -> None:
    (layout.sources / "Box.sol").write_text(BOX.replace("uint256 private _v;", "uint256 private _v"))
    with pytest.raises(CompileError, match="ParserError"):
        compile_contracts(layout)


def test_native_solc_of_wrong_version_is_refused(tmp_path: Path, layout: ContractsLayout) -> None:
    fake = tmp_path / "solc"
    fake.write_text(
        "#!/bin/sh\necho 'solc, the solidity compiler commandline interface'\necho 'Version: 0.8.19+commit.7dd6d404'\n"
    )
    fake.chmod(0o755)
    with pytest.raises(CompileError, match=r"pinned version is 0\.8\.28"):
        resolve_solc(layout, fake)


def test_committed_artifacts_match_sources() -> None:
    """C9: a source changed without recompiling fails here (run `hubao compile`)."""
    assert stale_artifacts() == []


def test_committed_artifacts_equal_a_fresh_compile() -> None:
    """C9: recompile with the pinned solc-js; bytecode minus metadata equals the committed one."""
    fresh = compile_contracts()
    layout = ContractsLayout()
    assert fresh, "no deployable contracts compiled"
    for name, artifact in fresh.items():
        committed = json.loads((layout.artifacts / f"{name}.json").read_text())
        assert strip_metadata(committed["bytecode"]) == strip_metadata(artifact["bytecode"]), name
        assert committed["deployedBytecode"] == artifact["deployedBytecode"], name
        assert committed["abi"] == artifact["abi"], name
