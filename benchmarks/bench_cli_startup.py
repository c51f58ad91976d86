"""``hubao`` start-up (issue 13, item 6) next to ``python -c pass`` measured in the same run.

Each command is a fresh process of the installed console script, as a user runs it:

* ``help`` — ``hubao --help`` (lists every command from ``backend.cli.COMMANDS``, imports none);
* ``cid`` — ``hubao cid EMPTY`` (an empty file: start-up is all there is to time);
* ``receipt_verify`` — ``hubao receipt verify RECEIPT`` offline, on the evidence receipt of
  ``tests/vectors/receipt_evidence.json`` (the whole verification, which is a few keccak calls);
* ``typer_import`` — ``python -c "import typer"``: the CLI framework's own floor (typer 0.29
  converts parameters with pydantic, most of what the CLI costs before its first line runs).

Baseline and commands run in turns (``python -c pass``, then each command, ``rounds`` times), so
drift in the machine's load hits every figure alike. Per command: median and best wall seconds,
median CPU seconds (user + system of the child, from ``getrusage``), and the median wall ratio to
the baseline. Target: ≤ 0.3 s for ``help``, ``cid`` and ``receipt_verify``: ``targets.met_wall``
on the median wall time, ``targets.met_cpu`` on the median CPU time. On an idle machine the two
agree; on a loaded one the wall time also holds the wait for a CPU (compare ``python -c pass``'s
wall and CPU figures to see how much), so read the CPU target there.

``python -m benchmarks cli_startup`` runs it.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HUBAO = Path(sys.executable).with_name("hubao")
TARGET_SECONDS = 0.3
ROUNDS = 9
QUICK_ROUNDS = 2


def _timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process; it must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False, cwd=REPO)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _commands(work: Path) -> dict[str, list[str]]:
    empty = work / "empty"
    empty.write_bytes(b"")
    vectors = json.loads((REPO / "tests" / "vectors" / "receipt_evidence.json").read_text(encoding="utf-8"))
    receipt = work / "receipt.json"
    receipt.write_text(json.dumps(vectors["receipt"]), encoding="utf-8")
    return {
        "help": [str(HUBAO), "--help"],
        "cid": [str(HUBAO), "cid", str(empty)],
        "receipt_verify": [str(HUBAO), "receipt", "verify", str(receipt)],
        "typer_import": [sys.executable, "-c", "import typer"],
    }


def run(quick: bool = False) -> dict[str, Any]:
    rounds = QUICK_ROUNDS if quick else ROUNDS
    baseline_argv = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        commands = _commands(Path(tmp))
        for argv in [baseline_argv, *commands.values()]:  # warm the page cache and .pyc files
            _timed(argv)
        samples: dict[str, list[tuple[float, float]]] = {"baseline": [], **{name: [] for name in commands}}
        for _ in range(rounds):
            for name, argv in [("baseline", baseline_argv), *commands.items()]:
                samples[name].append(_timed(argv))

    def summary(name: str) -> dict[str, float]:
        walls = [w for w, _ in samples[name]]
        return {
            "wall_median_s": round(statistics.median(walls), 4),
            "wall_best_s": round(min(walls), 4),
            "cpu_median_s": round(statistics.median(c for _, c in samples[name]), 4),
        }

    baseline = summary("baseline")
    figures: dict[str, Any] = {"rounds": rounds, "baseline_python_pass": baseline}
    for name in commands:
        row = summary(name)
        row["wall_ratio_vs_baseline"] = round(row["wall_median_s"] / baseline["wall_median_s"], 2)
        row["cpu_ratio_vs_baseline"] = round(row["cpu_median_s"] / max(baseline["cpu_median_s"], 1e-6), 2)
        figures[name] = row
    targeted = ("help", "cid", "receipt_verify")
    figures["targets"] = {
        "seconds_max": TARGET_SECONDS,
        "met_wall": all(figures[name]["wall_median_s"] <= TARGET_SECONDS for name in targeted),
        "met_cpu": all(figures[name]["cpu_median_s"] <= TARGET_SECONDS for name in targeted),
    }
    return figures


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
