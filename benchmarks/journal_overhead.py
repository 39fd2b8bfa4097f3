"""What the run journal costs per step, per record and per progress call, against no journal.

    .venv/bin/python benchmarks/journal_overhead.py [--steps 2000] [--repeat 7] [--dir /tmp]

Every figure is measured in this process, interleaved with its no-journal baseline (one repeat
of each in turn, best of ``--repeat``), in the same loop shape as the orchestrator's journal
writer drives it: per step, ``step_started``, then ``step_completed`` with a small ``data``,
``rollback_data = {"path": Path(...)}`` and the step's ``StepFinished`` times.

* *step*: the loop above; the baseline builds the same values and does nothing with them;
* *record*: one non-progress record (a log line), amortized over its batched commit;
* *progress*: one ``ProgressReported`` record (coalesced in memory);
* *1 ms step*: a step that spins for 1 ms of work, with and without the journal;
* *1,000,000 progress calls*: the journal's size on disk afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synapse_steps.journal import Journal
from synapse_steps.journal._store import store_for

Times = tuple[float, float]  # (wall seconds, CPU seconds of this process)


def _now() -> Times:
    return time.perf_counter(), time.process_time()


def _since(start: Times) -> Times:
    return time.perf_counter() - start[0], time.process_time() - start[1]


def _steps_baseline(n: int, work_s: float, root: Path) -> Times:
    start = _now()
    for i in range(n):
        name = f"s{i}"
        started = time.perf_counter()
        _spin(work_s)
        data = {"rows": i, "ok": True}
        rollback_data = {"path": root / name}
        finished = time.perf_counter()
        _sink(started, finished, data, rollback_data)
    return _since(start)


def _steps_journal(n: int, work_s: float, root: Path, journal: Journal) -> Times:
    run = journal.start_run("bench", [f"s{i}" for i in range(n)])
    start = _now()
    for i in range(n):
        name = f"s{i}"
        started = time.perf_counter()
        run.step_started(i, name, started)
        _spin(work_s)
        data = {"rows": i, "ok": True}
        rollback_data = {"path": root / name}
        finished = time.perf_counter()
        run.step_completed(i, name, data, rollback_data, finished=(finished - started, finished))
    elapsed = _since(start)
    run.finish("succeeded")
    return elapsed


def _records(n: int, journal: Journal | None, progress: bool) -> Times:
    run = journal.start_run("bench", ["a"]) if journal is not None else None
    record: Callable[[dict[str, Any]], None] = run.record if run is not None else _sink
    kind = "ProgressReported" if progress else "Logged"
    start = _now()
    for i in range(n):
        record({"type": kind, "step": "a", "category": None, "current": i, "total": n})
    if run is not None:
        run.step_completed(0, "a", {}, {})  # commits what is left: part of the cost
    elapsed = _since(start)
    if run is not None:
        run.finish("succeeded")
    return elapsed


class _Progress:
    """Stands for the core's immutable progress record: built per call, ``to_dict()`` lazily."""

    __slots__ = ("current", "total")

    def __init__(self, current: int, total: int) -> None:
        self.current, self.total = current, total

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ProgressReported", "current": self.current, "total": self.total}


def _progress_objects(n: int, journal: Journal | None) -> Times:
    """``run.progress(key, record)``: the record object kept, converted only if still latest."""
    run = journal.start_run("bench", ["a"]) if journal is not None else None
    progress: Callable[[Any, Any], None] = run.progress if run is not None else _sink
    key = ("a", None)
    start = _now()
    for i in range(n):
        progress(key, _Progress(i, n))
    if run is not None:
        run.step_completed(0, "a", {}, {})  # commits what is left: part of the cost
    elapsed = _since(start)
    if run is not None:
        run.finish("succeeded")
    return elapsed


def _spin(seconds: float) -> None:
    if seconds:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass


def _sink(*args: Any) -> None:
    return None


def _best(runs: list[Times]) -> Times:
    return min(r[0] for r in runs), min(r[1] for r in runs)


def _median(runs: list[Times]) -> Times:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", default=None, help="where the journal file goes (default /tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        journal = Journal(root / "journal.sqlite3")
        journal.start_run("warm-up", []).finish("succeeded")
        n, m = args.steps, args.records
        print(f"Python {sys.version.split()[0]}, journal in {root}, best of {args.repeat}")
        print(f"{'':<40}{'wall clock':^36}{'CPU time (this process)':^36}")
        print(
            f"{'measurement':<40}"
            + f"{'baseline':>10}{'journal':>10}{'overhead':>10}{'ratio':>6}" * 2
        )

        def show(label: str, base: Times, jour: Times, count: int, unit: str = "us") -> None:
            scale = 1e6 if unit == "us" else 1e9
            line = f"{label:<40}"
            for b_s, j_s in zip(base, jour, strict=True):
                b, j = b_s / count * scale, j_s / count * scale
                line += f"{b:>8.2f}{unit}{j:>8.2f}{unit}{j - b:>8.2f}{unit}{j / b:>5.2f}x"
            print(line)

        base, jour = [], []
        for _ in range(args.repeat):
            base.append(_steps_baseline(n, 0, root))
            jour.append(_steps_journal(n, 0, root, journal))
        show("step: step_started + step_completed", _best(base), _best(jour), n)
        for progress in (False, True):
            base, jour = [], []
            for _ in range(args.repeat):
                base.append(_records(m, None, progress))
                jour.append(_records(m, journal, progress))
            label = "progress record() (coalesced)" if progress else "log record (batched commit)"
            show(label, _best(base), _best(jour), m, unit="ns")
        base, jour = [], []
        for _ in range(args.repeat):
            base.append(_progress_objects(m, None))
            jour.append(_progress_objects(m, journal))
        show("progress(key, record object)", _best(base), _best(jour), m, unit="ns")
        count = max(n // 4, 100)
        base, jour = [], []
        for _ in range(args.repeat):
            base.append(_steps_baseline(count, 0.001, root))
            jour.append(_steps_journal(count, 0.001, root, journal))
        show("1 ms step, best", _best(base), _best(jour), count)
        show("1 ms step, median", _median(base), _median(jour), count)

        size_journal = Journal(root / "size.sqlite3")
        run = size_journal.start_run("size", ["a"])
        start = time.perf_counter()
        for i in range(1_000_000):
            run.record({"type": "ProgressReported", "step": "a", "category": None, "current": i})
        run.step_completed(0, "a", {}, {})
        run.finish("succeeded")
        elapsed = time.perf_counter() - start
        store_for(size_journal.path).conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = sum(p.stat().st_size for p in root.glob("size.sqlite3*") if p.is_file())
        print(f"1,000,000 progress calls: {elapsed:.2f} s, journal on disk {size:,} bytes")


if __name__ == "__main__":
    main()
