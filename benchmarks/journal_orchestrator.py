"""What the run journal costs a real ``Orchestrator`` run: journal on vs ``journal=False``.

    .venv/bin/python benchmarks/journal_orchestrator.py [--steps 500] [--repeat 7] [--dir /tmp]

Each figure is a whole ``Orchestrator.execute()`` (``RuntimeContext(display="off")``), run
with the journal at ``--dir`` and with ``journal=False``, interleaved (one repeat of each in
turn), best of ``--repeat``, by the wall clock and by this process's CPU time; the difference
divided by the count is the journal's cost (the difference of the median runs is printed too:
it includes the occasional slow write, e.g. a WAL checkpoint, that the best run may have
missed):

* *per step*: ``--steps`` steps returning a small ``data`` and ``rollback_data={"path": ...}``;
  then the same with ``data`` holding a 1,000,000-element list, and a 100,000-row DataFrame
  (the journal keeps a summary of such data: its cost must not grow with it);
* *per progress call*: one step calling ``context.set_progress`` 200,000 times;
* *1 ms step*: ``--steps // 5`` steps that each spin for 1 ms of work (relative overhead).

A run's start and end (its log created; the ended run kept in the SQLite file; the notice
check on the orchestrator's first run) are included, spread over the steps.

Last, *with the defaults*: a run of 1,000 trivial steps with the journal on (the default; no
display, as in a script) against Hamilton's per-node cost on a 1,000-node DAG, same process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from synapse_steps import RuntimeContext
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult
from synapse_steps.storage import sqlite

PROGRESS_CALLS = 200_000


class Small(BaseStep[BaseStepContext]):
    progress_weight = 1.0

    def __init__(
        self,
        name: str,
        root: Path,
        work_s: float = 0.0,
        progress: int = 0,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._name, self.root, self.work_s, self.progress = name, root, work_s, progress
        self.data = {"rows": 3, "ok": True} if data is None else data

    @property
    def name(self) -> str:
        return self._name

    def execute(self, context: BaseStepContext) -> StepResult:
        if self.work_s:
            end = time.perf_counter() + self.work_s
            while time.perf_counter() < end:
                pass
        total = self.progress
        for i in range(total):
            context.set_progress(i + 1, total, "batches")
        return StepResult(data=self.data, rollback_data={"path": self.root / self._name})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        pass


def _workflow(steps: int, root: Path, journal: Any, **kw: Any) -> Callable[[], None]:
    registry = StepRegistry[BaseStepContext]()
    for i in range(steps):
        registry.register(Small(f"s{i}", root, **kw))
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    orchestrator = Orchestrator(registry, context, name="bench", journal=journal)

    def run() -> None:
        orchestrator.execute()

    return run


class Pair(NamedTuple):
    """Best and median seconds of the run with the journal on and off, by one clock."""

    on: float
    off: float
    on_median: float
    off_median: float


def _best_pair(
    make: Callable[[Any], Callable[[], None]], journal: Path, repeat: int
) -> dict[str, Pair]:
    """The runs with the journal on and off, interleaved, timed by the wall clock and by this
    process's CPU time (the steadier figure on a shared machine: time the machine gave to
    other work is not in it, while every system call of the journal is)."""
    on, off = make(journal), make(False)
    on(), off()  # warm up: imports, the journal file, the first run's notice check
    times: dict[tuple[str, str], list[float]] = {
        (clock, which): [] for clock in ("wall", "cpu") for which in ("on", "off")
    }
    for _ in range(repeat):
        for which, run in (("on", on), ("off", off)):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times["wall", which].append(time.perf_counter() - wall)
            times["cpu", which].append(time.process_time() - cpu)
    return {
        clock: Pair(
            min(times[clock, "on"]),
            min(times[clock, "off"]),
            statistics.median(times[clock, "on"]),
            statistics.median(times[clock, "off"]),
        )
        for clock in ("wall", "cpu")
    }


def _bare_commit(root: Path, repeat: int, rows: int = 500) -> float:
    """Seconds one bare SQLite INSERT + commit takes here (WAL, synchronous=NORMAL, ~1 KB row):
    the floor under any per-step journal that commits before the next step starts."""
    conn = sqlite.connect(root / "bare.sqlite3", "NORMAL")  # the journal's own settings
    try:
        sqlite.set_wal(conn)
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c TEXT)")
        text = "x" * 300
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(rows):
                conn.execute("INSERT INTO t (a, b, c) VALUES (?, ?, ?)", (text, text, text))
            best = min(best, (time.perf_counter() - start) / rows)
        return best
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", default=None, help="where the journal goes (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        journal = root / "journal.sqlite3"
        n = args.steps
        pairs = _best_pair(lambda j: _workflow(n, root, j), journal, args.repeat)
        bare = _bare_commit(root, args.repeat)
        for clock, p in pairs.items():
            print(
                f"per step ({clock}):   {1e6 * (p.on - p.off) / n:7.1f} us  ({n} steps; "
                f"{1e6 * p.on / n:.1f} us on, {1e6 * p.off / n:.1f} us off; "
                f"median run: {1e6 * (p.on_median - p.off_median) / n:.1f} us)"
            )
        small = {clock: (p.on - p.off) / n for clock, p in pairs.items()}
        big_list = {"values": list(range(1_000_000))}
        frame = {"frame": _frame()}
        for label, data in (("1M-element list", big_list), ("DataFrame", frame)):
            pairs_data = _best_pair(
                lambda j, data=data: _workflow(n, root, j, data=data), journal, args.repeat
            )
            for clock, p in pairs_data.items():
                cost = (p.on - p.off) / n
                print(
                    f"per step, data = {label} ({clock}): {1e6 * cost:7.1f} us = "
                    f"{cost / small[clock]:.2f}x the small-data cost"
                )
        wall = pairs["wall"]
        print(
            f"                   {(wall.on - wall.off) / n / bare:7.1f} x a bare SQLite INSERT "
            f"+ commit here ({1e6 * bare:.1f} us, wall clock)"
        )
        pairs = _best_pair(
            lambda j: _workflow(1, root, j, progress=PROGRESS_CALLS), journal, args.repeat
        )
        for clock, p in pairs.items():
            print(
                f"per progress call ({clock}): {1e9 * (p.on - p.off) / PROGRESS_CALLS:7.1f} ns  "
                f"({1e9 * p.on / PROGRESS_CALLS:.0f} ns on, {1e9 * p.off / PROGRESS_CALLS:.0f} ns "
                f"off; median run: {1e9 * (p.on_median - p.off_median) / PROGRESS_CALLS:.1f} ns)"
            )
        os.environ["SYNAPSE_STEPS_HOME"] = str(root / "home")  # never the user's store
        _defaults_against_hamilton(root, args.repeat)
        m = max(n // 5, 10)
        pairs = _best_pair(lambda j: _workflow(m, root, j, work_s=0.001), journal, args.repeat)
        for clock, p in pairs.items():
            print(
                f"1 ms step ({clock}):  {100 * (p.on - p.off) / p.off:+7.1f} %   "
                f"({1e3 * p.on / m:.3f} ms on, {1e3 * p.off / m:.3f} ms off per step; "
                f"median run: {100 * (p.on_median - p.off_median) / p.off_median:+.1f} %)"
            )


def _frame() -> Any:
    import pandas as pd

    return pd.DataFrame({"a": range(100_000), "b": 0.5, "c": "text"})


def _defaults_against_hamilton(root: Path, repeat: int, steps: int = 1000) -> None:
    """A run with the defaults (journal on) per step, against Hamilton per node."""
    import hamilton_baseline

    if not hamilton_baseline.available():
        print("with the defaults: Hamilton not installed (pip install -e '.[bench]')")
        return
    run = _workflow(steps, root, True)  # journal=True: the default store, SYNAPSE_STEPS_HOME
    run()
    ours = min(_timed(run) for _ in range(repeat)) / steps
    hamilton = hamilton_baseline.per_node_seconds(steps, repeat, _best)
    print(
        f"with the defaults: {1e6 * ours:.1f} us per step ({steps} steps, journal on) = "
        f"{ours / hamilton:.2f}x Hamilton's {1e6 * hamilton:.1f} us per node (target <= 3x)"
    )


def _timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _best(run: Callable[[], object], repeat: int) -> float:
    return min(_timed(run) for _ in range(repeat))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
