"""Run every ``benchmarks/bench_*.py`` module's ``run()`` and print its figures as JSON."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def main() -> None:
    only = set(sys.argv[1:])
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        name = path.stem
        if only and name not in only and name.removeprefix("bench_") not in only:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        print(json.dumps({name: module.run()}, indent=2), flush=True)


if __name__ == "__main__":
    main()
