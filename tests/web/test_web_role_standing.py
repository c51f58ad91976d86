"""The sentence the reviewer's and juror's key card says about their roster role (ui.js
``roleStandingText``), run under node: the same module the browser loads. A pending or revoking
role names the time it changes in the plan's time zone, zone named."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

UI = Path(__file__).parents[2] / "backend" / "web" / "static" / "js" / "ui.js"
ZONE = "Asia/Shanghai"
CHANGE_AT = "2026-12-13T16:30:00Z"  # 2026-12-14 00:30 in Shanghai: the day differs from UTC's


def _texts(cases: list[dict[str, Any] | None], zone: str | None) -> list[str | None]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = (
        f"import {{ roleStandingText }} from {json.dumps(UI.as_uri())};"
        f"const cases = {json.dumps(cases)};"
        f"console.log(JSON.stringify(cases.map((c) => roleStandingText(c, {json.dumps(zone)}))));"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60, check=True
    )
    texts: list[str | None] = json.loads(done.stdout)
    return texts


def test_role_standing_says_when_an_announced_change_takes_effect_in_the_plans_zone() -> None:
    cases: list[dict[str, Any] | None] = [
        {"role": "JUROR_ROLE", "status": "pending", "changeAt": CHANGE_AT},
        {"role": "REVIEWER_ROLE", "status": "revoking", "changeAt": CHANGE_AT},
        {"role": "JUROR_ROLE", "status": "held", "changeAt": None},
        {"role": "REVIEWER_ROLE", "status": "none", "changeAt": None},
        {"role": "JUROR_ROLE", "status": "unknown", "changeAt": None},
        None,
    ]
    pending, revoking, held, none, unknown, nothing = _texts(cases, ZONE)
    assert pending is not None
    assert pending.startswith("Your juror role is announced on chain and takes effect at ")
    assert "2026-12-14 00:30 Asia/Shanghai (GMT+08:00)" in pending
    assert "cannot vote until then" in pending
    assert (
        revoking
        == "Your reviewer role is being revoked on chain: it ends at 2026-12-14 00:30 Asia/Shanghai (GMT+08:00)."
    )
    assert held == "Your juror role is in force on chain."
    assert none == "Your registered key holds no reviewer role on chain."
    assert unknown is not None
    assert "unknown" in unknown
    assert nothing is None


def test_role_standing_without_the_plans_zone_falls_back_to_utc_named() -> None:
    (pending,) = _texts([{"role": "JUROR_ROLE", "status": "pending", "changeAt": CHANGE_AT}], None)
    assert pending is not None
    assert "2026-12-13 16:30:00 UTC" in pending
