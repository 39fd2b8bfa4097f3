"""What the run journal costs a real ``Orchestrator`` run: journal on vs ``journal=False``.

    .venv/bin/python benchmarks/journal_orchestrator.py [--steps 500] [--repeat 7] [--dir /tmp]

Each figure is a whole ``Orchestrator.execute()`` (``RuntimeContext(display="off")``), run
with the journal at ``--dir`` and with ``journal=False``, interleaved (one repeat of each in
turn), best of ``--repeat``; the difference divided by the count is the journal's cost (the
difference of the median runs is printed too: it includes the occasional slow commit, e.g. a
WAL checkpoint, that the best run may have missed):

* *per step*: ``--steps`` steps returning a small ``data`` and ``rollback_data={"path": ...}``;
* *per progress call*: one step calling ``context.set_progress`` 200,000 times;
* *1 ms step*: ``--steps // 5`` steps that each spin for 1 ms of work (relative overhead).

Run start and end (one commit each, the notice check) are included, spread over the steps.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synapse_steps import RuntimeContext
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult
from synapse_steps.storage import sqlite

PROGRESS_CALLS = 200_000


class Small(BaseStep[BaseStepContext]):
    progress_weight = 1.0

    def __init__(self, name: str, root: Path, work_s: float = 0.0, progress: int = 0) -> None:
        self._name, self.root, self.work_s, self.progress = name, root, work_s, progress

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
        return StepResult(
            data={"rows": 3, "ok": True}, rollback_data={"path": self.root / self._name}
        )

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


def _best_pair(
    make: Callable[[Any], Callable[[], None]], journal: Path, repeat: int
) -> tuple[float, float, float, float]:
    """Best and median time of the run with the journal on and off: (on, off, on_med, off_med)."""
    on, off = make(journal), make(False)
    on(), off()  # warm up: imports, the journal file, the first run's notice check
    times: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(repeat):
        for which, run in (("on", on), ("off", off)):
            start = time.perf_counter()
            run()
            times[which].append(time.perf_counter() - start)
    return (
        min(times["on"]),
        min(times["off"]),
        statistics.median(times["on"]),
        statistics.median(times["off"]),
    )


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
        on, off, on_med, off_med = _best_pair(lambda j: _workflow(n, root, j), journal, args.repeat)
        bare = _bare_commit(root, args.repeat)
        print(
            f"per step:          {1e6 * (on - off) / n:7.1f} us  ({n} steps; "
            f"{1e6 * on / n:.1f} us on, {1e6 * off / n:.1f} us off; "
            f"median run: {1e6 * (on_med - off_med) / n:.1f} us)\n"
            f"                   {(on - off) / n / bare:7.1f} x a bare SQLite INSERT + commit "
            f"here ({1e6 * bare:.1f} us, the floor of a commit per step)"
        )
        on, off, on_med, off_med = _best_pair(
            lambda j: _workflow(1, root, j, progress=PROGRESS_CALLS), journal, args.repeat
        )
        print(
            f"per progress call: {1e9 * (on - off) / PROGRESS_CALLS:7.1f} ns  "
            f"({1e9 * on / PROGRESS_CALLS:.0f} ns on, {1e9 * off / PROGRESS_CALLS:.0f} ns off; "
            f"median run: {1e9 * (on_med - off_med) / PROGRESS_CALLS:.1f} ns)"
        )
        m = max(n // 5, 10)
        on, off, on_med, off_med = _best_pair(
            lambda j: _workflow(m, root, j, work_s=0.001), journal, args.repeat
        )
        print(
            f"1 ms step:         {100 * (on - off) / off:+7.1f} %   "
            f"({1e3 * on / m:.3f} ms on, {1e3 * off / m:.3f} ms off per step; "
            f"median run: {100 * (on_med - off_med) / off_med:+.1f} %)"
        )


if __name__ == "__main__":
    main()
