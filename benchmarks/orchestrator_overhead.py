"""Per-step overhead of the Orchestrator against a bare Python loop.

Runs 10,000 trivial steps (``execute`` returns a prebuilt ``StepResult``, or builds a fresh one)
through ``Orchestrator.execute()`` with

* ``off``       - ``RuntimeContext(display='off')``: no front end; the runtime's store still
  receives every record and folds it into the run's state (it is always on);
* ``callback``  - the same, plus a no-op progress callback;
* ``subscriber`` - a front end with every hook, each doing nothing (the cost of delivery);
* ``console``   - the default ``ConsoleLogger`` writing to ``os.devnull`` (silenced), plus
  ``console-stringio`` writing into an ``io.StringIO``;

and, in the same process, a bare loop that calls the very same ``can_skip``/``execute`` methods
and appends the results (the work any hand-written runner must do). Each figure is the best of
``--repeat`` runs. Overhead per step = (orchestrator time - bare loop time) / steps.

    python benchmarks/orchestrator_overhead.py [--steps 10000] [--repeat 15] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import hamilton_baseline

from synapse_steps.context import RuntimeContext
from synapse_steps.display.console import ConsoleLogger
from synapse_steps.events import KNOWN_HOOKS
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

TARGET_NS = 2_000  # per-step overhead with the store always on and no display


class PrebuiltStep(BaseStep[BaseStepContext]):
    """Returns the same result object every time: the cheapest possible step."""

    def __init__(self, index: int) -> None:
        self._name = f"step_{index}"
        self._result = StepResult(data={"i": index})

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return 1.0

    def execute(self, context: BaseStepContext) -> StepResult:
        return self._result


class FreshStep(PrebuiltStep):
    """Builds a new ``StepResult`` per call, as real steps do (``datetime.now()`` included)."""

    def execute(self, context: BaseStepContext) -> StepResult:
        return StepResult(data={"i": 1})


def bare_loop(steps: list[BaseStep[BaseStepContext]], context: BaseStepContext) -> list[Any]:
    """What a hand-written runner without progress, events or rollback does."""
    results: list[StepResult] = []
    for step in steps:
        if step.can_skip(context):
            results.append(StepResult(skipped=True))
        else:
            results.append(step.execute(context))
    context.step_results = results
    return results


def best_of(run: Callable[[], object], repeat: int) -> float:
    """Best wall time in seconds over ``repeat`` runs (collection before, not during)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
        finally:
            gc.enable()
        best = min(best, elapsed)
    return best


class EveryHook:
    """A front end that listens to every record and does nothing with it."""

    def _ignore(self, record: object) -> None:
        return None


for _hook in KNOWN_HOOKS:
    setattr(EveryHook, _hook, EveryHook._ignore)


def runtimes(devnull: io.TextIOBase) -> dict[str, Callable[[], RuntimeContext]]:
    return {
        "off": lambda: RuntimeContext(display="off"),
        "callback": lambda: RuntimeContext(display="off"),
        "subscriber": lambda: RuntimeContext(logger=EveryHook()),
        "console-devnull": lambda: RuntimeContext(logger=ConsoleLogger(devnull)),  # type: ignore[arg-type]
        "console-stringio": lambda: RuntimeContext(logger=ConsoleLogger(io.StringIO())),
    }


def measure(step_type: type[PrebuiltStep], n: int, repeat: int) -> dict[str, float]:
    registry = StepRegistry[BaseStepContext]()
    for index in range(n):
        registry.register(step_type(index))
    steps = registry.get_steps()
    figures: dict[str, float] = {}
    bare_context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    figures["bare loop"] = best_of(lambda: bare_loop(steps, bare_context), repeat)
    with open(os.devnull, "w") as devnull:
        for label, make_runtime in runtimes(devnull).items():
            # A fresh runtime per run, so the recorder/console state does not grow across runs.
            callback = _noop if label == "callback" else None

            def run(
                make_runtime: Callable[[], RuntimeContext] = make_runtime,
                callback: Callable[[int, int], None] | None = callback,
            ) -> None:
                context = BaseStepContext(runtime_ctx=make_runtime())
                Orchestrator(registry, context, callback, journal=False).execute()

            figures[label] = best_of(run, repeat) - _runtime_cost(make_runtime, repeat)
    return figures


def _noop(current: int, total: int) -> None:
    return None


def _runtime_cost(make_runtime: Callable[[], RuntimeContext], repeat: int) -> float:
    """Creating the runtime is not per-step work: measured separately and subtracted."""
    return best_of(lambda: BaseStepContext(runtime_ctx=make_runtime()), repeat)


def report(title: str, figures: dict[str, float], n: int) -> list[str]:
    bare = figures["bare loop"]
    lines = [
        f"### {title}",
        "",
        "| configuration | total (ms) | ns/step | overhead ns/step | ratio to bare loop |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, seconds in figures.items():
        per_step = seconds / n * 1e9
        overhead = (seconds - bare) / n * 1e9
        lines.append(
            f"| {label} | {seconds * 1e3:.2f} | {per_step:.0f} | "
            f"{'-' if label == 'bare loop' else f'{overhead:.0f}'} | {seconds / bare:.1f}x |"
        )
    return lines


def profile(n: int) -> None:
    registry = StepRegistry[BaseStepContext]()
    for index in range(n):
        registry.register(PrebuiltStep(index))
    for label in ("off", "subscriber"):
        runtime = (
            RuntimeContext(display="off") if label == "off" else RuntimeContext(logger=EveryHook())
        )
        context = BaseStepContext(runtime_ctx=runtime)
        profiler = cProfile.Profile()
        profiler.runcall(Orchestrator(registry, context, journal=False).execute)
        print(f"\n## cProfile, {label}, {n} steps (top 15 by own time)\n")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(15)


def against_hamilton(n: int, repeat: int, rounds: int) -> None:
    """Our overhead per step (fresh results, store on, no display) against Hamilton's cost per
    node, measured back to back in each round: the load of a shared machine moves both."""
    registry = StepRegistry[BaseStepContext]()
    for index in range(n):
        registry.register(FreshStep(index))
    steps = registry.get_steps()
    bare_context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))

    def ours() -> None:
        context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
        Orchestrator(registry, context, journal=False).execute()

    print(f"\n### Against Hamilton ({n} steps / nodes, {rounds} rounds, each back to back)\n")
    print("| round | our overhead ns/step | Hamilton ns/node | Hamilton / ours |")
    print("|---:|---:|---:|---:|")
    ratios = []
    for round_ in range(1, rounds + 1):
        bare = best_of(lambda: bare_loop(steps, bare_context), repeat)
        overhead = (best_of(ours, repeat) - bare) / n
        hamilton = hamilton_baseline.per_node_seconds(n, max(3, repeat // 2), best_of)
        ratios.append(hamilton / overhead)
        print(f"| {round_} | {overhead * 1e9:.0f} | {hamilton * 1e9:.0f} | {ratios[-1]:.1f}x |")
    median = statistics.median(ratios)
    verdict = "MET" if median >= 4 else "MISSED"
    print(
        f"\n{verdict}: median {median:.1f}x ahead of Hamilton (target 4x; "
        f"rounds {min(ratios):.1f}x-{max(ratios):.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="also print cProfile tables")
    parser.add_argument("--rounds", type=int, default=5, help="rounds against Hamilton")
    args = parser.parse_args()
    n = args.steps

    print(
        f"# Orchestrator overhead: {n} trivial steps, best of {args.repeat}\n\n"
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {platform.system()}\n"
    )
    verdicts = []
    for title, step_type in (
        ("execute() returns a prebuilt StepResult", PrebuiltStep),
        ("execute() returns a fresh StepResult", FreshStep),
    ):
        figures = measure(step_type, n, args.repeat)
        print("\n".join(report(title, figures, n)) + "\n")
        overhead = (figures["off"] - figures["bare loop"]) / n * 1e9
        verdicts.append((title, overhead))
    print(f"Target: at most {TARGET_NS} ns/step of overhead with the store on and no display.")
    for title, overhead in verdicts:
        print(f"- {title}: {overhead:.0f} ns/step with no display")
    if hamilton_baseline.available():
        against_hamilton(n, args.repeat, args.rounds)
    if args.profile:
        profile(n)


if __name__ == "__main__":
    main()
