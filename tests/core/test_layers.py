"""The package's import graph: the core reads top-down, and only ``seams`` reaches up.

Function-level imports count: a cycle hidden inside a function is still a cycle that bites
(import order, tests patching one module and not the other).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import synapse_steps

PACKAGE = Path(synapse_steps.__file__).parent
#: The core: steps, events, run state, runtime. Everything else is built on it.
CORE = {
    "synapse_steps",
    "synapse_steps._warn",
    "synapse_steps.clock",
    "synapse_steps.client",
    "synapse_steps.context",
    "synapse_steps.errors",
    "synapse_steps.events",
    "synapse_steps.frames",
    "synapse_steps.logging_protocol",
    "synapse_steps.metrics",
    "synapse_steps.recorder",
    "synapse_steps.run_state",
    "synapse_steps.steps",
    "synapse_steps.steps.base",
    "synapse_steps.steps.context",
    "synapse_steps.steps.orchestrator",
    "synapse_steps.steps.progress",
    "synapse_steps.steps.registry",
    "synapse_steps.steps.wrappers",
}
SEAM = "synapse_steps.seams"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every synapse_steps module this file imports, at any depth (TYPE_CHECKING excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    type_checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_checking.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("synapse_steps"))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("synapse_steps")
        ):
            module = node.module or ""
            found.add(module)
            # ``from synapse_steps import seams`` imports a module, not a name
            found.update(f"{module}.{a.name}" for a in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in imports_of(path) if i in modules} for name, path in modules.items()}


def test_the_core_imports_nothing_above_it_except_through_the_seam() -> None:
    edges = graph()
    offenders = {
        module: sorted(target for target in targets if target not in CORE | {SEAM})
        for module, targets in edges.items()
        # The package root is the public facade: it lazily re-exports BaseTrainAction.
        if module in CORE and module != "synapse_steps"
    }
    # steps/__init__ re-exports the dataset steps (the documented import path), which are
    # built on the core; they import the datasets package only inside a step's execute().
    offenders["synapse_steps.steps"] = [
        t for t in offenders["synapse_steps.steps"] if t != "synapse_steps.steps.dataset"
    ]
    assert {m: t for m, t in offenders.items() if t} == {}


def test_no_import_cycle_outside_the_seam() -> None:
    edges = {m: t for m, t in graph().items() if m != SEAM}
    for module in edges:
        edges[module] = {t for t in edges[module] if t != SEAM}
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
        "or m.startswith('synapse_steps.backends') or m.startswith('synapse_steps.datasets'))\n"
        "print(heavy, ours)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"
