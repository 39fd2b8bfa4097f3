"""The package's import graph: the core reads top-down and imports nothing above it; no cycles.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING`` (a cycle
hidden in a function or in type hints still bites: import order, tests patching one module and
not the other, a type checker that cannot resolve a name).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import synapse_steps

PACKAGE = Path(synapse_steps.__file__).parent
#: The core: steps, records, run state, runtime and store. Everything else is built on it.
CORE = {
    "synapse_steps._text",
    "synapse_steps._warn",
    "synapse_steps.clock",
    "synapse_steps.client",
    "synapse_steps.context",
    "synapse_steps.errors",
    "synapse_steps.events",
    "synapse_steps.logging_protocol",
    "synapse_steps.metrics",
    "synapse_steps.recorder",
    "synapse_steps.run_state",
    "synapse_steps.wiring",
    "synapse_steps.steps.base",
    "synapse_steps.steps.context",
    "synapse_steps.steps.executor",
    "synapse_steps.steps.orchestrator",
    "synapse_steps.steps.progress",
    "synapse_steps.steps.registry",
    "synapse_steps.steps.request",
    "synapse_steps.steps.result",
    "synapse_steps.steps.runner",
    "synapse_steps.steps.wrappers",
}
#: The documented import paths, above everything they re-export (no module imports them but
#: user code): the package root and ``synapse_steps.steps`` (which loads the dataset steps,
#: built on the converters and backends, when first asked for).
FACADES = {"synapse_steps", "synapse_steps.steps"}
#: The one module that names every layer to install the defaults into the core.
COMPOSITION = "synapse_steps.defaults"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str], this: str | None = None) -> set[str]:
    """Every synapse_steps module this file (module ``this``) imports, anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = this or module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import: resolved against this module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # ``from synapse_steps import defaults`` imports a module, not a name
            found.update(f"{module}.{a.name}" for a in node.names)
    return {name for name in found if name in modules}


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    names = set(paths)
    return {name: imports_of(path, names) - {name} for name, path in paths.items()}


def test_every_core_module_is_in_the_package() -> None:
    assert CORE - set(graph()) == set()


def test_the_core_imports_nothing_above_it() -> None:
    edges = graph()
    offenders = {
        module: sorted(target for target in targets if target not in CORE)
        for module, targets in edges.items()
        if module in CORE
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_nothing_imports_the_facades_or_the_composition_module() -> None:
    # Only the package root imports the composition module (to install the defaults).
    edges = graph()
    importers = {
        module: sorted(target for target in targets if target in FACADES | {COMPOSITION})
        for module, targets in edges.items()
        if module not in FACADES
    }
    assert {m: t for m, t in importers.items() if t} == {}
    assert COMPOSITION in edges["synapse_steps"]


def test_the_layer_test_sees_imports_in_functions_and_under_type_checking(
    tmp_path: Path,
) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from synapse_steps.display import tables\n"
        "def f():\n    import synapse_steps.journal.writer\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    found = imports_of(path, set(graph()), "synapse_steps.steps.probe")
    assert found == {
        "synapse_steps.display",
        "synapse_steps.display.tables",
        "synapse_steps.journal.writer",
    }


def test_no_import_cycle_anywhere() -> None:
    edges = graph()
    # Package __init__ files import their children; a child importing a sibling through the
    # package name is not a cycle between modules, so parent -> child edges are dropped.
    for module, targets in edges.items():
        edges[module] = {t for t in targets if not t.startswith(module + ".")}
    visiting: list[str] = []
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        if node in done:
            return
        if node in visiting:
            cycles.append([*visiting[visiting.index(node) :], node])
            return
        visiting.append(node)
        for target in sorted(edges.get(node, ())):
            visit(target)
        visiting.pop()
        done.add(node)

    for module in sorted(edges):
        visit(module)
    assert cycles == []


def test_importing_the_package_pulls_in_no_display_or_heavy_library() -> None:
    code = (
        "import sys, synapse_steps, synapse_steps.steps, synapse_steps.actions.train\n"
        "heavy = [m for m in ('ipywidgets', 'matplotlib', 'pandas', 'ray', 'IPython') "
        "if m in sys.modules]\n"
        "ours = sorted(m for m in sys.modules if m.startswith('synapse_steps.display') "
        "or m.startswith('synapse_steps.backends') or m.startswith('synapse_steps.datasets') "
        "or m.startswith('synapse_steps.journal'))\n"
        "print(heavy, ours)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"
