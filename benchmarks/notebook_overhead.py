"""What the notebook display costs, measured inside a real Jupyter kernel.

A notebook is generated and executed with nbclient (the ``python3`` kernelspec). Every figure is
taken inside the kernel, in the same run, with ``time.perf_counter``, best of a few repeats:

- a bare ``for`` loop, per iteration;
- ``context.set_progress`` per call inside a running step, with the default runtime (the live
  ``NotebookLogger`` view attached, throttled refreshes included), and ``context.track``
  wrapping the loop's iterable;
- ``tqdm.notebook``: ``bar.update(1)`` per call, and iterating ``tqdm(range(n))`` (the issue's
  yardstick: the way most users use tqdm); these four interleaved, repeat by repeat;
- ``context.set_metrics`` per call with live plots (amortized: the loop, every throttled redraw,
  and the end of the run with the final redraw and the summary figure);
- livelossplot's ``PlotLosses.send()`` with its default output (it redraws on every send).

The notebook is executed twice, with two call counts, to show that the size of what a notebook
stores (cell outputs and widget state) does not grow with the number of calls.

    .venv/bin/python benchmarks/notebook_overhead.py            # 10,000 and 100,000 calls
    .venv/bin/python benchmarks/notebook_overhead.py --profile  # also cProfile the hot paths
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

KERNEL = "python3"

SETUP = """\
import cProfile, io, json, pstats
from time import perf_counter

from synapse_steps import BaseStepContext, Orchestrator, StepRegistry, StepResult
from synapse_steps.display import plots
from synapse_steps.display.notebook import NotebookLogger
from synapse_steps.steps import BaseStep

CALLS, REPEATS, SENDS, PROFILE = {calls}, {repeats}, {sends}, {profile}
results = {{"calls": CALLS}}
profiles = {{}}

# Count live redraws (one wrapper call per redraw: negligible next to a render).
redraws = [0]
_render = plots.CategoryPlot.render
def _counted(self):
    redraws[0] += 1
    return _render(self)
plots.CategoryPlot.render = _counted


class Loop(BaseStep):
    \"\"\"One step that runs ``body(context)`` and keeps the seconds it reports.\"\"\"

    def __init__(self, body):
        self.body = body
        self.seconds = None

    @property
    def name(self):
        return "loop"

    @property
    def progress_weight(self):
        return 1.0

    def execute(self, context):
        self.seconds = self.body(context)
        return StepResult()


def run_step(body):
    \"\"\"(seconds of the loop inside the step, seconds until execute() returned).\"\"\"
    registry = StepRegistry()
    step = Loop(body)
    registry.register(step)
    context = BaseStepContext()  # the default runtime: the live view in a kernel
    assert type(context.runtime_ctx.logger) is NotebookLogger, context.runtime_ctx
    started = perf_counter()
    Orchestrator(registry, context).execute()
    return step.seconds, perf_counter() - started


def profiled(key, function):
    if not PROFILE:
        return function()
    profiler = cProfile.Profile()
    value = profiler.runcall(function)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
    profiles[key] = text.getvalue()
    return value
"""

BARE = """\
def bare(n):
    started = perf_counter()
    for i in range(n):
        pass
    return perf_counter() - started

results["bare_loop"] = min(bare(CALLS) for _ in range(REPEATS)) / CALLS
"""

PROGRESS = """\
from tqdm.notebook import tqdm

def progress_loop(context):
    n = CALLS
    started = perf_counter()
    for i in range(n):
        context.set_progress(i + 1, n)
    return perf_counter() - started

def track_loop(context):
    started = perf_counter()
    for i in context.track(range(CALLS)):
        pass
    return perf_counter() - started

def tqdm_update(n):
    # Not displayed (its widget still gets every update), so this cell's outputs stay ours.
    bar = tqdm(total=n, display=False)
    started = perf_counter()
    for i in range(n):
        bar.update(1)
    seconds = perf_counter() - started
    bar.close()
    return seconds

def tqdm_iterate(n):
    # The way most users use it: wrapping the loop's iterable (its bar is displayed).
    started = perf_counter()
    for i in tqdm(range(n)):
        pass
    return perf_counter() - started

# Interleaved, so that a noisy moment on the machine hits every contender alike.
best = {"set_progress": [], "track": [], "tqdm_update": [], "tqdm_iterate": []}
for _ in range(REPEATS):
    best["set_progress"].append(run_step(progress_loop)[0])
    best["track"].append(run_step(track_loop)[0])
    best["tqdm_update"].append(tqdm_update(CALLS))
    best["tqdm_iterate"].append(tqdm_iterate(CALLS))
for key, seconds in best.items():
    results[key] = min(seconds) / CALLS
profiled("set_progress", lambda: run_step(progress_loop))
"""

METRICS = """\
def metrics_loop(context):
    n = CALLS
    started = perf_counter()
    for i in range(n):
        context.set_metrics({"loss": 1.0 / (i + 1), "accuracy": i / n, "step": i})
    return perf_counter() - started

best = None
for _ in range(REPEATS):
    redraws[0] = 0
    loop, total = run_step(metrics_loop)
    if best is None or total < best[1]:
        best = (loop, total, redraws[0])
results["set_metrics_loop"] = best[0] / CALLS
results["set_metrics_amortized"] = best[1] / CALLS
results["set_metrics_end_of_run"] = best[1] - best[0]
results["set_metrics_redraws"] = best[2]
profiled("set_metrics", lambda: run_step(metrics_loop))
"""

LIVELOSSPLOT = """\
from livelossplot import PlotLosses

def livelossplot_send(sends):
    plot = PlotLosses()
    started = perf_counter()
    for i in range(sends):
        plot.update({"loss": 1.0 / (i + 1), "accuracy": i / sends})
        plot.send()
    return (perf_counter() - started) / sends

results["livelossplot_send"] = min(livelossplot_send(SENDS) for _ in range(2))
"""

REPORT = """\
print("RESULTS " + json.dumps(results))
print("PROFILES " + json.dumps(profiles))
"""

#: Cells whose outputs are the notebook display's own (sizes reported per cell).
DISPLAY_CELLS = {"set_progress": 2, "set_metrics": 3}


def build(calls: int, repeats: int, sends: int, profile: bool) -> nbformat.NotebookNode:
    setup = SETUP.format(calls=calls, repeats=repeats, sends=sends, profile=profile)
    sources = [setup, BARE, PROGRESS, METRICS, LIVELOSSPLOT, REPORT]
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {
        "name": KERNEL,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    return notebook


def execute(notebook: nbformat.NotebookNode, workdir: Path) -> None:
    environment = {
        key: os.environ.get(key) for key in ("SYNAPSE_STEPS_DISPLAY", "SYNAPSE_STEPS_HOME")
    }
    # The default runtime must choose the live widgets, as it does for a user.
    os.environ.pop("SYNAPSE_STEPS_DISPLAY", None)
    os.environ["SYNAPSE_STEPS_HOME"] = str(workdir / "home")
    try:
        client = NotebookClient(
            notebook,
            timeout=600,
            kernel_name=KERNEL,
            record_timing=False,
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    finally:
        for key, value in environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stdout_line(notebook: nbformat.NotebookNode, prefix: str) -> Any:
    for output in notebook.cells[-1].outputs:
        if output.get("output_type") == "stream":
            for line in output.text.splitlines():
                if line.startswith(prefix):
                    return json.loads(line[len(prefix) :])
    raise RuntimeError(f"no {prefix.strip()} line in the report cell")


def sizes(notebook: nbformat.NotebookNode) -> dict[str, int]:
    def size(value: Any) -> int:
        return len(json.dumps(value, separators=(",", ":")).encode())

    figures = {
        f"{name} cell outputs": size(notebook.cells[index].outputs)
        for name, index in DISPLAY_CELLS.items()
    }
    widgets = notebook.metadata.get("widgets", {})
    # The last cell only prints this script's figures (and profiles): not the display's output.
    figures["all cell outputs"] = sum(size(cell.outputs) for cell in notebook.cells[:-1])
    figures["widget state (metadata)"] = size(widgets)
    figures["notebook file"] = len(nbformat.writes(notebook).encode())
    return figures


def run(
    calls: int, repeats: int, sends: int, profile: bool
) -> tuple[dict[str, Any], dict[str, str], dict[str, int]]:
    notebook = build(calls, repeats, sends, profile)
    with tempfile.TemporaryDirectory(prefix="synapse_steps_bench_") as tmp:
        execute(notebook, Path(tmp))
    return stdout_line(notebook, "RESULTS "), stdout_line(notebook, "PROFILES "), sizes(notebook)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--calls", type=int, nargs=2, default=[10_000, 100_000], help="two call counts"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sends", type=int, default=20, help="livelossplot sends per repeat")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the hot paths in the kernel"
    )
    args = parser.parse_args(argv)

    small, large = sorted(args.calls)
    started = time.perf_counter()
    _, _, small_sizes = run(small, args.repeats, args.sends, False)
    results, profiles, large_sizes = run(large, args.repeats, args.sends, args.profile)
    print(
        f"executed 2 notebooks in {time.perf_counter() - started:.1f}s ({os.cpu_count()} cores)\n"
    )

    bare = results["bare_loop"]
    rows = [
        ("bare loop, per iteration", bare, ""),
        (
            "context.set_progress, live view",
            results["set_progress"],
            "target: <= tqdm.notebook iterating",
        ),
        ("for x in context.track(...), live view", results["track"], ""),
        ("tqdm.notebook bar.update(1)", results["tqdm_update"], ""),
        ("for x in tqdm.notebook.tqdm(...)", results["tqdm_iterate"], ""),
        (
            "context.set_metrics, live plots (loop only)",
            results["set_metrics_loop"],
            f"{results['set_metrics_redraws']} redraws in all (incl. the final one)",
        ),
        (
            "context.set_metrics, amortized incl. end of run",
            results["set_metrics_amortized"],
            f"target: < 20 us; end of run {results['set_metrics_end_of_run'] * 1e3:.0f} ms",
        ),
        ("livelossplot PlotLosses.send()", results["livelossplot_send"], f"{args.sends} sends"),
    ]
    print(f"Timings inside the kernel, {large:,} calls, best of {args.repeats}:\n")
    print("| measurement | per call | over bare loop | note |")
    print("|---|---:|---:|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {_duration(seconds)} | {_duration(seconds - bare)} | {note} |")

    print(f"\nStored size (bytes) after {small:,} and {large:,} calls:\n")
    print(f"| what | {small:,} calls | {large:,} calls |")
    print("|---|---:|---:|")
    for key in small_sizes:
        print(f"| {key} | {small_sizes[key]:,} | {large_sizes[key]:,} |")

    # The comparison: tqdm the way most users use it, wrapping the loop's iterable.
    progress_ok = results["set_progress"] <= results["tqdm_iterate"]
    metrics_ok = results["set_metrics_amortized"] < 20e-6
    display_keys = [f"{name} cell outputs" for name in DISPLAY_CELLS]
    growth = max(large_sizes[k] / small_sizes[k] for k in display_keys)
    size_ok = growth < 1.1
    print(
        f"\nset_progress <= tqdm.notebook iterating: {'yes' if progress_ok else 'NO'} "
        f"(x{results['set_progress'] / results['tqdm_iterate']:.2f}); "
        f"set_metrics < 20 us amortized: {'yes' if metrics_ok else 'NO'}; "
        f"display outputs independent of calls (x{growth:.3f}): {'yes' if size_ok else 'NO'}"
    )
    for key, text in profiles.items():
        print(f"\n--- cProfile of {key} ({large:,} calls, inside the kernel) ---\n{text}")
    return 0


def _duration(seconds: float) -> str:
    if abs(seconds) >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    if abs(seconds) >= 1e-6:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e9:.0f} ns"


if __name__ == "__main__":
    sys.exit(main())
