"""The README is the entry point: its first lines are the two commands, its table every setting."""

from __future__ import annotations

import re
from pathlib import Path

from backend.config import known_setting_names

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_opens_with_the_two_commands() -> None:
    commands = re.findall(r"^make (\w+)", "\n".join(README.splitlines()[:8]), flags=re.MULTILINE)
    assert commands == ["run", "test"]


def test_readme_configuration_table_lists_every_setting() -> None:
    documented = set(re.findall(r"^\| `(HUBAO_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert documented == known_setting_names()
