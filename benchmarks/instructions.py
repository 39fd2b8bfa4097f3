"""Per-step cost as CPU instructions (valgrind's callgrind): a figure the load cannot move.

These 2-core machines are shared: wall-clock figures drift by 2x within minutes. Callgrind
counts the instructions a process executes, the same for the same code and input whatever else
runs. Each scenario is set up and run once in one process and set up and run twice in another:
the difference is one warm run of ``--steps`` steps, free of start-up, import and set-up costs
(a run's own fixed costs are spread over its steps). Instructions are not time (cache misses are
not counted), so this is a cross-check of the wall-clock ratios, not a replacement.

    .venv/bin/python benchmarks/instructions.py [--steps 3000] [--hamilton]

Scenarios: the bare loop, the orchestrator with its store on and no journal (``display="off"``),
the same with the journal on (small data), and, with ``--hamilton``, Hamilton's ``execute`` on
a DAG of that many nodes (imports pandas: a few minutes under callgrind).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SETUP = """
import sys, tempfile
sys.path.insert(0, {bench!r})
from pathlib import Path
from orchestrator_overhead import FreshStep, bare_loop
from synapse_steps import RuntimeContext
from synapse_steps.steps import BaseStepContext, Orchestrator, StepRegistry
n = {n}
registry = StepRegistry[BaseStepContext]()
for index in range(n):
    registry.register(FreshStep(index))
steps = registry.get_steps()
"""

SCENARIOS = {
    "bare loop": "bare_loop(steps, BaseStepContext(runtime_ctx=RuntimeContext(display='off')))",
    "orchestrator, store on, no journal": (
        "Orchestrator(registry, BaseStepContext(runtime_ctx=RuntimeContext(display='off')), "
        "journal=False).execute()"
    ),
    "orchestrator, journal on": (
        "Orchestrator(registry, BaseStepContext(runtime_ctx=RuntimeContext(display='off')), "
        "journal=Path(tempfile.mkdtemp())).execute()"
    ),
}

HAMILTON = """
import sys, types
from hamilton import driver
n = {n}
source = "\\n".join(f"def f_{{i}}(x: int) -> int:\\n    return x + {{i}}\\n" for i in range(n))
module = types.ModuleType("nodes")
exec(source, module.__dict__)
sys.modules["nodes"] = module
dr = driver.Builder().with_modules(module).build()
outputs = [f"f_{{i}}" for i in range(n)]
"""


def instructions(code: str) -> int:
    """Instructions one Python process running ``code`` executes (callgrind's total)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={Path(tmp) / 'out'}",
                sys.executable,
                "-c",
                code,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"no callgrind total in:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def per_step(setup: str, run: str, steps: int) -> float:
    """Instructions per step of one warm run of ``run`` over ``steps`` steps."""
    code = setup.format(n=steps, bench=str(Path(__file__).parent))
    once = instructions(f"{code}\n{run}")
    twice = instructions(f"{code}\n{run}\n{run}")
    return (twice - once) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--hamilton", action="store_true")
    args = parser.parse_args()
    figures = {label: per_step(SETUP, run, args.steps) for label, run in SCENARIOS.items()}
    if args.hamilton:
        figures["Hamilton, per node"] = per_step(
            HAMILTON, 'dr.execute(outputs, inputs={"x": 1})', args.steps
        )
    bare = figures["bare loop"]
    print("| scenario | instructions per step | over the bare loop |")
    print("|---|---:|---:|")
    for label, count in figures.items():
        print(f"| {label} | {count:,.0f} | {count - bare:,.0f} |")
    if args.hamilton:
        ours = figures["orchestrator, store on, no journal"] - bare
        ratio = figures["Hamilton, per node"] / ours
        print(f"\nHamilton per node / our overhead per step: {ratio:.1f}x")


if __name__ == "__main__":
    main()
