"""What ui.js writes for dates and roster roles, run under node: the same module the browser loads.

Every instant is shown in the plan's time zone once the page knows it (``setPlanTimeZone``, from
GET /chain/time): "Joined" and "Filed" as the deadlines and the debit day, never UTC beside them. A
pending or revoking roster role names the time it changes in that zone too.
"""

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


def _node(body: str) -> Any:
    """Run ``body`` (JavaScript, with ``ui`` the imported ui.js module) under node; what it
    prints as JSON."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = f"const ui = await import({json.dumps(UI.as_uri())});\n{body}"
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def _texts(cases: list[dict[str, Any] | None], zone: str | None) -> list[str | None]:
    texts: list[str | None] = _node(
        f"console.log(JSON.stringify({json.dumps(cases)}.map((c) => ui.roleStandingText(c, {json.dumps(zone)}))));"
    )
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


JOINED = "2026-12-06T17:10:00+00:00"  # 01:10 on the 7th in Shanghai: UTC's day is the 6th


def test_dates_are_shown_in_the_plans_zone_once_it_is_known() -> None:
    shown = _node(
        f"""const before = [ui.when({json.dumps(JOINED)}), ui.planDay({json.dumps(JOINED)})];
        ui.setPlanTimeZone({json.dumps(ZONE)});
        const after = [ui.when({json.dumps(JOINED)}), ui.planDay({json.dumps(JOINED)}), ui.when(1765041000),
                       ui.inZone({json.dumps(JOINED)}, {json.dumps(ZONE)}), ui.when(null), ui.planDay("not a date")];
        console.log(JSON.stringify({{ before, after }}));"""
    )
    assert shown["before"] == ["2026-12-06 17:10:00 UTC", "2026-12-06 (UTC)"]
    joined, filed_day, from_seconds, deadline, missing, unreadable = shown["after"]
    assert joined == "2026-12-07 01:10 Asia/Shanghai (GMT+08:00)"
    assert joined == deadline  # "Joined" reads as the jury's deadlines read
    assert filed_day == "2026-12-07 (UTC+08:00)"  # the day "My shares" writes for a debit
    assert from_seconds == "2025-12-07 01:10 Asia/Shanghai (GMT+08:00)"
    assert (missing, unreadable) == ("—", "not a date")
