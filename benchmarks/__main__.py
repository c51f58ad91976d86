"""``python -m benchmarks [names...] [--quick]``: run benchmark modules, print a table each, save JSON.

Discovers ``benchmarks/bench_*.py``; a name selects a module with or without its ``bench_``
prefix (``notary`` or ``bench_notary``). Each module's ``run()`` returns a dict of figures (nested
dicts are flattened into dotted rows); it is printed as a rich table and written to
``benchmarks/results/<module>.json``. ``--quick`` passes ``quick=True`` to modules whose ``run``
accepts it and skips the others (a quick run is a smoke run: tiny sizes, not a measurement).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def discover() -> list[str]:
    """Module names of every ``bench_*.py`` beside this file, sorted."""
    return sorted(path.stem for path in HERE.glob("bench_*.py"))


def select(names: list[str], wanted: list[str]) -> list[str]:
    """The modules ``wanted`` names (all when empty); ValueError naming any unknown one."""
    if not wanted:
        return names
    chosen = []
    for want in wanted:
        module = want if want.startswith("bench_") else f"bench_{want}"
        if module not in names:
            raise ValueError(f"no benchmark {want!r}; there are: {', '.join(n.removeprefix('bench_') for n in names)}")
        chosen.append(module)
    return chosen


def flatten(figures: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf value) pairs of a nested dict, in insertion order."""
    for key, value in figures.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from flatten(value, path + ".")
        else:
            yield path, value


def _format(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list | tuple):
        return ", ".join(_format(v) for v in value)
    return str(value)


def table(module: str, figures: dict[str, Any], seconds: float) -> Table:
    """One module's figures as a two-column table."""
    out = Table(title=f"{module} ({seconds:.1f} s)", title_justify="left")
    out.add_column("figure", style="cyan", no_wrap=True)
    out.add_column("value", justify="right", no_wrap=True)
    for key, value in flatten(figures):
        style = "red" if key.endswith(".met") and value is False else None
        out.add_row(key, _format(value), style=style)
    return out


def run_module(module: str, quick: bool, sizes: list[int] | None = None) -> dict[str, Any] | None:
    """Import and run one module; None when ``quick`` and the module has no quick mode.

    ``sizes`` goes to modules whose ``run`` takes it (``bench_apportionment``); ValueError otherwise.
    """
    bench = importlib.import_module(f"benchmarks.{module}")
    if sizes:
        if "sizes" not in inspect.signature(bench.run).parameters:
            raise ValueError(f"{module} takes no --sizes")
        sized: dict[str, Any] = bench.run(sizes=sizes)
        return sized
    if not quick:
        figures: dict[str, Any] = bench.run()
        return figures
    if "quick" not in inspect.signature(bench.run).parameters:
        return None
    quick_figures: dict[str, Any] = bench.run(quick=True)
    return quick_figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. notary merkle")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    parser.add_argument("--sizes", help="comma-separated sizes for benchmarks that take them (apportionment)")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")] if args.sizes else None
    # Piped output (make bench | tee) would otherwise wrap at 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 120)
    try:
        modules = select(discover(), args.names)
    except ValueError as exc:
        parser.error(str(exc))
    RESULTS.mkdir(exist_ok=True)
    for module in modules:
        t0 = time.perf_counter()
        try:
            figures = run_module(module, args.quick, sizes)
        except ValueError as exc:
            parser.error(str(exc))
        seconds = time.perf_counter() - t0
        if figures is None:
            console.print(f"[yellow]{module}: no quick mode, skipped[/yellow]")
            continue
        console.print(table(module, figures, seconds))
        suffix = ".quick" if args.quick else (".sizes-" + "-".join(map(str, sizes)) if sizes else "")
        (RESULTS / f"{module}{suffix}.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
