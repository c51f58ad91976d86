"""The product's modules import on their own, and their top-level imports form no cycle (issue 13, item 7).

Product modules: every ``.py`` under ``backend/`` and ``evidence_store/`` inside packages (so not
the Alembic scripts under ``backend/db/migrations``), except ``__main__`` modules, which run the
CLI when imported.

**Each module on its own, in a fresh interpreter.** One ``python`` process (the *zygote*) imports the
third-party packages the product imports — never a product module — then forks one child per
product module; the child checks that no product module is in ``sys.modules`` and imports its
module. A forked child of an interpreter that has never imported product code is, for product
code, a fresh interpreter (the same memory a new ``python -c "import m"`` would build, minus the
shared third-party start-up), and the fork costs milliseconds, where 170 new interpreters
importing web3 and SQLAlchemy each cost minutes on two cores. Children run two at a time.

**No cycle in the import graph.** Edges are the imports a module runs when it is imported:
statements at module level, inside module-level ``if``/``try``/``with`` blocks and class bodies —
not inside functions, and not under ``if TYPE_CHECKING:``. ``from x import y`` is an edge to
``x.y`` when that is a product module, else to ``x``; ``import a.b`` is an edge to ``a.b`` (not to
the package ``a``, whose initialisation is not a dependency of ``a.b``'s code). The strongly
connected components of more than one module are the cycles. A second graph also counts the
imports inside functions: a cycle closed by a function-local import is deferred, not gone.

Both lists below must only shrink: a cycle or an unimportable module not listed fails the test, and
so does a listed one that is gone (remove it from the list). The lead empties them when issue 13's
refactors have landed.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("backend", "evidence_store")

# Strongly connected components of the import graph that exist today (each a frozenset of modules).
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()

# Components that exist today once imports inside functions count too: a function-local import that
# closes a cycle only defers it (issue 13: "no function-local import exists only to dodge a cycle").
KNOWN_DEFERRED_CYCLES: frozenset[frozenset[str]] = frozenset()

# Modules that cannot be imported on their own today.
KNOWN_UNIMPORTABLE: frozenset[str] = frozenset()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def product_modules() -> dict[str, Path]:
    """Module name → file of every product module (files inside packages, no ``__main__``)."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name == "__main__.py":
                continue
            if all((d / "__init__.py").is_file() for d in path.parents if REPO in d.parents):
                out[_module_name(path)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_statements(body: list[ast.stmt], *, deferred: bool = False) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements run when the module is imported; with ``deferred``, also those in functions.

    ``if TYPE_CHECKING:`` blocks never run, so their imports are never included.
    """
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_statements(node.body, deferred=deferred)
            yield from _import_statements(node.orelse, deferred=deferred)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _import_statements(block, deferred=deferred)
        elif isinstance(node, ast.With | ast.ClassDef | ast.For | ast.While) or (
            deferred and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ):
            yield from _import_statements(node.body, deferred=deferred)


def _is_product(name: str) -> bool:
    return name.split(".", 1)[0] in PACKAGES


def imports_of(module: str, path: Path, *, deferred: bool = False) -> set[str]:
    """Product modules that ``module`` imports at import time (see the module docstring).

    With ``deferred``, also the ones imported inside its functions.
    """
    modules = product_modules()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    for node in _import_statements(tree.body, deferred=deferred):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if _is_product(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not _is_product(source):
                continue
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                out.add(candidate if candidate in modules else source)
    out.discard(module)
    return out


@cache
def import_graph(*, deferred: bool = False) -> dict[str, frozenset[str]]:
    """Module → the product modules it imports (top-level only, or with ``deferred`` imports too)."""
    return {name: frozenset(imports_of(name, path, deferred=deferred)) for name, path in product_modules().items()}


def strongly_connected(graph: dict[str, frozenset[str]]) -> list[frozenset[str]]:
    """Tarjan's components of more than one module (iterative: the graph is deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(frozenset(component))
    return out


def cycle_path(graph: dict[str, frozenset[str]], component: frozenset[str]) -> list[str]:
    """One concrete cycle inside ``component`` (a → b → … → a), for the failure message."""
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child not in parents:
                    parents[child] = node
                    nxt.append(child)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def _cycle_problems(deferred: bool, known: frozenset[frozenset[str]], list_name: str) -> list[str]:
    graph = import_graph(deferred=deferred)
    components = strongly_connected(graph)
    new = [c for c in components if not any(c <= k for k in known)]
    gone = [k for k in known if k not in components]
    kind = "top-level and function-local imports" if deferred else "top-level imports"
    message = []
    if new:
        message.append(
            f"import cycles ({kind}):\n"
            + "\n".join(f"  {sorted(c)}\n    e.g. {' -> '.join(cycle_path(graph, c))}" for c in new)
        )
    if gone:
        message.append(
            f"{list_name} lists components that no longer exist exactly; replace them with today's:\n"
            + "\n".join(f"  listed {sorted(k)}" for k in gone)
            + "\n  today: "
            + repr(sorted(sorted(c) for c in components))
        )
    return message


def test_import_graph_has_no_cycle_beyond_the_known_ones() -> None:
    message = _cycle_problems(False, KNOWN_CYCLES, "KNOWN_CYCLES")
    assert not message, "\n".join(message)


def test_no_function_local_import_hides_a_cycle_beyond_the_known_ones() -> None:
    message = _cycle_problems(True, KNOWN_DEFERRED_CYCLES, "KNOWN_DEFERRED_CYCLES")
    assert not message, "\n".join(message)


def test_import_graph_finds_module_level_imports_only() -> None:
    graph = import_graph()
    assert "backend.proofs.keccak" in graph["backend.proofs.merkle"]
    assert "backend.cli.cid" not in graph["backend.cli"]  # loaded lazily, by importlib
    assert "backend.cli" in graph["backend.cli.cid"]
    # evidence_store's package exports load on first use; its imports sit under TYPE_CHECKING
    assert graph["evidence_store"] == frozenset()


# --- each module on its own -------------------------------------------------------------------

_ZYGOTE = textwrap.dedent(
    """
    import importlib, json, os, sys, traceback

    modules, preload = json.loads(sys.stdin.read())
    for name in preload:  # third-party only: shared start-up, no product code
        try:
            importlib.import_module(name)
        except Exception:
            pass
    product = tuple(p + "." for p in ("backend", "evidence_store")) + ("backend", "evidence_store")
    assert not [m for m in sys.modules if m.startswith(product)], "the zygote imported product code"

    def child(name, write_fd):
        try:
            stray = [m for m in sys.modules if m == "backend" or m == "evidence_store" or m.startswith(product)]
            assert not stray, stray
            importlib.import_module(name)
            result = None
        except BaseException:
            result = traceback.format_exc(limit=-3)
        os.write(write_fd, json.dumps(result).encode())
        os._exit(0)

    results, running, pending = {}, {}, list(modules)
    while pending or running:
        while pending and len(running) < 2:
            name = pending.pop()
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                child(name, write_fd)
            os.close(write_fd)
            running[pid] = (name, read_fd)
        pid, status = os.wait()
        name, read_fd = running.pop(pid)
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
        os.close(read_fd)
        data = b"".join(chunks)
        results[name] = json.loads(data) if data else f"child died (wait status {status})"
    print(json.dumps(results))
    """
)


def _third_party_roots() -> list[str]:
    """Top-level packages the product imports at module level that are neither stdlib nor product."""
    roots: set[str] = set()
    for path in product_modules().values():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _import_statements(tree.body):
            if isinstance(node, ast.Import):
                roots.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                roots.add(node.module)
    return sorted(name for name in roots if name.split(".")[0] not in sys.stdlib_module_names and not _is_product(name))


@pytest.fixture(scope="module")
def import_results() -> dict[str, str | None]:
    payload = json.dumps([sorted(product_modules()), _third_party_roots()])
    done = subprocess.run(
        [sys.executable, "-c", _ZYGOTE],
        input=payload,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, str | None] = json.loads(done.stdout.splitlines()[-1])
    return results


def test_every_product_module_imports_on_its_own(import_results: dict[str, str | None]) -> None:
    assert set(import_results) == set(product_modules())
    failing = {name for name, error in import_results.items() if error is not None}
    new = sorted(failing - KNOWN_UNIMPORTABLE)
    gone = sorted(KNOWN_UNIMPORTABLE - failing)
    message = [f"{name} cannot be imported on its own:\n{import_results[name]}" for name in new]
    if gone:
        message.append(f"KNOWN_UNIMPORTABLE lists modules that now import on their own; remove {gone}")
    assert not message, "\n".join(message)
